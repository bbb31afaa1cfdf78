"""Identification by content on the six real vendor trees of ../shared/corpus/realworld.

Expected versions: the reviewers' facts files (<name>.facts.md, "Component versions") and the strings
in the files themselves, which cve-bin-tool's checkers also read (benchmarks/sbom_vs_cvebintool.py
prints both tools side by side).  Renamed programs (dropbear as sshd) and libraries compiled into vendor
programs (nginx in WebMgr, OpenSSL in wscd and libgdpr.so) are reported with their host file.
"""

from __future__ import annotations

import tarfile

import pytest

from support import corpus_file

from iotcop.firmware.inventory import inventory_tree
from iotcop.sbom.identify import identify_components

pytestmark = pytest.mark.corpus

EXPECTED = {
    "cig-g97rg6w": {"busybox": "1.30.1", "dropbear": "2017.75", "dnsmasq": "2.78", "nginx": "1.16.0",
                    "linux_kernel": "3.18.24", "ppp": "2.4.7", "iptables": "1.6.0", "minidlna": "1.1.0",
                    "libupnp": "1.6.18", "libpcap": "1.8.1", "json-c": "0.12", "libevent": "2.1.8",
                    "flac": "1.3.0", "libvorbis": "1.3.3", "iperf3": "3.0.11", "jquery": "1.8.3",
                    "openssl": "1.1.1b", "curl": "7.66.0"},
    "escam-pvr008": {"busybox": "1.26.2", "boa": "0.94.14rc21", "linux_kernel": "4.9.37", "hostapd": "2.6",
                     "wpa_supplicant": "2.6", "dosfstools": "4.1", "uclibc": "0.9.33.2"},
    "netis-n5": {"busybox": "1.13.4", "dnsmasq": "2.79", "openssl": "1.0.1c", "miniupnpd": "2.1",
                 "minidlna": "1.0.25", "ppp": "2.4.7", "dropbear": "0.48", "boa": "0.94.14rc21",
                 "iptables": "1.4.4", "radvd": "0.9.1", "xl2tpd": "1.3.11", "e2fsprogs": "1.44.5",
                 "ntfs-3g": "2014.2.15", "dosfstools": "4.0"},
    "pace-v5471": {"busybox": "1.17.2", "openssl": "1.0.0a", "dropbear": "0.52", "dnsmasq": "2.45",
                   "miniupnpd": "1.4", "lighttpd": "1.4.29", "samba": "3.0.37", "uclibc": "0.9.30.3",
                   "linux_kernel": "2.6.30", "libpcap": "1.0.0", "libjpeg": "8b"},
    "phicomm-k2p": {"busybox": "1.22.1", "openssl": "1.0.2", "dnsmasq": "2.71", "uclibc": "0.9.33.2",
                    "jquery": "1.12.4"},
    "tplink-mt7628": {"busybox": "1.19.2", "dropbear": "2012.55", "linux_kernel": "2.6.36", "radvd": "1.5",
                      "openssl": "0.9.8zh", "ppp": "2.4.5", "xl2tpd": "1.1.12", "libupnp": "1.6.19",
                      "iptables": "1.4.17"},
}
# Found inside programs that are not the component's own file.
EMBEDDED = {
    "cig-g97rg6w": [("nginx", "1.16.0", "/usr/sbin/WebMgr"), ("openssl", "0.9.8b", "/sbin/wscd")],
    "netis-n5": [("openssl", "0.9.8b", "/bin/wscd")],
    "pace-v5471": [("dropbear", "0.52", "/usr/sbin/sshd")],
    "tplink-mt7628": [("openssl", "0.9.8zh", "/lib/libgdpr.so")],
}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    out = {}
    for name in EXPECTED:
        archive = corpus_file("realworld", f"{name}.tar.gz")
        dest = tmp_path_factory.mktemp(name)
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="tar")  # absolute symlinks stay links; the inventory resolves them inside
        out[name] = dest
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_components_and_versions_from_content(trees, name):
    comps = identify_components(inventory_tree(trees[name]))
    versions: dict[str, set[str]] = {}
    for c in comps:
        versions.setdefault(c.name, set()).add(c.version)
    for component, version in EXPECTED[name].items():
        assert version in versions.get(component, set()), (component, version, versions.get(component))
    # No version taken from a help text ("deprecated since Samba 3.0.23").
    assert versions.get("samba", {"3.0.37"}) <= {"3.0.37"}
    for component, version, host in EMBEDDED.get(name, []):
        comp = next(c for c in comps if c.name == component and c.version == version)
        ev = next(e for e in comp.evidence if e["path"] == host)
        assert ev["method"] == "version string in another program"


def test_vex_on_a_real_mips_router(trees):
    # Pace V5471: MIPS, Linux 2.6.30, uClibc 0.9.30.3 with libc.so.0 a hard link of libuClibc-0.9.30.3.so.
    from iotcop.vulns.db import STARTER_DB
    from iotcop.vulns.vex import analyse

    results = analyse(inventory_tree(trees["pace-v5471"]), STARTER_DB)
    by = {(a.match.component.name, a.match.id): a for a in results}
    arm = by[("linux_kernel", "CVE-2013-6282")]  # KEV text: "on ARM v6k/v7 platforms"
    assert arm.state == "not_affected" and "mips" in arm.detail
    overlay = by[("linux_kernel", "CVE-2023-0386")]  # OverlayFS came in Linux 3.18
    assert overlay.state == "not_affected" and "2.6.30 predates" in overlay.detail
    uclibc = [a for (name, _), a in by.items() if name == "uclibc"]
    assert uclibc and all(a.justification != "code_not_reachable" for a in uclibc)
