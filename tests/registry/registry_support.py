"""Helpers for the registry tests: a real PostgreSQL server, uvicorn in a child process, labels and reports."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import glob
import hashlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "iotcop-test"  # PostgreSQL refuses to run as root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", PG_USER, "--"] + cmd


def _ensure_pg_user() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                       check=True, capture_output=True)


@dataclass
class Postgres:
    port: int
    folder: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def postgres_server(max_connections: int = 200):
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.fail("PostgreSQL is missing: apt-get install -y postgresql (scripts/setup installs it)")
    _ensure_pg_user()
    folder = Path(tempfile.mkdtemp(prefix="iotcop-pg-"))
    os.chmod(folder, 0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, PG_USER, PG_USER)
    data = folder / "data"
    subprocess.run(_as_pg_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                "--no-sync"]), check=True, capture_output=True, timeout=120)
    port = free_port()
    options = (f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
               f"-c full_page_writes=off -c max_connections={max_connections} -c shared_buffers=128MB")
    subprocess.run(_as_pg_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60",
                                "start"]), check=True, capture_output=True, timeout=90)
    try:
        yield Postgres(port, folder)
    finally:
        subprocess.run(_as_pg_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


# --- uvicorn in a child process -----------------------------------------------------------

SERVER_SCRIPT = """
import sys, uvicorn
from pathlib import Path
from iotcop.registry.app import create_app
from iotcop.registry.config import RateLimit, Settings
db, data, port, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
settings = Settings(db_url=db, data_dir=Path(data), read_limit=RateLimit(rate, rate * 4),
                    write_limit=RateLimit(rate, rate * 4))
uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


@contextlib.contextmanager
def uvicorn_server(db_url: str, data_dir: Path, rate: float = 100000.0):
    import httpx

    port = free_port()
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, db_url, str(data_dir), str(port), str(rate)],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError("the registry did not start:\n" + (data_dir / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield base
    except BaseException:
        log.flush()
        tail = (data_dir / "server.log").read_text(errors="replace")[-4000:]
        print("--- registry server log (end) ---\n" + tail, file=sys.stderr)
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


# --- labels and reports ---------------------------------------------------------------------


def small_report(findings: list[dict] | None = None, verdicts: dict[str, str] | None = None) -> bytes:
    """A schema-valid report.json with the given findings and provision verdicts (for volume tests)."""
    from iotcop.model import (
        Assessment,
        Evidence,
        ExtractionReport,
        Finding,
        Target,
        Tool,
        Verdict,
    )

    verdicts = verdicts or {"5.1-1": "INCONCLUSIVE", "5.3-13": "DECLARED"}
    a = Assessment(tool=Tool(version="0.1.0", catalogue_version="test"), generated_at="2026-01-01T00:00:00+00:00",
                   target=Target(kind="rootfs", path="rootfs"), extraction=ExtractionReport(status="complete"),
                   findings=[Finding(check=f["check"], severity=f.get("severity", "high"), provisions=["5.1-1"],
                                     title=f["title"], evidence=Evidence(path=f.get("path"))).with_id()
                             for f in (findings or [])],
                   provisions=[Verdict(id=k, status="M", verdict=v) for k, v in verdicts.items()])
    import json

    return json.dumps(a.to_json_dict(), sort_keys=True).encode()


def label_for(report: bytes, product: dict, firmware_version: str, key, support_end: str | None = "2030-12-31",
              level: int = 0, registry_url: str | None = None) -> bytes:
    from iotcop.label.signing import sign_label

    data = {
        "schema": "iotcop.label/1",
        "product": {"id": hashlib.sha256((product["name"] + firmware_version).encode()).hexdigest()[:16],
                    "name": product["name"], "type": product.get("type"), "model": product.get("model"),
                    "manufacturer": product.get("manufacturer")},
        "firmware": {"version": firmware_version, "sha256": hashlib.sha256(firmware_version.encode()).hexdigest(),
                     "file": "fw.bin"},
        "security_updates_until": support_end,
        "level": level,
        "level_meaning": "No security claim can be made from this assessment",
        "level_limits": [],
        "results": [{"id": "psti-1", "text": "Default passwords: not confirmed", "verdict": "INCONCLUSIVE",
                     "state": "not confirmed"}],
        "registry_url": registry_url,
        "report": {"sha256": hashlib.sha256(report).hexdigest(), "generated_at": "2026-01-01T00:00:00+00:00",
                   "tool": "iotcop 0.1.0", "catalogue": "test", "extraction": "complete"},
        "declaration_given": True,
        "issued_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
    }
    return sign_label(copy.deepcopy(data), key)
