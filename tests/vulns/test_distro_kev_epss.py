"""Importers for the files a user downloads (Debian security tracker JSON, OSV Debian, CISA KEV JSON, FIRST
EPSS CSV), dpkg version ordering, distribution fixes in matching, and the ranking of findings.

The sample documents are written here in each source's documented format, with facts from the real
records: glibc CVE-2023-4911 ("Looney Tunables") was fixed in bookworm by 2.36-9+deb12u3 (DSA-5514-1; the
glibc changelog.Debian.gz names it in that entry), is in the CISA KEV catalogue since 2023-11-21, and its
NVD CVSS 3.1 vector is AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H (7.8).
"""

from __future__ import annotations

import gzip
import json
import shutil

import pytest

from iotcop.sbom.identify import Component
from iotcop.vulns.db import STARTER_DB, status
from iotcop.vulns.match import match_components
from iotcop.vulns.update import update
from iotcop.sbom.versions import compare
from iotcop.vulns.vex import Analysis

TRACKER = {
    "glibc": {
        "CVE-2023-4911": {
            "description": "buffer overflow in ld.so leading to privilege escalation",
            "scope": "local",
            "releases": {
                "bookworm": {"status": "resolved", "repositories": {"bookworm": "2.36-9+deb12u13"},
                             "fixed_version": "2.36-9+deb12u3", "urgency": "not yet assigned"},
                "sid": {"status": "resolved", "repositories": {"sid": "2.41-12"},
                        "fixed_version": "2.37-12", "urgency": "not yet assigned"},
            },
        },
        "CVE-2010-4756": {
            "description": "glob implementation in the GNU C Library allows remote authenticated users to cause a DoS",
            "releases": {"bookworm": {"status": "open", "repositories": {"bookworm": "2.36-9+deb12u13"},
                                      "urgency": "unimportant"}},
        },
        "CVE-2019-1010023": {
            "description": "GNU Libc current is affected by: Re-mapping current loaded library with malicious ELF file",
            "releases": {"bookworm": {"status": "resolved", "fixed_version": "0", "urgency": "unimportant"}},
        },
    },
}

KEV = {
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2026.11.30",
    "dateReleased": "2026-11-30T17:02:11.0000Z",
    "count": 1,
    "vulnerabilities": [{
        "cveID": "CVE-2023-4911", "vendorProject": "GNU", "product": "GNU C Library",
        "vulnerabilityName": "GNU C Library Buffer Overflow Vulnerability", "dateAdded": "2023-11-21",
        "shortDescription": "GNU C Library contains a buffer overflow vulnerability in the dynamic loader's "
                            "processing of the GLIBC_TUNABLES environment variable.",
        "requiredAction": "Apply mitigations per vendor instructions.", "dueDate": "2023-12-12",
        "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": ["CWE-122"],
    }],
}

EPSS_CSV = ("#model_version:v2025.03.14,score_date:2026-11-30T12:55:00Z\n"
            "cve,epss,percentile\n"
            "CVE-2023-4911,0.77432,0.98901\n"
            "CVE-2010-4756,0.00321,0.55012\n")


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "vulns.sqlite"
    shutil.copy2(STARTER_DB, path)
    return path


def glibc(package_version: str) -> Component:
    return Component(name="glibc", version="2.36", vendor="gnu", product="glibc", type="library",
                     package="libc6", package_version=package_version, manager="dpkg", source_package="glibc",
                     distro="debian", distro_release="12")


def test_dpkg_version_ordering_from_python_debian():
    assert compare("3.0.20-1~deb12u2", "3.0.20-1", "deb") < 0  # '~' sorts before anything, as dpkg says
    assert compare("2.36-9+deb12u14", "2.36-9+deb12u3", "deb") > 0
    assert compare("1:1.2.13.dfsg-1", "1.3-1", "deb") > 0  # the epoch wins
    assert compare("2.36-9+deb12u3", "2.36-9+deb12u3", "deb") == 0


def test_debian_tracker_json_decides_for_the_installed_revision(db, tmp_path):
    path = tmp_path / "debian-tracker.json"
    path.write_text(json.dumps(TRACKER))
    result = update(str(path), db_path=db)
    assert result.records == 3
    st = status(db)
    assert st["sources"]["debian-security-tracker"]["records"] == 3

    before = {m.id: m for m in match_components([glibc("2.36-9+deb12u2")], db)}
    looney = before["CVE-2023-4911"]
    assert looney.distro_fixed is None and looney.fixed == "2.36-9+deb12u3"
    assert any(s.name == "debian-security-tracker" and "fixed in 2.36-9+deb12u3" in s.rule for s in looney.sources)

    after = {m.id: m for m in match_components([glibc("2.36-9+deb12u14")], db)}
    # Upstream 2.36 is inside Buildroot's range, the Debian build carries the fix: a VEX reason, not a finding.
    assert "fixed in 2.36-9+deb12u3" in after["CVE-2023-4911"].distro_fixed
    assert "CVE-2010-4756" in after and "open" in after["CVE-2010-4756"].sources[0].rule
    assert "CVE-2019-1010023" not in after  # fixed_version "0": never affected in bookworm


def test_osv_debian_record_is_filed_under_its_cve(db, tmp_path):
    doc = {"schema_version": "1.6.0", "id": "DEBIAN-CVE-2023-4911", "modified": "2026-11-01T00:00:00Z",
           "upstream": ["CVE-2023-4911"],
           "affected": [{"package": {"ecosystem": "Debian:12", "name": "glibc"},
                         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                                                      {"fixed": "2.36-9+deb12u3"}]}]}]}
    path = tmp_path / "DEBIAN-CVE-2023-4911.json"
    path.write_text(json.dumps(doc))
    assert update(str(path), db_path=db).records == 1
    hit = {m.id: m for m in match_components([glibc("2.36-9+deb12u1")], db)}["CVE-2023-4911"]
    assert "DEBIAN-CVE-2023-4911" in hit.aliases and hit.fixed == "2.36-9+deb12u3"
    fixed = {m.id: m for m in match_components([glibc("2.36-9+deb12u3")], db)}["CVE-2023-4911"]
    assert "fixed in 2.36-9+deb12u3" in fixed.distro_fixed


def test_kev_and_epss_files_rank_the_matches(db, tmp_path):
    kev = tmp_path / "known_exploited_vulnerabilities.json"
    kev.write_text(json.dumps(KEV))
    epss = tmp_path / "epss_scores-2026-11-30.csv.gz"
    epss.write_bytes(gzip.compress(EPSS_CSV.encode()))
    tracker = tmp_path / "tracker.json"
    tracker.write_text(json.dumps(TRACKER))
    for p in (kev, epss, tracker):
        update(str(p), db_path=db)
    st = status(db)
    assert st["sources"]["cisa-kev"]["newest"] == "2023-11-21"
    assert st["sources"]["epss"] == {"records": 2, "newest": "2026-11-30", "age_days": st["sources"]["epss"]["age_days"]}

    matches = match_components([glibc("2.36-9+deb12u2")], db)
    by_id = {m.id: m for m in matches}
    assert by_id["CVE-2023-4911"].known_exploited and by_id["CVE-2023-4911"].epss == pytest.approx(0.77432)
    assert by_id["CVE-2010-4756"].epss == pytest.approx(0.00321)

    from iotcop.checks.vulns.known_vulnerabilities import KnownVulnerability

    findings = list(KnownVulnerability().findings([Analysis(m, "in_triage") for m in matches]))
    details = [json.loads(f.evidence.detail) for f in findings]
    likely = next(d for d in details if d["group"] == "likely")
    ids = [v["id"] for v in likely["vulnerabilities"]]
    assert ids[:2] == ["CVE-2023-4911", "CVE-2010-4756"]  # KEV first, then EPSS
    assert likely["known_exploited"] == 1 and likely["package_version"] == "2.36-9+deb12u2"
    kev_findings = [f for f, d in zip(findings, details) if d["group"] == "known-exploited"]
    assert len(kev_findings) == 1 and kev_findings[0].severity.value == "critical"
    assert "CVE-2023-4911 is actively exploited" in kev_findings[0].title


def test_bad_epss_file_is_a_clear_error_and_keeps_the_db(db, tmp_path):
    from iotcop.errors import InputError

    before = db.read_bytes()
    bad = tmp_path / "epss.csv"
    bad.write_text("cve,epss,percentile\nCVE-2023-4911,7.5,0.9\n")
    with pytest.raises(InputError, match="outside 0..1"):
        update(str(bad), db_path=db)
    assert db.read_bytes() == before
