"""50 publishers x 200 submissions against uvicorn + PostgreSQL: afterwards each submission is stored exactly once.

Every tenth submission is sent twice at the same moment with the same idempotency key (a client retrying a
request whose answer it did not see): both answers must name the same label, and only one label may exist.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from registry_support import label_for, small_report, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry-postgres-load")]

PUBLISHERS = 50
SUBMISSIONS = 200
DUPLICATE_EVERY = 10
DEADLINE = 1200.0  # seconds for the whole load; the test fails rather than run longer


def test_concurrent_publishers_store_every_submission_once(pg, tmp_path):
    import httpx
    from sqlalchemy import func, select

    from iotcop.label.signing import init_keys, load_private_key
    from iotcop.registry.db import make_engine, migrate, sessions
    from iotcop.registry.models import AuditEntry, Label
    from iotcop.registry.service import add_manufacturer

    db = pg.create_database("registry_load")
    engine = make_engine(db)
    migrate(engine)
    factory = sessions(engine)
    publishers = []
    for i in range(PUBLISHERS):
        keys = tmp_path / f"keys-{i}"
        init_keys(keys)
        with factory() as s:
            _, token = add_manufacturer(s, f"Maker {i:02d}", (keys / "label-signing.pub").read_bytes())
            s.commit()
        key = load_private_key(keys)
        report = small_report(findings=[{"check": "credentials.hardcoded", "title": f"maker {i} finding"}])
        work = [(f"m{i}-s{j}", label_for(report, {"name": f"Device {i}", "model": f"D{i}"}, f"1.0.{j}", key))
                for j in range(SUBMISSIONS)]
        publishers.append((token, report, work))

    async def send(client, token, report, key, label):
        for attempt in range(3):
            try:
                r = await client.post("/api/v1/labels", headers={"Authorization": f"Bearer {token}",
                                                                 "Idempotency-Key": key},
                                      files={"label": ("label.json", label, "application/json"),
                                             "report": ("report.json", report, "application/json")})
            except httpx.TransportError:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.5)
                continue
            assert r.status_code in (200, 201), (r.status_code, r.text)
            return r.status_code, r.json()["label"]["id"]
        raise AssertionError("unreachable")

    async def publisher(client, token, report, work, results):
        for n, (key, label) in enumerate(work):
            if n % DUPLICATE_EVERY == 0:
                a, b = await asyncio.gather(send(client, token, report, key, label),
                                            send(client, token, report, key, label))
                assert a[1] == b[1], (key, a, b)
                assert sorted([a[0], b[0]]) == [200, 201], (key, a, b)
                results.append((key, a[1], 2))
            else:
                code, label_id = await send(client, token, report, key, label)
                assert code == 201, (key, code)
                results.append((key, label_id, 1))

    async def run(base):
        results: list = []
        limits = httpx.Limits(max_connections=PUBLISHERS * 2, max_keepalive_connections=PUBLISHERS * 2)
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
            await asyncio.wait_for(asyncio.gather(*(publisher(client, t, r, w, results)
                                                    for t, r, w in publishers)), DEADLINE)
        return results

    with uvicorn_server(db, tmp_path) as base:
        start = time.monotonic()
        results = asyncio.run(run(base))
        seconds = time.monotonic() - start
    requests = sum(n for _, _, n in results)
    print(f"\nconcurrency: {PUBLISHERS} publishers x {SUBMISSIONS} submissions, {requests} requests "
          f"in {seconds:.1f} s ({requests / seconds:.0f} requests/s)")

    expected = {f"m{i}-s{j}" for i in range(PUBLISHERS) for j in range(SUBMISSIONS)}
    assert len(results) == len(expected) and {k for k, _, _ in results} == expected
    assert len({label_id for _, label_id, _ in results}) == len(expected)
    with factory() as s:
        stored = s.execute(select(Label.idempotency_key, func.count()).group_by(Label.manufacturer_id,
                                                                               Label.idempotency_key)).all()
        publishes = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "label.publish"))
    counts = {key: n for key, n in stored}
    assert set(counts) == expected, "missing or extra submissions"
    assert max(counts.values()) == 1, "a submission was stored twice"
    assert publishes == len(expected)  # one audit entry per stored label, none for the repeats
    print(f"concurrency: {len(counts)} submissions stored, each exactly once; "
          f"{requests - len(expected)} repeated requests answered with the stored label")
    engine.dispose()
