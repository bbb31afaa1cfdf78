"""Matching against real records in the starter database (built from ../shared/vulndata)."""

from __future__ import annotations

import pytest

from iotcop.sbom.identify import Component
from iotcop.vulns.db import STARTER_DB
from iotcop.vulns.match import match_components
from iotcop.sbom.versions import compare, normalise, upstream_version


def ids(name, version, vendor=None, product=None, **kw) -> set[str]:
    comp = Component(name=name, version=version, vendor=vendor, product=product, **kw)
    return {m.id for m in match_components([comp], STARTER_DB)}


def test_starter_database_is_shipped():
    assert STARTER_DB.is_file()


@pytest.mark.parametrize("version,affected", [("7.69.0", True), ("8.3.0", True), ("7.68.0", False), ("8.4.0", False)])
def test_curl_range_from_curl_vuln_pm(version, affected):
    # CVE-2023-38545 (SOCKS5 heap overflow): curl's own list, first 7.69.0, last 8.3.0
    assert ("CVE-2023-38545" in ids("curl", version, "haxx", "curl")) is affected


@pytest.mark.parametrize("version,affected", [("1.1.1n", True), ("1.1.1o", False), ("1.0.2zd", True), ("1.0.2ze", False),
                                              ("3.0.2", True), ("3.0.3", False)])
def test_openssl_letter_versions(version, affected):
    # CVE-2022-1292 (c_rehash): explicit affected/fixed lists from openssl/web vulnerabilities.xml
    assert ("CVE-2022-1292" in ids("openssl", version, "openssl", "openssl")) is affected


@pytest.mark.parametrize("version,affected", [("1.27.2", True), ("1.26.0", True), ("1.28.0", False)])
def test_busybox_nvd_cpe_end_including(version, affected):
    # CVE-2017-16544: NVD cpeMatch busybox versionEndIncluding 1.27.2
    assert ("CVE-2017-16544" in ids("busybox", version, "busybox", "busybox")) is affected


@pytest.mark.parametrize("version,affected", [("2016.74", True), ("2017.75", False), ("2022.83", False)])
def test_dropbear_year_versions(version, affected):
    # CVE-2017-9078: NVD < 2017.75; Buildroot and Alpine agree on 2017.75
    got = ids("dropbear", version, "dropbear_ssh_project", "dropbear_ssh")
    assert ("CVE-2017-9078" in got) is affected


@pytest.mark.parametrize("version,affected", [("4.14.59", True), ("4.14.60", False), ("4.18", False), ("2.6.20", False)])
def test_kernel_stable_branch_fix(version, affected):
    # CVE-2018-14734: mainline v2.6.21-rc1 .. v4.18-rc1, fixed in 4.14.60 on the 4.14 branch
    assert ("CVE-2018-14734" in ids("linux_kernel", version, "linux", "linux_kernel")) is affected


@pytest.mark.parametrize("pkg_version,affected", [("1.27.2-r3", True), ("1.27.2-r4", False), ("1.28.4-r0", False)])
def test_alpine_revision_spelling(pkg_version, affected):
    # Alpine secdb: busybox CVE-2017-16544 fixed in 1.27.2-r4 (a backport onto 1.27.2)
    comp = Component(name="busybox", version=upstream_version(pkg_version, "apk"), vendor="busybox",
                     product="busybox", package="busybox", package_version=pkg_version, manager="apk")
    hits = {(m.id, s.name) for m in match_components([comp], STARTER_DB) for s in m.sources}
    assert (("CVE-2017-16544", "alpine-secdb") in hits) is affected


@pytest.mark.parametrize("version,affected", [("7.57.0", True), ("7.74.0", True), ("7.56.1", False), ("7.75.0", False)])
def test_git_tag_spelling_in_osv_versions(version, affected):
    # OSV-2017-79 (OSS-Fuzz) lists the git tags curl-7_57_0 .. curl-7_74_0
    assert ("OSV-2017-79" in ids("curl", version, "haxx", "curl")) is affected


def test_version_spellings():
    assert normalise("curl-7_36_0") == "7.36.0"
    assert compare("1_36_1", "1.36.1") == 0
    assert compare("2022.83", "2020.81") > 0
    assert compare("1.2.3-r4", "1.2.3-r10") < 0
    assert compare("v4.18-rc1", "4.18") < 0
    assert compare("9.2p1", "9.3p1") < 0 and compare("9.2p1", "9.2") > 0
    assert upstream_version("1:1.35.0-4+deb12u1+b1", "deb") == "1.35.0"
    assert upstream_version("1:1.2.13.dfsg-1", "deb") == "1.2.13"


def test_every_match_names_its_source():
    comp = Component(name="openssl", version="1.0.2k", vendor="openssl", product="openssl")
    matches = match_components([comp], STARTER_DB)
    assert len(matches) > 20
    for m in matches:
        assert m.sources and all(s.ref and (s.ref.get("repo") or s.ref.get("url")) for s in m.sources)


def test_openssl_0_9_8g_reports_every_cve_its_own_advisories_list():
    # openssl/web vulnerabilities.xml lists 0.9.8g as affected in 58 advisories; packaging-history guesses
    # (Buildroot bumps with no first affected version) add nothing beside that precise list.
    import json
    import sqlite3

    with sqlite3.connect(STARTER_DB) as conn:
        listed = {vid for vid, versions in conn.execute(
            "SELECT v.id, a.versions FROM affects a JOIN vulns v ON v.rowid = a.vuln "
            "WHERE v.source = 'openssl-web-vulnerabilities.xml' AND a.kind = 'versions'")
            if "0.9.8g" in json.loads(versions)}
    assert len(listed) == 58
    matches = match_components([Component(name="openssl", version="0.9.8g", vendor="openssl", product="openssl")],
                               STARTER_DB)
    assert {m.id for m in matches} == listed
    assert not [m for m in matches if m.approximate]


def test_openssl_3_0_20_and_branch_bumps():
    # Buildroot bumps into 3.1+ branches say nothing about 3.0.x; OpenSSL's own lists end before 3.0.20.
    assert ids("openssl", "3.0.20", "openssl", "openssl") == set()
