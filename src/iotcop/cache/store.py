"""Content-addressed analysis cache.

Two granularities, both keyed by content rather than by file names or dates:

* Whole images: an assessment stored under (image sha256, scan key).  The scan key
  covers the tool version, the selected checks and their versions, and the
  vulnerability database in use, so a changed input never returns an old result.
* Check runs: while a check runs in its forked child, every question it asks the
  Firmware is recorded with a digest of the answer (iotcop.cache.trace).  The run is
  stored under (check id, check version, environment) with that trace.  On the next
  image the trace is replayed against the new inventory: if every answer has the same
  digest, the check would read exactly the same bytes and metadata, so its stored run
  is reused without forking it.  A check that enumerates every file (fw.files())
  therefore re-runs whenever any file changed; one that reads /etc/passwd re-runs only
  when that file (or its absence) changed.
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
from typing import TYPE_CHECKING, Any, Iterator

from iotcop import __version__
from iotcop.cache.trace import Replayer
from iotcop.model import CheckRun

if TYPE_CHECKING:
    from iotcop.context import ScanContext

# A check run is kept for reuse only when it took at least this long: a cheaper check runs again faster
# than its recorded inputs can be checked (content checks are cheap; their per-file work is cached per file).
MIN_REUSE_SECONDS = 0.5
MAX_TRACES_PER_CHECK = 16  # distinct input sets remembered per (check, version, environment)


def default_cache_dir() -> Path:
    env = os.environ.get("IOTCOP_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iotcop" / "analysis"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def source_digest(cls: type) -> str:
    """The check's own code: a changed module is a changed check even if VERSION was not bumped."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path else "?"
    except OSError:
        return "?"


def check_environment(cls: type, context: ScanContext) -> str:
    """What a check's result depends on besides the firmware: its code, what it declares (a database), the context."""
    return _digest([__version__, source_digest(cls), cls.environment(), context.fingerprint(cls.ID)])[:32]


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
    def worth_tracing(self, cls: type, context: ScanContext) -> bool:
        """Whether to record this check's inputs: not when its last traced run was cheaper than replaying it."""
        with self._conn() as conn:
            row = conn.execute("SELECT seconds FROM check_costs WHERE check_id=? AND version=? AND env=?",
                               (cls.ID, cls.VERSION, check_environment(cls, context))).fetchone()
        return row is None or row[0] >= self.min_reuse_seconds

    def lookup(self, cls: type, context: ScanContext, replayer: Replayer) -> CheckRun | None:
        env = check_environment(cls, context)
        if not self.worth_tracing(cls, context):
            self.misses += 1  # it runs again, untraced
            return None
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT trace_digest, trace, run FROM check_runs WHERE check_id=? AND version=? AND env=? "
                "ORDER BY used DESC", (cls.ID, cls.VERSION, env)).fetchall()
            for trace_digest, trace, run in rows:
                if replayer.matches(json.loads(trace)):
                    conn.execute("UPDATE check_runs SET used=? WHERE check_id=? AND version=? AND env=? AND "
                                 "trace_digest=?", (time.time(), cls.ID, cls.VERSION, env, trace_digest))
                    self.hits += 1
                    reused = CheckRun.model_validate_json(run)
                    reused.seconds = 0.0  # what it cost this scan
                    return reused
        self.misses += 1
        return None

    def store(self, cls: type, context: ScanContext, answers: dict[str, str | None], run: CheckRun) -> bool:
        if run.status != "ran" or any(d is None for d in answers.values()):
            return False
        env = check_environment(cls, context)
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
