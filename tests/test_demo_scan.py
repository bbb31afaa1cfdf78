"""End to end on firmware built from real Debian packages: planted issues found, clean image clean."""

from __future__ import annotations

import json

import jsonschema
import pytest

from iotcop.report.writers.json import report_schema

pytestmark = pytest.mark.slow


def _scan(cli, image, out):
    result = cli("scan", image, "--out", out, "--quiet")
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    return result, report


@pytest.fixture(scope="module")
def vulnerable_scan(cli, vulnerable_image, tmp_path_factory):
    return _scan(cli, vulnerable_image.image, tmp_path_factory.mktemp("vuln"))


@pytest.fixture(scope="module")
def clean_scan(cli, clean_image, tmp_path_factory):
    return _scan(cli, clean_image.image, tmp_path_factory.mktemp("clean"))


def test_vulnerable_image_extracts_completely(vulnerable_scan):
    _, report = vulnerable_scan
    x = report["extraction"]
    assert x["status"] == "complete", x["errors"]
    assert x["unknown_ratio"] < 0.05
    readers = {r["reader"] for r in x["readers"]}
    assert {"uimage", "jffs2_new"} & readers and any(r.startswith("squashfs") for r in readers), readers


def test_every_planted_issue_is_reported_on_its_provision(vulnerable_scan, vulnerable_image):
    result, report = vulnerable_scan
    assert result.code == 1, result.stderr
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    missed = []
    for plant in vulnerable_image.planted:
        hits = [f for f in report["findings"]
                if f["evidence"]["path"] == plant["path"] and plant["provision"] in f["provisions"]]
        if not hits or verdicts[plant["provision"]] != "FAIL":
            missed.append(plant)
    assert not missed, json.dumps(missed, indent=1)


def test_vulnerable_image_fails_psti_passwords(vulnerable_scan):
    _, report = vulnerable_scan
    psti = {g["id"]: g["verdict"] for g in report["psti"]}
    assert psti["psti-1"] == "FAIL"
    cracked = [f for f in report["findings"] if f["check"] == "credentials.default-password"]
    assert any("admin" in (f["evidence"]["detail"] or "") for f in cracked)


FOUNDATION_FAMILIES = ("credentials.", "crypto.", "services.")


def test_clean_image_has_no_failures_from_the_account_key_and_service_checks(clean_scan):
    _, report = clean_scan
    assert report["extraction"]["status"] == "complete", report["extraction"]["errors"]
    mine = [f for f in report["findings"] if f["check"].startswith(FOUNDATION_FAMILIES)]
    assert mine == []
    ran = {c["id"]: c["status"] for c in report["checks"] if c["id"].startswith(FOUNDATION_FAMILIES)}
    assert ran and set(ran.values()) == {"ran"}, ran
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    for pid in ("5.1-1", "5.1-3", "5.4-3", "5.6-4"):
        assert verdicts[pid] != "FAIL", pid


def test_same_input_same_report(cli, clean_image, clean_scan, tmp_path):
    _, first = clean_scan
    _, second = _scan(cli, clean_image.image, tmp_path)

    def stable(report):
        report = json.loads(json.dumps(report))
        report.pop("generated_at")
        report.pop("timings")
        report["extraction"].pop("seconds")
        for check in report["checks"]:
            check.pop("seconds")
        return report

    assert stable(first) == stable(second)
