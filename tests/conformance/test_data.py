"""The TS 103 701 test-case data: structure, counts, and validation against catalogue, mappings and schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iotcop.conformance import coverage_table, load_test_cases
from iotcop.conformance.data import DATA_FILE, unused_checks
from iotcop.declaration.ixit import json_schema
from iotcop.declaration.schema import declaration_schema
from iotcop.errors import CatalogueError
from iotcop.standards.catalogue import load_catalogue


def test_109_cases_with_the_structure_of_the_ts():
    cases = load_test_cases()
    kinds = [c.kind for c in cases.cases.values()]
    assert len(cases.cases) == 109
    assert (kinds.count("conceptual"), kinds.count("functional"), kinds.count("combined")) == (62, 46, 1)
    assert cases.cases["5.3-10-1"].kind == "combined"
    assert [u.kind for u in cases.cases["5.3-10-1"].units] == ["conceptual", "conceptual", "functional"]
    # 226 lettered test units in V1.1.1
    assert sum(len(c.units) for c in cases.cases.values()) == 226
    catalogue = load_catalogue()
    assert {c.provision for c in cases.cases.values()} == set(catalogue.provisions)
    # 68 provisions, each with a -1 case, plus 41 functional -2 cases
    assert sum(1 for c in cases.cases if c.endswith("-2")) == 41


def test_network_relevant_is_the_n_evidence_class():
    cases = load_test_cases()
    catalogue = load_catalogue()
    expected = {c.id for c in cases.cases.values() if "N" in catalogue.provisions[c.provision].evidence}
    assert {c.id for c in cases.cases.values() if c.network} == expected
    assert len(expected) == 52


def test_coverage_counts():
    table = coverage_table()
    assert table["all"] == {"automated": 53, "declaration": 36, "manual": 20, "total": 109}
    assert table["network"] == {"automated": 46, "declaration": 2, "manual": 4, "total": 52}
    assert table["cases"]["5.3-4-1"] == "automated"  # updates.automatic-updates
    assert table["cases"]["5.1-4-1"] == "automated"  # authentication.password-change
    assert table["cases"]["5.13-1-1"] == "automated"  # input checks and probe.input-validation
    assert table["cases"]["5.1-1-2"] == "automated"
    assert table["cases"]["5.1-1-1"] == "automated"  # decided by the firmware and probe evidence when it is there
    assert table["cases"]["5.1-2-1"] == "declaration"
    assert table["cases"]["5.9-1-2"] == "automated"  # the outage and power steps of the probe
    assert table["cases"]["5.1-4-2"] == "manual"
    # a unit referring to another case takes that case's coverage
    assert table["cases"]["5.5-6-2"] == table["cases"]["5.5-1-2"] == "automated"


def test_every_mapped_check_is_read_by_a_test_case_of_its_provision():
    assert unused_checks() == []


def test_the_published_schema_carries_the_ixit_definition():
    assert declaration_schema()["$defs"]["ixit"] == json_schema()
    assert declaration_schema()["properties"]["ixit"] == {"$ref": "#/$defs/ixit"}


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = DATA_FILE.read_text()
    assert text.count(old) >= 1, old
    path = tmp_path / "ts103701.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("old,new,message", [
    ("credentials.first-use-password, declared.password-approach", "credentials.no-such-check, declared.password-approach",
     "no such check or probe 'credentials.no-such-check'"),
    ("rule: {checks: [probe.bruteforce-protection]}", "rule: {checks: [crypto.private-key]}",
     "crypto.private-key informs 5.4-3, 5.4-4, none of 5.1-5"),
    ('  - id: "5.1-3-1"\n    provision: "5.1-3"\n    kind: conceptual\n    network: true',
     '  - id: "5.1-3-1"\n    provision: "5.1-3"\n    kind: conceptual\n    network: false', "network must be true"),
    ('{documented: ["ixit.auth_mechanisms[].description"]}', '{documented: ["ixit.auth_mechanisms[].colour"]}',
     "'ixit.auth_mechanisms[].colour' is not a field of the declaration schema"),
    ("{u: b, does: \"Repeated failed logins", "{u: c, does: \"Repeated failed logins", "out of order"),
    ("rule: {named: justifications}", "rule: {named: guess}", "no rule named 'guess'"),
    ('rule: {same_as: "5.3-2-1"}', 'rule: {same_as: "5.3-2-9"}', "same_as names no test case"),
    ('ixit: ["ICS: Support, Detail"]', 'ixit: ["Colour: Hue"]', "unknown IXIT table 'Colour'"),
])
def test_defects_stop_loading_with_file_and_line(tmp_path, old, new, message):
    with pytest.raises(CatalogueError) as info:
        load_test_cases(_broken(tmp_path, old, new))
    assert message in str(info.value)
    assert str(info.value).startswith("ts103701.yaml:")


def test_summaries_are_short_own_words():
    for case in load_test_cases().cases.values():
        assert 10 < len(case.summary) <= 120, case.id
        for unit in case.units:
            assert 5 < len(unit.does) <= 130, unit.id


def test_report_schema_accepts_the_view_shape():
    schema = json.loads((Path(__file__).resolve().parents[2] / "src/iotcop/report/schema/report-1.schema.json").read_text())
    view = schema["properties"]["ts103701"]
    assert view["properties"]["test_cases"]["items"]["properties"]["coverage"]["enum"] == ["automated", "declaration", "manual"]


def test_coverage_command(cli):
    res = cli("standards", "coverage", "--format", "json")
    assert res.code == 0, res.stderr
    data = res.json()
    assert data["all"]["total"] == 109 and data["network"]["total"] == 52
    assert data["unused_checks"] == []
    text = cli("standards", "coverage")
    assert text.code == 0 and "Decided by automation or declaration rules: 89 of 109" in text.stdout


@pytest.mark.parametrize("name", ["clean-declaration.yaml", "vulnerable-declaration.yaml"])
def test_fixture_declarations_validate(cli, name):
    res = cli("declaration", "validate", Path(__file__).parent / "data" / name)
    assert res.code == 0, res.stdout + res.stderr
