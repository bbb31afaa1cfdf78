"""Neutralising planted entries and normalising permissions after extraction."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from iotcop.firmware.inventory import build_firmware
from iotcop.firmware.tree_safety import load_modes, save_modes, secure_tree


def _hostile_tree(top: Path, outside: Path) -> None:
    root = top / "fw.bin_extract"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/shadow").write_text("root:!:1::::::\n")
    (root / "etc/shadow").chmod(0o600)
    (root / "bin/busybox").write_bytes(b"\x7fELF")
    (root / "bin/busybox").chmod(0o4755)
    (root / "bin/sh").symlink_to("busybox")  # stays: it resolves inside
    (root / "etc/host-passwd").symlink_to("/etc/passwd")
    (root / "etc/up").symlink_to("../../../..")
    (root / "etc/chain").symlink_to("up/etc")  # escapes through another link
    os.mkfifo(root / "etc/fifo")
    (outside / "secret").write_text("host secret\n")
    os.link(outside / "secret", root / "etc/hard")
    (root / "locked").mkdir()
    (root / "locked/file").write_text("x")
    (root / "locked/file").chmod(0)
    (root / "locked").chmod(0)


def test_planted_entries_are_removed_and_reported(tmp_path):
    top, outside = tmp_path / "extract", tmp_path / "outside"
    top.mkdir()
    outside.mkdir()
    _hostile_tree(top, outside)
    result = secure_tree(top)
    kinds = {(n["path"], n["kind"]) for n in result.neutralised}
    assert kinds == {
        ("fw.bin_extract/etc/host-passwd", "symlink-escape"),
        ("fw.bin_extract/etc/up", "symlink-escape"),
        ("fw.bin_extract/etc/chain", "symlink-escape"),
        ("fw.bin_extract/etc/fifo", "fifo"),
        ("fw.bin_extract/etc/hard", "hardlink-escape"),
    }
    assert result.count == 5
    root = top / "fw.bin_extract"
    assert (root / "bin/sh").is_symlink() and not (root / "etc/hard").exists()
    assert (outside / "secret").read_text() == "host secret\n"  # the host file is untouched
    # the image's modes are kept for the checks, the tree itself is normalised
    assert stat.S_IMODE(result.modes["fw.bin_extract/bin/busybox"][0]) == 0o4755
    assert stat.S_IMODE(result.modes["fw.bin_extract/locked"][0]) == 0
    assert stat.S_IMODE(os.stat(root / "bin/busybox").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(root / "locked").st_mode) & 0o700 == 0o700
    assert stat.S_IMODE(os.stat(root / "locked/file").st_mode) & 0o600 == 0o600


def test_inventory_reports_the_recorded_image_modes(tmp_path):
    extract = tmp_path / "extract"
    root = extract / "fw.bin_extract"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/shadow").write_text("root:!:1::::::\n")
    (root / "etc/shadow").chmod(0o644)  # as unblob leaves it
    recorded = {"fw.bin_extract/etc/shadow": [stat.S_IFREG | 0o600, 0, 42]}
    save_modes(tmp_path, secure_tree(extract, recorded).modes)
    assert load_modes(tmp_path)["fw.bin_extract/etc/shadow"][0] == stat.S_IFREG | 0o600
    fw = build_firmware(tmp_path, [("fw.bin_extract", root)], extract)
    shadow = fw.get("/etc/shadow")
    assert shadow.mode == 0o600 and shadow.gid == 42 and not shadow.world_readable


def _as_nobody(fn) -> int:
    """Run fn in a forked child that has dropped to uid/gid 65534; its exit code."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to an unprivileged user")
def test_an_unprivileged_scanner_can_delete_what_it_extracted():
    base = Path(tempfile.mkdtemp(prefix="modes-check-"))
    top = base / "extract"
    try:
        base.chmod(0o755)
        os.chown(base, 65534, 65534)

        def plant() -> int:
            (top / "a/b").mkdir(parents=True)
            (top / "a/b/f").write_text("x")
            (top / "a/b/f").chmod(0)
            (top / "a/b").chmod(0o500)
            (top / "a").chmod(0)
            return 0

        def delete() -> int:
            try:
                shutil.rmtree(top)
                return 0
            except PermissionError:
                return 3

        def secure_then_delete() -> int:
            secure_tree(top)
            return delete()

        assert _as_nobody(plant) == 0
        assert _as_nobody(delete) == 3  # what an extractor can leave behind
        assert _as_nobody(secure_then_delete) == 0
        assert not top.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
