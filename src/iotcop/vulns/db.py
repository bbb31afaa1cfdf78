"""The vulnerability database: one SQLite file.

Tables
  meta(key, value)            created_at, updated_at (ISO UTC), schema, per-source import dates
  vulns(...)                  one row per (id, source, component): text, severity, CVSS, provenance,
                              the date the source gives the record (`modified`: what "age" is measured on)
  affects(...)                how a vuln row selects versions: a range, an exact list, a kernel
                              mainline range with per-branch stable fixes, or a distribution's fixed version
  epss(cve, score, percentile, score_date)   FIRST EPSS probabilities
Every write goes to a copy of the database that replaces the original only when complete
(`staged_copy`), so an interrupted import or download never leaves a broken file behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Iterator

from iotcop.errors import InputError

SCHEMA_VERSION = "2"
STARTER_DB = Path(__file__).parent / "data" / "starter.sqlite"
MAX_AGE_DAYS = 30

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vulns (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  source TEXT NOT NULL,
  component TEXT NOT NULL,
  aliases TEXT,            -- JSON list
  title TEXT,
  description TEXT,
  severity TEXT,           -- the source's own word (Moderate, HIGH, low ...)
  cvss_vector TEXT,
  cvss_score REAL,
  published TEXT,
  known_exploited INTEGER NOT NULL DEFAULT 0,
  source_ref TEXT,         -- JSON {repo, commit, path} or {url}
  approximate INTEGER NOT NULL DEFAULT 0,  -- versions inferred from packaging history
  modified TEXT,           -- ISO date of the record in its source (last change, else publication)
  files TEXT,              -- JSON list of source files the advisory names (CVE 5 programFiles)
  UNIQUE (id, source, component)
);
CREATE TABLE IF NOT EXISTS epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL, score_date TEXT);
CREATE TABLE IF NOT EXISTS affects (
  vuln INTEGER NOT NULL REFERENCES vulns(rowid) ON DELETE CASCADE,
  vendor TEXT,             -- CPE vendor, NULL when the record names only a component/package
  product TEXT,            -- CPE product or the component name
  ecosystem TEXT,          -- purl type for package-specific records (apk, deb, opkg), NULL = upstream
  kind TEXT NOT NULL,      -- range | versions | kernel | all | distro_fixed (apk) | deb_release
  introduced TEXT, start_excluding TEXT, fixed TEXT, last_affected TEXT,
  versions TEXT,           -- JSON list for kind=versions; JSON object for kind=kernel
  note TEXT
);
CREATE INDEX IF NOT EXISTS affects_product ON affects(product);
CREATE INDEX IF NOT EXISTS vulns_id ON vulns(id);
"""


def default_db_path() -> Path:
    env = os.environ.get("IOTCOP_VULNDB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iotcop" / "vulns.sqlite"


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    return conn


_ADDED_COLUMNS = {"vulns": (("modified", "TEXT"), ("files", "TEXT"))}


def create_schema(conn: sqlite3.Connection) -> None:
    # A schema-1 database gains the new columns in place; CREATE TABLE IF NOT EXISTS would not add them.
    for table, columns in _ADDED_COLUMNS.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if have:
            for name, kind in columns:
                if name not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    conn.executescript(SCHEMA)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema' AND value < ?", (SCHEMA_VERSION, SCHEMA_VERSION))
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
    conn.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (now_iso(),))
    conn.commit()


def active_db_path() -> Path | None:
    """The user's database when it exists, else the starter database shipped in the package."""
    user = default_db_path()
    if user.is_file():
        return user
    return STARTER_DB if STARTER_DB.is_file() else None


def fingerprint() -> str:
    """Which database a match would use, and which version of it: part of the key of every reused result."""
    path = active_db_path()
    if path is None or not path.is_file():
        return "none"
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def check_integrity(path: Path) -> None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            ok = conn.execute("PRAGMA quick_check").fetchone()[0]
            conn.execute("SELECT count(*) FROM vulns").fetchone()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"{path}: not a valid vulnerability database ({exc})") from None
    if ok != "ok":
        raise InputError(f"{path}: the vulnerability database is damaged ({ok})")


@contextlib.contextmanager
def staged_copy(target: Path, *, base: Path | None = None) -> Iterator[sqlite3.Connection]:
    """A connection to a temporary copy of `base` (default: `target`); it replaces `target` on success.

    On any exception the temporary file is removed and `target` is left exactly as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    source = base if base is not None else target
    try:
        if source.is_file():
            with contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src, \
                    contextlib.closing(sqlite3.connect(tmp)) as dst:
                src.backup(dst)
        conn = connect(tmp)
        try:
            create_schema(conn)
            yield conn
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('updated_at', ?)", (now_iso(),))
            conn.commit()
        finally:
            conn.close()
        check_integrity(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _age_days(date: str | None) -> float | None:
    if not date:
        return None
    try:
        when = dt.datetime.fromisoformat(date[:10])
    except ValueError:
        return None
    return (dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - when).total_seconds() / 86400


def status(path: Path | None = None) -> dict:
    """What the database holds and how old its data is.

    `data_date` is the newest date any record carries in its source (a record's last change, else its
    publication), per source and overall; `age_days` is measured from it, not from the import.
    """
    path = path or active_db_path()
    if path is None or not path.is_file():
        return {"path": str(path) if path else None, "exists": False}
    with contextlib.closing(connect(path, readonly=True)) as conn:
        meta = {r["key"]: r["value"] for r in conn.execute("SELECT key, value FROM meta")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(vulns)")}
        date_col = "max(modified)" if "modified" in columns else "NULL"
        sources = {r[0]: {"records": r[1], "newest": r[2]} for r in conn.execute(
            f"SELECT source, count(*), {date_col} FROM vulns GROUP BY source ORDER BY 2 DESC")}
        by_component = {r[0]: r[1] for r in conn.execute(
            "SELECT component, count(DISTINCT id) FROM vulns GROUP BY component ORDER BY 2 DESC")}
        total = conn.execute("SELECT count(*), count(DISTINCT id) FROM vulns").fetchone()
        has_epss = conn.execute("SELECT name FROM sqlite_master WHERE name = 'epss'").fetchone() is not None
        epss = conn.execute("SELECT count(*), max(score_date) FROM epss").fetchone() if has_epss else (0, None)
    if epss[0]:
        sources["epss"] = {"records": epss[0], "newest": epss[1]}
    for info in sources.values():
        age = _age_days(info["newest"])
        info["age_days"] = round(age, 1) if age is not None else None
    dates = [i["newest"][:10] for i in sources.values() if i["newest"]]
    data_date = max(dates) if dates else None
    age = _age_days(data_date)
    imported = meta.get("updated_at") or meta.get("created_at")
    return {
        "path": str(path), "exists": True, "starter": path == STARTER_DB,
        "updated_at": imported, "data_date": data_date, "age_days": round(age, 1) if age is not None else None,
        "records": total[0], "ids": total[1], "by_source": {k: v["records"] for k, v in sources.items()},
        "sources": sources, "by_component": by_component, "meta": meta,
    }


def age_warning(path: Path | None = None) -> str | None:
    """A one-line warning when the database is missing or its newest data is older than MAX_AGE_DAYS."""
    try:
        st = status(path)
    except sqlite3.DatabaseError as exc:
        return f"vulnerability database unreadable: {exc}"
    if not st.get("exists"):
        return "no vulnerability database: known vulnerabilities were not checked (run 'iotcop db update')"
    if st["age_days"] is None:
        return "vulnerability database records carry no dates: their age is unknown (run 'iotcop db update')"
    if st["age_days"] > MAX_AGE_DAYS:
        return (f"vulnerability data is {int(st['age_days'])} days old (newest record {st['data_date']}); "
                "run 'iotcop db update'")
    return None


def dumps(value) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)
