"""The firmware model: built once by the inventory, read by every check.

Checks never walk the extracted tree or parse an ELF themselves; they ask the
`Firmware` object, which answers from the inventory and memoises anything
derived from file contents (so two checks reading /etc/passwd read it once).
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Protocol

FileKind = Literal["file", "dir", "symlink", "char", "block", "fifo", "socket"]

# Files larger than this are not read whole by content checks (a safety cap,
# not a correctness limit: checks that need more must stream).
MAX_READ_BYTES = 64 * 1024 * 1024
_CACHE_FILE_BYTES = 256 * 1024


BINARY_WINDOW = 8192  # a NUL byte this close to the start marks a file as binary


def looks_binary(data: bytes) -> bool:
    """Whether bytes are a binary file (an ELF, or a NUL near the start) rather than text to parse."""
    return data.startswith(b"\x7fELF") or b"\x00" in data[:BINARY_WINDOW]


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


class FirmwareObserver(Protocol):
    """Told every question a reader asks the Firmware and its answer (iotcop.cache records them to reuse results)."""

    def answered(self, fw: "Firmware", query: tuple, answer: Any) -> Any:
        """Return the answer to hand back (an iterator may be returned as a list it has read)."""
        ...


class Firmware:
    """The extracted image: every file, indexed by device path.

    Every public accessor reports its question and answer to the observer set with `observe()`
    (none by default), so a reader of the image cannot go around it; tests/test_firmware_model.py
    holds each public name to that.
    """

    def __init__(self, work_dir: Path, roots: list[str], entries: list[FileEntry],
                 partitions: list[str] | None = None) -> None:
        self._work_dir = work_dir
        self._roots = list(roots)  # root filesystem labels, primary first
        self._entries = entries
        self._partitions = list(partitions or [])  # other filesystems (configuration, data)
        # The content pass (firmware/content.py): scanner name -> {entry index: result}, and how each scanner fared.
        self._content: dict[str, dict[int, Any]] = {}
        self._content_status: dict[str, Any] = {}
        self._memo: dict = {}
        self._observer: FirmwareObserver | None = None
        self._index_of: dict[int, int] | None = None
        self._by_path: dict[str, FileEntry] = {}
        # The primary root wins when two partitions hold the same device path.
        for entry in reversed(entries):
            self._by_path[entry.path] = entry
        primary = self._roots[0] if self._roots else None
        for entry in entries:
            if entry.root == primary:
                self._by_path[entry.path] = entry

    def __repr__(self) -> str:
        return f"Firmware(roots={self._roots}, entries={len(self._entries)})"

    # -- observation ----------------------------------------------------
    def observe(self, observer: FirmwareObserver | None) -> None:
        """Report every later question to this observer (None: stop)."""
        self._observer = observer

    def _answer(self, query: tuple, answer: Any) -> Any:
        observer = self._observer
        return answer if observer is None else observer.answered(self, query, answer)

    # -- what the image is -----------------------------------------------
    @property
    def work_dir(self) -> Path:
        return self._answer(("work_dir",), self._work_dir)

    @property
    def roots(self) -> list[str]:
        return self._answer(("roots",), self._roots)

    @property
    def partitions(self) -> list[str]:
        return self._answer(("partitions",), self._partitions)

    @property
    def entries(self) -> list[FileEntry]:
        return self._answer(("entries",), self._entries)

    @property
    def file_count(self) -> int:
        return self._answer(("file_count",), sum(1 for e in self._entries if e.kind == "file"))

    # -- lookup ---------------------------------------------------------
    def _resolve(self, path: str) -> FileEntry | None:
        entry = self._by_path.get(path)
        seen = 0
        while entry is not None and entry.kind == "symlink" and seen < 16:
            target = entry.link_target or ""
            nxt = target if target.startswith("/") else posixpath.join(posixpath.dirname(entry.path), target)
            entry = self._by_path.get(posixpath.normpath(nxt))
            seen += 1
        return entry if entry is None or entry.kind != "symlink" else None

    def get(self, path: str) -> FileEntry | None:
        """The entry at a device path, following symlinks inside the image."""
        return self._answer(("get", path), self._resolve(path))

    def exists(self, path: str) -> bool:
        return self._answer(("exists", path), self._resolve(path) is not None)

    def files(self) -> Iterator[FileEntry]:
        """Regular files, in inventory order."""
        return self._answer(("files",), (e for e in self._entries if e.kind == "file"))

    def glob(self, pattern: str) -> Iterator[FileEntry]:
        """Entries whose device path matches a shell pattern ('/etc/init.d/*')."""
        return self._answer(("glob", pattern), (e for e in self._entries if fnmatch.fnmatchcase(e.path, pattern)))

    def by_name(self, *names: str) -> Iterator[FileEntry]:
        wanted = set(names)
        return self._answer(("by_name", *sorted(wanted)), (e for e in self._entries if e.name in wanted))

    def elf_files(self) -> Iterator[FileEntry]:
        return self._answer(("elf_files",), (e for e in self._entries if e.elf is not None))

    # -- content --------------------------------------------------------
    def read_bytes(self, path_or_entry: str | FileEntry, limit: int = MAX_READ_BYTES) -> bytes | None:
        entry = path_or_entry if isinstance(path_or_entry, FileEntry) else self._resolve(path_or_entry)
        self._answer(("read", _named(path_or_entry)), entry)
        return self._read(entry, limit)

    def read_text(self, path_or_entry: str | FileEntry, limit: int = MAX_READ_BYTES) -> str | None:
        entry = path_or_entry if isinstance(path_or_entry, FileEntry) else self._resolve(path_or_entry)
        self._answer(("read", _named(path_or_entry)), entry)
        data = self._read(entry, limit)
        return None if data is None else data.decode("utf-8", errors="replace")

    def _read(self, entry: FileEntry | None, limit: int) -> bytes | None:
        if entry is None or entry.kind != "file":
            return None
        key = ("bytes", entry.host_path, limit)
        if key in self._memo:
            return self._memo[key]
        try:
            with open(entry.host_path, "rb") as fh:
                data = fh.read(limit)
        except OSError:
            data = None
        # Keep small files (configs read by several checks); large ones would pin the whole image in memory.
        if data is None or len(data) <= _CACHE_FILE_BYTES:
            self._memo[key] = data
        return data

    def cached(self, key: str, compute: Callable[["Firmware"], Any]) -> Any:
        """A value derived from the image (parsed passwd, boot commands ...), computed once and then shared."""
        if key in self._memo:
            return self._answer(("cached", key), self._memo[key])
        self._answer(("cached", key), _ABSENT)  # computed here: what it reads is observed as it reads it
        value = self._memo[key] = compute(self)
        return value

    def peek_cached(self, key: str) -> Any:
        """The value `cached(key, ...)` would return without computing it, or "<absent>"."""
        return self._answer(("cached", key), self._memo.get(key, _ABSENT))

    # -- the content pass -----------------------------------------------
    def attach_content(self, results: dict[str, dict[int, Any]], status: dict[str, Any]) -> None:
        """What the inventory's content pass found (firmware/content.py), before any reader asks."""
        self._content, self._content_status = results, status

    def content_results(self, scanner, context=None) -> list[tuple[FileEntry, Any]]:
        """(entry, result) for every file where a content scanner found something, in inventory order.

        Answered from the inventory's content pass; when that pass did not include this scanner
        (a check run on its own, in a test) or stopped it, the files are read and scanned here
        with the scan context given (the default profile without one).
        """
        name = scanner.CONTENT_NAME
        # Not part of the pass, or stopped in it (its results are incomplete): scan here; a scanner that fails
        # again raises into the check that asked, which then reports an error instead of a partial answer.
        if name not in self._content or self._failure(name) is not None:
            if context is None:
                from iotcop.context import ScanContext

                context = ScanContext.default()
            found: dict[int, Any] = {}
            for index, entry in enumerate(self._entries):
                if entry.kind != "file":
                    continue
                limit = scanner.content_limit(entry, context)
                if limit <= 0:
                    continue
                data = self._read(entry, limit)
                if data is None:
                    continue
                result = scanner.scan_content(entry, data)
                if result is not None:
                    found[index] = result
            self._content[name] = found
            self._content_status.pop(name, None)
        results = self._content[name]
        return self._answer(("content_results", name), [(self._entries[i], results[i]) for i in sorted(results)])

    def content_for(self, name: str, entry: FileEntry) -> Any:
        """What the content pass's scanner `name` kept for this file (None: nothing, or not scanned)."""
        found = self._content.get(name)
        result = None
        if found:
            if self._index_of is None:
                self._index_of = {id(e): i for i, e in enumerate(self._entries)}
            i = self._index_of.get(id(entry))
            result = None if i is None else found.get(i)
        return self._answer(("content_for", name, _named(entry)), (entry, result))[1]

    def content_failure(self, name: str) -> tuple[str, str] | None:
        """(status, why) when the content pass stopped this scanner; None when it ran or was not part of it."""
        return self._answer(("content_failure", name), self._failure(name))

    def content_scanned(self, name: str) -> bool:
        """Whether the content pass ran this scanner over every file it wanted."""
        return self._answer(("content_scanned", name), name in self._content and self._failure(name) is None)

    def content_seconds(self, name: str) -> float:
        """Seconds the content pass spent in this scanner (0 when it was not part of it)."""
        status = self._content_status.get(name)
        return self._answer(("content_seconds", name), status.seconds if status is not None else 0.0)

    def content_report(self, name: str) -> Any:
        """How the content pass fared with this scanner (firmware.content.ScannerStatus), None when not part of it."""
        return self._answer(("content_report", name), self._content_status.get(name))

    def _failure(self, name: str) -> tuple[str, str] | None:
        status = self._content_status.get(name)
        if status is None or status.status == "ran":
            return None
        return status.status, status.error or status.status


_ABSENT = "<absent>"


def _named(path_or_entry: str | FileEntry | None) -> tuple[str | None, str] | None:
    """An entry as (root, device path): how a question about it is recorded."""
    if path_or_entry is None:
        return None
    if isinstance(path_or_entry, FileEntry):
        return path_or_entry.root, path_or_entry.path
    return None, path_or_entry
