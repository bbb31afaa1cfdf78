"""One pass over the extracted tree: every file's metadata, hash, type and ELF facts.

Each regular file is read exactly once; the bytes feed the hash, the content
type and the ELF reader.  Symlinks are recorded, never followed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from iotcop.firmware.elf import ElfError, is_elf, parse_elf
from iotcop.firmware.model import FileEntry, FileKind, Firmware

IMAGE_PREFIX = "<image>"
_CHUNK = 1 << 20
# ELF facts come from the first bytes of the file; no reader needs more than this.
_ELF_READ_LIMIT = 64 * 1024 * 1024

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "elf"),
    (b"#!", "script"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
    (b"PK\x03\x04", "zip"),
    (b"hsqs", "squashfs"),
    (b"sqsh", "squashfs"),
    (b"\x27\x05\x19\x56", "uimage"),
    (b"\xd0\x0d\xfe\xed", "dtb"),
    (b"070701", "cpio"),
    (b"070707", "cpio"),
    (b"\x85\x19", "jffs2"),
    (b"\x19\x85", "jffs2"),
    (b"UBI#", "ubi"),
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"SQLite format 3\x00", "sqlite"),
    (b"-----BEGIN ", "pem"),
    (b"\x30\x82", "der"),
)


def sniff(head: bytes) -> str:
    """A short content type from the first bytes of a file."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name
    if not head:
        return "empty"
    sample = head[:1024]
    if b"\x00" in sample:
        return "data"
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    # Allow UTF-8 text: high bytes are fine when the sample decodes.
    if printable / len(sample) > 0.95:
        return "text"
    try:
        sample.decode("utf-8")
        return "text"
    except UnicodeDecodeError:
        return "data"


def _kind(mode: int) -> FileKind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISCHR(mode):
        return "char"
    if stat.S_ISBLK(mode):
        return "block"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "socket"


@dataclass
class InventoryStats:
    files: int = 0
    bytes: int = 0
    elf: int = 0
    elf_errors: int = 0


def describe_file(host_path: Path, device_path: str, root: str | None, st: os.stat_result) -> FileEntry:
    """Build the entry for one path, reading a regular file once."""
    kind = _kind(st.st_mode)
    entry = FileEntry(
        path=device_path,
        host_path=host_path,
        kind=kind,
        size=st.st_size if kind == "file" else 0,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        root=root,
    )
    if kind == "symlink":
        try:
            entry.link_target = os.readlink(host_path)
        except OSError:
            entry.link_target = None
    elif kind == "file":
        _read_and_describe(entry)
    return entry


def _read_and_describe(entry: FileEntry) -> None:
    digest = hashlib.sha256()
    head = b""
    elf_bytes: bytearray | None = None
    try:
        with open(entry.host_path, "rb", buffering=0) as fh:
            first = fh.read(_CHUNK)
            head = first[:4096]
            digest.update(first)
            if is_elf(first):
                elf_bytes = bytearray(first)
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if elf_bytes is not None and len(elf_bytes) < _ELF_READ_LIMIT:
                    elf_bytes += chunk
    except OSError:
        entry.magic = "unreadable"
        return
    entry.sha256 = digest.hexdigest()
    entry.magic = sniff(head)
    if elf_bytes is not None:
        try:
            entry.elf = parse_elf(elf_bytes)
        except ElfError:
            entry.elf = None


def walk(top: Path, *, skip: Callable[[Path], bool] = lambda p: False) -> Iterable[tuple[Path, os.stat_result]]:
    """Every path under top (not top itself), depth first, sorted, never following links."""
    stack = [top]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for item in items:
            path = Path(item.path)
            if skip(path):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except OSError:
                continue
            yield path, st
            if stat.S_ISDIR(st.st_mode):
                subdirs.append(path)
        stack.extend(reversed(subdirs))


def device_path(root_dir: Path, host_path: Path) -> str:
    rel = host_path.relative_to(root_dir).as_posix()
    return "/" + rel if rel != "." else "/"


def build_firmware(work_dir: Path, roots: list[tuple[str, Path]], extract_dir: Path | None = None,
                   partitions: list[tuple[str, Path]] = ()) -> Firmware:
    """Inventory root filesystems and other partitions (label, dir), then the rest of the extraction.

    Files of a partition get paths relative to it; files outside every root
    and partition (kernel, carved blobs) get paths under "<image>/".
    """
    entries: list[FileEntry] = []
    roots = list(roots)
    mounted = roots + list(partitions)
    root_dirs = {d for _, d in mounted}
    for label, root_dir in mounted:
        nested = {d for d in root_dirs if d != root_dir and root_dir in d.parents}
        for host, st in walk(root_dir, skip=lambda p, nested=nested: p in nested):
            entries.append(describe_file(host, device_path(root_dir, host), label, st))
    if extract_dir is not None:
        for host, st in walk(extract_dir, skip=lambda p: p in root_dirs):
            rel = host.relative_to(extract_dir).as_posix()
            entries.append(describe_file(host, f"{IMAGE_PREFIX}/{rel}", None, st))
    _apply_image_modes(work_dir, entries)
    return Firmware(work_dir=work_dir, roots=[label for label, _ in roots], entries=entries,
                    partitions=[label for label, _ in partitions])


def _apply_image_modes(work_dir: Path, entries: list[FileEntry]) -> None:
    """Report the modes the image gave, which extraction recorded before making the tree readable."""
    from iotcop.firmware.tree_safety import load_modes

    modes = load_modes(work_dir)
    if not modes:
        return
    base = work_dir / "extract"
    for entry in entries:
        if entry.kind == "symlink":
            continue
        recorded = modes.get(os.path.relpath(entry.host_path, base))
        if recorded and len(recorded) == 3:
            entry.mode, entry.uid, entry.gid = stat.S_IMODE(recorded[0]), recorded[1], recorded[2]


def inventory_tree(path: Path) -> Firmware:
    """Treat a directory as one root filesystem (used for extracted trees and tests)."""
    path = Path(path).resolve()
    return build_firmware(path, [("rootfs", path)])
