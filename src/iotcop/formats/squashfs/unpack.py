"""Writing a SquashFS image out as a directory tree, safely.

- Names are checked ('/', '.', '..', NUL and empty names are refused) and
  nothing is ever written through a symlink: every path is created fresh
  (O_EXCL, O_NOFOLLOW) below directories this code made itself.
- Symlinks are created only when they stay inside the output: absolute
  targets are rewritten relative to the output root, targets that leave it
  are skipped and listed in the manifest.
- Device nodes, FIFOs and sockets are recorded in the manifest, never created.
- Each directory is listed once; meeting one again is a loop and is reported.
"""

from __future__ import annotations

import json
import os
import posixpath
import time
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.formats.squashfs.errors import SquashFSError
from iotcop.formats.squashfs.reader import (
    BLOCKDEV,
    CHARDEV,
    DIR,
    FILE,
    SYMLINK,
    Image,
    Inode,
)
from iotcop.formats.squashfs.superblock import NO_FRAGMENT

MAX_DEPTH = 256
MAX_ERRORS = 200
READER_NAME = "iotcop squashfs reader"


@dataclass
class Result:
    label: str  # squashfs_v3_be ...
    compression: str
    block_size: int
    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    bytes: int = 0
    special: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    xattrs: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def reader(self) -> str:
        return f"{self.label} ({READER_NAME}, {self.compression})"

    def manifest(self) -> dict:
        return {
            "reader": self.reader, "format": self.label, "compression": self.compression,
            "block_size": self.block_size, "files": self.files, "dirs": self.dirs, "symlinks": self.symlinks,
            "hardlinks": self.hardlinks, "bytes": self.bytes, "special_files": self.special,
            "skipped": self.skipped, "xattrs": self.xattrs, "errors": self.errors, "seconds": self.seconds,
        }


def _device(node: Inode, v: int) -> tuple[int, int]:
    if v == 4:  # Linux new_encode_dev
        return (node.rdev >> 8) & 0xFFF, (node.rdev & 0xFF) | ((node.rdev >> 12) & 0xFFF00)
    return node.rdev >> 8, node.rdev & 0xFF


def _check_name(name: bytes) -> str:
    if not name or name in (b".", b"..") or b"/" in name or b"\0" in name:
        raise SquashFSError(f"unsafe file name {name!r} in directory listing")
    return os.fsdecode(name)


class _Writer:
    def __init__(self, image: Image, root: Path, strict: bool, max_bytes: int | None, max_entries: int):
        self.image = image
        self.root = os.path.abspath(root)
        self.strict = strict
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.entries = 0
        self.links: dict[int, str] = {}
        self.dir_modes: list[tuple[str, Inode]] = []
        self.set_owners = os.geteuid() == 0  # as the image has them, like unsquashfs run as root
        self.made_links: list[str] = []
        sb = image.sb
        self.result = Result(label=sb.label, compression="", block_size=sb.block_size)

    def fail(self, rel: str, message: str) -> None:
        text = f"/{rel}: {message}" if rel else message
        if self.strict:
            raise SquashFSError(text)
        if len(self.result.errors) >= MAX_ERRORS:
            raise SquashFSError(f"more than {MAX_ERRORS} errors; last: {text}")
        self.result.errors.append(text)

    def run(self) -> None:
        root = self.image.inode(self.image.sb.root_inode)
        if root.kind != DIR:
            raise SquashFSError(f"root inode is a {root.kind}, not a directory")
        os.makedirs(self.root, exist_ok=True)
        visited = {self.image.sb.root_inode}
        stack: list[tuple[Inode, str, int]] = [(root, "", 0)]
        self._meta(self.root, root, "")
        while stack:
            node, rel, depth = stack.pop()
            try:
                entries = self.image.listing(node)
            except SquashFSError as exc:
                self.fail(rel, f"directory unreadable: {exc}")
                continue
            for entry in entries:
                self.entries += 1
                if self.entries > self.max_entries:
                    raise SquashFSError(f"more than {self.max_entries} directory entries")
                try:
                    name = _check_name(entry.name)
                    child_rel = f"{rel}/{name}" if rel else name
                    child = self.image.inode(entry.inode_ref)
                except SquashFSError as exc:
                    self.fail(rel, str(exc))
                    continue
                path = os.path.join(self.root, child_rel)
                if child.kind == DIR:
                    if entry.inode_ref in visited:
                        self.fail(child_rel, "directory loop: this directory was already listed")
                        continue
                    if depth + 1 > MAX_DEPTH:
                        self.fail(child_rel, f"directories nested deeper than {MAX_DEPTH}")
                        continue
                    visited.add(entry.inode_ref)
                    try:
                        os.mkdir(path, 0o700)
                    except FileExistsError:
                        self.fail(child_rel, "duplicate name in directory")
                        continue
                    self.result.dirs += 1
                    self._meta(path, child, child_rel)
                    stack.append((child, child_rel, depth + 1))
                else:
                    try:
                        self._leaf(child, entry.inode_ref, path, child_rel)
                    except SquashFSError as exc:
                        self.fail(child_rel, str(exc))
                    except FileExistsError:
                        self.fail(child_rel, "duplicate name in directory")
        self._check_links()
        for path, node in reversed(self.dir_modes):
            if self.set_owners:
                os.chown(path, node.uid, node.gid, follow_symlinks=False)
            os.chmod(path, (node.mode & 0o7777) | 0o700)
            os.utime(path, (node.mtime, node.mtime), follow_symlinks=False)

    def _meta(self, path: str, node: Inode, rel: str) -> None:
        if node.kind == DIR:
            self.dir_modes.append((path, node))
        try:
            attrs = self.image.xattrs(node.xattr)
        except SquashFSError as exc:
            self.fail(rel, f"extended attributes unreadable: {exc}")
            attrs = {}
        if attrs:
            self.result.xattrs["/" + rel] = attrs

    def _leaf(self, node: Inode, ref: int, path: str, rel: str) -> None:
        if node.kind == FILE:
            key = node.number if self.image.v >= 3 else ref
            first = self.links.get(key) if node.nlink > 1 or self.image.v < 3 else None
            if first is not None:
                os.link(first, path, follow_symlinks=False)
                self.result.hardlinks += 1
                return
            self._file(node, path)
            self.links[key] = path
            self._meta(path, node, rel)
        elif node.kind == SYMLINK:
            self._symlink(node, path, rel)
        else:
            major, minor = _device(node, self.image.v) if node.kind in (BLOCKDEV, CHARDEV) else (None, None)
            item = {"path": "/" + rel, "type": node.kind, "mode": oct(node.mode & 0o7777), "uid": node.uid,
                    "gid": node.gid}
            if major is not None:
                item.update(major=major, minor=minor)
            self.result.special.append(item)

    def _file(self, node: Inode, path: str) -> None:
        image = self.image
        bs = image.sb.block_size
        size = node.file_size
        if self.max_bytes is not None and self.result.bytes + size > self.max_bytes:
            raise SquashFSError(f"output would exceed {self.max_bytes} bytes")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            pos = node.blocks_start
            remaining = size
            sparse = False
            for stored in node.block_sizes:
                n = min(bs, remaining)
                length, _ = image.block_length(stored)
                if length == 0:
                    os.lseek(fd, n, os.SEEK_CUR)  # sparse block
                    sparse = True
                else:
                    data = image.block_data(pos, stored, n)
                    if len(data) < n:
                        raise SquashFSError(f"data block at {pos} gave {len(data)} of {n} bytes")
                    os.write(fd, data[:n] if len(data) > n else data)
                    pos += length
                remaining -= n
            if remaining > 0:
                if node.fragment == NO_FRAGMENT:
                    raise SquashFSError(f"file is {size} bytes but its blocks hold only {size - remaining}")
                frag = image.fragment_data(node.fragment)
                piece = frag[node.fragment_offset:node.fragment_offset + remaining]
                if len(piece) != remaining:
                    raise SquashFSError(f"fragment {node.fragment} too short for the file's tail")
                os.write(fd, piece)
            if sparse:
                os.ftruncate(fd, size)  # a sparse last block was only skipped over
            # Through the descriptor: no second path lookup per file.  Owner first: a change of owner clears
            # set-user-ID.
            if self.set_owners:
                os.fchown(fd, node.uid, node.gid)
            os.fchmod(fd, (node.mode & 0o7777) | 0o600)
            os.utime(fd, (node.mtime, node.mtime))
        except BaseException:
            os.close(fd)
            os.unlink(path)  # never leave a partial file that looks complete
            raise
        os.close(fd)
        self.result.files += 1
        self.result.bytes += size

    def _symlink(self, node: Inode, path: str, rel: str) -> None:
        raw = os.fsdecode(node.target)
        if not raw or "\0" in raw:
            raise SquashFSError("empty or invalid symlink target")
        link_dir = posixpath.dirname(rel)
        if raw.startswith("/"):
            inside = posixpath.normpath(raw.lstrip("/") or ".")
            target = posixpath.relpath(inside, link_dir or ".")
        else:
            inside = posixpath.normpath(posixpath.join(link_dir, raw))
            target = raw
        if inside == ".." or inside.startswith("../"):
            self.result.skipped.append({"path": "/" + rel, "type": "symlink", "target": raw,
                                        "reason": "target outside the image"})
            return
        os.symlink(target, path)
        self.made_links.append(path)
        self.result.symlinks += 1

    def _check_links(self) -> None:
        """Chains of links can still leave the output; remove any link that resolves outside it."""
        for path in self.made_links:
            real = os.path.realpath(path)
            if real != self.root and not real.startswith(self.root + os.sep):
                target = os.readlink(path)
                os.unlink(path)
                self.result.symlinks -= 1
                self.result.skipped.append({"path": "/" + os.path.relpath(path, self.root), "type": "symlink",
                                            "target": target, "reason": "resolves outside the image"})


def extract(
    source: str | os.PathLike,
    outdir: str | os.PathLike,
    *,
    offset: int = 0,
    manifest: str | os.PathLike | None = None,
    strict: bool = False,
    max_bytes: int | None = None,
    max_entries: int = 2_000_000,
) -> Result:
    """Extract the SquashFS image at `offset` of `source` into `outdir`.

    Structural damage (superblock, root directory, runaway sizes) raises
    SquashFSError.  Damage to single files is collected in Result.errors, or
    raised at once with strict=True.
    """
    started = time.monotonic()
    with Image(source, offset) as image:
        writer = _Writer(image, Path(outdir), strict, max_bytes, max_entries)
        writer.run()
        result = writer.result
        result.compression = image.decompress.name
    result.seconds = round(time.monotonic() - started, 3)
    if manifest is not None:
        from iotcop.files import write_atomic

        write_atomic(Path(manifest), json.dumps(result.manifest(), indent=1, sort_keys=True))
    return result
