"""The check -> provision mapping (data/mapping/<family>.yaml), validated against the checks and the catalogue.

Adding a check is one module plus one row in its family's file; a row that disagrees with the
check's own PROVISIONS, names an unknown check or an unknown provision stops
iotcop at start-up rather than producing a wrong verdict.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from iotcop.errors import CatalogueError
from iotcop.yamlload import FAST_LOADER
from iotcop.standards.catalogue import Catalogue, load_catalogue

DATA_DIR = Path(__file__).parent / "data" / "mapping"


def load_mapping(path: Path = DATA_DIR) -> dict[str, tuple[str, ...]]:
    """Rows from one mapping file, or from every *.yaml in a folder."""
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    out: dict[str, tuple[str, ...]] = {}
    for file in files:
        for check_id, provisions in _load_file(file).items():
            if check_id in out:
                raise CatalogueError(f"{file.name}: {check_id}: mapped twice")
            out[check_id] = provisions
    return out


def _load_file(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        data = yaml.load(path.read_text(), Loader=FAST_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path.name}: cannot load check mapping: {exc}".splitlines()[0]) from None
    rows = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(rows, dict):
        raise CatalogueError(f"{path.name}: expected a mapping under 'checks:'")
    out = {}
    for check_id, provisions in rows.items():
        if not isinstance(provisions, list) or not all(isinstance(p, str) for p in provisions) or not provisions:
            raise CatalogueError(f"{path.name}: {check_id}: expected a non-empty list of provision ids")
        out[str(check_id)] = tuple(provisions)
    return out


def validate_mapping(mapping: dict[str, tuple[str, ...]], checks, catalogue: Catalogue) -> None:
    ids = {c.ID: c for c in checks}
    for check_id, provisions in mapping.items():
        if check_id not in ids:
            raise CatalogueError(f"mapping: {check_id}: no such check")
        for p in provisions:
            if p not in catalogue.provisions:
                raise CatalogueError(f"mapping: {check_id}: unknown provision {p}")
        if set(provisions) != set(ids[check_id].PROVISIONS):
            raise CatalogueError(
                f"mapping: {check_id}: provisions {sorted(provisions)} differ from the check's "
                f"PROVISIONS {sorted(ids[check_id].PROVISIONS)}"
            )
    for check_id in ids:
        if check_id not in mapping:
            raise CatalogueError(f"mapping: check {check_id} has no row in standards/data/mapping/")


@functools.cache
def checked_mapping() -> dict[str, tuple[str, ...]]:
    """The packaged mapping, validated against every registered check."""
    from iotcop.checks.registry import all_checks

    mapping = load_mapping()
    validate_mapping(mapping, all_checks(), load_catalogue())
    return mapping
