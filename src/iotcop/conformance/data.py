"""The ETSI TS 103 701 test cases (standards/data/ts103701.yaml), validated against everything they name.

Validation stops iotcop at load time, like the check mapping, when the data disagrees with:
the EN 303 645 catalogue (provisions, the N evidence class behind `network`), the check mappings
(firmware and probe: every check named exists, informs the provisions the unit reads, and every
check that informs a provision appears in one of that provision's test cases), the declaration
schema (every declaration path exists), the IXIT table names, and the rule vocabulary.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iotcop.errors import CatalogueError

DATA_FILE = Path(__file__).resolve().parents[1] / "standards" / "data" / "ts103701.yaml"

KINDS = ("conceptual", "functional", "combined")
# rule kind -> what decides it
DECLARATION_RULES = ("documented", "each", "weak_crypto", "strong_crypto", "confirmed")
RULE_KINDS = DECLARATION_RULES + ("checks", "completeness", "named", "same_as", "manual")
COMPLETENESS = ("services", "auth", "sensors", "user_interfaces", "apis")
_CASE_ID = re.compile(r"^(?P<p>4-1|5\.(?:[1-9]|1[0-3])-[1-9][0-9]?|6-[1-9])-(?P<n>[12])$")


@dataclass(frozen=True)
class Unit:
    case: str
    letter: str
    does: str
    rule: dict[str, Any]
    kind: str  # conceptual or functional (the case's kind, or the unit's own in the combined case)
    fail_on: tuple[str, ...] = ()
    # checks (firmware, probe, traffic) whose findings or positive evidence decide the unit when they ran, the
    # unit's own rule then being the claim they are held against; and the provisions they are read for
    evidence: tuple[str, ...] = ()
    evidence_provisions: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.case}{self.letter}"

    @property
    def rule_kind(self) -> str:
        return next(k for k in RULE_KINDS if k in self.rule)


@dataclass(frozen=True)
class TestCase:
    id: str
    provision: str
    kind: str
    network: bool
    summary: str
    ixit: tuple[str, ...]
    units: tuple[Unit, ...]
    line: int = 0

    __test__ = False  # not a pytest class

    def checks(self) -> list[str]:
        out: list[str] = []
        for u in self.units:
            for c in list(u.rule.get("checks", ())) + list(u.fail_on) + list(u.evidence):
                if c not in out:
                    out.append(c)
        return out


@dataclass(frozen=True)
class TestCases:
    standard: str
    version: str
    cases: dict[str, TestCase] = field(default_factory=dict)

    def for_provision(self, pid: str) -> list[TestCase]:
        return [c for c in self.cases.values() if c.provision == pid]


def declaration_paths(rule: dict[str, Any]) -> list[str]:
    """Every declaration field a declaration rule reads ("a|b" alternatives split)."""
    raw: list[str] = []
    for key in ("documented", "weak_crypto", "strong_crypto"):
        raw.extend(rule.get(key, ()))
    for key in ("each", "confirmed"):
        if key in rule:
            raw.append(rule[key])
    return [alt for item in raw for alt in item.split("|")]


class _Loader(yaml.SafeLoader):
    pass


def _mapping_with_line(loader: _Loader, node: yaml.MappingNode) -> dict:
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def load_test_cases(path: Path | None = None, *, validate: bool = True) -> TestCases:
    if path is None and validate:
        return _packaged()
    return _load(path or DATA_FILE, validate)


@functools.cache
def _packaged() -> TestCases:
    return _load(DATA_FILE, True)


def _load(path: Path, validate: bool) -> TestCases:
    name = path.name
    try:
        data = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{name}: cannot load: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("test_cases"), list):
        raise CatalogueError(f"{name}: expected 'ts:' and a 'test_cases:' list")
    meta = data.get("ts") or {}
    cases: dict[str, TestCase] = {}
    for raw in data["test_cases"]:
        line = raw.get("__line__", 0) if isinstance(raw, dict) else 0
        where = f"{name}:{line}"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{where}: a test case must be a mapping")
        missing = [k for k in ("id", "provision", "kind", "network", "summary", "units") if k not in raw]
        if missing:
            raise CatalogueError(f"{where}: {raw.get('id', '?')}: missing {', '.join(missing)}")
        cid = str(raw["id"])
        if cid in cases:
            raise CatalogueError(f"{where}: {cid}: listed twice")
        if raw["kind"] not in KINDS:
            raise CatalogueError(f"{where}: {cid}: kind must be one of {', '.join(KINDS)}")
        units = []
        for letter_index, u in enumerate(raw["units"] or []):
            uwhere = f"{name}:{u.get('__line__', line)}"
            expected = "abcdefghij"[letter_index]
            if u.get("u") != expected:
                raise CatalogueError(f"{uwhere}: {cid}: unit {u.get('u')!r} out of order (expected {expected!r})")
            rule = _strip(u.get("rule"))
            if not isinstance(rule, dict) or sum(k in rule for k in RULE_KINDS) != 1:
                raise CatalogueError(f"{uwhere}: {cid}{expected}: rule needs exactly one of {', '.join(RULE_KINDS)}")
            ukind = u.get("kind", raw["kind"])
            if raw["kind"] == "combined" and ukind not in ("conceptual", "functional"):
                raise CatalogueError(f"{uwhere}: {cid}{expected}: units of a combined case say conceptual or functional")
            evidence = _strip(u.get("evidence") or {})
            if not isinstance(evidence, dict) or (evidence and not evidence.get("checks")):
                raise CatalogueError(f"{uwhere}: {cid}{expected}: evidence needs 'checks' (and may name 'provisions')")
            units.append(Unit(case=cid, letter=expected, does=str(u.get("does", "")), rule=rule, kind=ukind,
                              fail_on=tuple(u.get("fail_on") or ()), evidence=tuple(evidence.get("checks") or ()),
                              evidence_provisions=tuple(evidence.get("provisions") or ())))
        if not units:
            raise CatalogueError(f"{where}: {cid}: no test units")
        cases[cid] = TestCase(id=cid, provision=str(raw["provision"]), kind=raw["kind"], network=bool(raw["network"]),
                              summary=str(raw["summary"]), ixit=tuple(raw.get("ixit") or ()), units=tuple(units), line=line)
    tc = TestCases(standard=str(meta.get("standard", "")), version=str(meta.get("version", "")), cases=cases)
    if validate:
        validate_test_cases(tc, name)
    return tc


def _schema_has(schema: dict, root: dict, dotted: str) -> bool:
    """Whether a dotted declaration path ("a.b[].c") names a field of the declaration schema."""
    node = schema
    for part in dotted.split("."):
        is_list = part.endswith("[]")
        key = part[:-2] if is_list else part
        props = node.get("properties", {})
        if key not in props:
            return False
        node = props[key]
        while "$ref" in node:
            node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if is_list:
            if node.get("type") != "array":
                return False
            node = node["items"]
            while "$ref" in node:
                node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return True


def checked_mapping() -> dict[str, tuple[str, ...]]:
    """Every mapping row, once the firmware, probe and traffic checks have been validated against them."""
    from iotcop.checks.discovery import all_checks
    from iotcop.probe.checks import probe_checks
    from iotcop.standards.mapping import mapping
    from iotcop.traffic.checks import traffic_checks

    all_checks()
    probe_checks()
    traffic_checks()
    return mapping()


def validate_test_cases(tc: TestCases, name: str = "ts103701.yaml") -> None:
    from iotcop.declaration.ixit import IXIT_TABLES
    from iotcop.declaration.schema import declaration_schema
    from iotcop.standards.catalogue import load_catalogue

    catalogue = load_catalogue()
    mapping = checked_mapping()
    schema = declaration_schema()
    from iotcop.conformance.rules import NAMED_RULES

    for case in tc.cases.values():
        where = f"{name}:{case.line}: {case.id}"
        m = _CASE_ID.match(case.id)
        if not m or m.group("p") != case.provision:
            raise CatalogueError(f"{where}: id must be '<provision>-1' or '<provision>-2' of provision {case.provision}")
        if case.provision not in catalogue.provisions:
            raise CatalogueError(f"{where}: unknown provision {case.provision}")
        network = "N" in catalogue.provisions[case.provision].evidence
        if case.network != network:
            raise CatalogueError(f"{where}: network must be {str(network).lower()} (N is{'' if network else ' not'} "
                                 f"an evidence class of {case.provision} in en303645.yaml)")
        if (case.kind == "combined") != (case.id == "5.3-10-1"):
            raise CatalogueError(f"{where}: only 5.3-10-1 is a combined test case")
        for entry in case.ixit:
            table = entry.split(":", 1)[0].strip()
            if table not in IXIT_TABLES and table != "ICS":
                raise CatalogueError(f"{where}: unknown IXIT table {table!r}")
        for unit in case.units:
            uwhere = f"{name}:{case.line}: {unit.id}"
            rule = unit.rule
            kind = unit.rule_kind
            used = list(rule.get("checks", ())) + list(unit.fail_on)
            scope = set(rule.get("provisions") or [case.provision])
            for check in used:
                if check not in mapping:
                    raise CatalogueError(f"{uwhere}: no such check or probe {check!r}")
                if unit.fail_on and check in unit.fail_on and "provisions" not in rule:
                    scope_for = {case.provision}
                else:
                    scope_for = scope
                if not set(mapping[check]) & scope_for:
                    raise CatalogueError(f"{uwhere}: {check} informs {', '.join(mapping[check])}, "
                                         f"none of {', '.join(sorted(scope_for))}")
            evidence_scope = set(unit.evidence_provisions or [case.provision])
            for check in unit.evidence:
                if check not in mapping:
                    raise CatalogueError(f"{uwhere}: evidence: no such check, probe or traffic check {check!r}")
                if not set(mapping[check]) & evidence_scope:
                    raise CatalogueError(f"{uwhere}: evidence: {check} informs {', '.join(mapping[check])}, "
                                         f"none of {', '.join(sorted(evidence_scope))}")
            for p in list(rule.get("provisions") or ()) + list(unit.evidence_provisions):
                if p not in catalogue.provisions:
                    raise CatalogueError(f"{uwhere}: unknown provision {p}")
            for path in declaration_paths(rule):
                if not _schema_has(schema, schema, path):
                    raise CatalogueError(f"{uwhere}: {path!r} is not a field of the declaration schema")
            if kind == "completeness" and rule["completeness"] not in COMPLETENESS:
                raise CatalogueError(f"{uwhere}: completeness must be one of {', '.join(COMPLETENESS)}")
            if kind == "named" and rule["named"] not in NAMED_RULES:
                raise CatalogueError(f"{uwhere}: no rule named {rule['named']!r} in iotcop.conformance.rules")
            if kind == "same_as" and rule["same_as"] not in tc.cases:
                raise CatalogueError(f"{uwhere}: same_as names no test case {rule['same_as']!r}")
            if kind == "each" and not any(k in rule for k in ("is", "in", "not_in")):
                raise CatalogueError(f"{uwhere}: 'each' needs 'is', 'in' or 'not_in'")
    for pid in catalogue.provisions:
        if f"{pid}-1" not in tc.cases:
            raise CatalogueError(f"{name}: provision {pid} has no test case {pid}-1")


def unused_checks(tc: TestCases | None = None) -> list[str]:
    """'check -> provision' pairs of the mappings that no test case of that provision reads.

    Not a load error (a new check must not stop the TS view), but `iotcop standards coverage`
    prints them and the tests keep the list empty.
    """
    tc = tc or load_test_cases()
    mapping = checked_mapping()
    return [f"{check} -> {pid}" for check, provisions in sorted(mapping.items()) for pid in provisions
            if not any(check in c.checks() for c in tc.for_provision(pid))]
