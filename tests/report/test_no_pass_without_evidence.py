"""Across every output, a provision without evidence never shows as PASS.

Walks report.json, report.sarif, report.html, consumer.html, the label and the
statement rendering for real scans, and for a forged report that claims PASS
with no evidence (the outputs must not repeat that claim).
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from render_tools import load_report

from iotcop.label.make import build_label
from iotcop.model import GroupVerdict, VerdictValue
from iotcop.report.view import has_pass_evidence
from iotcop.report.writers.consumer import render_consumer
from iotcop.report.writers.html import render_html
from iotcop.report.writers.sarif import build_sarif
from iotcop.statement.render import render_statement_html

pytestmark = pytest.mark.slow


class _Rows(HTMLParser):
    """Provision rows of report.html: id, shown verdict, evidence text."""

    def __init__(self):
        super().__init__()
        self.rows: dict[str, dict] = {}
        self._row = None
        self._in_evidence = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-provision" in a:
            self._row = {"verdict": a["data-verdict"], "evidence": ""}
            self.rows[a["data-provision"]] = self._row
        elif tag == "li" and self._row is not None and (a.get("class") or "").startswith("ev-"):
            self._in_evidence += 1

    def handle_endtag(self, tag):
        if tag == "li" and self._in_evidence:
            self._in_evidence -= 1
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row is not None and self._in_evidence:
            self._row["evidence"] += data


def shown_everywhere(report, declaration=None) -> dict[str, dict[str, str]]:
    """output name -> {provision or group id -> what that output shows}."""
    out: dict[str, dict[str, str]] = {}
    sarif = build_sarif(report)
    run = sarif["runs"][0]
    out["sarif"] = {p["id"]: p["verdict"] for p in run["properties"]["provisions"]}
    for r in run["results"]:
        if r["kind"] == "pass":
            assert r["message"]["text"].split(" met: ", 1)[1].strip(), "a SARIF pass without its statement"
            out["sarif-pass"] = {**out.get("sarif-pass", {}), r["properties"]["provisions"][0]: "PASS"}
    parser = _Rows()
    parser.feed(render_html(report, declaration))
    for pid, row in parser.rows.items():
        if row["verdict"] == "PASS":
            assert row["evidence"].strip(), f"HTML shows {pid} PASS without evidence"
    out["html"] = {pid: row["verdict"] for pid, row in parser.rows.items()}
    consumer = render_consumer(report, declaration)
    out["consumer"] = dict(re.findall(r'data-result="([^"]+)" data-verdict="([^"]+)"', consumer))
    label = build_label(report, b"{}", declaration)
    out["label"] = {r["id"]: r["verdict"] for r in label["results"]}
    out["label-level"] = {"level": str(label["level"])}
    return out


def assert_no_unbacked_pass(report, shown):
    verdicts = {v.id: v for v in report.provisions}
    backed = {pid for pid, v in verdicts.items() if v.verdict == VerdictValue.PASS and has_pass_evidence(v, report)}
    for output in ("sarif", "sarif-pass", "html"):
        for pid, verdict in shown.get(output, {}).items():
            if verdict == "PASS":
                assert pid in backed, f"{output} shows {pid} as PASS without evidence"
    groups = {**{g.id: g for g in report.psti}, **{f"cop-{g.id}": g for g in report.guidelines}}
    for output in ("consumer", "label"):
        for gid, verdict in shown[output].items():
            if verdict == "PASS":
                members = groups[gid].provisions
                assert all(verdicts[p].verdict != VerdictValue.PASS or p in backed for p in members), (output, gid)


@pytest.mark.parametrize("variant", ["vulnerable", "clean"])
def test_real_scans_show_no_pass_without_evidence(demo_scans, variant):
    report = load_report(demo_scans[variant])
    # report.json itself: every PASS carries its statement and an informing check that ran
    for v in report.provisions:
        if v.verdict == VerdictValue.PASS:
            assert has_pass_evidence(v, report), v.id
    shown = shown_everywhere(report)
    assert_no_unbacked_pass(report, shown)
    # the files written by the scan agree with the in-process rendering
    sarif = json.loads((demo_scans[variant] / "report.sarif").read_text())
    assert {p["id"]: p["verdict"] for p in sarif["runs"][0]["properties"]["provisions"]} == shown["sarif"]
    parser = _Rows()
    parser.feed((demo_scans[variant] / "report.html").read_text())
    assert {pid: r["verdict"] for pid, r in parser.rows.items()} == shown["html"]


def test_a_forged_pass_is_not_repeated_by_any_output(demo_scans):
    report = load_report(demo_scans["clean"])
    forged_ids = {"5.1-1", "5.2-1", "5.3-13"}  # the three PSTI provisions, none PASS in the real scan
    provisions = [v.model_copy(update={"verdict": VerdictValue.PASS, "note": "", "evidence": []})
                  if v.id in forged_ids else v for v in report.provisions]
    psti = [GroupVerdict(**{**g.model_dump(), "verdict": VerdictValue.PASS}) for g in report.psti]
    forged = report.model_copy(update={"provisions": provisions, "psti": psti})
    shown = shown_everywhere(forged, {"support": {"end_date": "2030-12-31"}})
    for output in ("sarif", "html"):
        for pid in forged_ids:
            assert shown[output][pid] != "PASS", (output, pid)
    assert "sarif-pass" not in shown or not forged_ids & set(shown["sarif-pass"])
    for output in ("consumer", "label"):
        for gid in ("psti-1", "psti-2", "psti-3"):
            assert shown[output][gid] != "PASS", (output, gid)
    from iotcop.label.level import label_level

    assert shown["label-level"]["level"] == str(label_level(report).value)  # the forged PASS lifts nothing
    assert "PASS" not in render_statement_html({"requirements_met": []})
