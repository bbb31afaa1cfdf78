"""Which EN 303 645 provisions each check informs (data/mapping/<family>.yaml): the one place this is written.

Adding a check is one module plus one row in its family's file.  A check reads its row as
`PROVISIONS`; discovery refuses, at start-up, a row that names an unknown check or an unknown
provision, a check without a row, and check documentation that cites a provision its row lacks,
rather than producing a wrong verdict.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterable

import yaml

from iotcop.errors import CatalogueError
from iotcop.standards.catalogue import Catalogue
from iotcop.yamlload import FAST_LOADER

DATA_DIR = Path(__file__).parent / "data" / "mapping"
PROVISION_ID = re.compile(r"\b(?:4|5\.\d{1,2}|6)-\d{1,2}\b")


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


@functools.cache
def mapping() -> dict[str, tuple[str, ...]]:
    """The packaged rows (validated against the checks by iotcop.checks.discovery and iotcop.probe.checks)."""
    return load_mapping()


def provisions_of(check_id: str) -> tuple[str, ...]:
    try:
        return mapping()[check_id]
    except KeyError:
        raise CatalogueError(f"check {check_id} has no row in standards/data/mapping/") from None


def _load_file(path: Path) -> dict[str, tuple[str, ...]]:
    try:
        text = path.read_text()
        data = yaml.load(text, Loader=FAST_LOADER) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path.name}: cannot load check mapping: {exc}".splitlines()[0]) from None
    rows = re.findall(r"(?m)^[ \t]+([\w.-]+)[ \t]*:", text)
    twice = sorted({r for r in rows if rows.count(r) > 1})
    if twice:  # YAML keeps the last of two equal keys without a word: a row written twice is refused
        raise CatalogueError(f"{path.name}: {', '.join(twice)}: written twice")
    rows = data.get("checks") if isinstance(data, dict) else None
    if not isinstance(rows, dict):
        raise CatalogueError(f"{path.name}: expected a mapping under 'checks:'")
    out = {}
    for check_id, provisions in rows.items():
        if not isinstance(provisions, list) or not all(isinstance(p, str) for p in provisions) or not provisions:
            raise CatalogueError(f"{path.name}: {check_id}: expected a non-empty list of provision ids")
        out[str(check_id)] = tuple(provisions)
    return out


def validate_mapping(rows: dict[str, tuple[str, ...]], checks: Iterable, catalogue: Catalogue, *,
                     prefix: str | None = None, exclude_prefix: str | tuple[str, ...] | None = None) -> None:
    """The rows of these checks (those whose id starts with `prefix`, or all but `exclude_prefix`) against them."""
    ids = {c.ID: c for c in checks}

    def ours(check_id: str) -> bool:
        if prefix is not None:
            return check_id.startswith(prefix)
        return exclude_prefix is None or not check_id.startswith(exclude_prefix)

    for check_id, provisions in rows.items():
        if not ours(check_id):
            continue
        if check_id not in ids:
            raise CatalogueError(f"mapping: {check_id}: no such check")
        for p in provisions:
            if p not in catalogue.provisions:
                raise CatalogueError(f"mapping: {check_id}: unknown provision {p}")
    for check_id, check in ids.items():
        if check_id not in rows:
            raise CatalogueError(f"mapping: check {check_id} has no row in standards/data/mapping/")
        doc = check.DOC
        cited = set(PROVISION_ID.findall(" ".join([doc.title, doc.why, doc.fix, doc.limitations, *doc.references])))
        stray = sorted(cited - set(rows[check_id]))
        if stray:
            raise CatalogueError(f"check {check_id}: its documentation cites {', '.join(stray)}, which its mapping "
                                 f"row does not list ({', '.join(rows[check_id])})")
