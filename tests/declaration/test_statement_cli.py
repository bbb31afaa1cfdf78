"""`iotcop statement make` end to end: a clean demo image scanned with a declaration whose pages a local
HTTPS server serves, so the three PSTI requirements are met; then statement.json, the PDF as text and as
pixels, and the refusals with their reasons."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess

import pytest
from decl_webserver import manufacturer_site
from PIL import Image
from test_verdicts import END, POLICY, declaration_text

from iotcop.standards.catalogue import load_catalogue

pytestmark = pytest.mark.slow

SIGNATORY = "A. Smith, Head of Product Security"
ISSUED = dt.date.today().isoformat()


@pytest.fixture(scope="module")
def verified_scan(clean_image, cli, tmp_path_factory):
    """(report.json, decl.yaml): the clean image scanned with every declared page fetched and checked."""
    folder = tmp_path_factory.mktemp("statement")
    with manufacturer_site(folder, POLICY, END) as (base, ca):
        decl = folder / "decl.yaml"
        decl.write_text(declaration_text(base))
        out = folder / "scan"
        res = cli("scan", clean_image.image, "--declaration", decl, "--ca-file", ca, "--out", out, "--quiet", timeout=600)
    assert res.code in (0, 1), res.stderr  # 1: the clean image still carries components with known CVEs
    report = json.loads((out / "report.json").read_text())
    psti = {g["id"]: g["verdict"] for g in report["psti"]}
    assert psti == {"psti-1": "DECLARED", "psti-2": "PASS", "psti-3": "PASS"}, psti
    return out / "report.json", decl


def test_statement_make_writes_every_schedule_4_field(verified_scan, cli, tmp_path):
    report, decl = verified_scan
    out = tmp_path / "statement"
    res = cli("statement", "make", report, "--declaration", decl, "--signatory", SIGNATORY, "--place", "London",
              "--date", ISSUED, "--out", out)
    assert res.code == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["statement.json", "statement.pdf"]
    data = json.loads((out / "statement.json").read_text())

    fields = load_catalogue().psti_statement_fields
    assert {f["id"] for f in fields} <= set(data)
    for f in fields:
        if f["required"]:
            assert data[f["id"]], f"required field {f['id']} is empty"
    assert data["schema"] == "iotcop.psti-statement/1"
    assert data["product"] == {"type": "Wi-Fi router", "name": "IoTCop Demo Router", "model_designation": "ICD-1",
                               "batch": "lot 2026-11", "firmware_version": "1.1.0"}
    assert data["manufacturers"] == [{"name": "Demo Devices Ltd", "address": "1 Test Street, London"}]
    assert data["authorised_representative"] is None  # the declaration names none
    assert "by or on behalf of Demo Devices Ltd" in data["prepared_by_manufacturer"]
    compliance = data["compliance_declaration"]
    assert "Schedule 1" in compliance["text"] and "Demo Devices Ltd" in compliance["text"]
    assert [(r["id"], r["verdict"], r["provisions"]) for r in compliance["requirements"]] == [
        ("psti-1", "DECLARED", ["5.1-1", "5.1-2"]), ("psti-2", "PASS", ["5.2-1"]), ("psti-3", "PASS", ["5.3-13"])]
    assert all(r["legal_ref"].startswith("SI 2023/1007 Sch. 1 para") for r in compliance["requirements"])
    [standard] = data["standards_relied_on"]
    assert (standard["number"], standard["version"], standard["date"]) == ("ETSI EN 303 645", "V2.1.1", "2020-06")
    support = data["defined_support_period"]
    assert support["end_date"] == END.isoformat() and support["published_url"].endswith("/support")
    assert data["signatory"] == {"name": "A. Smith", "function": "Head of Product Security", "signature": None}
    assert data["place_and_date_of_issue"] == {"place": "London", "date": ISSUED}
    assert data["basis"]["declaration_sha256"] and data["basis"]["target_sha256"]

    # What a reader of the PDF sees: every field, on one A4 page.
    pdf = out / "statement.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M), info
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    flat = " ".join(text.split())
    for words in ("Statement of compliance", "SI 2023/1007, Schedule 4", "Wi-Fi router: IoTCop Demo Router ICD-1",
                  "Firmware version 1.1.0", "Batch: lot 2026-11", "Demo Devices Ltd", "1 Test Street, London",
                  "prepared by or on behalf of Demo Devices Ltd", "Passwords", "How to report security issues",
                  "Information on minimum security update periods", "met, verified by iotcop",
                  "met, as declared by the manufacturer", "ETSI EN 303 645 V2.1.1 (2020-06)",
                  "version V2.1.1, dated 2020-06", f"Security updates will be provided until at least {END.isoformat()}",
                  "A. Smith, Head of Product Security", "Signature", f"London, {ISSUED}"):
        assert words in flat, words
    assert "PASS" not in flat and "{" not in flat  # plain words, no raw data
    # and as pixels: the page is rendered, with text over most of its height
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-singlefile", str(pdf), str(tmp_path / "page")], check=True,
                   timeout=60)
    page = Image.open(tmp_path / "page.png").convert("L")
    inked = [y for y in range(page.height) if any(page.getpixel((x, y)) < 128 for x in range(0, page.width, 2))]
    assert inked and (inked[-1] - inked[0]) > page.height * 0.6


def test_statement_refused_with_every_reason_and_nothing_written(verified_scan, cli, tmp_path):
    report, decl = verified_scan
    other = tmp_path / "other.yaml"
    other.write_text(decl.read_text() + "# edited after the scan\n")
    out = tmp_path / "statement"
    late = (END + dt.timedelta(days=1)).isoformat()
    res = cli("statement", "make", report, "--declaration", other, "--signatory", "A. Smith", "--place", "London",
              "--date", late, "--out", out)
    assert res.code == 1, res.stderr
    reasons = [line.removeprefix("iotcop: statement refused: ") for line in res.stderr.splitlines()]
    assert all(line.startswith("iotcop: statement refused: ") for line in res.stderr.splitlines())
    assert f"the defined support period ended on {END.isoformat()}, before the date of issue {late}" in reasons
    assert "no signatory function" in reasons
    assert "the assessment was made with a different declaration file" in reasons
    assert not out.exists()


def test_statement_refused_when_a_psti_requirement_fails(clean_image, cli, tmp_path):
    decl = tmp_path / "decl.yaml"
    decl.write_text(declaration_text("https://127.0.0.1:9", end=dt.date(2023, 12, 31)))  # nothing is fetched
    res = cli("scan", clean_image.rootfs, "--declaration", decl, "--no-fetch", "--out", tmp_path / "scan", "--quiet")
    assert res.code == 1, res.stderr
    out = tmp_path / "statement"
    res = cli("statement", "make", tmp_path / "scan" / "report.json", "--declaration", decl, "--signatory", SIGNATORY,
              "--place", "London", "--out", out)
    assert res.code == 1
    lines = res.stderr.splitlines()
    assert any(line.startswith("iotcop: statement refused: psti-3 (Information on minimum security update periods) "
                               "is FAIL: 5.3-13 FAIL") for line in lines), lines
    assert any("the defined support period ended on 2023-12-31" in line for line in lines), lines
    assert not out.exists()
