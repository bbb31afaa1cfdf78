"""The content pass: each extracted file is read once, and its bytes go to every scanner that wants them.

The inventory reads every regular file to hash it, sniff its type and parse its ELF
header.  Checks that search file contents (compiled-in passwords, tokens, private
keys, version strings ...) are `ContentScanner`s: while a file's bytes are in memory
the inventory hands them to each scanner whose `content_limit()` asks for that file,
and keeps the (small, JSON-able) result.  A check's `run()` then reads those per-file
results instead of the files.

Because a result depends only on a file's bytes (and the scanner's code and options),
results can be cached per file under (sha256, scanner, key): a new firmware version
re-scans only the files that changed (see iotcop.cache.store.AnalysisCache).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from iotcop.context import ScanContext
    from iotcop.firmware.model import FileEntry


class ContentScanner:
    """Something that looks at the bytes of (some) files during the inventory."""

    CONTENT_NAME: ClassVar[str] = ""  # unique; checks use "check:<ID>"
    CONTENT_BUDGET: ClassVar[float] = 120.0  # seconds of scanning over the whole image before it is stopped
    CONTENT_CACHEABLE: ClassVar[bool] = True  # results go to the per-file cache

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        """How many bytes of this file the scanner needs (0: not this file). Decided from metadata only."""
        return 0

    def scan_content(self, entry: FileEntry, data: bytes) -> Any:
        """A JSON-able result for these bytes, or None when there is nothing to report.

        The result must depend only on `data` (and what the inventory derived from it: magic,
        elf) and on `content_variant(entry)`; decisions by path belong in content_limit() or run(),
        so that a cached result is right for every file with the same bytes.
        """
        raise NotImplementedError

    def content_variant(self, entry: FileEntry) -> str:
        """Anything besides the bytes that the result depends on (part of the cache key)."""
        return ""

    def content_key(self, ctx: ScanContext) -> str:
        """The scanner's code and options: a cached result is reused only under the same key."""
        module = sys.modules.get(type(self).__module__)
        path = getattr(module, "__file__", None)
        try:
            source = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else "?"
        except OSError:
            source = "?"
        return f"{getattr(self, 'VERSION', '0')}:{source}:{ctx.profile.name}"


@dataclass
class ScannerStatus:
    """How a scanner fared in the content pass."""

    seconds: float = 0.0
    files: int = 0  # files it scanned (cache hits excluded)
    cached: int = 0  # files answered from the per-file cache
    status: str = "ran"  # ran | error | timeout
    error: str | None = None


class FileResultStore(Protocol):
    """Per-file results by content (iotcop.cache.store.AnalysisCache implements it)."""

    def get_many(self, sha256: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]: ...
    def put_many(self, rows: list[tuple[str, str, str, Any]]) -> None: ...


@dataclass
class ContentPass:
    """What the inventory should do with file contents besides hashing them."""

    context: ScanContext
    scanners: list[ContentScanner] = field(default_factory=list)
    budgets: dict[str, float] = field(default_factory=dict)  # scanner name -> seconds (profile overrides)
    jobs: int | None = None

    @property
    def store(self) -> FileResultStore | None:
        return self.context.cache

    def budget(self, scanner: ContentScanner) -> float:
        return self.budgets.get(scanner.CONTENT_NAME, scanner.CONTENT_BUDGET)


class Scanning:
    """The state of one content pass inside one inventory process (a worker or the scanning process)."""

    def __init__(self, plan: ContentPass) -> None:
        import time

        self._clock = time.perf_counter
        self.plan = plan
        self.scanners = list(plan.scanners)
        self.keys = {s.CONTENT_NAME: s.content_key(plan.context) for s in self.scanners}
        self.status = {s.CONTENT_NAME: ScannerStatus() for s in self.scanners}
        self.results: dict[str, dict[int, Any]] = {s.CONTENT_NAME: {} for s in self.scanners}
        self.new_rows: list[tuple[str, str, str, Any]] = []  # for the per-file cache

    def wanted(self, entry: FileEntry) -> list[tuple[ContentScanner, int]]:
        out = []
        for s in self.scanners:
            if self.status[s.CONTENT_NAME].status != "ran":
                continue
            limit = s.content_limit(entry, self.plan.context)
            if limit > 0:
                out.append((s, limit))
        return out

    def _cache_key(self, s: ContentScanner, entry: FileEntry, limit: int) -> tuple[str, str]:
        variant = s.content_variant(entry)
        return s.CONTENT_NAME, f"{self.keys[s.CONTENT_NAME]}:{limit}:{variant}"

    def scan(self, index: int, entry: FileEntry, data: bytes, wanted: list[tuple[ContentScanner, int]]) -> None:
        todo = wanted
        if self.plan.store is not None and entry.sha256:
            keys = {s.CONTENT_NAME: self._cache_key(s, entry, limit) for s, limit in wanted if s.CONTENT_CACHEABLE}
            try:
                hits = self.plan.store.get_many(entry.sha256, list(keys.values()))
            except Exception:  # noqa: BLE001 - a broken cache only costs speed
                hits = {}
            todo = []
            for s, limit in wanted:
                key = keys.get(s.CONTENT_NAME)
                if key is not None and key in hits:
                    self.status[s.CONTENT_NAME].cached += 1
                    if hits[key] is not None:
                        self.results[s.CONTENT_NAME][index] = hits[key]
                else:
                    todo.append((s, limit))
        for s, limit in todo:
            st = self.status[s.CONTENT_NAME]
            if st.status != "ran":
                continue
            start = self._clock()
            try:
                result = s.scan_content(entry, data[:limit] if len(data) > limit else data)
            except Exception as exc:  # noqa: BLE001 - one scanner's bug must not stop the inventory
                st.status, st.error = "error", f"{type(exc).__name__}: {exc} (scanning {entry.path})"
                continue
            finally:
                st.seconds += self._clock() - start
            st.files += 1
            if result is not None:
                self.results[s.CONTENT_NAME][index] = result
            if self.plan.store is not None and entry.sha256 and s.CONTENT_CACHEABLE:
                name, key = self._cache_key(s, entry, limit)
                self.new_rows.append((entry.sha256, name, key, result))
            if st.seconds > self.plan.budget(s):
                st.status, st.error = "timeout", f"stopped after its time budget of {self.plan.budget(s):g} s"

    def merge(self, other: "Scanning") -> None:
        for name, st in other.status.items():
            mine = self.status[name]
            mine.seconds += st.seconds
            mine.files += st.files
            mine.cached += st.cached
            if st.status != "ran" and mine.status == "ran":
                mine.status, mine.error = st.status, st.error
            self.results[name].update(other.results[name])
        self.new_rows.extend(other.new_rows)

    def export(self) -> dict:
        return {"status": self.status, "results": self.results, "rows": self.new_rows}

    def absorb(self, exported: dict) -> None:
        other = Scanning.__new__(Scanning)
        other.status, other.results, other.new_rows = exported["status"], exported["results"], exported["rows"]
        self.merge(other)

    def fail_all(self, status: str, why: str) -> None:
        for st in self.status.values():
            if st.status == "ran":
                st.status, st.error = status, why
