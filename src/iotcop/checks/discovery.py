"""Find every check class under iotcop.checks and validate it against the mapping data."""

from __future__ import annotations

import functools
import importlib
import pkgutil

import iotcop.checks as checks_pkg
from iotcop.checks.base import Check, MappedProvisions
from iotcop.errors import CatalogueError
from iotcop.standards.catalogue import load_catalogue
from iotcop.standards.mapping import mapping, validate_mapping

_INFRA_MODULES = {"base", "discovery", "runner"}


@functools.cache
def all_checks() -> tuple[type[Check], ...]:
    """Every check class, sorted by id.  Importing a family module registers its checks."""
    found: dict[str, type[Check]] = {}
    for mod in pkgutil.walk_packages(checks_pkg.__path__, prefix="iotcop.checks."):
        if mod.name.rsplit(".", 1)[-1] in _INFRA_MODULES:
            continue
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Check) and obj is not Check and getattr(obj, "ID", None):
                if obj.__module__ != module.__name__:
                    continue  # imported, not defined, here
                other = found.get(obj.ID)
                if other is not None and other is not obj:
                    raise CatalogueError(f"check id {obj.ID} is defined twice ({other.__module__}, {obj.__module__})")
                _validate_class(obj)
                found[obj.ID] = obj
    checks = tuple(found[k] for k in sorted(found))
    validate_mapping(mapping(), checks, load_catalogue(), exclude_prefix=("probe.", "traffic."))
    return checks


def get_check(check_id: str) -> type[Check]:
    for cls in all_checks():
        if cls.ID == check_id:
            return cls
    raise KeyError(check_id)


def _validate_class(cls: type[Check]) -> None:
    where = f"{cls.__module__}.{cls.__name__}"
    for attr in ("ID", "DOC"):
        if not hasattr(cls, attr):
            raise CatalogueError(f"check {where} lacks {attr}")
    if any("PROVISIONS" in vars(k) and not isinstance(vars(k)["PROVISIONS"], MappedProvisions) for k in cls.__mro__):
        raise CatalogueError(f"check {where} sets PROVISIONS; its provisions belong in standards/data/mapping/")
    if "." not in cls.ID or cls.ID != cls.ID.lower():
        raise CatalogueError(f"check id {cls.ID!r} must be 'family.name' in lower case")
