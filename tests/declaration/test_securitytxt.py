"""RFC 9116 validation of files and of URLs served by a local HTTP and HTTPS server, and policy reading."""

from __future__ import annotations

import datetime as dt

import pytest
from decl_webserver import make_ca_and_cert, serve

from iotcop.declaration.securitytxt import check_security_txt, policy_promises
from iotcop.errors import InputError

# Midnight, so parallel test workers collect identical test ids.
FUTURE = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=180)).strftime("%Y-%m-%dT00:00:00Z")
FAR = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=800)).strftime("%Y-%m-%dT%H:%M:%SZ")
PAST = "2021-01-01T00:00:00Z"
POLICY_HTML = """<html><body><h1>Vulnerability disclosure policy</h1>
<p>Report security issues to <a href="mailto:security@example.com">security@example.com</a>.</p>
<p>We will acknowledge your report within 5 business days.</p>
<p>We will send you a status update at least every 30 days until the issue is resolved.</p></body></html>"""
PLAIN = "text/plain; charset=utf-8"


def valid_text(policy: str = "https://example.invalid/vdp", expires: str = FUTURE, extra: str = "") -> str:
    return (f"# security contact\nContact: mailto:security@example.com\nContact: https://example.com/report\n"
            f"Expires: {expires}\nPolicy: {policy}\nPreferred-Languages: en, de\n{extra}")


def write(tmp_path, text):
    path = tmp_path / "security.txt"
    path.write_text(text)
    return path


def test_valid_file(tmp_path):
    r = check_security_txt(write(tmp_path, valid_text()), fetch=False)
    assert r.ok and r.errors == []
    assert r.fields["contact"] == ["mailto:security@example.com", "https://example.com/report"]
    assert r.expires is not None and r.expires.tzinfo is not None


@pytest.mark.parametrize("text, expected", [
    (valid_text(expires=PAST), f"line 4: Expires {PAST}: the file has expired"),
    ("Expires: " + FUTURE + "\n", "Contact is missing (at least one is required, RFC 9116 section 2.5.3)"),
    ("Contact: mailto:a@example.com\n", "Expires is missing (exactly one is required, RFC 9116 section 2.5.5)"),
    (valid_text(extra=f"Expires: {FUTURE}\n"), "Expires appears 2 times (lines 4, 7); exactly one is allowed"),
    (valid_text(expires="31 Dec 2030"), "line 4: Expires '31 Dec 2030' is not an RFC 3339 date-time (like 2026-12-31T23:59:59Z)"),
    (valid_text(policy="http://example.com/vdp"), "line 5: Policy 'http://example.com/vdp': web URIs must use https://"),
    ("Contact: security@example.com\nExpires: " + FUTURE + "\n",
     "line 1: Contact 'security@example.com' is not a mailto:, tel: or https:// URI (write mailto:security@example.com)"),
    ("Contact: http://example.com/report\nExpires: " + FUTURE + "\n", "line 1: Contact 'http://example.com/report': web URIs must use https://"),
    (valid_text(extra="Preferred-Languages: fr\n"), "Preferred-Languages appears 2 times; at most one is allowed"),
    (valid_text(extra="Encryption: -----BEGIN PGP PUBLIC KEY BLOCK-----\n"), "line 7: Encryption must be a URI to the key, not the key itself"),
    (valid_text(extra="this is not a field\n"), "line 7: not a 'Field: value' line: 'this is not a field'"),
])
def test_file_errors(tmp_path, text, expected):
    r = check_security_txt(write(tmp_path, text), fetch=False)
    assert not r.ok
    assert expected in r.errors, r.errors


def test_far_expiry_is_a_warning_and_signature_is_noted(tmp_path):
    signed = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n" + valid_text(expires=FAR)
              + "-----BEGIN PGP SIGNATURE-----\n\nabc=\n-----END PGP SIGNATURE-----\n")
    r = check_security_txt(write(tmp_path, signed), fetch=False)
    assert r.ok, r.errors
    assert r.signed
    assert any("more than a year away" in w for w in r.warnings)
    assert "PGP cleartext signature present; not verified (no key given)" in r.warnings
    assert "signed, but without a Canonical field (RFC 9116 section 2.3 asks for one)" in r.warnings


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        check_security_txt(tmp_path / "nope.txt", fetch=False)


def test_https_url_with_policy_followed(tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    pages = {"/vdp": ("text/html; charset=utf-8", POLICY_HTML)}
    with serve(pages, tls=(cert, key)) as base:
        pages["/.well-known/security.txt"] = (PLAIN, valid_text(policy=f"{base}/vdp")
                                              + f"Canonical: {base}/.well-known/security.txt\n")
        r = check_security_txt(base, timeout=5, verify=ca)  # a bare origin gets the well-known path
        assert r.url == f"{base}/.well-known/security.txt"
        assert r.ok, r.errors
        [policy] = r.policy_findings
        assert policy["reachable"] and policy["complete"]
        assert policy["contact"] == ["security@example.com"] or "security@example.com" in policy["contact"]
        assert policy["acknowledgement"]["days"] == 5
        assert policy["status_updates"]["days"] == 30
        # Without the test CA the certificate is not trusted.
        untrusted = check_security_txt(base, timeout=5, verify=True)
        assert not untrusted.ok and "TLS certificate not trusted" in untrusted.errors[0]


def test_https_url_canonical_mismatch_and_policy_without_timelines(tmp_path):
    ca, cert, key = make_ca_and_cert(tmp_path)
    pages = {"/vdp": ("text/html", "<p>Tell us about bugs at bugs@example.com. We care.</p>")}
    with serve(pages, tls=(cert, key)) as base:
        pages["/.well-known/security.txt"] = (PLAIN, valid_text(policy=f"{base}/vdp") + "Canonical: https://other.example/.well-known/security.txt\n")
        r = check_security_txt(f"{base}/.well-known/security.txt", timeout=5, verify=ca)
        assert not r.ok
        assert any("does not list" in e for e in r.errors)
        [policy] = r.policy_findings
        assert policy["reachable"] and not policy["complete"]
        assert policy["missing"] == ["acknowledgement", "status_updates"]


def test_http_url_is_an_error_even_when_content_is_valid(tmp_path):
    pages: dict = {}
    with serve(pages) as base:
        pages["/.well-known/security.txt"] = (PLAIN, valid_text())
        r = check_security_txt(base, timeout=5, fetch=True)
        assert r.fields["contact"]
        assert any("must be served over HTTPS" in e for e in r.errors)
        pages["/.well-known/security.txt"] = ("text/html", valid_text())
        r = check_security_txt(base, timeout=5)
        assert any("it must be text/plain" in e for e in r.errors)
        missing = check_security_txt(f"{base}/nothing.txt", timeout=5)
        assert missing.errors == [f"{base}/nothing.txt: HTTP 404 Not Found"]


def test_policy_text_reading():
    found = policy_promises("Contact us at psirt@example.org. We aim to confirm receipt within two working days. "
                            "We keep reporters informed every 2 weeks.")
    assert found["contact"] == ["psirt@example.org"]
    assert found["acknowledgement"]["days"] == 2
    assert found["status_updates"]["days"] == 14
    assert policy_promises("We value security.")["acknowledgement"] is None


@pytest.mark.slow  # each CLI start imports every command module
def test_cli_exit_codes(cli, tmp_path):
    good = write(tmp_path, valid_text())
    result = cli("securitytxt", "check", good, "--no-fetch")
    assert result.code == 0 and "valid" in result.stdout
    (tmp_path / "bad.txt").write_text(valid_text(expires=PAST))
    result = cli("securitytxt", "check", tmp_path / "bad.txt", "--no-fetch")
    assert result.code == 1 and "has expired" in result.stdout
    result = cli("securitytxt", "check", tmp_path / "missing.txt")
    assert result.code == 2 and result.stderr.startswith("iotcop: error:")
