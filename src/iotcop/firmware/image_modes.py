"""File modes and owners as the image records them, put back on the extracted tree after its extractor ran.

Several of unblob's extractors lose what the permission checks need (measured on one tree with set-user-ID,
set-group-ID, sticky and world-writable entries, made in each format by its own Debian tool):

    cpio (all four variants)  unblob writes files 0644 and directories without their special bits
    ext2/3/4 (debugfs rdump)  the owner is set after the mode, and the kernel then clears set-user-ID
    JFFS2 (jefferson)         directories get default modes, owners are not set
    UBIFS (ubi_reader)        nothing is kept without --keep-permissions, which fails unless run as root
    cramfs (7-Zip)            set-user-ID and set-group-ID are dropped, directories get default modes
    zip (7-Zip)               the Unix modes of the entries are not all applied

So each of those extractors is wrapped: after it has written the tree, the modes are read from the image
with a reader of the format (libarchive for cpio, the zip directory, debugfs for ext, jefferson's and
ubi_reader's parsers, a cramfs inode walk) and applied to the files it wrote: owner first (when running as
root), then the mode, so that set-user-ID survives.  unblob's own permission widening, which follows, is
recorded with the original modes (unblob_child.record_modes), and tree_safety removes the special bits from
the tree afterwards.  Only paths inside the chunk's output that are not symbolic links, and that no symbolic
link leads to, are touched.
"""

from __future__ import annotations

import os
import stat
import struct
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from unblob.models import Extractor, ExtractResult


@dataclass(frozen=True)
class ImageMode:
    path: str  # inside the image, "/"-separated, relative or absolute
    mode: int  # st_mode as the image has it (the file type bits are ignored)
    uid: int | None = None  # None: the format does not record it
    gid: int | None = None


Lister = Callable[[Path, Path], Iterable[ImageMode]]  # (chunk file, output folder) -> modes


def restore(outdir: Path, modes: Iterable[ImageMode]) -> int:
    """Apply modes (and owners, as root) to what the extractor wrote under outdir; returns how many were set."""
    top = os.path.realpath(outdir)
    as_root = os.geteuid() == 0
    done = 0
    for entry in modes:
        parts = [p for p in entry.path.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            continue
        target = os.path.join(top, *parts)
        try:
            st = os.lstat(target)
        except (OSError, ValueError):
            continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            continue
        if os.path.realpath(target) != target:  # a symbolic link on the way: it may lead out of the tree
            continue
        try:
            if as_root and entry.uid is not None and entry.gid is not None:
                os.chown(target, entry.uid, entry.gid, follow_symlinks=False)
            os.chmod(target, stat.S_IMODE(entry.mode))
            done += 1
        except OSError:
            continue
    return done


class ModeRestoringExtractor(Extractor):
    """An unblob extractor followed by `restore` with the modes a lister reads from the chunk."""

    def __init__(self, inner: Extractor, lister: Lister) -> None:
        self.inner = inner
        self.lister = lister

    def get_dependencies(self) -> list[str]:
        return self.inner.get_dependencies()

    def __getattr__(self, name: str):
        # What a handler reads from its extractor besides extract() (the cpio handlers' PARSER).
        return getattr(self.__dict__["inner"], name)

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult | None:
        result = self.inner.extract(inpath, outdir)
        try:
            restore(outdir, list(self.lister(inpath, outdir)))
        except Exception:  # noqa: BLE001 - a format reader that fails leaves the extractor's modes
            pass
        return result


# --- listers, one per format ---------------------------------------------------------------------


def archive_modes(inpath: Path, _outdir: Path) -> Iterator[ImageMode]:
    """cpio (binary, odc, newc, crc) through libarchive."""
    import libarchive

    with libarchive.file_reader(str(inpath)) as archive:
        for entry in archive:
            yield ImageMode(entry.pathname, entry.mode, entry.uid, entry.gid)


def zip_modes(inpath: Path, _outdir: Path) -> Iterator[ImageMode]:
    """Entries written on Unix carry their mode in the high half of the external attributes; others none."""
    with zipfile.ZipFile(inpath) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_IFMT(mode) in (stat.S_IFREG, stat.S_IFDIR):
                yield ImageMode(info.filename, mode)


def ext_modes(inpath: Path, outdir: Path) -> Iterator[ImageMode]:
    """`debugfs ls -p` for every directory rdump wrote, in one debugfs run."""
    folders = ["/"]
    for current, dirs, _ in os.walk(outdir):
        for name in dirs:
            rel = os.path.relpath(os.path.join(current, name), outdir)
            if '"' not in rel and "\n" not in rel:
                folders.append("/" + rel)
    commands = "".join(f'ls -p "{folder}"\n' for folder in folders)
    proc = subprocess.run(["debugfs", "-f", "-", str(inpath)], input=commands.encode("utf-8", "surrogateescape"),
                          capture_output=True, timeout=600)
    folder = None
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        if line.startswith("debugfs: ls -p "):
            folder = line[len("debugfs: ls -p "):].strip('"')
            continue
        fields = line.split("/")
        # /inode/mode/uid/gid/name/size/
        if folder is None or len(fields) != 8 or fields[5] in (".", "..", ""):
            continue
        try:
            mode, uid, gid = int(fields[2], 8), int(fields[3]), int(fields[4])
        except ValueError:
            continue
        yield ImageMode(f"{folder.rstrip('/')}/{fields[5]}", mode, uid, gid)


def jffs2_modes(inpath: Path, _outdir: Path) -> Iterator[ImageMode]:
    """jefferson's node scan: the newest inode version of each directory entry."""
    import contextlib
    import io

    from jefferson import jffs2

    content = inpath.read_bytes()
    endianness = ">" if content[:2] in (b"\x19\x85", b"\x19\x84") else "<"
    with contextlib.redirect_stdout(io.StringIO()):  # jefferson prints its progress
        jffs2.set_endianness(endianness)
        fs = jffs2.scan_fs(content, endianness)
    dirents = fs[jffs2.JFFS2_NODETYPE_DIRENT]
    inodes = fs[jffs2.JFFS2_NODETYPE_INODE]
    for dirent in dirents.values():
        names, parent, seen = [dirent.name], dirent.pino, set()
        while parent in dirents and parent not in seen and len(names) < 100:
            seen.add(parent)
            names.append(dirents[parent].name)
            parent = dirents[parent].pino
        versions = inodes.get(dirent.ino)
        if not versions:
            continue
        newest = max(versions, key=lambda inode: inode.version)
        path = "/".join(n.decode("utf-8", "surrogateescape") for n in reversed(names))
        yield ImageMode(path, newest.mode, newest.uid, newest.gid)


def ubifs_modes(inpath: Path, _outdir: Path) -> Iterator[ImageMode]:
    """ubi_reader's index walk, from the root inode down the directory entries."""
    from ubireader.ubi_io import ubi_file
    from ubireader.ubifs import ubifs as Ubifs
    from ubireader.ubifs import walk
    from ubireader.utils import guess_leb_size

    leb_size = guess_leb_size(str(inpath))
    if not leb_size:
        return
    image = Ubifs(ubi_file(str(inpath), leb_size))
    inodes: dict = {}
    walk.index(image, image.master_node.root_lnum, image.master_node.root_offs, inodes)
    stack = [("", 1)]
    seen = set()
    while stack:
        prefix, number = stack.pop()
        if number in seen:
            continue
        seen.add(number)
        for dent in inodes.get(number, {}).get("dent", []):
            node = inodes.get(dent.inum, {}).get("ino")
            if node is None:
                continue
            path = f"{prefix}/{dent.name}"
            yield ImageMode(path, node.mode, node.uid, node.gid)
            if stat.S_ISDIR(node.mode):
                stack.append((path, dent.inum))


CRAMFS_MAGIC = 0x28CD3D45
CRAMFS_ROOT = 64  # the root inode is the last field of the 76-byte superblock


def cramfs_modes(inpath: Path, _outdir: Path) -> Iterator[ImageMode]:
    """cramfs inodes (mode 16 bits, uid 16, gid 8), walked from the root directory.

    Written here because no maintained Python reader of cramfs exists, and `fsck.cramfs -v`, which lists the
    inodes, prints the mode without its set-user-ID and set-group-ID bits (0755 for a 04755 file).
    """
    data = inpath.read_bytes()
    if len(data) < CRAMFS_ROOT + 12:
        return
    endian = "<" if struct.unpack_from("<I", data)[0] == CRAMFS_MAGIC else ">"
    if struct.unpack_from(endian + "I", data)[0] != CRAMFS_MAGIC:
        return

    def inode(offset: int) -> tuple[int, int, int, int, int, int]:
        a, b, c = struct.unpack_from(endian + "III", data, offset)
        if endian == "<":
            mode, uid, size, gid, namelen, where = a & 0xFFFF, a >> 16, b & 0xFFFFFF, b >> 24, c & 0x3F, c >> 6
        else:
            mode, uid, size, gid, namelen, where = a >> 16, a & 0xFFFF, b >> 8, b & 0xFF, c >> 26, c & 0x3FFFFFF
        return mode, uid, gid, size, namelen * 4, where * 4

    stack = [("", CRAMFS_ROOT)]
    visited = set()
    while stack:
        prefix, offset = stack.pop()
        mode, _, _, size, _, start = inode(offset)
        if not stat.S_ISDIR(mode) or start in visited or start + size > len(data):
            continue
        visited.add(start)
        position = start
        while position + 12 <= start + size:
            child_mode, uid, gid, _, name_bytes, _ = inode(position)
            name = data[position + 12:position + 12 + name_bytes].rstrip(b"\0").decode("utf-8", "surrogateescape")
            path = f"{prefix}/{name}"
            yield ImageMode(path, child_mode, uid, gid)
            if stat.S_ISDIR(child_mode):
                stack.append((path, position))
            position += 12 + name_bytes


# unblob handler name -> the lister of its format
LISTERS: dict[str, Lister] = {
    "cpio_binary": archive_modes, "cpio_portable_old_ascii": archive_modes, "cpio_portable_ascii": archive_modes,
    "cpio_portable_ascii_crc": archive_modes, "zip": zip_modes, "extfs": ext_modes, "jffs2_old": jffs2_modes,
    "jffs2_new": jffs2_modes, "ubifs": ubifs_modes, "cramfs": cramfs_modes,
}
