"""`iotcop db update`: fetch vulnerability data and import it without ever breaking the database.

Sources
  nvd        NVD CVE API 2.0, paged (resultsPerPage/startIndex), rate limited (NVD asks for at most
             5 requests per 30 s without an API key, 50 with one: NVD_API_KEY)
  osv        OSV bulk exports: <base>/<ecosystem>/all.zip
  URL        any http(s) URL of a supported document (JSON, YAML, CSV, .zip of them, gzip'd or not)
  FILE       a local file or folder of supported documents: NVD 2.0 pages, CVE 5 records, OSV
             (Debian, Alpine, OpenWrt ... ecosystems), Alpine secdb, the Debian security tracker's
             JSON, the CISA KEV catalogue JSON, FIRST's EPSS CSV (.csv.gz as published)

Downloads land in a staging folder beside the database: every NVD page is kept as its own file
and a bulk file is downloaded to `.part` and continued with an HTTP Range request, so a failed
or interrupted update resumes where it stopped.  The import writes a copy of the database that
replaces the original only when complete (db.staged_copy).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from iotcop import __version__
from iotcop.errors import InputError
from iotcop.vulns.db import STARTER_DB, default_db_path, now_iso, staged_copy
from iotcop.vulns.importers import Epss, Record, detect_and_parse, store

NVD_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
OSV_URL = "https://osv-vulnerabilities.storage.googleapis.com"
NVD_PAGE_SIZE = 2000
_USER_AGENT = f"iotcop/{__version__}"
_MAX_ATTEMPTS = 4
_CHUNK = 1 << 16


@dataclass
class UpdateResult:
    source: str
    records: int
    documents: int
    db_path: Path
    fetched: int = 0  # network requests made
    reused: int = 0  # pages or files taken from an earlier, interrupted run
    notes: list[str] = field(default_factory=list)


class FetchError(InputError):
    pass


def _staging_dir(db_path: Path, key: str) -> Path:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return db_path.parent / f".{db_path.name}.staging-{digest}"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _request(url: str, headers: dict[str, str] | None = None, timeout: float = 60.0):
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - URLs come from the user or the defaults


def _get_json(url: str, headers: dict[str, str], *, delay: float, sleep: Callable[[float], None]) -> bytes:
    last: Exception | None = None
    for attempt in range(_MAX_ATTEMPTS):
        try:
            with _request(url, headers) as resp:
                data = resp.read()
            json.loads(data)  # a truncated page must not be kept
            return data
        except urllib.error.HTTPError as exc:
            last = exc
            if exc.code not in (403, 429, 500, 502, 503, 504):
                break
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        sleep(delay * (attempt + 1))
    raise FetchError(f"cannot fetch {url}: {last}")


# --------------------------------------------------------------------------- NVD

def fetch_nvd(db_path: Path, *, base_url: str = NVD_URL, params: dict[str, str] | None = None,
              api_key: str | None = None, page_size: int = NVD_PAGE_SIZE, delay: float | None = None,
              sleep: Callable[[float], None] = time.sleep, max_pages: int | None = None) -> tuple[Path, int, int]:
    """Download every page into a staging folder; returns (folder, requests made, pages reused)."""
    params = dict(params or {})
    key = json.dumps({"url": base_url, "params": params, "size": page_size}, sort_keys=True)
    stage = _staging_dir(db_path, key)
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "query.json").write_text(key)
    headers = {"apiKey": api_key} if api_key else {}
    if delay is None:
        delay = 0.6 if api_key else 6.0
    fetched = reused = 0
    start, total, pages = 0, None, 0
    while total is None or start < total:
        page_file = stage / f"page-{start:09d}.json"
        if page_file.is_file():
            doc = json.loads(page_file.read_bytes())
            reused += 1
        else:
            if fetched:
                sleep(delay)
            query = urllib.parse.urlencode({**params, "startIndex": start, "resultsPerPage": page_size})
            data = _get_json(f"{base_url}?{query}", headers, delay=delay, sleep=sleep)
            fetched += 1
            doc = json.loads(data)
            _write_atomic(page_file, data)
        total = int(doc.get("totalResults", 0))
        got = len(doc.get("vulnerabilities", []))
        page_size_seen = int(doc.get("resultsPerPage", got) or got)
        pages += 1
        if got == 0 or (max_pages and pages >= max_pages):
            break
        start += max(page_size_seen, got)
    return stage, fetched, reused


# --------------------------------------------------------------------------- resumable file download

def download(url: str, dest: Path, *, timeout: float = 120.0) -> tuple[int, bool]:
    """Fetch url into dest, continuing a `.part` from an earlier attempt. Returns (bytes, resumed)."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        resp = _request(url, headers, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # already complete
            os.replace(part, dest)
            return have, True
        raise FetchError(f"cannot fetch {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise FetchError(f"cannot fetch {url}: {exc}") from None
    with resp:
        resumed = resp.status == 206 and have > 0
        expected = resp.headers.get("Content-Length")
        mode = "ab" if resumed else "wb"
        written = 0
        try:
            with open(part, mode) as fh:
                while chunk := resp.read(_CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        except (OSError, urllib.error.URLError) as exc:
            raise FetchError(f"download of {url} interrupted after {have + written} bytes: {exc}; "
                             "run the same command again to continue") from None
        if expected is not None and written != int(expected):
            raise FetchError(f"download of {url} interrupted after {have + written} bytes "
                             f"(expected {int(expected) + (have if resumed else 0)}); run the same command again to continue")
    os.replace(part, dest)
    return dest.stat().st_size, resumed


# --------------------------------------------------------------------------- documents

_DOCUMENT_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".zip", ".gz")


def iter_documents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every document in a file, a zip, a gzip'd file, or a folder."""
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file() and p.name.lower().endswith(_DOCUMENT_SUFFIXES):
                yield from iter_documents(p)
        return
    data = path.read_bytes()
    yield from _unpacked(path.name, data)


def _unpacked(name: str, data: bytes) -> Iterator[tuple[str, bytes]]:
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in sorted(zf.infolist(), key=lambda i: i.filename):
                if not info.is_dir() and info.filename.lower().endswith((".json", ".yaml", ".yml", ".csv")):
                    yield info.filename, zf.read(info)
        return
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(f"{name}: damaged gzip file ({exc})") from None
        yield name[:-3] if name.lower().endswith(".gz") else name, data
        return
    yield name, data


def _file_date(path: Path) -> str:
    """When the user downloaded a file: the date of data whose format carries none (Debian tracker JSON)."""
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).date().isoformat()


def _records(docs: Iterator[tuple[str, bytes]], origin: str, data_date: str | None = None) -> Iterator[Record | Epss]:
    for name, data in docs:
        try:
            yield from detect_and_parse(name, data, source_url=origin, data_date=data_date)
        except ValueError as exc:
            raise InputError(f"{origin} {name}: {exc}") from None


def _import(db_path: Path, records_fn: Callable[[], Iterator[Record]], meta_key: str) -> int:
    base = db_path if db_path.is_file() else (STARTER_DB if STARTER_DB.is_file() else None)
    with staged_copy(db_path, base=base) as conn:
        count = store(conn, records_fn())
        conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (meta_key, now_iso()))
    return count


def update(source: str, *, db_path: Path | None = None, base_url: str | None = None,
           ecosystems: tuple[str, ...] = ("OSS-Fuzz",), api_key: str | None = None,
           nvd_params: dict[str, str] | None = None, delay: float | None = None,
           sleep: Callable[[float], None] = time.sleep, max_pages: int | None = None,
           page_size: int = NVD_PAGE_SIZE) -> UpdateResult:
    db_path = db_path or default_db_path()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if source == "nvd":
        api_key = api_key or os.environ.get("NVD_API_KEY")
        stage, fetched, reused = fetch_nvd(db_path, base_url=base_url or NVD_URL, params=nvd_params,
                                           api_key=api_key, delay=delay, sleep=sleep, max_pages=max_pages,
                                           page_size=page_size)
        pages = sorted(stage.glob("page-*.json"))
        count = _import(db_path, lambda: _records(((p.name, p.read_bytes()) for p in pages), base_url or NVD_URL),
                        "import:nvd")
        shutil.rmtree(stage, ignore_errors=True)
        return UpdateResult("nvd", count, len(pages), db_path, fetched, reused)
    if source == "osv":
        base = (base_url or OSV_URL).rstrip("/")
        files, fetched, reused = [], 0, 0
        stage = _staging_dir(db_path, f"osv {base} {sorted(ecosystems)}")
        stage.mkdir(parents=True, exist_ok=True)
        for eco in ecosystems:
            dest = stage / f"{eco}.zip"
            if not dest.is_file():
                _, resumed = download(f"{base}/{urllib.parse.quote(eco)}/all.zip", dest)
                fetched += 1
                reused += int(resumed)
            files.append((eco, dest))
        count = _import(db_path, lambda: (r for eco, f in files for r in _records(iter_documents(f), f"{base}/{eco}/all.zip")),
                        "import:osv")
        shutil.rmtree(stage, ignore_errors=True)
        return UpdateResult("osv", count, len(files), db_path, fetched, reused)
    if source.startswith(("http://", "https://")):
        stage = _staging_dir(db_path, source)
        stage.mkdir(parents=True, exist_ok=True)
        name = Path(urllib.parse.urlparse(source).path).name or "download"
        dest = stage / name
        _, resumed = download(source, dest)
        docs = list(iter_documents(dest))
        today = dt.date.today().isoformat()
        count = _import(db_path, lambda: _records(iter(docs), source, today), f"import:{source}")
        shutil.rmtree(stage, ignore_errors=True)
        return UpdateResult(source, count, len(docs), db_path, 1, int(resumed))
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{source}: no such file or directory (use nvd, osv, a URL or a file)")
    docs = list(iter_documents(path))
    count = _import(db_path, lambda: _records(iter(docs), str(path), _file_date(path)), f"import:{path}")
    return UpdateResult(str(path), count, len(docs), db_path)
