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
    vuln = rules["vulns.known-vulnerability/busybox@1.35.0"]
    assert "| Vulnerability | CVSS |" in vuln["help"]["markdown"] and "https://www.cve.org/CVERecord?id=CVE-" in \
        vuln["help"]["markdown"]
    assert vuln["helpUri"].startswith("https://www.cve.org/CVERecord?id=CVE-")
    [busybox] = [r for r in run["results"] if r["ruleId"] == "vulns.known-vulnerability/busybox@1.35.0"]
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
    assert rules["vulns.known-vulnerability/libfoo@1.0"]["properties"]["security-severity"] == "9.8"
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


def _openssl(version: str, cve: str, kev: bool, path: str) -> Finding:
    detail = {"group": "likely", "component": "openssl", "version": version, "package_version": None,
              "purl": f"pkg:generic/openssl@{version}", "cpe": None, "files": [path], "count": 1,
              "known_exploited": int(kev), "vulnerabilities": [
                  {"id": cve, "aliases": [], "known_exploited": kev, "epss": None, "epss_percentile": None,
                   "cvss": 7.5, "cvss_vector": None, "severity": "high", "severity_basis": "CVSS",
                   "description": "a flaw", "fixed": None, "confidence": "likely", "approximate": False,
                   "sources": "nvd"}]}
    return Finding(check="vulns.known-vulnerability", severity=Severity.high, provisions=["5.3-8"],
                   title=f"openssl {version}: 1 known vulnerability: {cve}",
                   evidence=Evidence(path=path, detail=json.dumps(detail)), confidence="likely").with_id()


def test_two_versions_of_one_component_are_told_apart():
    """A static old copy inside one program and the shared library: separate rules, fingerprints and acceptance."""
    import datetime as dt

    from iotcop.triage.baseline import Acceptance, Baseline
    from iotcop.triage.gate import accept

    a = assessment_with_kev()
    old, new = _openssl("0.9.8b", "CVE-2006-2937", False, "/bin/wscd"), \
        _openssl("1.0.1c", "CVE-2014-0160", True, "/lib/libcrypto.so.1.0.0")
    a.findings += [old, new]
    assert fingerprint(old) != fingerprint(new)
    doc = build_sarif(a)
    assert schema_errors(doc) == [] and github_problems(doc) == []
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["vulns.known-vulnerability/openssl@0.9.8b"]["shortDescription"]["text"] == \
        "openssl 0.9.8b: 1 known vulnerability"
    assert rules["vulns.known-vulnerability/openssl@1.0.1c"]["shortDescription"]["text"] == \
        "openssl 1.0.1c: 1 known vulnerability, 1 actively exploited"
    assert "CVE-2014-0160" not in rules["vulns.known-vulnerability/openssl@0.9.8b"]["help"]["markdown"]
    baseline = Baseline(path="b.yaml", sha256="0", entries=(
        Acceptance(reason="only in the factory test tool", expires=dt.date(2030, 1, 1), source="b.yaml entry 1",
                   fingerprint=fingerprint(old)),))
    accepted = accept(a, baseline, today=dt.date(2026, 1, 1))
    assert set(accepted.findings) == {old.id}
