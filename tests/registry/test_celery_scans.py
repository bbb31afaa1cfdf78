"""Registry scans through the Celery engine, with real parts: a Redis server, `iotcop worker` processes and the
registry app with scan_engine="celery".  An upload of the small demo image, with and without a declaration,
gives the report a direct `iotcop scan` of the same image gives; a worker killed with SIGKILL in the middle of
the job does not lose it, and the job is scanned to completion once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from redis_support import HAVE_REDIS, SKIP_REASON, redis_server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAVE_REDIS, reason=SKIP_REASON)]

BIN = Path(sys.executable).with_name("iotcop")
TASK = re.compile(r"Task iotcop\.scan_image\[([0-9a-f-]{36})\] (received|succeeded)")


def _declaration_text() -> str:
    # Declares ssh, http and dns only: the demo image also starts telnet and ftp, which the scan must report.
    data = {
        "schema": "iotcop.declaration/1",
        "product": {"name": "IoTCop Demo Router", "type": "Wi-Fi router", "batch": "lot 2026-11"},
        "manufacturer": {"name": "Demo Devices Ltd", "address": "1 Test Street, London"},
        "model_designation": "ICD-1", "firmware_version": "1.1.0",
        "support": {"end_date": "2031-06-30", "published_url": "https://127.0.0.1:9/support"},
        "vulnerability_disclosure": {"policy_url": "https://127.0.0.1:9/vdp", "contact": "mailto:security@example.com",
                                     "acknowledgement_days": 5, "status_update_days": 30},
        "password": {"approach": "user_defined"},
        "network_services": [{"name": "ssh", "protocol": "tcp", "port": 22},
                             {"name": "http", "protocol": "tcp", "port": 80},
                             {"name": "dns", "protocol": "udp", "port": 53}],
        "sensors": [],
        "conformance": {"5.6-1": {"support": "Y", "detail": "Only the listed services run."}},
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(scope="module")
def direct_reports(vulnerable_image, tmp_path_factory):
    """`iotcop scan` of the demo image run by hand, without and with the declaration (not fetching pages)."""
    base = tmp_path_factory.mktemp("direct")
    (base / "declaration").write_text(_declaration_text())
    # The registry keeps an upload as `firmware`, and paths inside an image start with its file name.
    shutil.copyfile(vulnerable_image.image, base / "firmware")
    env = dict(os.environ, IOTCOP_CACHE_DIR=str(base / "cache"))
    runs = {}
    for name, extra in (("plain", []), ("declared", ["--declaration", "declaration", "--no-fetch"])):
        # Run from `base` so the declaration is named "declaration", as the registry's workers name it.
        runs[name] = subprocess.Popen([str(BIN), "scan", "firmware", "--out", str(base / name),
                                       "--output", "json", "--quiet", *extra], cwd=base, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reports = {}
    for name, proc in runs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1, err.decode()  # the vulnerable image fails mandatory provisions
        reports[name] = json.loads((base / name / "report.json").read_text())
    return reports


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


@contextlib.contextmanager
def workers(url: str, folder: Path, visibility: float):
    """Start `iotcop worker` processes on demand (each in its own process group); all killed at the end."""
    started: list[tuple[subprocess.Popen, object]] = []

    def start(name: str) -> tuple[subprocess.Popen, Path]:
        log_path = folder / f"worker-{name}.log"
        log = open(log_path, "w")
        proc = subprocess.Popen([str(BIN), "worker", "--broker", url, "--concurrency", "1",
                                 "--visibility-timeout", str(visibility)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append((proc, log))
        return proc, log_path

    try:
        yield start
    finally:
        for proc, log in started:
            _kill_group(proc)
            log.close()


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def _tasks(log_path: Path, event: str) -> list[str]:
    return [task for task, what in TASK.findall(log_path.read_text()) if what == event]


def _ready(log_path: Path) -> bool:
    return " ready." in log_path.read_text()


def _celery_registry(factory, key_dirs, url: str, scan_workers: int = 1):
    from iotcop.registry.service import add_manufacturer

    app, settings = factory(scan_engine="celery", celery_broker=url, scan_workers=scan_workers, scan_timeout=300)
    with app.state.sessions() as s:
        _, token = add_manufacturer(s, "Demo Devices Ltd", (key_dirs[0] / "label-signing.pub").read_bytes())
        s.commit()
    return app, settings, {"Authorization": f"Bearer {token}"}


def _upload(client, auth, image: Path, key: str, declaration: str | None = None) -> str:
    files = {"firmware": (image.name, image.read_bytes(), "application/octet-stream")}
    if declaration is not None:
        files["declaration"] = ("decl.yaml", declaration.encode(), "application/yaml")
    res = client.post("/api/v1/scans", headers=auth | {"Idempotency-Key": key}, files=files)
    assert res.status_code == 202, res.text
    return res.json()["id"]


def _finished(client, auth, job_id: str, timeout: float) -> dict:
    def state():
        data = client.get(f"/api/v1/scans/{job_id}", headers=auth).json()
        return data if data["status"] not in ("queued", "running") else None

    return _wait_for(state, timeout, interval=0.5)


def _ids(report: dict) -> list[str]:
    return sorted(f["id"] for f in report["findings"])


def _verdicts(report: dict) -> dict:
    return {p["id"]: p["verdict"] for p in report["provisions"]}


def test_uploads_with_and_without_declaration_are_the_real_scan(sqlite_registry_factory, key_dirs, vulnerable_image,
                                                                 direct_reports, redis_url, tmp_path):
    from starlette.testclient import TestClient

    image = Path(vulnerable_image.image)
    declaration = _declaration_text()
    with workers(redis_url, tmp_path, visibility=600) as start:
        _, log = start("a")
        _wait_for(lambda: _ready(log), timeout=90)
        app, settings, auth = _celery_registry(sqlite_registry_factory, key_dirs, redis_url, scan_workers=2)
        with TestClient(app) as client:
            plain_id = _upload(client, auth, image, "plain")
            declared_id = _upload(client, auth, image, "declared", declaration)
            plain = _finished(client, auth, plain_id, timeout=240)
            declared = _finished(client, auth, declared_id, timeout=240)
            assert plain["status"] == "done" and plain["attempts"] == 1 and plain["declaration"] is False, plain
            assert declared["status"] == "done" and declared["attempts"] == 1 and declared["declaration"] is True, \
                declared
            reports = {"plain": client.get(plain["report_url"], headers=auth).json(),
                       "declared": client.get(declared["report_url"], headers=auth).json()}
        app.state.engine.dispose()

        # Both jobs went to the worker, each received and finished once.
        received, succeeded = _tasks(log, "received"), _tasks(log, "succeeded")
        assert len(received) == 2 and sorted(received) == sorted(set(succeeded))
    assert not (settings.upload_dir / plain_id).exists() and not (settings.upload_dir / declared_id).exists()

    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    for name, report in reports.items():
        direct = direct_reports[name]
        assert report["target"]["sha256"] == direct["target"]["sha256"] == sha
        assert report["findings"] and _ids(report) == _ids(direct), name
        assert _verdicts(report) == _verdicts(direct), name
    assert reports["plain"]["declaration"] is None
    summary = reports["declared"]["declaration"]
    assert summary == direct_reports["declared"]["declaration"]
    assert summary["sha256"] == hashlib.sha256(declaration.encode()).hexdigest()
    assert summary["firmware_version"] == "1.1.0" and summary["file"] == "declaration"
    undeclared = [f for f in reports["declared"]["findings"] if f["check"] == "declared.undeclared-service"]
    assert undeclared and not [f for f in reports["plain"]["findings"] if f["check"].startswith("declared.")]
    assert _verdicts(reports["declared"])["5.6-1"] == "FAIL"


def test_worker_killed_mid_scan_job_completes_once(sqlite_registry_factory, key_dirs, vulnerable_image,
                                                   direct_reports, redis_url, tmp_path):
    import redis
    from starlette.testclient import TestClient

    visibility = 3.0  # seconds; a killed worker's job is handed out again after this
    image = Path(vulnerable_image.image)
    started = time.monotonic()
    with workers(redis_url, tmp_path, visibility) as start:
        victim, victim_log = start("a")
        _wait_for(lambda: _ready(victim_log), timeout=90)
        app, _, auth = _celery_registry(sqlite_registry_factory, key_dirs, redis_url)
        with TestClient(app) as client:
            job_id = _upload(client, auth, image, "kill-9")
            [task] = _wait_for(lambda: _tasks(victim_log, "received"), timeout=60)
            received_at = time.monotonic()
            time.sleep(1.5)  # the scan of the 6.5 MB image takes several seconds: this lands in the middle
            assert client.get(f"/api/v1/scans/{job_id}", headers=auth).json()["status"] == "running"
            assert not _tasks(victim_log, "succeeded")
            _kill_group(victim)  # worker, its pool process: SIGKILL to the whole group, no goodbye to Redis
            # A worker started once the visibility timeout has passed finds the unacknowledged job and runs it.
            time.sleep(max(0.0, received_at + visibility + 0.5 - time.monotonic()))
            _, survivor_log = start("b")
            state = _finished(client, auth, job_id, timeout=150)
            report = client.get(state["report_url"], headers=auth).json() if state["status"] == "done" else None
        app.state.engine.dispose()
        assert state["status"] == "done" and state["attempts"] == 1, state

        # Exactly once: the killed worker never finished it; the new one received it and finished it once.
        assert _tasks(victim_log, "received") == [task] and not _tasks(victim_log, "succeeded")
        assert _tasks(survivor_log, "received") == [task] and _tasks(survivor_log, "succeeded") == [task]
        # Nothing is left in Redis to be delivered a third time: no queued and no unacknowledged message.
        client = redis.Redis.from_url(redis_url)
        assert client.llen("iotcop") == 0 and client.hlen("unacked") == 0 and client.zcard("unacked_index") == 0
        client.close()
    assert _ids(report) == _ids(direct_reports["plain"])
    assert report["target"]["sha256"] == direct_reports["plain"]["target"]["sha256"]
    print(f"kill -9 test: {time.monotonic() - started:.1f} s from the first worker's start")
