"""Demo firmware builder: real Debian packages -> uImage + SquashFS + JFFS2, deterministic and cached."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from iotcop.demo import builder, recipes
from iotcop.demo.builder import BuildError, build_image

PEM_KEY = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40,}")
TOOLS_PRESENT = all(shutil.which(t) for t in builder.REQUIRED_TOOLS)

needs_tools = pytest.mark.skipif(not TOOLS_PRESENT, reason="apt/dpkg/squashfs-tools/mtd-utils/u-boot-tools missing")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    # Shared with later runs on purpose: the cache is part of what is tested.
    return builder.default_cache_dir()


@pytest.fixture(scope="module")
def vulnerable(cache_dir):
    return build_image("vulnerable", arch="mipsel", size="small", cache_dir=cache_dir)


@pytest.fixture(scope="module")
def clean(cache_dir):
    return build_image("clean", arch="mipsel", size="small", cache_dir=cache_dir)


def _carve(built, part: str, dest: Path) -> Path:
    layout = json.loads(built.manifest.read_text())["layout"][part]
    with open(built.image, "rb") as fh:
        fh.seek(layout["offset"])
        dest.write_bytes(fh.read(layout["size"]))
    return dest


# ---------------------------------------------------------------- fast tests (no build)


def test_recipe_data_is_consistent():
    data = recipes.load_recipes()
    assert set(recipes.VARIANTS) == set(data["variants"])
    assert set(recipes.SIZES) == set(data["packages"]["sizes"])
    planted = recipes.planted_issues("vulnerable")
    assert planted and recipes.planted_issues("clean") == []
    provisions = {p["provision"] for p in planted}
    assert {"5.1-1", "5.1-3", "5.4-3", "5.6-1", "5.6-4"} <= provisions
    files = set(data["variants"]["vulnerable"]["files"]) | set(data["common_files"])
    keys = {spec.get("path") for spec in data["variants"]["vulnerable"]["keys"]}
    cfg = set(data["variants"]["vulnerable"]["config_partition"])
    for p in planted:
        assert p["provision"] in p["provisions"]
        assert p["path"] in (files | keys if p["location"] == "rootfs" else cfg), p


def test_key_material_is_deterministic_and_valid():
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_ssh_private_key,
    )
    from cryptography.x509 import load_pem_x509_certificate

    spec = {"kind": "rsa-pem", "path": "/k", "cert": "/c", "seed": 7, "cn": "x"}
    a, b = builder._key_files(spec), builder._key_files(spec)
    assert a == b
    key = load_pem_private_key(a[0][1], None)
    cert = load_pem_x509_certificate(a[1][1])
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert key.key_size == 2048

    pem, pub = builder._openssh_ed25519(3, "c@d")
    assert pem == builder._openssh_ed25519(3, "c@d")[0]
    assert pem.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    sk = load_ssh_private_key(pem, None)
    assert pub.split()[1] in sk.public_key().public_bytes(
        __import__("cryptography").hazmat.primitives.serialization.Encoding.OpenSSH,
        __import__("cryptography").hazmat.primitives.serialization.PublicFormat.OpenSSH,
    )

    db = builder._dropbear_ecdsa(5)
    assert db == builder._dropbear_ecdsa(5)
    assert db[4:23] == b"ecdsa-sha2-nistp256"


def test_busybox_applet_table_parser(tmp_path):
    blob = b"\x7fELF junk\x00\x01[\x00[[\x00ash\x00cat\x00telnetd\x00\x00\x02more"
    f = tmp_path / "busybox"
    f.write_bytes(blob)
    assert builder.parse_busybox_applet_names(f) == ["[", "[[", "ash", "cat", "telnetd"]


def test_missing_tool_is_a_clear_build_error(monkeypatch, tmp_path):
    real_which = shutil.which
    monkeypatch.setattr(builder.shutil, "which", lambda t: None if t == "mkfs.jffs2" else real_which(t))
    with pytest.raises(BuildError, match=r"mkfs\.jffs2.*mtd-utils"):
        builder._require_tools(*builder.REQUIRED_TOOLS)


def test_unknown_variant_or_size_is_a_build_error(tmp_path):
    with pytest.raises(BuildError, match="unknown variant"):
        build_image("nope", cache_dir=tmp_path)
    with pytest.raises(BuildError, match="unknown size"):
        build_image("clean", size="1tb", cache_dir=tmp_path)


@needs_tools
def test_unavailable_package_is_a_build_error(tmp_path):
    with pytest.raises(BuildError, match="not available"):
        builder.ensure_debian_packages(["iotcop-no-such-package"], "mipsel", tmp_path)


# ---------------------------------------------------------------- building real images


@pytest.mark.slow
@needs_tools
def test_vulnerable_image_layout(vulnerable):
    data = vulnerable.image.read_bytes()
    assert data[:4] == bytes.fromhex("27051956")  # legacy uImage magic
    m = json.loads(vulnerable.manifest.read_text())
    assert (m["variant"], m["arch"], m["size"]) == ("vulnerable", "mipsel", "small")
    lay = m["layout"]
    assert lay["kernel"]["offset"] == 0
    for part, magic in (("rootfs", b"hsqs"), ("config", b"\x85\x19")):
        off = lay[part]["offset"]
        assert off % 0x10000 == 0
        assert data[off:off + len(magic)] == magic
    gap = data[lay["kernel"]["size"]:lay["rootfs"]["offset"]]
    assert gap == b"\xff" * len(gap)
    assert lay["total_size"] == len(data)
    assert 2 * 2**20 < len(data) < 12 * 2**20
    assert m["sha256"] == _sha(vulnerable.image)
    assert m["busybox_applets"]["count"] > 200


@pytest.mark.slow
@needs_tools
def test_manifest_lists_debian_versions(vulnerable, cache_dir):
    m = json.loads(vulnerable.manifest.read_text())
    names = [p["name"] for p in m["packages"]]
    assert names == recipes.package_names("small", "vulnerable")
    assert {"inetutils-inetd", "inetutils-ftpd"} <= set(names) - set(recipes.package_names("small", "clean"))
    for p in m["packages"]:
        debs = list((cache_dir / "debs").glob(f"{p['name']}_*_{p['arch']}.deb"))
        debs = [d for d in debs if subprocess.run(["dpkg-deb", "-f", d, "Version"], capture_output=True,
                                                  text=True).stdout.strip() == p["version"]]
        assert len(debs) == 1, p
        assert p["arch"] in ("mipsel", "all")


@pytest.mark.slow
@needs_tools
def test_squashfs_lists_busybox_and_shadow(vulnerable, tmp_path):
    sq = _carve(vulnerable, "rootfs", tmp_path / "rootfs.sqfs")
    out = subprocess.run(["unsquashfs", "-l", str(sq)], capture_output=True, text=True, check=True).stdout
    listed = {line.strip() for line in out.splitlines()}
    assert "squashfs-root/bin/busybox" in listed
    assert "squashfs-root/etc/shadow" in listed
    assert "squashfs-root/bin/sh" in listed
    assert "squashfs-root/usr/sbin/telnetd" in listed


@pytest.mark.slow
@needs_tools
def test_config_partition_is_jffs2_with_wifi_psk(vulnerable, tmp_path):
    # jefferson is a declared dependency: missing, it is a failure, not a skip
    jefferson = shutil.which("jefferson") or str(Path(__import__("sys").executable).parent / "jefferson")
    assert Path(jefferson).exists(), "jefferson (a dependency in pyproject.toml) is not installed"
    j = _carve(vulnerable, "config", tmp_path / "config.jffs2")
    subprocess.run([jefferson, "-d", str(tmp_path / "out"), str(j)], check=True, capture_output=True)
    wireless = (tmp_path / "out" / "upper/etc/config/wireless").read_text()
    assert "option key 'SuperSecretWifi2024'" in wireless


@pytest.mark.slow
@needs_tools
def test_vulnerable_planted_issues_exist(vulnerable):
    root = vulnerable.rootfs
    assert vulnerable.planted == recipes.planted_issues("vulnerable")
    for p in vulnerable.planted:
        if p["location"] == "rootfs":
            assert (root / p["path"].lstrip("/")).is_file(), p
    shadow = (root / "etc/shadow").read_text()
    assert re.search(r"^root:\$1\$[^:]+:", shadow, re.M)
    assert re.search(r"^support:[./A-Za-z0-9]{13}:", shadow, re.M)
    assert re.search(r"^guest::", shadow, re.M)
    assert "$apr1$" in (root / "etc/lighttpd/.htpasswd").read_text()
    assert "telnetd -l /bin/sh" in (root / "etc/init.d/rcS").read_text()
    inetd = (root / "etc/inetd.conf").read_text()
    assert re.search(r"^telnet\s", inetd, re.M) and re.search(r"^ftp\s", inetd, re.M)
    assert "ttyS0::respawn:/bin/sh" in (root / "etc/inittab").read_text()
    for key in ("etc/ssl/private/server.key", "usr/share/app/cloud.pem"):
        assert PEM_KEY.search((root / key).read_bytes()), key
    assert (root / "root/.ssh/id_ed25519").read_bytes().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert b"ecdsa-sha2-nistp256" in (root / "etc/dropbear/dropbear_ecdsa_host_key").read_bytes()
    assert (root / "etc/ssl/certs/server.crt").read_text().startswith("-----BEGIN CERTIFICATE-----")
    # real Debian binaries for the target architecture
    elf = (root / "usr/sbin/dropbear").read_bytes()[:20]
    assert elf[:4] == b"\x7fELF" and elf[5] == 1 and int.from_bytes(elf[18:20], "little") == 8  # EM_MIPS, LE


@pytest.mark.slow
@needs_tools
def test_clean_image_has_no_planted_issues(clean):
    root = clean.rootfs
    assert clean.planted == []
    assert clean.image.read_bytes()[:4] == bytes.fromhex("27051956")
    shadow = (root / "etc/shadow").read_text()
    for line in shadow.splitlines():
        user, pw = line.split(":")[:2]
        assert pw in ("*", "!"), line
    assert "respawn:/bin/sh" not in (root / "etc/inittab").read_text()
    assert "telnetd" not in (root / "etc/init.d/rcS").read_text()
    assert not (root / "etc/inetd.conf").exists()
    assert not (root / "etc/lighttpd/.htpasswd").exists()
    assert not any((root / "etc/dropbear").iterdir())
    assert "dropbearkey -t ed25519" in (root / "etc/init.d/S50dropbear").read_text()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 2**20:
            assert not PEM_KEY.search(path.read_bytes()), path
            assert not path.read_bytes().startswith(b"\x00\x00\x00\x13ecdsa-sha2-nistp256"), path
    assert (root / "etc/ssl/certs/iotcop-demo-ca.crt").is_file()
    assert not (root / "root/.ssh").exists()


@pytest.mark.slow
@needs_tools
def test_build_is_deterministic_and_cached(vulnerable, cache_dir, tmp_path):
    first = _sha(vulnerable.image)
    # A fresh cache sharing only the downloaded and unpacked packages with the main one.
    fresh = tmp_path / "cache"
    fresh.mkdir()
    for sub in ("debs", "trees", "resolved", "busybox"):
        if (cache_dir / sub).is_dir():
            (fresh / sub).symlink_to(cache_dir / sub)
    built = build_image("vulnerable", arch="mipsel", size="small", cache_dir=fresh)
    assert not built.cached
    assert _sha(built.image) == first
    again = build_image("vulnerable", arch="mipsel", size="small", cache_dir=fresh, rebuild=True)
    assert not again.cached and again.image == built.image
    assert _sha(again.image) == first
    t = time.monotonic()
    cached = build_image("vulnerable", arch="mipsel", size="small", cache_dir=fresh)
    assert time.monotonic() - t < 1.0
    assert cached.cached and cached.image == built.image and _sha(cached.image) == first
    assert cached.manifest.read_text() == vulnerable.manifest.read_text()


@pytest.mark.slow
@needs_tools
def test_cli_prints_image_path(vulnerable, cache_dir):
    import os
    import sys

    env = dict(os.environ, IOTCOP_CACHE=str(cache_dir))
    out = subprocess.run([sys.executable, "-m", "iotcop.demo.builder", "--variant", "vulnerable", "--size", "small"],
                         capture_output=True, text=True, env=env, check=True).stdout.strip()
    assert Path(out) == vulnerable.image
