"""report.sarif against the SARIF 2.1.0 schema and GitHub code scanning's documented rules."""

from __future__ import annotations

import copy
import json

from sarif_rules import github_problems, schema_errors
from test_terminal import assessment_with_kev

from iotcop.model import Evidence, Finding, Severity
from iotcop.report.findings import fingerprint
from iotcop.report.writers.sarif import build_sarif


def _tiny(tmp_path):
    root = tmp_path / "rootfs"
    for d in ("etc", "bin", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root::1:0:99999:7:::\n")
    (root / "var/lib/dpkg/status").write_text(
        "Package: busybox\nStatus: install ok installed\nVersion: 1:1.35.0-4\nArchitecture: mipsel\n\n")
    return root


def test_scan_sarif_is_valid_and_github_accepts_it(cli, tmp_path):
    out = tmp_path / "out"
    result = cli("scan", _tiny(tmp_path), "--check", "credentials", "--check", "vulns", "--out", out,
                 "--output", "json,sarif", "--fail-on", "never")
    assert result.code == 0, result.stderr
    doc = json.loads((out / "report.sarif").read_text())
    assert schema_errors(doc) == []
    assert github_problems(doc) == []
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    vuln = rules["vulns.known-vulnerability/busybox"]
    assert "| Vulnerability | CVSS |" in vuln["help"]["markdown"] and "https://www.cve.org/CVERecord?id=CVE-" in \
        vuln["help"]["markdown"]
    assert vuln["helpUri"].startswith("https://www.cve.org/CVERecord?id=CVE-")
    [busybox] = [r for r in run["results"] if r["ruleId"] == "vulns.known-vulnerability/busybox"]
    assert busybox["message"]["text"].startswith("busybox 1.35.0: 3 possible vulnerabilities")
    assert "{" not in busybox["message"]["text"]
    assert run["automationDetails"]["id"] == "iotcop/rootfs/"


def test_every_result_has_a_location_and_each_vulnerability_rule_its_severity():
    a = assessment_with_kev()
    a.findings.append(Finding(check="probe.open-port", severity=Severity.high, provisions=["5.6-1"],
                              title="Telnet answers on the device", evidence=Evidence()).with_id())
    a.triage = {"accepted": [{"finding": a.findings[0].id, "entries": [
        {"fingerprint": fingerprint(a.findings[0]), "reason": "guest is disabled at first boot",
         "expires": "2030-01-01", "source": "baseline.yaml entry 1"}]}]}
    doc = build_sarif(a)
    assert schema_errors(doc) == [] and github_problems(doc) == []
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["vulns.known-exploited/CVE-2021-2222"]["properties"]["security-severity"] == "7.5"
    assert rules["vulns.known-vulnerability/libfoo"]["properties"]["security-severity"] == "9.8"
    assert rules["vulns.known-exploited/CVE-2021-2222"]["helpUri"] == "https://www.cve.org/CVERecord?id=CVE-2021-2222"
    probe = next(r for r in run["results"] if r["ruleId"] == "probe.open-port")
    assert probe["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "x", "index": 0}
    guest = next(r for r in run["results"] if r["properties"]["findingId"] == a.findings[0].id)
    assert guest["suppressions"][0]["status"] == "accepted" and "until 2030-01-01" in guest["suppressions"][0][
        "justification"]


def test_the_github_rules_can_fail():
    doc = build_sarif(assessment_with_kev())
    broken = copy.deepcopy(doc)
    del broken["runs"][0]["results"][0]["locations"]
    broken["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["security-severity"] = "high"
    broken["runs"][0]["tool"]["driver"]["rules"][1]["properties"]["tags"] = [f"t{i}" for i in range(21)]
    del broken["runs"][0]["automationDetails"]
    problems = github_problems(broken)
    assert any("no location" in p for p in problems)
    assert any("security-severity 'high'" in p for p in problems)
    assert any("21 tags" in p for p in problems)
    assert any("automationDetails" in p for p in problems)
