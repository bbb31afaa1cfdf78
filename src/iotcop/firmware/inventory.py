"""One pass over the extracted tree: every file's metadata, hash, type and ELF facts.

Each regular file is read exactly once; the bytes feed the hash, the content
type and the ELF reader.  Symlinks are recorded, never followed.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from iotcop.firmware.content import ContentPass, Scanning
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


def _metadata(host_path: Path, device_path: str, root: str | None, st: os.stat_result) -> FileEntry:
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
    return entry


def _read_and_describe(entry: FileEntry, scanning: Scanning | None = None, index: int = -1) -> None:
    """Hash, sniff and parse one file from a single read; hand its bytes to the content scanners."""
    digest = hashlib.sha256()
    wanted: list = []
    keep = 0  # bytes to keep in memory: for the ELF reader and the scanners
    data = bytearray()
    try:
        with open(entry.host_path, "rb", buffering=0) as fh:
            first = fh.read(_CHUNK)
            digest.update(first)
            entry.magic = sniff(first[:4096])
            if is_elf(first):
                keep = _ELF_READ_LIMIT
            if scanning is not None:
                wanted = scanning.wanted(entry)
                keep = max([keep] + [limit for _, limit in wanted])
            if keep:
                data += first[:keep]
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                if len(data) < keep:
                    data += chunk[: keep - len(data)]
    except OSError:
        entry.magic = "unreadable"
        return
    entry.sha256 = digest.hexdigest()
    if data and is_elf(data):
        try:
            entry.elf = parse_elf(data)
        except ElfError:
            entry.elf = None
    if wanted:
        scanning.scan(index, entry, bytes(data), wanted)


def _describe_shard(entries: list[FileEntry], indices: list[int], plan: ContentPass | None) -> tuple[list, dict | None]:
    """Worker body: (index, sha256, magic, elf) per file, and the content pass's state."""
    scanning = Scanning(plan) if plan is not None and plan.scanners else None
    out = []
    for i in indices:
        entry = entries[i]
        _read_and_describe(entry, scanning, i)
        out.append((i, entry.sha256, entry.magic, entry.elf))
    return out, scanning.export() if scanning is not None else None


def _shards(entries: list[FileEntry], indices: list[int], n: int) -> list[list[int]]:
    """Split files over n workers with about equal bytes each (largest first onto the lightest)."""
    loads = [0] * n
    shards: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(indices, key=lambda i: -entries[i].size):
        k = loads.index(min(loads))
        shards[k].append(i)
        loads[k] += entries[i].size + 4096
    return [sorted(s) for s in shards if s]


# Below this much data one process is quicker than starting workers.
_PARALLEL_MIN_BYTES = 16 * 1024 * 1024


def describe_files(entries: list[FileEntry], plan: ContentPass | None = None, jobs: int | None = None) -> Scanning | None:
    """Read every regular file once, over the machine's cores; returns the content pass's results."""
    files = [i for i, e in enumerate(entries) if e.kind == "file"]
    scanning = Scanning(plan) if plan is not None and plan.scanners else None
    jobs = max(1, jobs or os.cpu_count() or 1)
    total = sum(entries[i].size for i in files)
    if jobs == 1 or total < _PARALLEL_MIN_BYTES or len(files) < 2 * jobs:
        for i in files:
            _read_and_describe(entries[i], scanning, i)
        return scanning
    import multiprocessing as mp
    from multiprocessing.connection import wait

    ctx = mp.get_context("fork")
    budget = max([plan.budget(s) for s in plan.scanners] if scanning else [0.0]) + 600.0
    running = {}
    for shard in _shards(entries, files, jobs):
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_shard_child, args=(entries, shard, plan, child), daemon=True)
        proc.start()
        child.close()
        running[parent] = (proc, shard)
    deadline = time.monotonic() + budget
    while running:
        ready = wait(list(running), timeout=max(0.0, deadline - time.monotonic()))
        if not ready:  # past every budget: stop the workers, describe their files here without scanners
            for conn, (proc, shard) in running.items():
                proc.kill()
                proc.join(5)
                conn.close()
                for i in shard:
                    _read_and_describe(entries[i], None, i)
            if scanning is not None:
                scanning.fail_all("timeout", f"the content pass was stopped after {budget:g} s")
            break
        for conn in ready:
            proc, shard = running.pop(conn)
            try:
                described, exported = conn.recv()
            except (EOFError, OSError):
                described, exported = None, None
            conn.close()
            proc.join(5)
            if described is None:  # the worker died: describe its files here; the scanners' results are incomplete
                for i in shard:
                    _read_and_describe(entries[i], None, i)
                if scanning is not None:
                    scanning.fail_all("error", f"content scan process died (exit code {proc.exitcode})")
                continue
            for i, sha, magic, elf in described:
                entry = entries[i]
                entry.sha256, entry.magic, entry.elf = sha, magic, elf
            if scanning is not None and exported is not None:
                scanning.absorb(exported)
    return scanning


def _shard_child(entries, shard, plan, conn) -> None:
    try:
        conn.send(_describe_shard(entries, shard, plan))
    finally:
        conn.close()


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
    rel = printable_name(host_path.relative_to(root_dir).as_posix())
    return "/" + rel if rel != "." else "/"


def printable_name(name: str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 (kept by the OS as surrogates) become \\xNN."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def build_firmware(work_dir: Path, roots: list[tuple[str, Path]], extract_dir: Path | None = None,
                   partitions: list[tuple[str, Path]] = (), *, content: ContentPass | None = None) -> Firmware:
    """Inventory root filesystems and other partitions (label, dir), then the rest of the extraction.

    Files of a partition get paths relative to it; files outside every root
    and partition (kernel, carved blobs) get paths under "<image>/".  With `content`,
    the scanners it names see each file's bytes during the same read.
    """
    entries: list[FileEntry] = []
    roots = list(roots)
    mounted = roots + list(partitions)
    root_dirs = {d for _, d in mounted}
    for label, root_dir in mounted:
        nested = {d for d in root_dirs if d != root_dir and root_dir in d.parents}
        for host, st in walk(root_dir, skip=lambda p, nested=nested: p in nested):
            entries.append(_metadata(host, device_path(root_dir, host), label, st))
    if extract_dir is not None:
        for host, st in walk(extract_dir, skip=lambda p: p in root_dirs):
            rel = printable_name(host.relative_to(extract_dir).as_posix())
            entries.append(_metadata(host, f"{IMAGE_PREFIX}/{rel}", None, st))
    scanning = describe_files(entries, content, content.jobs if content else None)
    _apply_image_modes(work_dir, entries)
    fw = Firmware(work_dir=work_dir, roots=[label for label, _ in roots], entries=entries,
                  partitions=[label for label, _ in partitions])
    if scanning is not None:
        fw.attach_content(scanning.results, scanning.status)
        if content.store is not None and scanning.new_rows:
            try:
                content.store.put_many(scanning.new_rows)
            except Exception:  # noqa: BLE001 - a cache that cannot be written only costs speed next time
                pass
    return fw


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
