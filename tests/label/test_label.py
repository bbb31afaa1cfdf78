"""The signed consumer label: keys, make, verify, levels and rendering."""

from __future__ import annotations

import json
import os

import pytest
from render_tools import load_report, pdf_text, screenshot

from iotcop.label.level import label_level
from iotcop.label.make import build_label
from iotcop.label.signing import (
    LabelInvalid,
    init_keys,
    load_private_key,
    load_public_key,
    sign_label,
    verify_label,
)
from iotcop.model import ExtractionReport, VerdictValue
from iotcop.report.view import catalogue

V = VerdictValue


@pytest.fixture
def keys(tmp_path):
    init_keys(tmp_path / "mine")
    init_keys(tmp_path / "other")
    return tmp_path / "mine", tmp_path / "other"


def _small_label(keys) -> bytes:
    data = {"schema": "iotcop.label/1", "product": {"name": "R1", "model": "X"}, "level": 0,
            "security_updates_until": "2030-12-31", "results": [{"id": "psti-1", "verdict": "FAIL"}]}
    return sign_label(data, load_private_key(keys[0]))


def test_verify_accepts_the_signed_file(keys):
    signed = _small_label(keys)
    assert verify_label(signed, load_public_key(keys[0]))["product"]["name"] == "R1"


def test_every_single_byte_change_is_rejected(keys):
    signed = _small_label(keys)
    public = load_public_key(keys[0])
    tried = 0
    for i in range(len(signed)):
        for flip in (0x01, 0x20, 0x80):
            changed = bytearray(signed)
            changed[i] ^= flip
            tried += 1
            with pytest.raises(LabelInvalid):
                verify_label(bytes(changed), public)
    # deleting or adding a byte anywhere fails too
    for i in range(len(signed)):
        with pytest.raises(LabelInvalid):
            verify_label(signed[:i] + signed[i + 1:], public)
        with pytest.raises(LabelInvalid):
            verify_label(signed[:i] + b" " + signed[i:], public)
    assert tried == 3 * len(signed) and len(signed) > 300


def test_a_label_signed_by_another_key_is_rejected(keys):
    signed = sign_label({"schema": "iotcop.label/1", "level": 0}, load_private_key(keys[1]))
    with pytest.raises(LabelInvalid, match="another key"):
        verify_label(signed, load_public_key(keys[0]))
    # and a forged key id does not help: the signature itself is checked against the trusted key
    doc = json.loads(signed)
    doc["signature"]["key_id"] = json.loads(_small_label(keys))["signature"]["key_id"]
    from iotcop.label.signing import canonical_json

    with pytest.raises(LabelInvalid, match="does not match"):
        verify_label(canonical_json(doc) + b"\n", load_public_key(keys[0]))


def test_private_key_is_private(keys):
    mode = os.stat(keys[0] / "label-signing.key").st_mode & 0o777
    assert mode == 0o600


# --- levels from real scans ---------------------------------------------------------


def _declared(report, ids):
    """The report as a declaration would leave it: the given provisions DECLARED, with the declared row as evidence."""
    return report.model_copy(update={"provisions": [
        v.model_copy(update={"verdict": V.DECLARED, "note": "declared (decl.yaml:10): yes"}) if v.id in ids else v
        for v in report.provisions]})


def _rolled(report):
    from iotcop.assess import roll_up

    cat = catalogue()
    by_id = {v.id: v for v in report.provisions}
    return report.model_copy(update={"guidelines": [roll_up(g, cat, by_id) for g in cat.guidelines],
                                     "psti": [roll_up(g, cat, by_id) for g in cat.psti]})


@pytest.mark.slow
def test_levels(demo_scans):
    cat = catalogue()
    mandatory = {p.id for p in cat.provisions.values() if p.mandatory}
    psti = {"5.1-1", "5.1-2", "5.2-1", "5.3-13"}
    clean = load_report(demo_scans["clean"])
    vulnerable = load_report(demo_scans["vulnerable"])
    # The two demo images no longer share a level: critical findings keep the vulnerable one at 0.
    assert label_level(vulnerable).value == 0
    assert any(r.startswith("critical: ") for r in label_level(vulnerable).reasons)
    assert label_level(clean).value == 1 and label_level(clean).reasons[0].startswith("UK PSTI requirement")
    # level 2: the PSTI requirements declared, the rest as scanned
    two = _rolled(_declared(clean, psti))
    assert label_level(two).value == 2
    full = _rolled(_declared(clean, mandatory))
    serious = [f for f in full.findings if f.severity.value in ("high", "critical") and f.confidence != "possible"]
    assert label_level(full).value == (2 if serious else 3)
    calm = full.model_copy(update={"findings": [f for f in full.findings if f not in serious]})
    assert label_level(calm).value == 3  # no high or critical finding, no live probe
    assert label_level(calm).reasons == ["the live device was not probed"]
    with_findings = _rolled(_declared(vulnerable, mandatory))
    assert label_level(with_findings).value == 0  # a declaration cannot outweigh critical findings
    partial = calm.model_copy(update={"extraction": ExtractionReport(status="partial", files=10)})
    assert label_level(partial).value == 0
    one_untested = _rolled(calm.model_copy(update={"provisions": [
        v.model_copy(update={"verdict": V.NOT_TESTED}) if v.id == "5.3-13" else v for v in calm.provisions]}))
    assert label_level(one_untested).value == 1


def test_level_sentences_and_actively_exploited():
    """Every level has one sentence; an actively exploited vulnerability alone keeps a product at 0."""
    import json as _json

    from iotcop.label.level import LEVELS
    from iotcop.model import Evidence, Finding, Severity

    assert sorted(LEVELS) == [0, 1, 2, 3, 4] and all(t.count(". ") == 0 for t in LEVELS.values())
    report = _synthetic_report()
    detail = {"group": "likely", "component": "webd", "version": "1.0", "files": ["/usr/sbin/webd"], "count": 1,
              "known_exploited": 1, "vulnerabilities": [{"id": "CVE-2021-2222", "known_exploited": True,
                                                         "severity": "medium", "confidence": "likely"}]}
    kev = Finding(check="vulns.known-vulnerability", severity=Severity.medium, provisions=["5.3-8"], title="webd",
                  evidence=Evidence(path="/usr/sbin/webd", detail=_json.dumps(detail))).with_id()
    level = label_level(report.model_copy(update={"findings": [kev]}))
    assert level.value == 0 and level.reasons == ["actively exploited vulnerability in webd 1.0: CVE-2021-2222"]
    possible = kev.model_copy(update={"confidence": "possible"})
    assert label_level(report.model_copy(update={"findings": [possible]})).value == 1


@pytest.mark.slow
def test_label_make_and_verify_cli(demo_scans, cli, tmp_path):
    keydir = tmp_path / "keys"
    assert cli("keys", "init", "--dir", keydir).code == 0
    assert cli("keys", "init", "--dir", keydir).code == 2  # never overwrites silently
    out = tmp_path / "label"
    res = cli("label", "make", demo_scans["vulnerable"] / "report.json", "--key", keydir,
              "--registry-url", "https://registry.example.invalid/p", "--out", out)
    assert res.code == 0, res.stderr
    assert {p.name for p in out.iterdir()} == {"label.json", "label.svg", "label.png", "label.pdf"}
    assert cli("label", "verify", out / "label.json", "--key", keydir / "label-signing.pub").code == 0
    other = tmp_path / "other"
    cli("keys", "init", "--dir", other)
    res = cli("label", "verify", out / "label.json", "--key", other)
    assert res.code == 1 and "another key" in res.stderr
    data = bytearray((out / "label.json").read_bytes())
    data[data.index(b'"level":0') + 8] = ord("4")
    (tmp_path / "tampered.json").write_bytes(bytes(data))
    res = cli("label", "verify", tmp_path / "tampered.json", "--key", keydir)
    assert res.code == 1 and "INVALID" in res.stderr
    assert cli("label", "verify", tmp_path / "missing.json", "--key", keydir).code == 2
    label = json.loads((out / "label.json").read_text())["label"]
    assert label["level"] == 0 and label["registry_url"].startswith("https://registry.example.invalid/p/")
    # what a shopper sees: the PDF text and a Chromium rendering of the SVG
    text = " ".join(pdf_text(out / "label.pdf").split())
    for words in ("Connected product security", "Security updates: end date not stated", "Level 0 of 4",
                  "Default or guessable passwords were found", "registry.example.invalid",
                  "Product not named by the manufacturer", "known vulnerabilities", "actively exploited"):
        assert words in text
    png = screenshot((out / "label.svg").as_uri(), tmp_path / "label-shot.png", "420,600", tmp_path)
    assert len(png) > 10_000
    assert (out / "label.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_label_with_declaration_dict(tmp_path):
    """The label states the product, version and support end date from the declaration."""
    from iotcop.label.make import render_pdf, render_svg

    report = _synthetic_report()
    decl = {"product": {"name": "HomeRouter", "type": "router"}, "model_designation": "HR-100",
            "firmware_version": "1.4.2", "manufacturer": {"name": "Example Devices Ltd", "address": "x"},
            "support": {"end_date": "2030-12-31", "published_url": "https://example.invalid/s"},
            "vulnerability_disclosure": {"contact": "mailto:security@example.invalid"}}
    label = build_label(report, b"{}", decl, "https://registry.example.invalid/{id}")
    assert label["security_updates_until"] == "2030-12-31" and label["firmware"]["version"] == "1.4.2"
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(render_pdf(render_svg(label, "0123456789abcdef")))
    text = pdf_text(pdf)
    assert "Security updates until 2030-12-31" in text and "HomeRouter HR-100" in text and "firmware 1.4.2" in text
    # the model is not repeated when the product name already holds it
    named = build_label(report, b"{}", {**decl, "product": {"name": "HomeRouter HR-100"}}, None)
    pdf.write_bytes(render_pdf(render_svg(named, "0123456789abcdef")))
    assert "HR-100 HR-100" not in pdf_text(pdf) and "HomeRouter HR-100" in pdf_text(pdf)


def _synthetic_report():
    from iotcop.model import Assessment, Target, Tool, Verdict

    cat = catalogue()
    return Assessment(tool=Tool(version="0", catalogue_version=cat.version), generated_at="2026-01-01T00:00:00+00:00",
                      target=Target(kind="rootfs", path="/x"), extraction=ExtractionReport(status="complete"),
                      findings=[], provisions=[Verdict(id=p, status="M", verdict=V.NOT_TESTED) for p in cat.provisions],
                      components=[])


@pytest.mark.slow
def test_one_row_per_promise_never_contradicts_the_psti_rows(demo_scans):
    from iotcop.report.view import DeclarationView, promise_results, shown_assessment

    for variant in ("clean", "vulnerable"):
        shown = shown_assessment(load_report(demo_scans[variant]))
        rows = promise_results(shown, DeclarationView())
        assert [r.id for r in rows] == ["psti-1", "psti-2", "psti-3"] + [f"cop-{g.id}" for g in shown.guidelines]
        texts = {r.id: r.text.lower() for r in rows}
        # passwords and reporting are spoken of once, in the PSTI rows
        assert "default password" not in texts["cop-1"] and "password" in texts["psti-1"]
        assert "report" in texts["psti-2"] and "reported problems" in texts["cop-2"]
