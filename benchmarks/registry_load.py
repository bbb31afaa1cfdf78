"""The registry under load: 200 clients on the API, the search page and the product page, SQLite and PostgreSQL.

For each database (a SQLite file, and a PostgreSQL server this benchmark starts on 127.0.0.1) the registry is
filled with PRODUCTS products of VERSIONS labels each and served by uvicorn in one process, as `iotcop serve`
runs it (access log on).  Debian's `wrk` then keeps CONNECTIONS connections busy for DURATION seconds on each
target in turn, while a thread asks /healthz every 0.2 s:

    api       GET /api/v1/products?q=...&offset=...  (a page of 50 products with their newest label)
    search    GET /search?q=...                      (the search page)
    product   GET /products/ID                       (the product page: history and what changed)
    static    GET /static/style.css                  (anchor: the same server and middleware, no database)

and prints requests/s, latency percentiles, errors (any answer but 200, and wrk's socket errors) and the slowest
/healthz answer.  The rate limit is raised for the run: every wrk connection comes from 127.0.0.1, which the
default limit (50 reads/s per address) would answer with 429.

    .venv/bin/python benchmarks/registry_load.py [--db sqlite,postgresql] [--connections 200] [--duration 20]
                                                 [--products 200] [--versions 3] [--targets api,search,product,static]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "registry"))

from registry_support import HealthProbe, populate, postgres_server, uvicorn_server, wrk_load  # noqa: E402

TARGETS = ("api", "search", "product", "static")
HEALTH_LIMIT = 1.0  # seconds: /healthz must answer within this throughout


def paths_for(target: str, product_ids: list[str], products: int) -> list[str]:
    if target == "api":
        return [f"/api/v1/products?q=bench+camera&offset={i}" for i in range(0, max(1, products - 50), 7)]
    if target == "search":
        return [f"/search?q=camera+{i}" for i in range(products)] + ["/search?q=bench+camera"]
    if target == "product":
        return [f"/products/{p}" for p in product_ids]
    return ["/static/style.css"]


@contextlib.contextmanager
def database(kind: str, folder: Path):
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'registry.db'}"
        return
    with postgres_server(max_connections=100) as pg:
        yield pg.create_database("registry_load")


def run(kind: str, args, folder: Path) -> list[dict]:
    rows = []
    with database(kind, folder) as db:
        t0 = time.perf_counter()
        product_ids, _ = populate(db, args.products, args.versions, folder / "keys")
        print(f"{kind}: published {args.products * args.versions} labels for {args.products} products "
              f"in {time.perf_counter() - t0:.1f} s", flush=True)
        with uvicorn_server(db, folder / "data", rate=1e9) as base:
            for target in args.targets:
                paths = paths_for(target, product_ids, args.products)
                wrk_load(base, paths[:20], 8, 2, folder)  # warm-up (page cache, connection pool)
                with HealthProbe(base) as probe:
                    result = wrk_load(base, paths, args.connections, args.duration, folder)
                row = {"db": kind, "target": target, "rps": result.per_second, "p50": result.p50_ms,
                       "p90": result.p90_ms, "p99": result.p99_ms, "max": result.max_ms, "errors": result.errors,
                       "requests": result.requests, "statuses": result.statuses,
                       "socket_errors": result.socket_errors, "health_max": probe.max_seconds,
                       "health_failures": len(probe.failures), "health_probes": len(probe.latencies)}
                rows.append(row)
                print(f"  {kind:10} {target:8} {row['rps']:7.0f} req/s  p50 {row['p50']:7.1f} ms  "
                      f"p99 {row['p99']:7.1f} ms  max {row['max']:7.1f} ms  errors {row['errors']}  "
                      f"/healthz max {row['health_max'] * 1000:.0f} ms over {row['health_probes']} probes",
                      flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--versions", type=int, default=3)
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    kinds = [k for k in args.db.split(",") if k]
    if not set(kinds) <= {"sqlite", "postgresql"} or not set(args.targets) <= set(TARGETS):
        parser.error(f"--db sqlite,postgresql and --targets from {','.join(TARGETS)}")
    if not (1 <= args.connections <= 1000 and 1 <= args.duration <= 300 and 51 <= args.products <= 5000):
        parser.error("--connections 1..1000, --duration 1..300, --products 51..5000")

    rows = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"iotcop-load-{kind}-") as tmp:
            rows += run(kind, args, Path(tmp))

    print(f"\n{args.connections} connections, {args.duration:.0f} s per target, {args.products} products x "
          f"{args.versions} versions; /healthz probed every 0.2 s")
    print("| database | target | requests/s | p50 ms | p99 ms | max ms | errors | /healthz max ms | vs static |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    anchor = {r["db"]: r["rps"] for r in rows if r["target"] == "static"}
    for r in rows:
        ratio = f"{r['rps'] / anchor[r['db']]:.2f}" if anchor.get(r["db"]) else "-"
        print(f"| {r['db']} | {r['target']} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | {r['max']:.0f} | "
              f"{r['errors']} | {r['health_max'] * 1000:.0f} | {ratio} |")
    failed = [r for r in rows if r["errors"] or r["health_failures"] or r["health_max"] > HEALTH_LIMIT]
    for r in failed:
        print(f"NOT MET: {r['db']} {r['target']}: {r['errors']} errors {r['statuses']} {r['socket_errors']}, "
              f"/healthz max {r['health_max']:.2f} s, {r['health_failures']} failed probes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
