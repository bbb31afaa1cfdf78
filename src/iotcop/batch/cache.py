"""Content-addressed analysis cache.

Two granularities, both keyed by content rather than by file names or dates:

* Whole images: an assessment stored under (image sha256, scan key).  The scan key
  covers the tool version, the selected checks and their versions, and the
  vulnerability database in use, so a changed input never returns an old result.
* Check runs: while a check runs in its forked child, every question it asks the
  Firmware (get, glob, files, by_name, elf_files, entries, cached values) is
  recorded together with a digest of the answer (paths, types, modes, owners and
  sha256 of every entry returned).  The run is stored under (check id, check
  version, environment) with that trace.  On the next image the trace is replayed
  against the new inventory: if every answer has the same digest, the check would
  read exactly the same bytes and metadata, so its stored run is reused without
  forking it.  A check that enumerates every file (fw.files()) therefore re-runs
  whenever any file changed; one that reads /etc/passwd re-runs only when that file
  (or its absence) changed.
* Files: what a content scanner (firmware/content.py: compiled-in passwords, tokens, private
  keys, version strings ...) found in one file, under (file sha256, scanner, scanner key).  The
  key covers the scanner's code, options and byte limit, so a new firmware version has only its
  changed files scanned; the checks then put their findings together from the per-file results.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from iotcop import __version__
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import CheckRun

# A check run is kept for reuse only when it took at least this long: a cheaper check runs again faster
# than its recorded inputs can be checked (content checks are cheap; their per-file work is cached per file).
MIN_REUSE_SECONDS = 0.5
MAX_TRACES_PER_CHECK = 16  # distinct input sets remembered per (check, version, environment)
_UNSTABLE_REPR = " at 0x"  # an object whose repr names its address cannot be compared across runs


def default_cache_dir() -> Path:
    env = os.environ.get("IOTCOP_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iotcop" / "analysis"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _value_digest(value: Any) -> str | None:
    text = repr(value)
    if _UNSTABLE_REPR in text:
        return None
    return hashlib.sha256(text.encode()).hexdigest()


# -- recording in the check's child process ---------------------------------
# What a check can learn about an entry, attribute by attribute.  `path` and `root` name the entry (its
# identity); reading the content (read_bytes, host_path) is recorded as the entry's sha256.
_ENTRY_FACTS = ("kind", "size", "mode", "uid", "gid", "link_target", "sha256", "magic", "elf")


def _identity(entry: FileEntry | None) -> list | None:
    if entry is None:
        return None
    return [FileEntry.root.__get__(entry), FileEntry.path.__get__(entry)]


def _identities_digest(entries) -> str:
    return _digest([_identity(e) for e in entries])


def _content_digest(found) -> str:
    return _digest([[_identity(entry), FileEntry.sha256.__get__(entry), result] for entry, result in found])


def _fact(entry: FileEntry, name: str) -> str:
    """A short token for one fact of an entry: the value itself for scalars, a hash for ELF facts.

    Checks read thousands of facts (type, size, content of every text file ...); a token per fact
    that needs no JSON encoding or hashing keeps recording and replaying them cheap.
    """
    if name == "content":
        return f"c:{FileEntry.sha256.__get__(entry)}"
    value = getattr(FileEntry, name).__get__(entry)
    if name == "elf":
        return "e:" + hashlib.sha256(repr(value).encode()).hexdigest()[:32]
    return repr(value)


class _Recorder:
    def __init__(self) -> None:
        self._answers: dict[tuple, str | None] = {}
        self.cacheable = True

    def note(self, query: list, digest: str | None) -> None:
        if digest is None:
            self.cacheable = False
        self._answers.setdefault(tuple(query) if query[0] != "by_name" else (query[0], tuple(query[1])), digest)

    def fact(self, entry: FileEntry, name: str) -> None:
        key = ("fact", FileEntry.root.__get__(entry), FileEntry.path.__get__(entry), name)
        if key not in self._answers:
            self._answers[key] = _fact(entry, name)

    @property
    def answers(self) -> dict[str, str | None]:
        return {json.dumps([k[0], list(k[1])] if k[0] == "by_name" else list(k)): d for k, d in self._answers.items()}


def _traced_fact(name: str) -> property:
    slot = getattr(FileEntry, name)

    def read(self):
        type(self)._recorder.fact(self, name)
        return slot.__get__(self)

    return property(read)


class TracingFirmware(Firmware):
    """A Firmware that records what a check asked; installed only in a forked child."""

    _recorder: _Recorder

    @property
    def entries(self):  # type: ignore[override]
        raw = self.__dict__["entries"]
        self._recorder.note(["entries"], _identities_digest(raw))
        return raw

    def _raw(self):
        return self.__dict__["entries"]

    @property
    def roots(self):  # type: ignore[override]
        self._recorder.note(["roots"], _digest(self.__dict__["roots"]))
        return self.__dict__["roots"]

    @property
    def partitions(self):  # type: ignore[override]
        self._recorder.note(["partitions"], _digest(self.__dict__["partitions"]))
        return self.__dict__["partitions"]

    @property
    def work_dir(self):  # type: ignore[override]
        self._recorder.note(["work_dir"], None)  # reading the tree directly: nothing to compare, never reused
        return self.__dict__["work_dir"]

    def get(self, path: str):
        entry = Firmware.get(self, path)
        self._recorder.note(["get", path], _digest(_identity(entry)))
        return entry

    def files(self):
        found = [e for e in self._raw() if FileEntry.kind.__get__(e) == "file"]
        self._recorder.note(["files"], _identities_digest(found))
        return iter(found)

    def glob(self, pattern: str):
        import fnmatch

        found = [e for e in self._raw() if fnmatch.fnmatchcase(FileEntry.path.__get__(e), pattern)]
        self._recorder.note(["glob", pattern], _identities_digest(found))
        return iter(found)

    def by_name(self, *names: str):
        wanted = set(names)
        found = [e for e in self._raw() if FileEntry.path.__get__(e).rsplit("/", 1)[-1] in wanted]
        self._recorder.note(["by_name", sorted(wanted)], _identities_digest(found))
        return iter(found)

    def elf_files(self):
        found = [e for e in self._raw() if FileEntry.elf.__get__(e) is not None]
        self._recorder.note(["elf_files"], _identities_digest(found))
        return iter(found)

    def read_bytes(self, path_or_entry, limit=None):
        entry = path_or_entry if isinstance(path_or_entry, FileEntry) else self.get(path_or_entry)
        if entry is not None:
            self._recorder.fact(entry, "content")
        return Firmware.read_bytes(self, entry if entry is not None else path_or_entry,
                                   *(() if limit is None else (limit,)))

    def content_results(self, scanner):
        # The per-file results stand for the bytes of the files they name (each result is a function of them).
        found = Firmware.content_results(self, scanner)
        self._recorder.note(["content", scanner.CONTENT_NAME], _content_digest(found))
        return found

    def content_for(self, name, entry):
        self._recorder.fact(entry, "content")  # what a scanner kept for a file is a function of its bytes
        return Firmware.content_for(self, name, entry)

    def cached(self, key: str, compute):
        store = self.__dict__["_cache"]
        if key in store and key not in self.__dict__.get("_computed_here", ()):
            # Computed before the fork: depend on the value itself.
            self._recorder.note(["cached", key], _value_digest(store[key]))
            return store[key]
        if key not in store:
            # Computed here, under tracing: its reads are recorded as the check's own.  That the scan did not
            # provide it (a declaration, for one) is an input too: a scan that provides it must not reuse this.
            self._recorder.note(["cached", key], "<absent>")
            store[key] = compute(self)
            self.__dict__.setdefault("_computed_here", set()).add(key)
        return store[key]


def start_tracing(fw: Firmware) -> _Recorder:
    """Turn this (forked) process's Firmware and entries into recording ones; returns the recorder."""
    recorder = _Recorder()
    attrs = {name: _traced_fact(name) for name in _ENTRY_FACTS}
    host_slot = FileEntry.host_path

    def host_path(self):
        recorder.fact(self, "content")  # opening the file directly reads its content
        return host_slot.__get__(self)

    attrs.update(__slots__=(), _recorder=recorder, host_path=property(host_path))
    tracing_entry = type("TracingEntry", (FileEntry,), attrs)
    for entry in fw.__dict__["entries"]:
        entry.__class__ = tracing_entry
    fw.__class__ = TracingFirmware
    fw._recorder = recorder  # type: ignore[attr-defined]
    return recorder


# -- replay in the scanning process -----------------------------------------
class _Replayer:
    """Answers recorded questions against a new inventory, each question once per scan."""

    def __init__(self, fw: Firmware) -> None:
        self.fw = fw
        self.memo: dict[str, str | None] = {}
        self._index: dict[tuple, FileEntry] | None = None

    def digest(self, query_text: str) -> str | None:
        if query_text not in self.memo:
            self.memo[query_text] = self._answer(json.loads(query_text))
        return self.memo[query_text]

    def _entry(self, root, path) -> FileEntry | None:
        if self._index is None:
            self._index = {}
            for e in self.fw.entries:
                self._index.setdefault((e.root, e.path), e)
        return self._index.get((root, path))

    def _answer(self, query: list) -> str | None:
        fw, kind = self.fw, query[0]
        if kind == "fact":
            entry = self._entry(query[1], query[2])
            return "<gone>" if entry is None else _fact(entry, query[3])
        if kind == "get":
            return _digest(_identity(fw.get(query[1])))
        if kind == "files":
            return _identities_digest(fw.files())
        if kind == "glob":
            return _identities_digest(fw.glob(query[1]))
        if kind == "by_name":
            return _identities_digest(fw.by_name(*query[1]))
        if kind == "elf_files":
            return _identities_digest(fw.elf_files())
        if kind == "entries":
            return _identities_digest(fw.entries)
        if kind == "roots":
            return _digest(fw.roots)
        if kind == "partitions":
            return _digest(fw.partitions)
        if kind == "content":
            if query[1] not in fw.content:
                return "<not scanned>"
            return _content_digest([(fw.entries[i], r) for i, r in sorted(fw.content[query[1]].items())])
        if kind == "cached":
            store = fw._cache
            return _value_digest(store[query[1]]) if query[1] in store else "<absent>"
        return "<unknown query>"

    def matches(self, answers: dict[str, str | None]) -> bool:
        return all(d is not None and self.digest(q) == d for q, d in answers.items())


def _source_digest(cls: type) -> str:
    """The check's own code: a changed module is a changed check even if VERSION was not bumped."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else "?"
    except OSError:
        return "?"


def vulndb_fingerprint() -> str:
    try:
        from iotcop.vulns.db import active_db_path

        path = active_db_path()
    except Exception:  # noqa: BLE001 - no database module or no database: nothing to fingerprint
        return "none"
    if path is None or not Path(path).is_file():
        return "none"
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def cacheable(cls: type) -> bool:
    # A declaration is not part of the image; checks comparing against it are never reused.
    return not getattr(cls, "NEEDS_DECLARATION", False)


def check_environment(cls: type) -> str:
    parts = [__version__, _source_digest(cls)]
    if cls.ID.split(".")[0] == "vulns":
        parts.append(vulndb_fingerprint())
    return _digest(parts)[:32]


class AnalysisCache:
    """The store behind both granularities; safe for several processes on one machine (SQLite WAL)."""

    def __init__(self, directory: Path | None = None, min_reuse_seconds: float = MIN_REUSE_SECONDS) -> None:
        self.min_reuse_seconds = min_reuse_seconds
        self.directory = Path(directory) if directory else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "cache.sqlite"
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self.file_hits = 0
        with self._conn() as conn:
            conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS check_runs (
                    check_id TEXT, version TEXT, env TEXT, trace_digest TEXT, trace TEXT, run TEXT,
                    created REAL, used REAL,
                    PRIMARY KEY (check_id, version, env, trace_digest));
                CREATE TABLE IF NOT EXISTS check_costs (
                    check_id TEXT, version TEXT, env TEXT, seconds REAL,
                    PRIMARY KEY (check_id, version, env));
                CREATE TABLE IF NOT EXISTS file_results (
                    sha256 TEXT, scanner TEXT, key TEXT, result TEXT, used REAL,
                    PRIMARY KEY (sha256, scanner, key));
                CREATE TABLE IF NOT EXISTS images (
                    sha256 TEXT, scan_key TEXT, assessment TEXT, created REAL,
                    PRIMARY KEY (sha256, scan_key));
                """
            )

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        yield conn

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "path": self.path, "hits": self.hits, "misses": self.misses,
                "file_hits": self.file_hits, "min_reuse_seconds": self.min_reuse_seconds}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    # -- check runs -----------------------------------------------------
    def replayer(self, fw: Firmware) -> _Replayer:
        return _Replayer(fw)

    def worth_tracing(self, cls: type) -> bool:
        """Whether to record this check's inputs: not when its last traced run was cheaper than replaying it."""
        if not cacheable(cls):
            return False
        with self._conn() as conn:
            row = conn.execute("SELECT seconds FROM check_costs WHERE check_id=? AND version=? AND env=?",
                               (cls.ID, cls.VERSION, check_environment(cls))).fetchone()
        return row is None or row[0] >= self.min_reuse_seconds

    def lookup(self, cls: type, replayer: _Replayer) -> CheckRun | None:
        if not self.worth_tracing(cls):
            self.misses += 1  # it runs again, untraced
            return None
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT trace_digest, trace, run FROM check_runs WHERE check_id=? AND version=? AND env=? "
                "ORDER BY used DESC", (cls.ID, cls.VERSION, check_environment(cls))).fetchall()
            for trace_digest, trace, run in rows:
                if replayer.matches(json.loads(trace)):
                    conn.execute("UPDATE check_runs SET used=? WHERE check_id=? AND version=? AND env=? AND "
                                 "trace_digest=?", (time.time(), cls.ID, cls.VERSION, check_environment(cls),
                                                    trace_digest))
                    self.hits += 1
                    reused = CheckRun.model_validate_json(run)
                    reused.seconds = 0.0  # what it cost this scan
                    return reused
        self.misses += 1
        return None

    def store(self, cls: type, answers: dict[str, str | None], run: CheckRun) -> bool:
        if not cacheable(cls) or run.status != "ran" or any(d is None for d in answers.values()):
            return False
        env = check_environment(cls)
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO check_costs VALUES (?,?,?,?)", (cls.ID, cls.VERSION, env, run.seconds))
        if run.seconds < self.min_reuse_seconds:
            return False  # rerunning it costs less than recording, storing and replaying its inputs
        trace = json.dumps(answers, sort_keys=True)
        now = time.time()
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO check_runs VALUES (?,?,?,?,?,?,?,?)",
                         (cls.ID, cls.VERSION, env, hashlib.sha256(trace.encode()).hexdigest(), trace,
                          run.model_dump_json(), now, now))
            conn.execute(
                "DELETE FROM check_runs WHERE check_id=? AND version=? AND env=? AND trace_digest NOT IN "
                "(SELECT trace_digest FROM check_runs WHERE check_id=? AND version=? AND env=? "
                "ORDER BY used DESC LIMIT ?)",
                (cls.ID, cls.VERSION, env, cls.ID, cls.VERSION, env, MAX_TRACES_PER_CHECK))
        return True

    # -- files ------------------------------------------------------------
    def get_many(self, sha256: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        """Stored per-file results for one file content: {(scanner, key): result}."""
        if not keys:
            return {}
        wanted = set(keys)
        with self._conn() as conn:
            rows = conn.execute("SELECT scanner, key, result FROM file_results WHERE sha256=?", (sha256,)).fetchall()
        out = {}
        for scanner, key, result in rows:
            if (scanner, key) in wanted:
                out[(scanner, key)] = json.loads(result)
        self.file_hits += len(out)
        return out

    def put_many(self, rows: list[tuple[str, str, str, Any]]) -> None:
        now = time.time()
        with self._conn() as conn:
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO file_results VALUES (?,?,?,?,?)",
                             [(sha, scanner, key, json.dumps(result), now) for sha, scanner, key, result in rows])
            conn.execute("COMMIT")

    # -- whole images -----------------------------------------------------
    def get_image(self, sha256: str, scan_key: str) -> dict | None:
        with self._conn() as conn:
            row = conn.execute("SELECT assessment FROM images WHERE sha256=? AND scan_key=?",
                               (sha256, scan_key)).fetchone()
        return json.loads(row[0]) if row else None

    def put_image(self, sha256: str, scan_key: str, assessment: dict) -> None:
        with self._conn() as conn:
            conn.execute("INSERT OR REPLACE INTO images VALUES (?,?,?,?)",
                         (sha256, scan_key, json.dumps(assessment), time.time()))

    def stats(self) -> dict:
        with self._conn() as conn:
            runs = conn.execute("SELECT COUNT(*) FROM check_runs").fetchone()[0]
            images = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            files = conn.execute("SELECT COUNT(*) FROM file_results").fetchone()[0]
        return {"path": str(self.path), "check_runs": runs, "images": images, "file_results": files}


def scan_key(only_checks: tuple[str, ...] = (), profile: str | None = None) -> str:
    """What a whole-image result depends on besides the image bytes."""
    from iotcop.profiles import get_profile
    from iotcop.scan import select_checks

    checks = sorted((c.ID, c.VERSION, _source_digest(c)) for c in select_checks(only_checks))
    return _digest([__version__, checks, vulndb_fingerprint(), repr(get_profile(profile))])[:32]


def file_result_store() -> "AnalysisCache | None":
    """The cache in use for this scan (see using()), whose per-file results the inventory reads and fills."""
    from iotcop.checks import runner

    return runner.analysis_cache


@contextlib.contextmanager
def using(cache: AnalysisCache | None) -> Iterator[AnalysisCache | None]:
    """Let the check runner answer from (and fill) this cache for the scans inside the block."""
    from iotcop.checks import runner

    previous = runner.analysis_cache
    runner.analysis_cache = cache
    try:
        yield cache
    finally:
        runner.analysis_cache = previous
