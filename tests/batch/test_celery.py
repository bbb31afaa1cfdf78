"""Celery engine against a real Redis server and two real `iotcop worker` processes.

One worker (its whole process group: main process and pool) is killed with SIGKILL while it scans;
its job goes back to Redis and the other worker completes it: every image has exactly one result.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import time

import pytest
from batch_support import BIN, journal, kill_group, make_tarball, wait_for
from redis_support import HAVE_REDIS, SKIP_REASON, redis_server

pytestmark = pytest.mark.skipif(not HAVE_REDIS, reason=SKIP_REASON)

VISIBILITY = 8  # seconds; short so the killed worker's job comes back within the test


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path) as url:
        yield url


def _worker(url: str, log) -> subprocess.Popen:
    env = dict(os.environ, IOTCOP_TEST_HOOKS="1")
    return subprocess.Popen([str(BIN), "worker", "--broker", url, "--concurrency", "1", "--visibility-timeout",
                             str(VISIBILITY)], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _received(log_path) -> list[str]:
    return re.findall(r"Task iotcop\.scan_image\[([0-9a-f]{64}-[^\]]+)\] received", log_path.read_text())


def _succeeded(log_path) -> list[str]:
    return re.findall(r"Task iotcop\.scan_image\[([0-9a-f]{64}-[^\]]+)\] succeeded", log_path.read_text())


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_scan_loses_and_duplicates_nothing(tmp_path, redis_url):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(4):
        make_tarball(images / f"fw-{i}.tar", 200 + i)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    handles = [open(p, "w") for p in logs]
    workers = [_worker(redis_url, h) for h in handles]
    driver = None
    try:
        for p in logs:
            wait_for(lambda p=p: " ready." in p.read_text(), timeout=90)
        out = tmp_path / "out"
        # The test delay keeps each job busy for a few seconds so the kill lands mid-job; the scan after it is real.
        driver = subprocess.Popen([str(BIN), "batch", str(images), "--out", str(out), "--engine", "celery",
                                   "--broker", redis_url, "--cache", str(tmp_path / "cache"), "--test-delay", "4",
                                   "--budget", "300", "-q", "--check", "credentials", "--check", "services"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        wait_for(lambda: any(_received(p) for p in logs), timeout=120)
        victim = next(i for i, p in enumerate(logs) if _received(p))
        killed_task = _received(logs[victim])[0]
        time.sleep(1.5)
        assert killed_task not in _succeeded(logs[victim])
        kill_group(workers[victim], signal.SIGKILL)
        survivor = 1 - victim

        stdout, stderr = driver.communicate(timeout=400)
        assert driver.returncode == 1, stderr.decode()  # every image scanned; they fail a mandatory provision

        records = journal(out)
        done = collections.Counter(r["sha256"] for r in records if r["event"] == "done")
        assert len(done) == 4 and set(done.values()) == {1}, records
        assert not [r for r in records if r["event"] == "failed"]
        results = sorted(p.name for p in (out / "results").iterdir())
        assert len(results) == 4 and not [r for r in results if r.startswith(".")]
        assert killed_task in results  # task id == result key: image sha256 + tool version
        # The killed worker never finished the job; the survivor received it again and completed it.
        assert killed_task not in _succeeded(logs[victim])
        assert killed_task in _received(logs[survivor]) and killed_task in _succeeded(logs[survivor])
        report = json.loads((out / "results" / killed_task / "report.json").read_text())
        assert report["target"]["sha256"] == killed_task.split("-")[0]
        summary = json.loads((out / "summary.json").read_text())
        assert summary["totals"]["done"] == 4 and summary["engine"] == "celery"

        # Running the batch again scans nothing: the journal has every image.
        again = subprocess.run([str(BIN), "batch", str(images), "--out", str(out), "--engine", "celery",
                                "--broker", redis_url, "-q"], capture_output=True, text=True, timeout=120)
        assert again.returncode == 1, again.stderr
        assert collections.Counter(r["sha256"] for r in journal(out) if r["event"] == "done") == done
    finally:
        if driver is not None and driver.poll() is None:
            kill_group(driver)
        for w in workers:
            kill_group(w, signal.SIGKILL)
        for h in handles:
            h.close()


def test_celery_engine_needs_a_redis_broker(cli, tmp_path):
    res = cli("batch", tmp_path, "--out", tmp_path / "o", "--engine", "celery")
    assert res.code == 2 and "--broker" in res.stderr
    res = cli("worker", "--broker", "amqp://localhost")
    assert res.code == 2 and res.stderr.startswith("iotcop: error: --broker")


def _pool_children(worker: subprocess.Popen) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(worker.pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


@pytest.mark.slow
def test_killed_pool_process_puts_its_job_back_at_once(tmp_path, redis_url):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(2):
        make_tarball(images / f"fw-{i}.tar", 300 + i)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    handles = [open(p, "w") for p in logs]
    # A long visibility timeout: only reject_on_worker_lost can bring the job back within this test.
    workers = []
    env = dict(os.environ, IOTCOP_TEST_HOOKS="1")
    for h in handles:
        workers.append(subprocess.Popen([str(BIN), "worker", "--broker", redis_url, "--concurrency", "1",
                                         "--visibility-timeout", "3600"], stdout=h, stderr=subprocess.STDOUT,
                                        env=env, start_new_session=True))
    driver = None
    try:
        for p in logs:
            wait_for(lambda p=p: " ready." in p.read_text(), timeout=90)
        out = tmp_path / "out"
        driver = subprocess.Popen([str(BIN), "batch", str(images), "--out", str(out), "--engine", "celery",
                                   "--broker", redis_url, "--no-cache", "--test-delay", "4", "-q",
                                   "--check", "credentials.empty-password"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        wait_for(lambda: any(_received(p) for p in logs), timeout=120)
        victim = next(i for i, p in enumerate(logs) if _received(p))
        task = _received(logs[victim])[0]
        time.sleep(1.0)
        [pool] = _pool_children(workers[victim])
        os.kill(pool, signal.SIGKILL)
        stdout, stderr = driver.communicate(timeout=300)
        assert driver.returncode == 1, stderr.decode()
        text = "".join(p.read_text() for p in logs)
        assert "WorkerLostError" in text or "signal 9" in text
        assert sum(_received(p).count(task) for p in logs) >= 2  # delivered again after the loss
        done = collections.Counter(r["sha256"] for r in journal(out) if r["event"] == "done")
        assert len(done) == 2 and set(done.values()) == {1}
        assert len(list((out / "results").iterdir())) == 2
    finally:
        if driver is not None and driver.poll() is None:
            kill_group(driver)
        for w in workers:
            kill_group(w, signal.SIGKILL)
        for h in handles:
            h.close()
