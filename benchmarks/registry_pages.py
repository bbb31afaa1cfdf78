"""Requests per second for registry product pages, from a bounded load on 127.0.0.1.

Starts `uvicorn` with the registry app (one process, as `iotcop serve` runs it) on a SQLite file (default) or a
PostgreSQL database (--db postgresql://...), publishes PRODUCTS products with VERSIONS firmware versions each
(every version with a report of 30 findings, so the "what changed" lists are real work), then sends GET requests
for random product pages from CONCURRENCY connections for DURATION seconds, and prints throughput and latency.

    .venv/bin/python benchmarks/registry_pages.py [--products 200] [--versions 3] [--concurrency 32]
                                                  [--duration 20] [--path product|qr|api] [--db URL]
                                                  [--client httpx|wrk]

`--client wrk` uses Debian's `wrk` (apt-get install wrk), which needs far less CPU than the Python client,
so more of the two cores are left to the server.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "registry"))

from registry_support import populate, uvicorn_server  # noqa: E402


async def load(base: str, paths: list[str], concurrency: int, duration: float) -> tuple[list[float], int, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    sent = 0
    stop_at = time.monotonic() + duration
    rng = random.Random(7)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors, sent
            while time.monotonic() < stop_at:
                path = rng.choice(paths)
                start = time.perf_counter()
                try:
                    r = await client.get(path)
                    ok = r.status_code == 200 and len(r.content) > 500
                except httpx.TransportError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                sent += 1
                errors += 0 if ok else 1

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), duration + 60)
    return latencies, sent, errors


def wrk_load(base: str, paths: list[str], concurrency: int, duration: float, folder: Path) -> str:
    import shutil
    import subprocess

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    script = folder / "paths.lua"
    listed = ",".join(f'"{p}"' for p in paths)
    script.write_text(f"local paths = {{{listed}}}\nlocal i = 0\n"
                      "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
                      "response = function(status, headers, body)\n"
                      "  if status ~= 200 then wrk.thread:set('bad', (wrk.thread:get('bad') or 0) + 1) end\nend\n")
    out = subprocess.run(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{int(duration)}s", "--latency",
                          "-s", str(script), base], capture_output=True, text=True, timeout=duration + 60)
    return out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--path", choices=["product", "qr", "api"], default="product")
    parser.add_argument("--db", default="", help="postgresql://... (default: a new SQLite file)")
    parser.add_argument("--client", choices=["httpx", "wrk"], default="httpx")
    args = parser.parse_args()
    if not (1 <= args.concurrency <= 256 and 1 <= args.duration <= 300):
        parser.error("--concurrency 1..256 and --duration 1..300")

    with tempfile.TemporaryDirectory(prefix="iotcop-bench-") as tmp:
        tmp_path = Path(tmp)
        db = args.db or f"sqlite:///{tmp_path / 'registry.db'}"
        t0 = time.perf_counter()
        products, label_pids = populate(db, args.products, args.versions, tmp_path / "keys")
        print(f"published {len(label_pids)} labels for {len(products)} products in {time.perf_counter() - t0:.1f} s")
        paths = {"product": [f"/products/{p}" for p in products], "qr": [f"/p/{pid}" for pid in label_pids],
                 "api": [f"/api/v1/products/{p}" for p in products]}[args.path]
        with uvicorn_server(db, tmp_path) as base:
            asyncio.run(load(base, paths[:20], 8, 2.0))  # warm-up
            if args.client == "wrk":
                print(f"{args.path} pages, {db.split(':', 1)[0]}, wrk, {args.concurrency} connections:")
                print(wrk_load(base, paths, args.concurrency, args.duration, tmp_path))
                return
            latencies, sent, errors = asyncio.run(load(base, paths, args.concurrency, args.duration))
    latencies.sort()
    q = lambda f: latencies[min(len(latencies) - 1, int(f * len(latencies)))] * 1000  # noqa: E731
    backend = db.split(":", 1)[0]
    print(f"{args.path} pages, {backend}, {args.concurrency} connections, {args.duration:.0f} s: "
          f"{sent / args.duration:.0f} requests/s, {errors} errors; latency ms p50 {q(0.5):.1f} "
          f"p95 {q(0.95):.1f} p99 {q(0.99):.1f} mean {statistics.fmean(latencies) * 1000:.1f}")


if __name__ == "__main__":
    main()
