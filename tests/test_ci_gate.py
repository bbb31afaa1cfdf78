"""CI use: --fail-on conditions, a baseline of accepted risks (with expiry), VEX input, and `iotcop gate`."""

from __future__ import annotations

import datetime as dt
import json

import pytest

TODAY = dt.date.today()


@pytest.fixture
def tiny_rootfs(tmp_path):
    """A root filesystem with an empty root password (5.1-1 FAIL) and two packaged components with known CVEs."""
    root = tmp_path / "rootfs"
    for d in ("etc", "bin", "usr/sbin", "var/lib/dpkg"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root::1:0:99999:7:::\n")
    (root / "var/lib/dpkg/status").write_text(
        "Package: dnsmasq-base\nStatus: install ok installed\nVersion: 2.90-4~deb12u2\nArchitecture: mipsel\n"
        "Source: dnsmasq\n\nPackage: busybox\nStatus: install ok installed\nVersion: 1:1.35.0-4\n"
        "Architecture: mipsel\n\n")
    return root


def _scan(cli, root, out, *extra):
    return cli("scan", root, "--check", "credentials", "--check", "vulns", "--out", out, *extra)


def _report(out):
    return json.loads((out / "report.json").read_text())


def _password_fingerprint(report) -> str:
    from iotcop.model import Finding
    from iotcop.report.findings import fingerprint

    f = next(f for f in report["findings"] if f["check"] == "credentials.empty-password")
    return fingerprint(Finding.model_validate(f))


def test_default_gate_fails_on_a_mandatory_provision_and_never_passes(cli, tiny_rootfs, tmp_path):
    assert _scan(cli, tiny_rootfs, tmp_path / "a").code == 1
    assert _scan(cli, tiny_rootfs, tmp_path / "b", "--fail-on", "never").code == 0


def test_severity_and_confidence_thresholds(cli, tiny_rootfs, tmp_path):
    baseline = tmp_path / "baseline.yaml"
    first = _scan(cli, tiny_rootfs, tmp_path / "first", "--fail-on", "never")
    assert first.code == 0
    fp = _password_fingerprint(_report(tmp_path / "first"))
    baseline.write_text(f"accept:\n  - fingerprint: {fp}\n    reason: root login is disabled by the factory image\n"
                        f"    expires: {TODAY + dt.timedelta(days=30)}\n")
    # The empty password is accepted; what is left are possible (unreviewed) vulnerability findings.
    ok = _scan(cli, tiny_rootfs, tmp_path / "ok", "--baseline", baseline, "--fail-on", "mandatory,critical")
    assert ok.code == 0, ok.stderr
    strict = _scan(cli, tiny_rootfs, tmp_path / "strict", "--baseline", baseline, "--fail-on", "medium:possible")
    assert strict.code == 1 and "at or above medium (confidence possible or higher)" in strict.stderr
    report = _report(tmp_path / "ok")
    import jsonschema

    from iotcop.report.writers.json import report_schema

    jsonschema.validate(report, report_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    accepted = report["triage"]["accepted"]
    assert [a["entries"][0]["fingerprint"] for a in accepted] == [fp]
    assert report["triage"]["expired"] == [] and report["triage"]["baseline"]["entries"] == 1
    # Accepting never changes a verdict: 5.1-1 still FAILs in the report.
    assert {v["id"]: v["verdict"] for v in report["provisions"]}["5.1-1"] == "FAIL"


def test_expired_baseline_entry_no_longer_applies(cli, tiny_rootfs, tmp_path):
    _scan(cli, tiny_rootfs, tmp_path / "first", "--fail-on", "never")
    fp = _password_fingerprint(_report(tmp_path / "first"))
    baseline = tmp_path / "baseline.yaml"
    yesterday = TODAY - dt.timedelta(days=1)
    baseline.write_text(f"accept:\n  - fingerprint: {fp}\n    reason: accepted for the 1.0 release\n"
                        f"    expires: {yesterday}\n")
    result = _scan(cli, tiny_rootfs, tmp_path / "out", "--baseline", baseline)
    assert result.code == 1
    assert f"iotcop: baseline: baseline.yaml entry 1 (finding {fp}) expired on {yesterday}" in result.stderr
    report = _report(tmp_path / "out")
    assert report["triage"]["accepted"] == [] and report["triage"]["expired"][0]["fingerprint"] == fp


def test_vulnerability_entry_accepts_one_cve_of_one_component(cli, tiny_rootfs, tmp_path):
    _scan(cli, tiny_rootfs, tmp_path / "first", "--fail-on", "never")
    busybox = next(f for f in _report(tmp_path / "first")["findings"] if f["title"].startswith("busybox"))
    ids = [v["id"] for v in json.loads(busybox["evidence"]["detail"])["vulnerabilities"]]
    baseline = tmp_path / "baseline.yaml"
    entries = "".join(f"  - vulnerability: {cve}\n    component: busybox\n    reason: applet not built\n"
                      f"    expires: {TODAY}\n" for cve in ids)
    baseline.write_text("accept:\n" + entries + f"  - vulnerability: CVE-1999-0001\n    reason: nothing has it\n"
                                                f"    expires: {TODAY}\n")
    _scan(cli, tiny_rootfs, tmp_path / "out", "--baseline", baseline, "--fail-on", "never")
    report = _report(tmp_path / "out")
    triage = report["triage"]
    assert [a["finding"] for a in triage["accepted"]] == [busybox["id"]]  # every CVE of it: the whole finding
    import jsonschema

    from iotcop.report.writers.json import report_schema

    jsonschema.validate(report, report_schema())
    assert [u["vulnerability"] for u in triage["unused"]] == ["CVE-1999-0001"]


@pytest.mark.parametrize("text, message", [
    ("accept:\n  - fingerprint: 0123456789abcdef\n    expires: 2030-01-01\n", "entry 1 reason: Field required"),
    ("accept:\n  - fingerprint: 0123456789abcdef\n    reason: ok then\n", "entry 1 expires: Field required"),
    ("accept:\n  - reason: nothing named\n    expires: 2030-01-01\n", "give either a fingerprint or a vulnerability"),
    ("- just a list\n", "a baseline is a mapping"),
])
def test_bad_baseline_is_a_one_line_input_error(cli, tiny_rootfs, tmp_path, text, message):
    baseline = tmp_path / "baseline.yaml"
    baseline.write_text(text)
    result = _scan(cli, tiny_rootfs, tmp_path / "out", "--baseline", baseline)
    assert result.code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # refused before any extraction


@pytest.mark.parametrize("value", ["severe", "high:sure", "never,high"])
def test_bad_fail_on_is_a_usage_error(cli, tiny_rootfs, tmp_path, value):
    result = _scan(cli, tiny_rootfs, tmp_path / "out", "--fail-on", value)
    assert result.code == 2 and "--fail-on" in result.stderr and "Traceback" not in result.stderr


def _vex(path, cve: str, ref_component: dict, state="not_affected"):
    path.write_text(json.dumps({
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "components": [{"type": "application", "bom-ref": "bb", **ref_component}],
        "vulnerabilities": [{"id": cve, "analysis": {"state": state, "justification": "code_not_present",
                                                      "detail": "the applet is not compiled in"},
                             "affects": [{"ref": "bb"}]}]}))
    return path


def test_vex_not_affected_removes_the_vulnerability_and_shows_in_the_sbom(cli, tiny_rootfs, tmp_path):
    _scan(cli, tiny_rootfs, tmp_path / "first", "--fail-on", "never")
    before = next(f for f in _report(tmp_path / "first")["findings"] if f["title"].startswith("busybox"))
    ids = [v["id"] for v in json.loads(before["evidence"]["detail"])["vulnerabilities"]]
    vex = _vex(tmp_path / "vex.json", ids[0], {"name": "busybox", "version": "1.35.0"})
    result = _scan(cli, tiny_rootfs, tmp_path / "out", "--vex", vex, "--fail-on", "never")
    assert result.code == 0, result.stderr
    report = _report(tmp_path / "out")
    after = next(f for f in report["findings"] if f["title"].startswith("busybox"))
    assert [v["id"] for v in json.loads(after["evidence"]["detail"])["vulnerabilities"]] == ids[1:]
    assert report["triage"]["vex"][0]["statements"] == 1
    bom = json.loads((tmp_path / "out" / "sbom.cdx.json").read_text())
    stated = [v for v in bom["vulnerabilities"] if v["id"] == ids[0] and "busybox" in v["affects"][0]["ref"]]
    assert stated and stated[0]["analysis"]["state"] == "not_affected"
    assert "vex.json" in stated[0]["analysis"]["detail"]
    # A statement for another version of the component changes nothing.
    other = _vex(tmp_path / "other.json", ids[0], {"name": "busybox", "version": "1.36.1"})
    _scan(cli, tiny_rootfs, tmp_path / "other", "--vex", other, "--fail-on", "never")
    kept = next(f for f in _report(tmp_path / "other")["findings"] if f["title"].startswith("busybox"))
    assert [v["id"] for v in json.loads(kept["evidence"]["detail"])["vulnerabilities"]] == ids


def test_invalid_vex_is_refused(cli, tiny_rootfs, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6",
                               "vulnerabilities": [{"id": 5, "analysis": {"state": "maybe"}}]}))
    result = _scan(cli, tiny_rootfs, tmp_path / "out", "--vex", bad)
    assert result.code == 2 and "not a valid CycloneDX 1.6 document" in result.stderr


def test_gate_command_on_a_saved_report(cli, tiny_rootfs, tmp_path):
    _scan(cli, tiny_rootfs, tmp_path / "out", "--fail-on", "never")
    report = tmp_path / "out" / "report.json"
    failing = cli("gate", report)
    assert failing.code == 1 and "mandatory provision 5.1-1 FAILs" in failing.stderr
    assert failing.stdout.strip() == "gate fails: 1 condition(s) hold"  # no baseline given: none is mentioned
    baseline = tmp_path / "baseline.yaml"
    made = cli("baseline", report, "--reason", "known for 1.0", "--expires", str(TODAY))
    assert made.code == 0
    baseline.write_text(made.stdout)
    passing = cli("gate", report, "--baseline", baseline, "--fail-on", "mandatory,kev,high")
    assert passing.code == 0, passing.stderr
    accepted = len([line for line in made.stdout.splitlines() if line.startswith("- fingerprint:")])
    assert passing.stdout.strip() == f"gate passes: 0 condition(s) hold; the baseline accepts {accepted} finding(s)"
