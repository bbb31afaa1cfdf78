"""The named TS 103 701 rules, one module per EN 303 645 clause; importing this package registers them all."""

from iotcop.conformance.language import NAMED_RULES
from iotcop.conformance.rules import (  # noqa: F401 - imported to register their rules
    clause_4,
    clause_5_1,
    clause_5_2,
    clause_5_3,
    clause_5_4,
    clause_5_5,
    clause_5_6,
    clause_5_8,
    clause_5_9,
    clause_5_11,
    clause_6,
)

__all__ = ["NAMED_RULES"]
