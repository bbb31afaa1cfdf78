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

PUBLIC_URL = "https://labels.example.org"  # the address the test servers are told they are reached at
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
import json, sys, uvicorn
from pathlib import Path
from iotcop.registry.app import create_app
from iotcop.registry.config import RateLimit, Settings
options = json.loads(sys.argv[1])
port, rate = options.pop("port"), options.pop("rate")
if rate is not None:  # None: the defaults `iotcop serve` starts with
    options.update(read_limit=RateLimit(rate, rate * 4), write_limit=RateLimit(rate, rate * 4))
settings = Settings(**options)
uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info", access_log=True)
"""


@contextlib.contextmanager
def uvicorn_server(db_url: str, data_dir: Path, rate: float | None = 100000.0, env: dict | None = None,
                   **settings):
    """The registry in a uvicorn child process on 127.0.0.1; yields its base URL.

    `settings` are Settings fields (public_url, max_firmware_bytes, ...); its log (access log included) is
    data_dir/server.log.
    """
    import json

    import httpx

    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    options = dict(settings, db_url=db_url, data_dir=str(data_dir), port=port, rate=rate)
    options.setdefault("public_url", f"http://127.0.0.1:{port}")
    log = open(data_dir / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", SERVER_SCRIPT, json.dumps(options)],
                            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))
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


# --- load: wrk (Debian) as the client, a /healthz probe beside it ------------------------------

WRK_SCRIPT = """
local paths = {%(paths)s}
local threads = {}
function setup(thread)
  thread:set("offset", #threads)
  table.insert(threads, thread)
end
function init(args)
  statuses = {}
  i = offset
end
function request()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %%d %%d\\n", code, n)) end
  io.write(string.format("requests %%d\\n", summary.requests))
  io.write(string.format("duration_us %%d\\n", summary.duration))
  io.write(string.format("p50_us %%d\\np90_us %%d\\np99_us %%d\\nmax_us %%d\\n", latency:percentile(50),
                         latency:percentile(90), latency:percentile(99), latency.max))
  local e = summary.errors
  io.write(string.format("errors %%d %%d %%d %%d %%d\\n", e.connect, e.read, e.write, e.status, e.timeout))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]  # connect, read, write, timeout (wrk's own counts)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Answers that are not 200, plus connections that failed or timed out."""
        return sum(n for code, n in self.statuses.items() if code != 200) + sum(self.socket_errors.values())


def wrk_load(base: str, paths: list[str], connections: int, seconds: float, folder: Path, threads: int = 2,
             timeout: float = 30.0) -> LoadResult:
    """GET `paths` in turn from `connections` keep-alive connections for `seconds`, with Debian's wrk."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is missing: apt-get install -y wrk")
    script = folder / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    script.write_text(WRK_SCRIPT % {"paths": ",".join(f'"{p}"' for p in paths)})
    proc = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s",
                           "--timeout", f"{int(timeout)}s", "-s", str(script), base],
                          capture_output=True, text=True, timeout=seconds + timeout + 60)
    values: dict[str, list[str]] = {}
    statuses: dict[int, int] = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "status":
            statuses[int(words[1])] = int(words[2])
        elif words and words[0] in ("requests", "duration_us", "p50_us", "p90_us", "p99_us", "max_us", "errors"):
            values[words[0]] = words[1:]
    if "requests" not in values:
        raise RuntimeError(f"wrk failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    connect, read, write, _status, timeouts = (int(x) for x in values["errors"])
    ms = lambda key: int(values[key][0]) / 1000  # noqa: E731
    return LoadResult(requests=int(values["requests"][0]), seconds=int(values["duration_us"][0]) / 1e6,
                      statuses=statuses, socket_errors={"connect": connect, "read": read, "write": write,
                                                        "timeout": timeouts},
                      p50_ms=ms("p50_us"), p90_ms=ms("p90_us"), p99_ms=ms("p99_us"), max_ms=ms("max_us"))


class HealthProbe:
    """GET /healthz every `interval` seconds in a thread while a load runs; the slowest answer is the stall."""

    def __init__(self, base: str, interval: float = 0.2, timeout: float = 90.0) -> None:
        import threading

        self.base, self.interval, self.timeout = base, interval, timeout
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                start = time.monotonic()
                try:
                    status = client.get(self.base + "/healthz").status_code
                    if status != 200:
                        self.failures.append(f"status {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(type(exc).__name__)
                self.latencies.append(time.monotonic() - start)
                self._stop.wait(self.interval)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.timeout + 5)

    @property
    def max_seconds(self) -> float:
        return max(self.latencies) if self.latencies else float("inf")


# --- labels and reports ---------------------------------------------------------------------


def small_report(findings: list[dict] | None = None, verdicts: dict[str, str] | None = None,
                 declaration: dict | None = None) -> bytes:
    """A schema-valid report.json with the given findings, provision verdicts and declaration summary."""
    from iotcop.model import Assessment, Evidence, ExtractionReport, Finding, Target, Tool, Verdict

    verdicts = verdicts or {"5.1-1": "INCONCLUSIVE", "5.3-13": "DECLARED"}
    a = Assessment(tool=Tool(version="0.1.0", catalogue_version="test"), generated_at="2026-01-01T00:00:00+00:00",
                   target=Target(kind="rootfs", path="rootfs"), extraction=ExtractionReport(status="complete"),
                   findings=[Finding(check=f["check"], severity=f.get("severity", "high"), provisions=["5.1-1"],
                                     title=f["title"], evidence=Evidence(path=f.get("path"))).with_id()
                             for f in (findings or [])],
                   provisions=[Verdict(id=k, status="M", verdict=v) for k, v in verdicts.items()],
                   declaration=declaration)
    import json

    return json.dumps(a.to_json_dict(), sort_keys=True).encode()


def label_for(report: bytes, product: dict, firmware_version: str, key, support_end: str | None = "2030-12-31",
              level: int = 0, registry_url: str | None = None, product_id: str | None = None) -> bytes:
    from iotcop.label.signing import sign_label

    data = {
        "schema": "iotcop.label/1",
        "product": {"id": product_id or hashlib.sha256((product["name"] + firmware_version).encode()).hexdigest()[:16],
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


def populate(db: str, products: int, versions: int, keys_dir: Path) -> tuple[list[str], list[str]]:
    """PRODUCTS products of one manufacturer, VERSIONS labels each (30 findings a version, some fixed, some new).

    Returns the registry product ids and the labels' QR product ids.
    """
    from iotcop.label.signing import init_keys, load_private_key
    from iotcop.registry.db import make_engine, migrate, sessions
    from iotcop.registry.service import add_manufacturer, authenticate, publish_label

    engine = make_engine(db)
    migrate(engine)
    init_keys(keys_dir)
    key = load_private_key(keys_dir)
    product_ids, label_pids = [], []
    with sessions(engine)() as s:
        _, token = add_manufacturer(s, "Bench Devices Ltd", (keys_dir / "label-signing.pub").read_bytes())
        s.commit()
        caller = authenticate(s, token)
        for p in range(products):
            for v in range(versions):
                # each version fixes some findings of the one before and adds others
                findings = [{"check": f"family.check{k % 7}", "title": f"finding {k} of product {p}",
                             "path": f"/etc/file{k}", "severity": ("critical", "high", "medium", "low")[k % 4]}
                            for k in range(v * 5, v * 5 + 30)]
                verdicts = {"5.1-1": ("FAIL", "INCONCLUSIVE", "PASS")[v % 3], "5.3-13": "DECLARED",
                            "5.5-1": ("INCONCLUSIVE", "FAIL")[v % 2]}
                report = small_report(findings, verdicts)
                label = label_for(report, {"name": f"Bench Camera {p}", "model": f"BC-{p}", "type": "camera",
                                           "manufacturer": "Bench Devices Ltd"}, f"{v + 1}.0.0", key)
                stored, _ = publish_label(s, caller, label, report, f"bench-{p}-{v}")
                label_pids.append(stored.label_pid)
            product_ids.append(stored.product_id)
    engine.dispose()
    return product_ids, label_pids
