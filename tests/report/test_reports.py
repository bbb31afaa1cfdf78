"""SARIF, HTML, PDF and consumer outputs of real demo-image scans."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from render_tools import chromium, load_report, pdf_text, screenshot
from sarif_rules import github_problems

from iotcop.report.writers.consumer import render_consumer

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
DECLARATION = {
    "product": {"name": "HomeRouter", "type": "Wi-Fi router"},
    "manufacturer": {"name": "Example Devices Ltd", "address": "1 High Street, Cambridge"},
    "model_designation": "HR-100",
    "firmware_version": "1.4.2",
    "support": {"end_date": "2030-12-31", "published_url": "https://example.invalid/support"},
    "vulnerability_disclosure": {"policy_url": "https://example.invalid/security",
                                 "contact": "mailto:security@example.invalid",
                                 "acknowledgement_days": 5, "status_update_days": 30},
    "update": {"present": True, "automatic": True, "description": "signed images over HTTPS, checked daily"},
    "password": {"approach": "user_defined"},
    "deletion": {"text": "Hold reset for 10 seconds to erase all settings and logs."},
}

pytestmark = pytest.mark.slow


def sarif_validator():
    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("variant", ["vulnerable", "clean"])
def test_sarif_validates_against_the_official_schema(demo_scans, variant):
    doc = json.loads((demo_scans[variant] / "report.sarif").read_text())
    errors = [f"{list(e.path)}: {e.message}" for e in sarif_validator().iter_errors(doc)]
    assert errors == []
    report = load_report(demo_scans[variant])
    run = doc["runs"][0]
    fails = [r for r in run["results"] if r["kind"] == "fail"]
    assert len(fails) == len(report.findings)
    assert github_problems(doc) == []
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    names = {c["name"] for c in report.components}
    components = {r["id"] for r in run["tool"]["driver"]["rules"]
                  if r["id"] == f"vulns.known-vulnerability/{r['properties'].get('component')}@"
                                f"{r['properties'].get('version')}" and r["properties"]["component"] in names}
    assert {c.id for c in report.checks} <= rule_ids <= {c.id for c in report.checks} | components
    for rule in run["tool"]["driver"]["rules"]:
        assert any(t.startswith("EN303645:") for t in rule["properties"]["tags"])
    for r in fails:
        for loc in r["locations"]:
            uri = loc["physicalLocation"]["artifactLocation"]["uri"]
            assert not uri.startswith("/")
            assert loc["physicalLocation"]["artifactLocation"].get("uriBaseId", "DEVICE_ROOT") == "DEVICE_ROOT"
    if variant == "vulnerable":
        uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in fails for loc in r.get("locations", [])}
        assert "etc/shadow" in uris


def test_sarif_validator_rejects_a_broken_log(demo_scans):
    """The schema check can fail: a result without a message is invalid SARIF."""
    doc = json.loads((demo_scans["vulnerable"] / "report.sarif").read_text())
    del doc["runs"][0]["results"][0]["message"]
    assert list(sarif_validator().iter_errors(doc))


def test_html_report_renders_in_chromium(demo_scans, tmp_path):
    html = demo_scans["vulnerable"] / "report.html"
    text = html.read_text()
    assert "<script src" not in text and "<link " not in text  # self-contained
    png = screenshot(html.as_uri(), tmp_path / "report.png", "1200,2400", tmp_path)
    assert len(png) > 50_000
    pdf = tmp_path / "printed.pdf"
    chromium([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.as_uri()], tmp_path)
    visible = pdf_text(pdf)
    for words in ("Security assessment", "UK PSTI security requirements", "No default passwords", "5.1-1",
                  "/etc/shadow", "Checks run"):
        assert words in visible


def test_provision_filter_works_without_javascript(demo_scans, tmp_path):
    """The filter links are CSS :target rules: printing report.html#only-FAIL with scripts off shows FAIL rows only."""
    html = demo_scans["vulnerable"] / "report.html"
    report = load_report(demo_scans["vulnerable"])
    failing = [v.id for v in report.provisions if v.verdict.value == "FAIL"]
    untested = [v.id for v in report.provisions if v.verdict.value == "NOT_TESTED"]
    assert failing and untested
    # scripts off: the page without its one <script> element (Chromium cannot print with scripts disabled)
    text = html.read_text()
    start, end = text.index("<script>"), text.index("</script>") + len("</script>")
    no_js = tmp_path / "report-nojs.html"
    no_js.write_text(text[:start] + text[end:])
    pdf = tmp_path / "filtered.pdf"
    chromium([f"--print-to-pdf={pdf}", "--no-pdf-header-footer", no_js.as_uri() + "#only-FAIL"], tmp_path)
    section = re.split(r"What starts at boot|Components \(", pdf_text(pdf).split("Evidence and note", 1)[1], maxsplit=1)[0]
    rows = set(re.findall(r"^\s*((?:4|6|5\.\d{1,2})-\d{1,2})\s", section, re.M))
    assert rows == set(failing)


def test_pdf_report_has_the_visible_text(demo_scans, tmp_path):
    pdf = demo_scans["vulnerable"] / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = pdf_text(pdf)
    report = load_report(demo_scans["vulnerable"])
    assert "Security assessment" in text
    assert report.findings[0].title[:30] in text.replace("\n", " ")
    subprocess_png = tmp_path / "page"
    import subprocess

    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(pdf), str(subprocess_png)], check=True)
    assert list(tmp_path.glob("page*.png"))


def test_consumer_page_says_what_is_unknown_without_a_declaration(demo_scans, tmp_path):
    page = (demo_scans["vulnerable"] / "consumer.html").read_text()
    assert 'id="no-declaration"' in page
    assert page.count("Unknown") >= 6
    assert "Telnet" in page or "telnet" in page  # a service found at boot is named


def test_consumer_page_uses_the_declaration(demo_scans, tmp_path):
    report = load_report(demo_scans["clean"])
    page = render_consumer(report, DECLARATION)
    (tmp_path / "consumer.html").write_text(page)
    png = screenshot((tmp_path / "consumer.html").as_uri(), tmp_path / "consumer.png", "800,1800", tmp_path)
    assert len(png) > 20_000
    assert "Security updates until 2030-12-31" in page
    assert '<a href="mailto:security@example.invalid">security@example.invalid</a>' in page  # shoppers read the address
    assert "within 5 days" in page
    assert "Hold reset for 10 seconds" in page
    assert "signed images over HTTPS" in page
    assert "not said where to report" not in page and 'id="no-declaration"' not in page
    assert "Unknown: the manufacturer has not said whether two-step login" in page  # not in this declaration
    # the level scale, each level in one sentence, this product's level marked; the known-vulnerabilities line
    from iotcop.label.level import LEVELS, label_level

    level = label_level(report).value
    assert f"Security label: level {level} of 4" in page and page.count('aria-current="true"') == 1
    assert all(f"Level {n}: {text}." in page for n, text in LEVELS.items())
    assert re.search(r'id="vulnerabilities">(\d+ known vulnerabilit|No known vulnerability)', page)
    assert "Using HomeRouter HR-100 safely" in page  # the product's name, not the file's
