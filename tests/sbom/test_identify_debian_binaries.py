"""Version rules against the real binaries of Debian packages installed on this machine (scripts/setup
installs them for the probe tests): the files of each package, without its dpkg record, must give the
upstream version dpkg reports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from iotcop.firmware.inventory import inventory_tree
from iotcop.sbom.identify import identify_components
from iotcop.sbom.versions import upstream_version

# Debian package -> the component rule its files must match
PACKAGES = {
    "vsftpd": "vsftpd", "mosquitto": "mosquitto", "miniupnpd-nftables": "miniupnpd", "dropbear-bin": "dropbear",
    "busybox-static": "busybox", "lighttpd": "lighttpd", "libssl3": "openssl", "libpcap0.8": "libpcap",
    "libjson-c5": "json-c", "libevent-2.1-7": "libevent", "libpcre2-8-0": "pcre2", "libgmp10": "gmp",
    "libidn2-0": "libidn2", "libdbus-1-3": "dbus", "e2fsprogs": "e2fsprogs", "libexpat1": "expat",
    "libsqlite3-0": "sqlite", "libcurl4": "curl", "libc6": "glibc", "zlib1g": "zlib",
}


def _installed(package: str) -> tuple[str, list[Path]] | None:
    try:
        version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                                 check=True).stdout.strip()
        files = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return None
    paths = [Path(f) for f in files if Path(f).is_file() and not Path(f).is_symlink()
             and f.startswith(("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/lib", "/lib"))]
    return version, paths


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_rule_reads_the_debian_binary(package, tmp_path):
    got = _installed(package)
    if got is None:
        pytest.skip(f"{package} is not installed (scripts/setup installs it)")
    version, paths = got
    for p in paths:
        if p.read_bytes()[:4] == b"\x7fELF":
            target = tmp_path / p.relative_to("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
    comps = identify_components(inventory_tree(tmp_path))
    found = {c.version for c in comps if c.name == PACKAGES[package]}
    expected = upstream_version(version, "deb")
    if PACKAGES[package] == "libevent":
        expected = expected.removesuffix("-stable")
    assert expected in found, (package, version, found)
