"""The standards catalogue: ETSI EN 303 645 provisions and the frameworks mapped onto them.

The data lives in YAML files under ``standards/data``:

* ``en303645.yaml``       the 68 provisions of EN 303 645 V2.1.1 and the Annex B conditions
* ``uk_cop.yaml``         the 13 UK Code of Practice guidelines, each listing its provisions
* ``psti.yaml``           the three UK PSTI security requirements and the statement of compliance fields
* ``cra.yaml``            EU Cyber Resilience Act Annex I items and their overlapping provisions
* ``owasp_iot_2018.yaml`` the OWASP IoT Top 10 (2018) and related provisions

``load_catalogue()`` reads and validates all of them.  Any defect raises
``CatalogueError`` with a one-line message of the form ``file:line: what: problem``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from iotcop.errors import CatalogueError
from iotcop.yamlload import FAST_LOADER

DATA_DIR = Path(__file__).parent / "data"

EN_FILE = "en303645.yaml"
COP_FILE = "uk_cop.yaml"
PSTI_FILE = "psti.yaml"
CRA_FILE = "cra.yaml"
OWASP_FILE = "owasp_iot_2018.yaml"

STATUSES = ("M", "R", "M C", "R C")
EVIDENCE_CLASSES = ("F", "N", "D", "X")
_PROVISION_ID = re.compile(r"(4|5\.(?:[1-9]|1[0-3])|6)-[1-9][0-9]*")


@dataclass(frozen=True)
class Condition:
    """An Annex B condition that decides whether a conditional provision applies."""

    number: int
    summary: str


@dataclass(frozen=True)
class Provision:
    """One EN 303 645 provision, summarised in iotcop's own words."""

    id: str
    clause: str
    status: str  # one of STATUSES
    conditions: tuple[int, ...]
    summary: str
    evidence: tuple[str, ...]  # evidence classes, primary first
    guideline: int | None  # UK Code of Practice guideline number

    @property
    def mandatory(self) -> bool:
        return self.status.startswith("M")

    @property
    def conditional(self) -> bool:
        return self.status.endswith(" C")


@dataclass(frozen=True)
class Group:
    """An item of another framework (guideline, requirement, article) mapped to provisions."""

    id: str
    title: str
    summary: str
    provisions: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Catalogue:
    version: str
    standard: str
    standard_version: str
    conditions: dict[int, Condition]
    provisions: dict[str, Provision]  # in document order
    guidelines: tuple[Group, ...]
    psti: tuple[Group, ...]
    cra: tuple[Group, ...]
    owasp: tuple[Group, ...]
    psti_statement_fields: tuple[dict[str, Any], ...]

    def provision(self, pid: str) -> Provision:
        try:
            return self.provisions[pid]
        except KeyError:
            raise KeyError(
                f"unknown {self.standard} provision {pid!r} (ids look like '5.1-1', '6-3')"
            ) from None


def load_catalogue(data_dir: Path | None = None) -> Catalogue:
    """Load and validate the catalogue; the packaged data is read once and cached."""
    if data_dir is None:
        return _load_default()
    return _load(Path(data_dir))


@functools.cache
def _load_default() -> Catalogue:
    return _load(DATA_DIR)


# --- YAML with line numbers -------------------------------------------------


class _Map(dict):
    """A YAML mapping that remembers its own line and the line of each key."""

    line: int = 1
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class _Seq(list):
    """A YAML sequence that remembers its own line and the line of each item."""

    line: int = 1
    item_lines: list[int]


class _Defect(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _Loader(FAST_LOADER):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            seen = key in result
        except TypeError:
            raise _Defect(line, "mapping keys must be plain values") from None
        if seen:
            raise _Defect(line, f"duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _File:
    """One catalogue file; every check failure names the file and line."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        path = directory / name
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogueError(f"{name}: cannot read {path}: {exc.strerror}") from None
        try:
            root = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
        except _Defect as exc:
            self.fail(exc.line, exc.message)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 1
            self.fail(line, f"invalid YAML: {exc.problem or exc.context}")
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{name}: invalid YAML: {exc}") from None
        if not isinstance(root, _Map):
            self.fail(1, "the top level must be a mapping")
        self.root: _Map = root

    def fail(self, line: int, message: str) -> NoReturn:
        raise CatalogueError(f"{self.name}:{line}: {message}")

    def _get(self, m: _Map, key: str, what: str) -> Any:
        if key not in m:
            self.fail(m.line, f"{what}: missing key '{key}'")
        return m[key]

    def text(self, m: _Map, key: str, what: str) -> str:
        value = self._get(m, key, what)
        if not isinstance(value, str) or not value.strip():
            self.fail(m.line_of(key), f"{what}: '{key}' must be a non-empty string, got {value!r}")
        return value.strip()

    def integer(self, m: _Map, key: str, what: str, *, nullable: bool = False) -> int | None:
        value = self._get(m, key, what)
        if value is None and nullable:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            kind = "an integer or null" if nullable else "an integer"
            self.fail(m.line_of(key), f"{what}: '{key}' must be {kind}, got {value!r}")
        return value

    def mapping(self, m: _Map, key: str, what: str) -> _Map:
        value = self._get(m, key, what)
        if not isinstance(value, _Map):
            self.fail(m.line_of(key), f"{what}: '{key}' must be a mapping")
        return value

    def items(self, m: _Map, key: str, what: str, kind: type) -> list[tuple[int, Any]]:
        """m[key] as (line, item) pairs, each item checked to be of type kind."""
        value = self._get(m, key, what)
        if not isinstance(value, _Seq):
            self.fail(m.line_of(key), f"{what}: '{key}' must be a list")
        out = []
        for line, item in zip(value.item_lines, value):
            ok = isinstance(item, kind) and not (kind is int and isinstance(item, bool))
            if not ok or (kind is str and not item.strip()):
                self.fail(line, f"{what}: '{key}' entry {item!r} must be {_KIND_NAMES[kind]}")
            out.append((line, item))
        return out


_KIND_NAMES = {str: "a non-empty string", int: "an integer", _Map: "a mapping"}


# --- the files --------------------------------------------------------------


def _load(directory: Path) -> Catalogue:
    en = _File(directory, EN_FILE)
    meta = en.mapping(en.root, "catalogue", "catalogue")
    standard = en.text(meta, "standard", "catalogue")
    standard_version = en.text(meta, "version", "catalogue")
    en.text(meta, "date", "catalogue")
    version = en.text(meta, "catalogue_version", "catalogue")

    conditions = _read_conditions(en)
    provisions = _read_provisions(en, conditions)

    cop = _File(directory, COP_FILE)
    guidelines = _read_groups(cop, "guidelines", "guideline", provisions, id_key="number")
    _check_guidelines(cop, guidelines, provisions)

    psti = _File(directory, PSTI_FILE)
    psti_groups = _read_groups(psti, "requirements", "requirement", provisions)
    statement_fields = _read_statement_fields(psti)

    cra = _File(directory, CRA_FILE)
    cra_groups = _read_groups(cra, "items", "CRA item", provisions)

    owasp = _File(directory, OWASP_FILE)
    owasp_groups = _read_groups(owasp, "items", "OWASP item", provisions)

    return Catalogue(
        version=version,
        standard=standard,
        standard_version=standard_version,
        conditions=conditions,
        provisions=provisions,
        guidelines=tuple(g for g, _ in guidelines),
        psti=tuple(g for g, _ in psti_groups),
        cra=tuple(g for g, _ in cra_groups),
        owasp=tuple(g for g, _ in owasp_groups),
        psti_statement_fields=statement_fields,
    )


def _read_conditions(f: _File) -> dict[int, Condition]:
    conditions: dict[int, Condition] = {}
    for line, entry in f.items(f.root, "conditions", "conditions", _Map):
        number = f.integer(entry, "number", f"condition at line {line}")
        if number in conditions:
            f.fail(entry.line_of("number"), f"condition {number}: duplicate number")
        conditions[number] = Condition(number, f.text(entry, "summary", f"condition {number}"))
    return conditions


def _read_provisions(f: _File, conditions: dict[int, Condition]) -> dict[str, Provision]:
    provisions: dict[str, Provision] = {}
    for line, entry in f.items(f.root, "provisions", "provisions", _Map):
        pid = f.text(entry, "id", f"provision at line {line}")
        what = f"provision {pid}"
        match = _PROVISION_ID.fullmatch(pid)
        if not match:
            f.fail(entry.line_of("id"), f"{what}: id is not of the form 4-1, 5.13-1 or 6-5")
        if pid in provisions:
            f.fail(entry.line_of("id"), f"{what}: duplicate id")

        clause = f.text(entry, "clause", what)
        if clause != match.group(1):
            f.fail(entry.line_of("clause"), f"{what}: clause '{clause}' does not match the id")

        status = f.text(entry, "status", what)
        if status not in STATUSES:
            f.fail(
                entry.line_of("status"),
                f"{what}: status {status!r} is not one of {', '.join(STATUSES)}",
            )

        conds = f.items(entry, "conditions", what, int)
        if status.endswith(" C") and not conds:
            f.fail(entry.line_of("conditions"), f"{what}: conditional status '{status}' needs conditions")
        if not status.endswith(" C") and conds:
            f.fail(entry.line_of("conditions"), f"{what}: status '{status}' must not list conditions")
        for cline, number in conds:
            if number not in conditions:
                f.fail(cline, f"{what}: unknown condition {number}")
        if len({n for _, n in conds}) != len(conds):
            f.fail(entry.line_of("conditions"), f"{what}: a condition is listed twice")

        evidence = f.items(entry, "evidence", what, str)
        if not evidence:
            f.fail(entry.line_of("evidence"), f"{what}: evidence must list at least one class")
        for eline, letter in evidence:
            if letter not in EVIDENCE_CLASSES:
                f.fail(
                    eline,
                    f"{what}: evidence class {letter!r} is not one of {', '.join(EVIDENCE_CLASSES)}",
                )
        if len({e for _, e in evidence}) != len(evidence):
            f.fail(entry.line_of("evidence"), f"{what}: an evidence class is listed twice")

        guideline = f.integer(entry, "guideline", what, nullable=True)
        if (guideline is None) != (clause == "4"):
            expected = "null for clause 4" if clause == "4" else "a guideline number"
            f.fail(entry.line_of("guideline"), f"{what}: guideline must be {expected}")

        provisions[pid] = Provision(
            id=pid,
            clause=clause,
            status=status,
            conditions=tuple(n for _, n in conds),
            summary=f.text(entry, "summary", what),
            evidence=tuple(e for _, e in evidence),
            guideline=guideline,
        )
    return provisions


def _read_groups(
    f: _File,
    key: str,
    kind: str,
    provisions: dict[str, Provision],
    *,
    id_key: str = "id",
) -> list[tuple[Group, _Map]]:
    """Read a list of framework items, each mapping to existing provisions."""
    f.text(f.mapping(f.root, "framework", "framework"), "name", "framework")
    groups: list[tuple[Group, _Map]] = []
    seen: set[str] = set()
    for line, entry in f.items(f.root, key, key, _Map):
        if id_key == "number":
            gid = str(f.integer(entry, "number", f"{kind} at line {line}"))
        else:
            gid = f.text(entry, id_key, f"{kind} at line {line}")
        what = f"{kind} {gid}"
        if gid in seen:
            f.fail(entry.line_of(id_key), f"{what}: duplicate {id_key}")
        seen.add(gid)

        refs: list[str] = []
        for pline, pid in f.items(entry, "provisions", what, str):
            if pid not in provisions:
                f.fail(pline, f"{what}: unknown provision {pid!r}")
            if pid in refs:
                f.fail(pline, f"{what}: provision {pid} is listed twice")
            refs.append(pid)

        extra = {k: _plain(v) for k, v in entry.items() if k not in ("id", "title", "summary", "provisions")}
        group = Group(
            id=gid,
            title=f.text(entry, "title", what),
            summary=f.text(entry, "summary", what),
            provisions=tuple(refs),
            extra=extra,
        )
        groups.append((group, entry))
    return groups


def _check_guidelines(
    f: _File, guidelines: list[tuple[Group, _Map]], provisions: dict[str, Provision]
) -> None:
    """Each provision is listed under exactly the guideline its own entry names."""
    by_number = {int(g.id): (g, entry) for g, entry in guidelines}
    for pid, p in provisions.items():
        if p.guideline is not None and p.guideline not in by_number:
            f.fail(
                f.root.line_of("guidelines"),
                f"provision {pid}: guideline {p.guideline} (from {EN_FILE}) is not defined",
            )
    for group, entry in guidelines:
        lines = entry["provisions"].item_lines
        for line, pid in zip(lines, group.provisions):
            owner = provisions[pid].guideline
            if owner != int(group.id):
                owner_text = "no guideline" if owner is None else f"guideline {owner}"
                f.fail(line, f"guideline {group.id}: provision {pid} belongs to {owner_text} in {EN_FILE}")
    for pid, p in provisions.items():
        if p.guideline is not None and pid not in by_number[p.guideline][0].provisions:
            group, entry = by_number[p.guideline]
            f.fail(entry.line_of("provisions"), f"guideline {group.id}: provision {pid} is missing")


def _read_statement_fields(f: _File) -> tuple[dict[str, Any], ...]:
    fields: list[dict[str, Any]] = []
    ids: set[str] = set()
    for line, entry in f.items(f.root, "statement_of_compliance_fields", "statement fields", _Map):
        fid = f.text(entry, "id", f"statement field at line {line}")
        if fid in ids:
            f.fail(entry.line_of("id"), f"statement field {fid}: duplicate id")
        ids.add(fid)
        f.text(entry, "description", f"statement field {fid}")
        if not isinstance(entry.get("required", False), bool):
            f.fail(entry.line_of("required"), f"statement field {fid}: 'required' must be true or false")
        fields.append(_plain(entry))
    return tuple(fields)
