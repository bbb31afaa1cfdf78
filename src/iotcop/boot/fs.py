"""The device's file tree as the boot chain sees it: the image plus what boot scripts put in place.

Paths resolve inside the image only: an absolute link target (`etc/passwd -> /var/passwd`) is looked up in
the image, never on the host, and every intermediate component is followed (`/usr/sbin/x` where `/usr/sbin`
is a link).  Boot scripts add links (`ln -s /app/usr/sbin/* /usr/sbin`), copies (`cp /app/passwd/* /etc/`)
and generated text (`echo ... >> /var/bewan/inittab.d/x`); those are layered over the image in the
order the walk meets them.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import stat
from dataclasses import dataclass, field

from iotcop.boot.model import removable_path as _removable_path
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.sbom.busybox import applet_table

MAX_TEXT_BYTES = 1024 * 1024
MAX_BINARY_BYTES = 16 * 1024 * 1024
KEPT_BINARY_BYTES = 48 * 1024 * 1024  # programs kept between the walk and the strings pass

# Persistent writable filesystems, and mount points that by convention hold removable media.
WRITABLE_FSTYPES = frozenset({"jffs2", "ubifs", "yaffs", "yaffs2", "ext2", "ext3", "ext4", "vfat", "msdos", "exfat",
                              "ntfs", "ntfs3", "fuseblk", "f2fs", "btrfs", "xfs", "overlay", "overlayfs", "nfs",
                              "cifs", "hfsplus"})
@dataclass
class Chunk:
    """Text a boot step wrote into a generated file, with the conditions it was written under."""

    text: str
    known: bool
    chain: tuple
    conditions: tuple


@dataclass
class Generated:
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c.text for c in self.chunks)


@dataclass
class Mount:
    target: str
    writable: bool
    removable: bool
    fstype: str | None


class BootFS:
    def __init__(self, fw: Firmware) -> None:
        self.fw = fw
        primary = fw.roots[0] if fw.roots else None
        self.entries: dict[str, FileEntry] = {}
        for entry in fw.entries:
            if not entry.path.startswith("/"):
                continue
            if entry.path in self.entries and entry.root != primary:
                continue
            self.entries[entry.path] = entry
        self.children: dict[str, set[str]] = {}
        for path in self.entries:
            self._add_child(path)
        self.links: dict[str, str] = {}  # boot-created symlink -> target
        self.copies: dict[str, str] = {}  # boot-created file -> the image path whose content it holds
        self.tree_copies: dict[str, str] = {}  # boot-created directory -> the directory copied into it
        self.generated: dict[str, Generated] = {}
        self.mounts: list[Mount] = []
        self._applets: dict[str, tuple[str, ...]] = {}
        self._binaries: dict[str, bytes | None] = {}  # oldest first
        self._binary_bytes = 0
        self._text: dict[str, str | None] = {}
        self._resolved: dict[tuple[str, str], str] = {}  # emptied when the boot chain adds a link or a tree copy

    def _add_child(self, path: str) -> None:
        while path != "/":
            parent = posixpath.dirname(path)
            names = self.children.setdefault(parent, set())
            if posixpath.basename(path) in names:
                break
            names.add(posixpath.basename(path))
            path = parent

    # -- resolution -------------------------------------------------------------------------------------
    def _link_target(self, path: str) -> str | None:
        if path in self.links:
            return self.links[path]
        entry = self.entries.get(path)
        if entry is not None and entry.kind == "symlink":
            return entry.link_target or ""
        return None

    def resolve(self, path: str, cwd: str = "/") -> str:
        """The device path a path designates after following every link (the path itself when none)."""
        key = (path, cwd)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = self._resolve(path, cwd)
        return found

    def _resolve(self, path: str, cwd: str) -> str:
        path = posixpath.normpath(posixpath.join(cwd, path)) if path else cwd
        for _ in range(40):
            parts = [p for p in path.split("/") if p]
            current = "/"
            changed = False
            for i, part in enumerate(parts):
                candidate = posixpath.join(current, part)
                mapped = self._tree_copy(candidate)
                if mapped is not None and mapped != candidate and candidate not in self.entries and candidate not in self.links:
                    candidate = mapped
                target = self._link_target(candidate)
                if target is not None:
                    base = posixpath.dirname(candidate)
                    rest = "/".join(parts[i + 1:])
                    new = posixpath.normpath(posixpath.join(base, target, rest) if rest else posixpath.join(base, target))
                    if new == path:
                        return path
                    path = new
                    changed = True
                    break
                current = candidate
            if not changed:
                return current if parts else "/"
        return path

    def _tree_copy(self, path: str) -> str | None:
        for dest, src in self.tree_copies.items():
            if path == dest or path.startswith(dest + "/"):
                return src + path[len(dest):]
        return None

    def content_path(self, path: str, cwd: str = "/") -> str:
        """Where the content of a path comes from: the image file behind links and boot-time copies."""
        resolved = self.resolve(path, cwd)
        for _ in range(16):
            if resolved in self.generated:
                return resolved
            source = self.copies.get(resolved)
            if source is None:
                return resolved
            resolved = self.resolve(source)
        return resolved

    def entry(self, path: str, cwd: str = "/") -> FileEntry | None:
        entry = self.entries.get(self.content_path(path, cwd))
        return entry if entry is not None and entry.kind != "symlink" else None

    def exists(self, path: str, cwd: str = "/") -> bool:
        real = self.content_path(path, cwd)
        return real in self.generated or real in self.entries or real in self.children

    def is_file(self, path: str, cwd: str = "/") -> bool:
        real = self.content_path(path, cwd)
        if real in self.generated:
            return True
        entry = self.entries.get(real)
        return entry is not None and entry.kind == "file"

    def is_dir(self, path: str, cwd: str = "/") -> bool:
        real = self.resolve(path, cwd)
        entry = self.entries.get(real)
        return (entry is not None and entry.kind == "dir") or (real in self.children and real not in self.generated)

    def is_executable(self, path: str, cwd: str = "/") -> bool:
        entry = self.entry(path, cwd)
        if entry is None:
            return self.content_path(path, cwd) in self.generated
        return entry.kind == "file" and bool(entry.mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))

    def listdir(self, path: str, cwd: str = "/") -> list[str]:
        real = self.resolve(path, cwd)
        names = set(self.children.get(real, ()))  # paths the boot chain creates are added there (_forget)
        src = self._tree_copy(real)
        if src is not None and src != real:
            names |= set(self.children.get(self.resolve(src), ()))
        return sorted(names)

    def glob(self, pattern: str, cwd: str = "/") -> list[str]:
        """Shell pathname expansion against the tree; [] when nothing matches."""
        absolute = pattern.startswith("/")
        parts = [p for p in pattern.split("/") if p]
        found = ["/" if absolute else ""]
        for i, part in enumerate(parts):
            nxt = []
            for base in found:
                directory = base or cwd
                if not _has_magic(part):
                    candidate = posixpath.join(base, part) if base else part
                    if i == len(parts) - 1 or self.exists(candidate, cwd) or True:
                        nxt.append(candidate)
                    continue
                for name in self.listdir(directory, cwd):
                    if name.startswith(".") and not part.startswith("."):
                        continue
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(posixpath.join(base, name) if base else name)
            found = nxt
            if len(found) > 4096:
                break
        return sorted(p for p in found if self.exists(p, cwd))

    # -- content ----------------------------------------------------------------------------------------
    def read_text(self, path: str, cwd: str = "/") -> str | None:
        real = self.content_path(path, cwd)
        gen = self.generated.get(real)
        if gen is not None:
            return gen.text
        if real in self._text:
            return self._text[real]
        entry = self.entries.get(real)
        text = None
        if entry is not None and entry.kind == "file":
            data = self.fw.read_bytes(entry, MAX_TEXT_BYTES)
            if data is not None and b"\x00" not in data[:4096]:
                text = data.decode("utf-8", errors="replace")
        self._text[real] = text
        return text

    def read_binary(self, path: str) -> bytes | None:
        entry = self.entry(path)
        if entry is None or entry.kind != "file":
            return None
        # The walk (applet tables) and the strings pass read the same programs: keep them, within a budget.
        if entry.path in self._binaries:
            return self._binaries[entry.path]
        data = self.fw.read_bytes(entry, MAX_BINARY_BYTES)
        size = len(data or b"")
        while self._binaries and self._binary_bytes + size > KEPT_BINARY_BYTES:
            self._binary_bytes -= len(self._binaries.pop(next(iter(self._binaries))) or b"")
        if size <= KEPT_BINARY_BYTES:
            self._binaries[entry.path] = data
            self._binary_bytes += size
        return data

    def is_elf(self, path: str, cwd: str = "/") -> bool:
        entry = self.entry(path, cwd)
        if entry is None:
            return False
        if entry.elf is not None or entry.magic == "elf":
            return True
        head = self.fw.read_bytes(entry, 4)
        return head == b"\x7fELF"

    def applets(self, path: str) -> tuple[str, ...]:
        """Applet names compiled into a BusyBox-style multicall binary ('' tuple when none are found)."""
        real = self.content_path(path)
        if real not in self._applets:
            names: tuple[str, ...] = ()
            entry = self.entries.get(real)
            if entry is not None and entry.kind == "file" and self.is_elf(real):
                data = self.read_binary(real) or b""
                if b"BusyBox v" in data:
                    names = tuple(applet_table(data))
            self._applets[real] = names
        return self._applets[real]

    # -- boot-time changes ------------------------------------------------------------------------------
    def add_link(self, link: str, target: str) -> None:
        self.links[link] = target
        self._resolved.clear()
        self._forget(link)

    def add_copy(self, dest: str, source: str, tree: bool = False) -> None:
        if tree:
            self.tree_copies[dest] = source
            self._resolved.clear()
        else:
            self.copies[dest] = source
        self._forget(dest)

    def write(self, path: str, chunk: Chunk, append: bool) -> None:
        real = self.resolve(path)
        gen = self.generated.get(real)
        if gen is None or not append:
            gen = Generated()
            if append:  # appending to an image file keeps its content
                base = self.read_text(real)
                if base:
                    gen.chunks.append(Chunk(base, True, chunk.chain, ()))
            self.generated[real] = gen
        gen.chunks.append(chunk)
        self.copies.pop(real, None)
        self._forget(real)

    def remove(self, path: str) -> None:
        real = self.resolve(path)
        self.generated.pop(real, None)
        self.copies.pop(real, None)
        self._forget(real)

    def _forget(self, path: str) -> None:
        self._text.pop(path, None)
        self._add_child(path)

    def add_mount(self, target: str, fstype: str | None, options: str, source: str | None) -> Mount:
        opts = set((options or "").split(","))
        persistent = (fstype or "").lower() in WRITABLE_FSTYPES or (
            fstype is None and bool(source) and re.search(r"/dev/(?:mtdblock|sd[a-z]|mmcblk|ubi)", source or "") is not None
            and "bind" not in opts)
        writable = persistent and "ro" not in opts
        removable = bool(re.search(r"/dev/(?:sd[a-z]|mmcblk\d+p)", source or "")) or _removable_path(target)
        mount = Mount(posixpath.normpath(target), writable, removable, fstype)
        self.mounts.append(mount)
        return mount

    def storage_of(self, path: str) -> Mount | None:
        """The writable or removable mount holding a path (the longest matching mount point), if any."""
        best = None
        for mount in self.mounts:
            target = mount.target.rstrip("/") or "/"
            if path == target or path.startswith(target + "/"):
                if best is None or len(target) > len(best.target):
                    best = mount
        if best is not None and (best.writable or best.removable):
            return best
        if best is None and _removable_path(path):
            return Mount(path.rsplit("/", 1)[0] or "/", True, True, None)
        return None


def _has_magic(part: str) -> bool:
    return any(c in part for c in "*?[")
