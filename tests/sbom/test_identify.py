"""Component identification: package databases, version signatures, demo images built from Debian."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from iotcop.firmware.inventory import inventory_tree
from iotcop.sbom import identify_components
from iotcop.sbom.busybox import applet_table
from iotcop.sbom.rules import load_rules
from iotcop.sbom.versions import upstream_version


def expected_from_manifest(manifest: Path) -> dict[str, str]:
    """component -> upstream version, for every manifest package a rule names."""
    out: dict[str, str] = {}
    for pkg in json.loads(manifest.read_text())["packages"]:
        for rule in load_rules():
            if pkg["name"] in rule.packages:
                out[rule.name] = upstream_version(pkg["version"], "deb")
    return out


def test_rules_load_and_every_rule_can_identify():
    rules = load_rules()
    assert len(rules) >= 25
    for rule in rules:
        assert rule.files, rule.name
        assert rule.patterns or rule.name_patterns or rule.presence, rule.name
        assert not rule.patterns or rule.anchors, rule.name  # every content rule is found by an anchor first


@pytest.mark.slow
def test_demo_rootfs_components_match_debian_versions(vulnerable_image):
    fw = inventory_tree(vulnerable_image.rootfs)
    found = {c.name: c for c in identify_components(fw)}
    expected = expected_from_manifest(vulnerable_image.manifest)
    assert {"busybox", "dropbear", "openssl", "lighttpd", "dnsmasq", "glibc", "zlib"} <= set(expected)
    for name, version in expected.items():
        assert name in found, name
        assert found[name].version == version, (name, found[name].version, version)
        ev = found[name].evidence[0]
        assert ev["path"].startswith("/") and ev["excerpt"]
    assert found["busybox"].cpe == f"cpe:2.3:a:busybox:busybox:{expected['busybox']}:*:*:*:*:*:*:*"
    # The image keeps dpkg's status database: the purl names the Debian package and its revision.
    assert found["busybox"].purl.startswith("pkg:deb/debian/busybox-static@1:1.35.0-")
    assert {e["method"] for e in found["busybox"].evidence} == {"dpkg database", "version string"}


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


@pytest.mark.slow
def test_package_databases_merge_with_signatures(vulnerable_image, tmp_path):
    manifest = json.loads(vulnerable_image.manifest.read_text())
    bb = next(p for p in manifest["packages"] if p["name"] == "busybox-static")
    _copy(vulnerable_image.rootfs / "bin" / "busybox", tmp_path / "bin" / "busybox")
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(
        f"Package: busybox-static\nStatus: install ok installed\nArchitecture: mipsel\nVersion: {bb['version']}\n\n"
        "Package: removed-thing\nStatus: deinstall ok config-files\nVersion: 1.0-1\n\n")
    (tmp_path / "usr/lib/opkg/info").mkdir(parents=True)
    (tmp_path / "usr/lib/opkg/info/dnsmasq.control").write_text("Package: dnsmasq\nVersion: 2.90-4\nArchitecture: mipsel_24kc\n")
    (tmp_path / "lib/apk/db").mkdir(parents=True)
    (tmp_path / "lib/apk/db/installed").write_text("C:Q1abc=\nP:zlib\nV:1.2.13-r0\nA:mips\n\n")
    comps = {c.name: c for c in identify_components(inventory_tree(tmp_path))}
    assert "removed-thing" not in comps
    busybox = comps["busybox"]
    assert busybox.version == upstream_version(bb["version"], "deb")
    assert busybox.purl.startswith("pkg:deb/debian/busybox-static@") and "arch=mipsel" in busybox.purl
    methods = {e["method"] for e in busybox.evidence}
    assert methods == {"dpkg database", "version string"}
    assert comps["dnsmasq"].version == "2.90" and comps["dnsmasq"].purl.startswith("pkg:opkg/openwrt/dnsmasq@2.90-4")
    assert comps["zlib"].version == "1.2.13" and comps["zlib"].purl.startswith("pkg:apk/alpine/zlib@1.2.13-r0")


@pytest.mark.slow
def test_busybox_applet_table_matches_the_builder(vulnerable_image):
    manifest = json.loads(vulnerable_image.manifest.read_text())
    table = applet_table((vulnerable_image.rootfs / "bin" / "busybox").read_bytes())
    assert len(table) == manifest["busybox_applets"]["count"]
    assert table[:2] == ["[", "[["] and "ash" in table


def test_uclibc_and_uclibc_ng_from_file_names(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/ld-uClibc-1.0.40.so").write_bytes(b"\x7fELF" + b"\x00" * 60)
    (tmp_path / "lib/libuClibc-0.9.33.2.so").write_bytes(b"\x7fELF" + b"\x00" * 60)
    comps = {c.name: c for c in identify_components(inventory_tree(tmp_path))}
    # uClibc-ng (1.x) and uClibc (0.9.x) are told apart by version; the file name carries it.
    assert comps["uclibc-ng"].version == "1.0.40"
    assert comps["uclibc"].version == "0.9.33.2"
    assert comps["uclibc-ng"].cpe == "cpe:2.3:a:uclibc-ng_project:uclibc-ng:1.0.40:*:*:*:*:*:*:*"


@pytest.mark.slow
def test_kernel_and_components_from_the_image_scan(vulnerable_image, tmp_path):
    from iotcop.scan import ScanOptions, scan

    res = scan(vulnerable_image.image, ScanOptions(only_checks=("vulns",)))
    comps = {c["name"]: c for c in res.assessment.components}
    banner = re.search(r"Linux version (\d+\.\d+\.\d+)", vulnerable_image.image.read_bytes().decode("latin-1"))
    kernel = comps["linux_kernel"]
    assert kernel["evidence"][0]["path"].startswith("<image>/")
    if banner:  # the banner is compressed inside the uImage; when visible, it must agree
        assert kernel["version"] == banner.group(1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", kernel["version"])
    expected = expected_from_manifest(vulnerable_image.manifest)
    for name, version in expected.items():
        assert comps[name]["version"] == version


def test_control_stanzas_keep_their_first_line_and_field_case():
    """dpkg/opkg databases are read by python-debian's Deb822; each stanza keeps the line it starts on."""
    from iotcop.sbom.packages import parse_control_stanzas

    text = ("\n\nPackage: libc6\nStatus: install ok installed\nVersion: 2.36-9+deb12u4\nDescription: GNU C\n"
            " Library: shared libraries\n .\n more\n\n\n\npackage: busybox\nversion: 1:1.35.0-4\n")
    stanzas = list(parse_control_stanzas(text))
    assert [line for line, _ in stanzas] == [3, 13]
    assert stanzas[0][1]["Description"].splitlines()[0] == "GNU C"
    assert stanzas[1][1]["Package"] == "busybox" and stanzas[1][1]["Version"] == "1:1.35.0-4"  # any field case
