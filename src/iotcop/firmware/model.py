"""The firmware model: built once by the inventory, read by every check.

Checks never walk the extracted tree or parse an ELF themselves; they ask the
`Firmware` object, which answers from the inventory and caches anything
derived from file contents (so two checks reading /etc/passwd read it once).
"""

from __future__ import annotations

import fnmatch
import functools
import posixpath
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

FileKind = Literal["file", "dir", "symlink", "char", "block", "fifo", "socket"]

# Files larger than this are not read whole by content checks (a safety cap,
# not a correctness limit: checks that need more must stream).
MAX_READ_BYTES = 64 * 1024 * 1024
_CACHE_FILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class ElfInfo:
    arch: str  # "MIPS", "ARM", "AARCH64", "x86_64" ...
    bits: int
    endianness: Literal["little", "big"]
    elf_type: str  # "EXEC", "DYN", "REL", "CORE"
    interpreter: str | None
    needed: tuple[str, ...]
    imported: tuple[str, ...]
    exported_count: int
    nx: bool | None  # None when the file has no program headers (objects)
    pie: bool
    relro: Literal["full", "partial", "none"]
    canary: bool
    fortify: bool
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    stripped: bool
    static: bool


@dataclass(slots=True)
class FileEntry:
    """One extracted file as the device would see it."""

    path: str  # device path ("/etc/shadow"), or "<image>/..." outside a root filesystem
    host_path: Path  # where it lies in the work directory
    kind: FileKind
    size: int
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    root: str | None  # label of the root filesystem it belongs to; None outside one
    link_target: str | None = None
    sha256: str | None = None
    magic: str = "data"  # short content type: elf, script, text, pem, gzip, ... (see inventory)
    elf: ElfInfo | None = None

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def setuid(self) -> bool:
        return bool(self.mode & stat.S_ISUID)

    @property
    def setgid(self) -> bool:
        return bool(self.mode & stat.S_ISGID)

    @property
    def world_writable(self) -> bool:
        return bool(self.mode & stat.S_IWOTH)

    @property
    def world_readable(self) -> bool:
        return bool(self.mode & stat.S_IROTH)


@dataclass
class Firmware:
    """The extracted image: every file, indexed by device path."""

    work_dir: Path
    roots: list[str]  # root filesystem labels, primary first
    entries: list[FileEntry]
    partitions: list[str] = field(default_factory=list)  # other filesystems (configuration, data)
    # The content pass (firmware/content.py): scanner name -> {entry index: result}, and how each scanner fared.
    content: dict[str, dict[int, Any]] = field(default_factory=dict, repr=False)
    content_status: dict[str, Any] = field(default_factory=dict, repr=False)
    _by_path: dict[str, FileEntry] = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # The primary root wins when two partitions hold the same device path.
        for entry in reversed(self.entries):
            self._by_path[entry.path] = entry
        for entry in self.entries:
            if entry.root == (self.roots[0] if self.roots else None):
                self._by_path[entry.path] = entry

    # -- lookup ---------------------------------------------------------
    def get(self, path: str) -> FileEntry | None:
        """The entry at a device path, following symlinks inside the image."""
        entry = self._by_path.get(path)
        seen = 0
        while entry is not None and entry.kind == "symlink" and seen < 16:
            target = entry.link_target or ""
            nxt = target if target.startswith("/") else posixpath.join(posixpath.dirname(entry.path), target)
            entry = self._by_path.get(posixpath.normpath(nxt))
            seen += 1
        return entry if entry is None or entry.kind != "symlink" else None

    def exists(self, path: str) -> bool:
        return self.get(path) is not None

    def files(self) -> Iterator[FileEntry]:
        """Regular files, in inventory order."""
        return (e for e in self.entries if e.kind == "file")

    def glob(self, pattern: str) -> Iterator[FileEntry]:
        """Entries whose device path matches a shell pattern ('/etc/init.d/*')."""
        return (e for e in self.entries if fnmatch.fnmatchcase(e.path, pattern))

    def by_name(self, *names: str) -> Iterator[FileEntry]:
        wanted = set(names)
        return (e for e in self.entries if e.name in wanted)

    def elf_files(self) -> Iterator[FileEntry]:
        return (e for e in self.entries if e.elf is not None)

    # -- content --------------------------------------------------------
    def read_bytes(self, path_or_entry: str | FileEntry, limit: int = MAX_READ_BYTES) -> bytes | None:
        entry = path_or_entry if isinstance(path_or_entry, FileEntry) else self.get(path_or_entry)
        if entry is None or entry.kind != "file":
            return None
        key = ("bytes", entry.host_path, limit)
        if key in self._cache:
            return self._cache[key]
        try:
            with open(entry.host_path, "rb") as fh:
                data = fh.read(limit)
        except OSError:
            data = None
        # Keep small files (configs read by several checks); large ones would pin the whole image in memory.
        if data is None or len(data) <= _CACHE_FILE_BYTES:
            self._cache[key] = data
        return data

    def read_text(self, path_or_entry: str | FileEntry, limit: int = MAX_READ_BYTES) -> str | None:
        data = self.read_bytes(path_or_entry, limit)
        if data is None:
            return None
        return data.decode("utf-8", errors="replace")

    def cached(self, key: str, compute):
        """Memoise a value derived from the image (parsed passwd, boot commands ...)."""
        if key not in self._cache:
            self._cache[key] = compute(self)
        return self._cache[key]

    def content_results(self, scanner) -> list[tuple[FileEntry, Any]]:
        """(entry, result) for every file where a content scanner found something, in inventory order.

        Answered from the inventory's content pass; when that pass did not include this scanner
        (a check run on its own, in a test) or stopped it, the files are read and scanned here.
        """
        name = scanner.CONTENT_NAME
        entries = self.__dict__["entries"]  # not through a recording subclass's property: the results are the answer
        # Not part of the pass, or stopped in it (its results are incomplete): scan here; a scanner that fails
        # again raises into the check that asked, which then reports an error instead of a partial answer.
        if name not in self.content or self.content_failure(name) is not None:
            from iotcop.profiles import active_profile

            profile = active_profile(self)
            found: dict[int, Any] = {}
            for index, entry in enumerate(entries):
                if entry.kind != "file":
                    continue
                limit = scanner.content_limit(entry, profile)
                if limit <= 0:
                    continue
                data = self.read_bytes(entry, limit)
                if data is None:
                    continue
                result = scanner.scan_content(entry, data)
                if result is not None:
                    found[index] = result
            self.content[name] = found
        results = self.content[name]
        return [(entries[i], results[i]) for i in sorted(results)]

    def content_for(self, name: str, entry: FileEntry) -> Any:
        """What the content pass's scanner `name` kept for this file (None: nothing, or not scanned)."""
        found = self.content.get(name)
        if not found:
            return None
        index = self.__dict__.get("_index_of")
        if index is None:
            index = self.__dict__["_index_of"] = {id(e): i for i, e in enumerate(self.__dict__["entries"])}
        i = index.get(id(entry))
        return None if i is None else found.get(i)

    def content_failure(self, name: str) -> tuple[str, str] | None:
        """(status, why) when the content pass stopped this scanner; None when it ran or was not part of it."""
        status = self.content_status.get(name)
        if status is None or status.status == "ran":
            return None
        return status.status, status.error or status.status

    @functools.cached_property
    def file_count(self) -> int:
        return sum(1 for e in self.entries if e.kind == "file")
