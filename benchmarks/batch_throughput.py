"""Batch throughput (images per minute) with 1 and 2 workers, and the cache's speed-up on a second version.

    .venv/bin/python benchmarks/batch_throughput.py [--images 4] [--engines local,celery] [--workers 1,2]
                                                    [--skip-cache] [--skip-throughput]

Throughput: copies of the small vulnerable demo image, each with different trailing padding (so every
sha256 differs and nothing is reused), scanned by `iotcop batch --no-cache` with the local pool and with
Celery workers (a Redis server and `iotcop worker` processes started here, on 127.0.0.1).

Cache: the demo image's root filesystem as version 1 and a version 2 with /etc/os-release and one binary
changed; version 2 is scanned with a cache holding version 1 and without a cache, alternately, RUNS times
(medians).  --cache-size takes the root filesystem of a larger demo image instead of the small one.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("iotcop")
RUNS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_images(demo: Path, folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    data = demo.read_bytes()
    out = []
    for i in range(count):
        p = folder / f"fw-{i:03d}.bin"
        p.write_bytes(data + b"\xff" * (4096 + i))  # erased-flash padding: a different image, the same content
        out.append(p)
    return out


def run_local(images: Path, workers: int, work: Path) -> float:
    out = work / f"local-{workers}"
    start = time.perf_counter()
    proc = subprocess.run([str(BIN), "batch", str(images), "--out", str(out), "--workers", str(workers),
                           "--no-cache", "-q"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    _check(proc, out)
    return seconds


def run_celery(images: Path, workers: int, work: Path) -> float:
    port = _free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--daemonize", "no"], stdout=subprocess.DEVNULL,
                             start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    logs = [open(work / f"worker-{workers}-{i}.log", "w") for i in range(workers)]
    procs = [subprocess.Popen([str(BIN), "worker", "--broker", url, "--concurrency", "1"], stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True) for log in logs]
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(
                " ready." in (work / f"worker-{workers}-{i}.log").read_text() for i in range(workers)):
            time.sleep(0.5)
        out = work / f"celery-{workers}"
        start = time.perf_counter()
        proc = subprocess.run([str(BIN), "batch", str(images), "--out", str(out), "--engine", "celery",
                               "--broker", url, "--no-cache", "-q"], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        _check(proc, out)
        return seconds
    finally:
        for p in procs + [redis]:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)
        for log in logs:
            log.close()


def _check(proc: subprocess.CompletedProcess, out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    if summary["totals"]["done"] != summary["totals"]["images"]:
        raise SystemExit(f"batch did not finish every image: {summary['totals']} {proc.stderr[-500:]}")


def cache_speedup(rootfs: Path, work: Path) -> dict:
    from iotcop.cache.store import AnalysisCache
    from iotcop.scan import ScanOptions, scan

    v1 = work / "v1"
    v2 = work / "v2"
    shutil.copytree(rootfs, v1, symlinks=True)
    shutil.copytree(rootfs, v2, symlinks=True)
    osr = v2 / "etc/os-release"
    osr.write_text(osr.read_text().replace("1.0.3", "1.0.4"))
    binary = v2 / "usr/sbin/lighttpd"
    data = binary.read_bytes()
    binary.unlink()
    binary.write_bytes(data + b"\x00build 1.0.4")
    binary.chmod(0o755)

    def timed(src: Path, cache):
        start = time.perf_counter()
        result = scan(src, ScanOptions(cache=cache))
        return time.perf_counter() - start, result

    def median(values):
        return sorted(values)[len(values) // 2]

    cache = AnalysisCache(work / "cache")
    timed(v1, cache)  # warms the cache with version 1
    colds, warms, fresh = [], [], []
    for i in range(RUNS):  # alternated, so a change of load on the machine hits both alike
        cold, cold_r = timed(v2, None)
        colds.append(cold)
        # A fresh cache holding only version 1 each time, so every run is a first scan of version 2.
        run_cache = AnalysisCache(work / f"cache-{i}")
        with sqlite3.connect(cache.path) as src, sqlite3.connect(run_cache.path) as dst:
            src.backup(dst)  # the WAL's pages included
        warm, warm_r = timed(v2, run_cache)
        warms.append(warm)
        fresh.append((run_cache.hits, run_cache.misses, warm_r))
    reused, rerun, warm_r = fresh[-1]
    scanned = {name: (st.files, st.cached) for name, st in warm_r.firmware.content_status.items()}
    same = sorted(f.id for f in cold_r.assessment.findings) == sorted(f.id for f in warm_r.assessment.findings)
    timed(v2, cache)
    cache.hits = cache.misses = 0
    again, _ = timed(v2, cache)  # the same version 2 once more: every check's inputs are unchanged
    return {"runs": RUNS, "v2_without_cache_s": round(median(colds), 2), "v2_with_v1_cache_s": round(median(warms), 2),
            "speedup": round(median(colds) / median(warms), 2),
            "checks_stage_without_cache_s": cold_r.assessment.timings.get("checks"),
            "checks_stage_with_cache_s": warm_r.assessment.timings.get("checks"),
            "inventory_without_cache_s": cold_r.assessment.timings.get("inventory"),
            "inventory_with_cache_s": warm_r.assessment.timings.get("inventory"), "same_findings": same,
            "checks_reused_on_v2": reused, "checks_rerun_on_v2": rerun,
            "content_scans_on_v2_files_scanned_vs_cached": scanned,
            "identical_v2_again_s": round(again, 2), "checks_reused_on_identical": cache.hits}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--engines", default="local,celery")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--skip-cache", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--cache-size", default="small", help="demo image whose root filesystem is version 1 "
                        "of the cache test: small, 10mb, 30mb or 100mb")
    args = parser.parse_args()
    from iotcop.demo.builder import build_image

    demo = build_image("vulnerable")
    results: dict = {"cores": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="iotcop-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            images = work / "images"
            make_images(demo.image, images, args.images)
            for engine in args.engines.split(","):
                if engine == "celery" and shutil.which("redis-server") is None:
                    print("celery: skipped (redis-server is not installed)")
                    continue
                for w in (int(x) for x in args.workers.split(",")):
                    seconds = (run_local if engine == "local" else run_celery)(images, w, work)
                    rate = args.images / seconds * 60
                    results[f"{engine}_{w}_workers"] = {"seconds": round(seconds, 1), "images_per_minute": round(rate, 2)}
                    print(f"{engine:6} {w} worker(s): {args.images} images in {seconds:.1f} s = {rate:.2f} images/min",
                          flush=True)
        if not args.skip_cache:
            rootfs = (demo if args.cache_size == "small" else build_image("vulnerable", size=args.cache_size)).rootfs
            if not rootfs.is_dir():
                print("cache: skipped (the demo build keeps no rootfs folder)")
            else:
                results["cache"] = cache_speedup(rootfs, work)
                print("cache: " + json.dumps(results["cache"]), flush=True)
    results["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
