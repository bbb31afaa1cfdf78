"""The standards catalogue: content of the packaged data and validation at load."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from iotcop.errors import CatalogueError
from iotcop.standards import load_catalogue
from iotcop.standards.catalogue import DATA_DIR, EVIDENCE_CLASSES, STATUSES


@pytest.fixture(scope="module")
def cat():
    return load_catalogue()


# --- packaged data ------------------------------------------------------------


def test_metadata(cat):
    assert cat.standard == "ETSI EN 303 645"
    assert cat.standard_version == "V2.1.1"
    assert cat.version == "2026.11.1"


def test_provision_counts(cat):
    provisions = list(cat.provisions.values())
    assert len(provisions) == 68
    assert sum(p.mandatory for p in provisions) == 33
    assert sum(not p.mandatory for p in provisions) == 35
    assert {p.status for p in provisions} == set(STATUSES)


def test_document_order(cat):
    ids = list(cat.provisions)
    assert ids[0] == "4-1"
    assert ids[1:3] == ["5.1-1", "5.1-2"]
    assert ids[-1] == "6-5"
    assert ids.index("5.9-3") < ids.index("5.10-1") < ids.index("5.13-1") < ids.index("6-1")


def test_conditions(cat):
    assert sorted(cat.conditions) == list(range(1, 14))
    p = cat.provision("5.3-10")
    assert p.status == "M C"
    assert p.conditions == (11, 12)
    assert p.mandatory and p.conditional
    assert cat.provision("5.3-6").conditions == (9, 12)
    assert cat.provision("5.3-14").status == "R C"
    for p in cat.provisions.values():
        assert p.conditional == bool(p.conditions)


def test_known_statuses(cat):
    assert cat.provision("4-1").status == "M"
    assert cat.provision("5.1-1").status == "M C"
    assert cat.provision("5.2-1").status == "M"
    assert cat.provision("5.3-13").status == "M"
    assert cat.provision("5.7-1").status == "R"
    assert cat.provision("6-4").status == "R C"


def test_evidence_and_summaries(cat):
    for p in cat.provisions.values():
        assert p.evidence and set(p.evidence) <= set(EVIDENCE_CLASSES)
        assert 0 < len(p.summary.split()) <= 25, p.id
    assert cat.provision("5.1-1").evidence == ("F", "N", "D")
    assert cat.provision("5.6-3").evidence == ("X", "F")


def test_unknown_provision_raises_clear_key_error(cat):
    with pytest.raises(KeyError, match="5.99-1"):
        cat.provision("5.99-1")


def test_guidelines(cat):
    assert [g.id for g in cat.guidelines] == [str(n) for n in range(1, 14)]
    assert cat.guidelines[0].title == "No default passwords"
    owners: dict[str, list[str]] = {}
    for g in cat.guidelines:
        for pid in g.provisions:
            owners.setdefault(pid, []).append(g.id)
    for pid, p in cat.provisions.items():
        if pid == "4-1":
            assert pid not in owners and p.guideline is None
        else:
            assert owners[pid] == [str(p.guideline)], pid
    assert set(cat.guidelines[7].provisions) >= {"5.8-1", "6-1", "6-5"}


def test_psti(cat):
    assert [g.id for g in cat.psti] == ["psti-1", "psti-2", "psti-3"]
    assert [g.provisions for g in cat.psti] == [("5.1-1", "5.1-2"), ("5.2-1",), ("5.3-13",)]
    assert cat.psti[0].extra["legal_ref"] == "SI 2023/1007 Sch. 1 para 1"
    ids = [f["id"] for f in cat.psti_statement_fields]
    assert "defined_support_period" in ids and "signatory" in ids


def test_cra(cat):
    ids = [g.id for g in cat.cra]
    assert ids[:2] == ["I.1", "I.2(a)"]
    assert len(ids) == 1 + 13 + 8
    by_id = {g.id: g for g in cat.cra}
    assert by_id["II.1"].provisions == ()
    assert by_id["II.5"].provisions == ("5.2-1",)
    assert "5.3-10" in by_id["I.2(c)"].provisions


def test_owasp(cat):
    assert [g.id for g in cat.owasp] == [f"I{n}" for n in range(1, 11)]
    assert "5.1-1" in cat.owasp[0].provisions


def test_default_catalogue_is_cached():
    assert load_catalogue() is load_catalogue()


# --- malformed catalogues -------------------------------------------------------


def _broken(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """Copy the data with one textual change; return the dir and the changed line."""
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    path = data / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    pos = text.index(old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return data, text[:pos].count("\n") + 1


def _error(data: Path) -> str:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(data)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_copy_loads(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    assert len(load_catalogue(data).provisions) == 68


def test_bad_status(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", 'status: "M C"\n    conditions: [1]', 'status: "MC"\n    conditions: [1]')
    message = _error(data)
    assert message == (
        f"en303645.yaml:{line}: provision 5.1-1: status 'MC' is not one of M, R, M C, R C"
    )


def test_unknown_condition(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", "conditions: [11, 12]", "conditions: [11, 14]")
    message = _error(data)
    assert message.startswith(f"en303645.yaml:{line}: provision 5.3-10:")
    assert "unknown condition 14" in message


def test_conditional_without_conditions(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", "conditions: [11, 12]", "conditions: []")
    assert _error(data).startswith(f"en303645.yaml:{line}: provision 5.3-10: conditional status")


def test_duplicate_id(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", 'id: "5.1-3"', 'id: "5.1-2"')
    message = _error(data)
    assert message == f"en303645.yaml:{line}: provision 5.1-2: duplicate id"


def test_malformed_id(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", 'id: "5.13-1"', 'id: "5.14-1"')
    assert _error(data).startswith(f"en303645.yaml:{line}: provision 5.14-1: id is not of the form")


def test_bad_evidence_class(tmp_path):
    data, line = _broken(tmp_path, "en303645.yaml", "evidence: [F, N, D]", "evidence: [F, Q, D]")
    assert "evidence class 'Q'" in _error(data)
    assert _error(data).startswith(f"en303645.yaml:{line}: provision 5.1-1:")


def test_missing_summary(tmp_path):
    old = '    summary: "Any password used outside'
    data, line = _broken(tmp_path, "en303645.yaml", old, '    note: "Any password used outside')
    message = _error(data)
    # reported at the start of the provision entry, a few lines above
    entry_line = int(re.match(r"en303645\.yaml:(\d+):", message).group(1))
    assert line - 5 <= entry_line < line
    assert message.endswith("provision 5.1-1: missing key 'summary'")


@pytest.mark.parametrize(
    ("name", "old", "new", "what"),
    [
        ("uk_cop.yaml", '"5.13-1"]', '"5.13-1", "5.13-9"]', "guideline 13"),
        ("psti.yaml", '["5.2-1"]', '["5.2-9"]', "requirement psti-2"),
        ("cra.yaml", '["5.9-3"]', '["5.9-7"]', "CRA item I.2(i)"),
        ("owasp_iot_2018.yaml", '"5.4-3"]', '"5.4-30"]', "OWASP item I1"),
    ],
)
def test_unknown_provision_in_mapping(tmp_path, name, old, new, what):
    data, line = _broken(tmp_path, name, old, new)
    message = _error(data)
    assert message.startswith(f"{name}:{line}: {what}: unknown provision")


def test_provision_in_two_guidelines(tmp_path):
    data, line = _broken(tmp_path, "uk_cop.yaml", '["5.13-1"]', '["5.13-1", "5.1-1"]')
    assert _error(data) == (
        f"uk_cop.yaml:{line}: guideline 13: provision 5.1-1 belongs to guideline 1 in en303645.yaml"
    )


def test_provision_in_no_guideline(tmp_path):
    data, line = _broken(tmp_path, "uk_cop.yaml", '["5.10-1"]', "[]")
    assert _error(data) == f"uk_cop.yaml:{line}: guideline 10: provision 5.10-1 is missing"


def test_yaml_syntax_error(tmp_path):
    data, line = _broken(tmp_path, "cra.yaml", 'title: "Confidentiality"', 'title: "Confidentiality')
    assert _error(data).startswith("cra.yaml:")


def test_duplicate_key(tmp_path):
    data, line = _broken(tmp_path, "psti.yaml", '    title: "Passwords"\n', '    title: "Passwords"\n    title: "Again"\n')
    assert _error(data) == f"psti.yaml:{line + 1}: duplicate key 'title'"


def test_missing_file(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    (data / "cra.yaml").unlink()
    assert _error(data).startswith("cra.yaml: cannot read")


def test_a_mapping_row_written_twice_is_refused(tmp_path):
    from iotcop.standards.mapping import DATA_DIR as MAPPING_DIR
    from iotcop.standards.mapping import load_mapping

    text = (MAPPING_DIR / "probe.yaml").read_text()
    path = tmp_path / "probe.yaml"
    path.write_text(text + '  probe.default-credentials: ["5.1-1"]\n')
    with pytest.raises(CatalogueError, match=r"^probe\.yaml: probe\.default-credentials: written twice$"):
        load_mapping(path)
    assert load_mapping(MAPPING_DIR / "probe.yaml")["probe.default-credentials"] == ("5.1-1",)
