"""Every extractor keeps the image's modes and owners: one tree, made in each format by its own Debian tool.

The tree holds what the permission checks look for (set-user-ID and set-group-ID programs, a sticky and a
world-writable directory, a world-writable file, a private shadow file, files of other owners).  After the
real extraction (unblob in its child process, then tree_safety) the modes recorded for the inventory must be
the image's, in every format that stores them.  The cpio test also runs the permission check through the
CLI, where a cpio image and a tar of the same tree must give the same findings.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from iotcop.firmware.extract import extract
from iotcop.firmware.tree_safety import load_modes
from support import run_cli

AS_ROOT = os.geteuid() == 0
# path -> (mode, uid, gid); gids stay below 256 because cramfs keeps 8 bits of them
TREE = {
    "bin/suidprog": (0o4755, 0, 0),
    "bin/sgidprog": (0o2755, 0, 50),
    "usr/bin/helper": (0o4750, 0, 100),
    "etc/config/shared": (0o666, 0, 0),
    "etc/shadow": (0o600, 0, 42),
    "etc/passwd": (0o644, 0, 0),
    "tmp": (0o1777, 0, 0),
    "data": (0o777, 1000, 100),
    "var/run": (0o700, 1000, 100),
}


def make_tree(root: Path) -> None:
    for folder in ("etc/config", "bin", "usr/bin", "tmp", "data", "var/run", "lib"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/config/shared").write_text("option x\n")
    for program in ("bin/suidprog", "bin/sgidprog", "usr/bin/helper", "bin/sh"):
        shutil.copy("/bin/true", root / program)
    for rel, (mode, uid, gid) in TREE.items():
        if AS_ROOT:
            os.chown(root / rel, uid, gid)
        os.chmod(root / rel, mode)


def _run(cmd: list, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, **kwargs)


def build(kind: str, root: Path, out: Path) -> Path:
    image = out / f"image.{kind}"
    if kind.startswith("cpio-"):
        names = _run(["find", "."], cwd=root).stdout
        image.write_bytes(_run(["cpio", "-o", "-H", kind[5:], "--quiet"], input=names, cwd=root).stdout)
    elif kind == "tar":
        with tarfile.open(image, "w") as archive:
            archive.add(root, arcname=".")
    elif kind == "squashfs":
        _run(["mksquashfs", root, image, "-noappend", "-quiet"])
    elif kind in ("ext2", "ext4"):
        _run(["mke2fs", "-q", "-t", kind, "-d", root, image, "4M"])
    elif kind in ("jffs2-le", "jffs2-be"):
        _run(["mkfs.jffs2", "-r", root, "-o", image, "-e", "0x10000", "-p", "-l" if kind == "jffs2-le" else "-b"])
    elif kind in ("ubifs", "ubi"):
        volume = out / "volume.ubifs"
        _run(["mkfs.ubifs", "-r", root, "-m", "2048", "-e", "126976", "-c", "64", "-o",
              image if kind == "ubifs" else volume])
        if kind == "ubi":
            config = out / "ubinize.cfg"
            config.write_text(f"[rootfs]\nmode=ubi\nimage={volume}\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\n"
                              "vol_flags=autoresize\n")
            _run(["ubinize", "-o", image, "-m", "2048", "-p", "128KiB", "-s", "2048", config])
    elif kind == "cramfs":
        _run(["mkfs.cramfs", root, image])
    elif kind == "zip":  # as Info-ZIP writes it on Unix: the mode in the high half of the external attributes
        with zipfile.ZipFile(image, "w") as archive:
            for path in sorted(root.rglob("*")):
                st = path.lstat()
                info = zipfile.ZipInfo(path.relative_to(root).as_posix() + ("/" if path.is_dir() else ""))
                info.create_system = 3
                info.external_attr = (st.st_mode & 0xFFFF) << 16 | (0x10 if path.is_dir() else 0)
                archive.writestr(info, b"" if path.is_dir() else path.read_bytes())
    else:
        raise AssertionError(kind)
    return image


def extracted_modes(image: Path, work: Path) -> dict[str, tuple[int, int, int]]:
    """The modes the inventory will report, by path inside the root filesystem."""
    result = extract(image, work)
    assert result.report.status == "complete", result.report.errors
    assert result.roots, result.report
    modes = load_modes(work) or {}
    base = work / "extract"
    root = result.roots[0][1]
    found = {}
    for rel in TREE:
        recorded = modes.get(os.path.relpath(root / rel, base))
        if recorded:
            found[rel] = (stat.S_IMODE(recorded[0]), recorded[1], recorded[2])
    # tree_safety took the special bits off the files on disk
    assert not any(p.stat().st_mode & (stat.S_ISUID | stat.S_ISGID) for p in root.rglob("*")
                   if p.is_file() and not p.is_symlink())
    return found


FORMATS = ["cpio-newc", "cpio-odc", "cpio-bin", "cpio-crc", "tar", "squashfs", "ext2", "ext4", "jffs2-le",
           "jffs2-be", "ubifs", "ubi", "cramfs", "zip"]
NO_OWNERS = {"zip"}  # a zip entry made without Info-ZIP's Unix extra field holds a mode and no owner


@pytest.mark.parametrize("kind", FORMATS)
def test_extraction_keeps_the_image_modes(kind, tmp_path):
    root = tmp_path / "root"
    make_tree(root)
    image = build(kind, root, tmp_path)
    found = extracted_modes(image, tmp_path / "work")
    modes = {rel: oct(values[0]) for rel, values in found.items()}
    assert modes == {rel: oct(want[0]) for rel, want in TREE.items()}, kind
    if AS_ROOT and kind not in NO_OWNERS:
        owners = {rel: values[1:] for rel, values in found.items()}
        assert owners == {rel: want[1:] for rel, want in TREE.items()}, kind


def _permission_findings(image: Path) -> dict[str, str]:
    result = run_cli("scan", image, "--format", "json", "--quiet", "--check", "surface")
    assert result.code in (0, 1), result.stderr
    return {f["title"]: f["evidence"]["detail"] for f in result.json()["findings"]
            if f["check"] == "surface.file-permissions"}


def test_cpio_image_gives_the_findings_of_the_same_tree_as_tar(tmp_path):
    root = tmp_path / "root"
    make_tree(root)
    as_tar = _permission_findings(build("tar", root, tmp_path))
    as_cpio = _permission_findings(build("cpio-newc", root, tmp_path))
    assert any(title.startswith("Set-user-ID") for title in as_tar), as_tar
    assert as_cpio == as_tar
    suid = next(detail for title, detail in as_cpio.items() if title.startswith("Set-user-ID programs"))
    assert "/usr/bin/helper" in suid


def test_own_squashfs_reader_keeps_modes_and_owners(tmp_path):
    # The reader that opens what unsquashfs cannot (big-endian, vendor, LZMA v3) on a standard image.
    from iotcop.formats.squashfs import extract as read_squashfs

    root = tmp_path / "root"
    make_tree(root)
    image = build("squashfs", root, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    assert read_squashfs(image, out).errors == []
    for rel, (mode, uid, gid) in TREE.items():
        st = os.lstat(out / rel)
        assert stat.S_IMODE(st.st_mode) == mode, rel  # (the reader adds owner rw; every mode here has it)
        if AS_ROOT:
            assert (st.st_uid, st.st_gid) == (uid, gid), rel


def test_modes_are_never_applied_through_links_or_outside_the_output(tmp_path):
    from iotcop.firmware.image_modes import ImageMode, restore

    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "passwd").write_text("x")
    os.chmod(outside / "passwd", 0o644)
    out = tmp_path / "out"
    (out / "bin").mkdir(parents=True)
    (out / "bin/prog").write_text("x")
    (out / "etc").symlink_to(outside)  # an image's link to a host folder
    (out / "bin/link").symlink_to(outside / "passwd")
    hostile = [ImageMode("etc/passwd", 0o104777, 0, 0), ImageMode("../host/passwd", 0o104777, 0, 0),
               ImageMode("/bin/link", 0o104777, 0, 0), ImageMode("bin/../../host/passwd", 0o104777, 0, 0)]
    assert restore(out, hostile + [ImageMode("/bin/prog", 0o104750, 0, 0)]) == 1
    assert stat.S_IMODE((outside / "passwd").stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "bin/prog").stat().st_mode) == 0o4750
