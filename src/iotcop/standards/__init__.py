"""Standards data: ETSI EN 303 645 provisions and the frameworks mapped onto them."""

from iotcop.standards.catalogue import (
    Catalogue,
    Condition,
    Group,
    Provision,
    load_catalogue,
)

__all__ = ["Catalogue", "Condition", "Group", "Provision", "load_catalogue"]
