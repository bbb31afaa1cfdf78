"""`iotcop batch` with the local pool: interrupted twice (SIGINT, then SIGKILL) and resumed; every image once."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import time

import pytest
from batch_support import BIN, journal, make_tarball, wait_for

CHECKS = ["--check", "credentials", "--check", "services.telnet-at-boot", "--check", "vulns"]


def _start(images, out, cache, *extra):
    return subprocess.Popen([str(BIN), "batch", str(images), "--out", str(out), "--workers", "2", "--jobs", "2",
                             "--cache", str(cache), "-q", *CHECKS, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _done(out):
    return [r for r in journal(out) if r["event"] == "done"] if (out / "journal.jsonl").exists() else []


def _scan_processes_of(pid_file_pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if pid_file_pattern in line and "ps -eo" not in line]


@pytest.mark.slow
def test_twenty_images_interrupted_and_resumed_each_done_once(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(20):
        make_tarball(images / f"fw-{i:02d}.tar", i)
    out, cache = tmp_path / "out", tmp_path / "cache"

    # 1: Ctrl-C after a few images: the summary is written, the rest is pending.
    proc = _start(images, out, cache)
    wait_for(lambda: len(_done(out)) >= 3, timeout=240)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    first = {r["sha256"] for r in _done(out)}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["done"] == len(first) and summary["totals"]["pending"] == 20 - len(first)

    # 2: SIGKILL of the batch process in the middle: its scans stop with it.
    proc = _start(images, out, cache)
    wait_for(lambda: len(_done(out)) >= len(first) + 3, timeout=240)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    second = {r["sha256"] for r in _done(out)}
    wait_for(lambda: not _scan_processes_of(str(images)), timeout=20)

    # 3: run to the end.
    proc = _start(images, out, cache)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr  # the images have an empty root password: a mandatory provision fails

    records = journal(out)
    done = collections.Counter(r["sha256"] for r in records if r["event"] == "done")
    assert len(done) == 20 and set(done.values()) == {1}, done
    assert not [r for r in records if r["event"] == "failed"]
    batches = [r for r in records if r["event"] == "batch"]
    assert [b["todo"] for b in batches] == [20, 20 - len(first), 20 - len(second)]
    results = sorted(p.name for p in (out / "results").iterdir())
    assert len(results) == 20 and not [r for r in results if r.startswith(".")]
    for r in results:
        report = json.loads((out / "results" / r / "report.json").read_text())
        assert r.startswith(report["target"]["sha256"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"] == {"images": 20, "done": 20, "failed": 0, "pending": 0, "failing_mandatory": 20,
                                 "findings": sum(i["findings"] for i in summary["images"])}
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert len(csv_lines) == 21
    html = (out / "index.html").read_text()
    assert html.count("report.html'>") == 20

    # 4: once more: nothing to do, nothing scanned twice.
    proc = _start(images, out, cache)
    proc.communicate(timeout=120)
    assert collections.Counter(r["sha256"] for r in journal(out) if r["event"] == "done") == done


@pytest.mark.slow
def test_per_image_budget_stops_a_slow_scan(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    make_tarball(images / "slow.tar", 1)
    out = tmp_path / "out"
    env = dict(os.environ, IOTCOP_TEST_HOOKS="1")
    start = time.monotonic()
    proc = subprocess.run([str(BIN), "batch", str(images), "--out", str(out), "--budget", "3", "--test-delay", "60",
                           "--no-cache", "-q", "--check", "credentials.empty-password"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert time.monotonic() - start < 40
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("iotcop: error: 1 image(s) could not be scanned")
    [failed] = [r for r in journal(out) if r["event"] == "failed"]
    assert "time budget of 3 s" in failed["error"]
    assert not list((out / "results").iterdir())


@pytest.mark.slow
def test_duplicate_images_are_scanned_once_and_missing_paths_exit_2(tmp_path, cli):
    images = tmp_path / "images"
    images.mkdir()
    make_tarball(images / "a.tar", 7)
    (images / "copy-of-a.tar").write_bytes((images / "a.tar").read_bytes())
    out = tmp_path / "out"
    res = cli("batch", images, "--out", out, "--no-cache", "-q", "--check", "credentials.empty-password")
    assert res.code == 1, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [i["status"] for i in summary["images"]] == ["done", "done"]
    assert len({i["sha256"] for i in summary["images"]}) == 1
    assert len([r for r in journal(out) if r["event"] == "done"]) == 1
    res = cli("batch", tmp_path / "nope", "--out", out)
    assert res.code == 2 and res.stderr.startswith("iotcop: error:")
