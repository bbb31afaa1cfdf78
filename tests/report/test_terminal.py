"""The terminal summary: no raw JSON, hostile file names escaped, actively exploited vulnerabilities first."""

from __future__ import annotations

import io
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console

from iotcop.model import Assessment, Evidence, ExtractionReport, Finding, Severity, Target, Tool
from iotcop.report.findings import printable
from iotcop.ui import print_summary

HOSTILE = "key\x1b[2J\x1b]0;owned\x07\nFAIL 5.1-1 forged line\u202e.pem"


def _rootfs(tmp_path):
    root = tmp_path / "rootfs"
    for d in ("etc/ssl/private", "bin", "usr/bin", "lib"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (root / "etc/ssl/private" / HOSTILE).write_bytes(key)
    return root


def test_hostile_file_name_cannot_inject_lines_or_escape_codes(cli, tmp_path):
    result = cli("scan", _rootfs(tmp_path), "--check", "crypto")
    assert result.code in (0, 1), result.stderr
    out = result.stdout
    assert "key\\x1b[2J\\x1b]0;owned\\x07\\nFAIL 5.1-1 forged line\\u202e.pem" in out  # shown, escaped
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert not any(line.lstrip().startswith("FAIL 5.1-1 forged") for line in out.splitlines())


def test_printable_escapes_every_control_character():
    assert printable("a\x00b\tc\r\x9bd") == "a\\x00b\\tc\\r\\x9bd"
    assert printable("plain/path-1.0") == "plain/path-1.0"


def _vuln(component: str, group: str, vulns: list[dict], severity: Severity, path: str) -> Finding:
    detail = {"group": group, "component": component, "version": "1.0", "package_version": None, "purl": None,
              "cpe": None, "files": [path], "count": len(vulns),
              "known_exploited": sum(v["known_exploited"] for v in vulns), "vulnerabilities": vulns}
    return Finding(check="vulns.known-vulnerability", severity=severity, provisions=["5.3-8"],
                   title=f"{component} 1.0: {len(vulns)} known vulnerabilities",
                   evidence=Evidence(path=path, detail=json.dumps(detail)), confidence="likely").with_id()


def _entry(cve: str, kev: bool, cvss: float | None, epss: float | None, fixed: str | None, description: str) -> dict:
    return {"id": cve, "aliases": [], "known_exploited": kev, "epss": epss, "epss_percentile": None, "cvss": cvss,
            "cvss_vector": None, "severity": "high", "severity_basis": "CVSS", "description": description,
            "fixed": fixed, "confidence": "likely", "approximate": False, "sources": "nvd"}


def assessment_with_kev() -> Assessment:
    findings = [
        Finding(check="credentials.empty-password", severity=Severity.critical, provisions=["5.1-1"],
                title="Account 'guest' has an empty password", evidence=Evidence(path="/etc/shadow", line=4)).with_id(),
        _vuln("libfoo", "likely", [_entry("CVE-2020-1111", False, 9.8, 0.02, "1.1", "heap overflow in parse()")],
              Severity.critical, "/usr/lib/libfoo.so.1"),
        _vuln("webd", "known-exploited", [_entry("CVE-2021-2222", True, 7.5, 0.97, "2.0", "auth bypass in login")],
              Severity.medium, "/usr/sbin/webd"),
    ]
    return Assessment(tool=Tool(version="0", catalogue_version="0"), generated_at="2026-01-01T00:00:00+00:00",
                      target=Target(kind="rootfs", path="/x"), extraction=ExtractionReport(status="complete"),
                      findings=findings, provisions=[])


def test_summary_puts_actively_exploited_first_and_shows_facts_not_json():
    buf = io.StringIO()
    print_summary(Console(file=buf, width=200, color_system=None), assessment_with_kev(), None)
    out = buf.getvalue()
    head = out.split("UK PSTI")[0]
    assert "1 actively exploited vulnerability (CISA KEV)" in head
    top = out.split("Top findings")[1].splitlines()[1:]
    assert "webd 1.0" in top[0] and "(actively exploited)" in top[0]
    assert "Account 'guest' has an empty password" in "\n".join(top[3:])
    assert "{" not in out and '"known_exploited"' not in out
    assert "CVE-2021-2222 (actively exploited (CISA KEV), CVSS 7.5 high, EPSS 97.0%, fixed in 2.0): auth bypass" in out


def test_checks_skipped_for_one_reason_take_one_line():
    from iotcop.model import CheckSummary

    a = assessment_with_kev()
    reason = "extraction failed: the file is empty"
    a.checks = [CheckSummary(id=f"family.check-{i}", version="1", status="skipped", findings=0, seconds=0,
                             error=reason) for i in range(40)]
    a.checks.append(CheckSummary(id="vulns.known-vulnerability", version="1", status="error", findings=0,
                                 seconds=0, error="database locked"))
    buf = io.StringIO()
    print_summary(Console(file=buf, width=300, color_system=None), a, None)
    lines = buf.getvalue().splitlines()
    skipped = [line for line in lines if reason in line]
    assert skipped == [f"40 checks skipped: {reason} (family.check-0, family.check-1, family.check-2 and 37 more)"]
    assert "check vulns.known-vulnerability: error: database locked" in lines


def _certificate_with_negative_serial() -> bytes:
    """A self-signed certificate whose serial number is -1 (seen in vendor images; RFC 5280 wants it positive)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "192.168.1.1")])
    now = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    serial = bytes.fromhex("a0030201020201") + b"\x01"  # [0] version v3, then INTEGER 1
    assert der.count(serial) == 1
    der = der.replace(serial, serial[:-1] + b"\xff")  # INTEGER -1, same length
    return b"-----BEGIN CERTIFICATE-----\n" + __import__("base64").encodebytes(der) + b"-----END CERTIFICATE-----\n"


def test_library_warnings_stay_out_of_the_terminal(cli, tmp_path):
    root = tmp_path / "rootfs"
    for d in ("etc/ssl", "bin"):
        (root / d).mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/ssl/server.crt").write_bytes(_certificate_with_negative_serial())
    quiet = cli("scan", root, "--check", "comms", "--check", "crypto")
    assert quiet.code in (0, 1), quiet.stderr
    assert "Warning" not in quiet.stderr and "Traceback" not in quiet.stderr
    debug = cli("scan", root, "--check", "comms", "--check", "crypto", env={"IOTCOP_DEBUG": "1"})
    assert "serial number" in debug.stderr  # the notice exists: only the default hides it


def test_actively_exploited_is_said_once_per_finding():
    a = assessment_with_kev()
    kev = a.findings[2]
    a.findings[2] = kev.model_copy(update={"title": "webd 1.0: CVE-2021-2222 is actively exploited (CISA KEV)"})
    buf = io.StringIO()
    print_summary(Console(file=buf, width=300, color_system=None), a, None)
    top = buf.getvalue().split("Top findings")[1].splitlines()[1]
    assert "CVE-2021-2222 is actively exploited" in top and top.count("actively exploited") == 1
