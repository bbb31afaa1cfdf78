"""The Debian-built demo image: distribution revisions, backported fixes and OpenSSL 3.0.20.

The image holds what dpkg leaves on a Debian system: /var/lib/dpkg/status (exact installed versions) and
each package's changelog.Debian.gz, whose entries name the CVEs each revision fixed.
"""

from __future__ import annotations

import json

import pytest

from iotcop.scan import ScanOptions, scan

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scanned(vulnerable_image, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-vulns")
    res = scan(vulnerable_image.image, ScanOptions(out_dir=out, only_checks=("vulns",), outputs=("json", "cyclonedx")))
    bom = json.loads((out / "sbom.cdx.json").read_text())
    return res.assessment, bom


def _details(assessment):
    return [json.loads(f.evidence.detail) for f in assessment.findings if f.check == "vulns.known-vulnerability"]


def test_components_keep_the_debian_revision(scanned):
    assessment, _ = scanned
    comps = {c["name"]: c for c in assessment.components}
    glibc = comps["glibc"]
    assert glibc["version"] == "2.36"
    assert glibc["package"]["version"].startswith("2.36-9+deb12u") and glibc["package"]["source"] == "glibc"
    assert glibc["purl"].startswith("pkg:deb/debian/libc6@2.36-9%2Bdeb12u") and "arch=mipsel" in glibc["purl"]
    assert comps["openssl"]["package"]["version"].startswith("3.0.20-1~deb12u")


def test_openssl_3_0_20_has_no_finding(scanned):
    # Every OpenSSL record in the data is fixed before 3.0.20 or concerns another release branch (3.1+).
    assessment, _ = scanned
    assert not [d for d in _details(assessment) if d["component"] == "openssl"]


def test_glibc_backported_fix_is_not_affected_with_the_changelog_as_reason(scanned):
    assessment, bom = scanned
    glibc = [d for d in _details(assessment) if d["component"] == "glibc"]
    assert all(v["severity"] != "critical" for d in glibc for v in d["vulnerabilities"])
    assert not [f for f in assessment.findings if f.check == "vulns.known-vulnerability" and f.severity.value == "critical"
                and "glibc" in f.title]
    looney = [v for v in bom["vulnerabilities"] if v["id"] == "CVE-2023-4911"]
    assert looney and all(v["analysis"]["state"] == "not_affected" for v in looney)
    detail = looney[0]["analysis"]["detail"]
    assert "2.36-9+deb12u3" in detail and "/usr/share/doc/libc6/changelog.Debian.gz" in detail
    assert looney[0]["analysis"]["justification"] == "code_not_present"


def test_approximate_records_only_as_possible_and_apart(scanned):
    assessment, _ = scanned
    details = _details(assessment)
    for d in details:
        for v in d["vulnerabilities"]:
            if v["approximate"]:
                assert d["group"] in ("possible", "known-exploited") and v["confidence"] == "possible"
            if d["group"] == "likely":
                assert not v["approximate"] and v["confidence"] == "likely"
    # glibc's remaining matches come only from Buildroot history: possible, in a finding of their own.
    groups = {d["group"] for d in details if d["component"] == "glibc"}
    assert groups == {"possible"}
