"""Run checks isolated from each other and from the scanner.

Each check runs in a forked child with its own time budget: an exception, a
crash or a timeout becomes a CheckRun with status error/timeout, and the scan
goes on.  Forking shares the inventory without copying or re-parsing it.  With an
analysis cache in the scan context, checks whose recorded inputs are unchanged are
answered from it; the others run observed, so their result can be stored.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterable

from iotcop.cache.trace import Recorder, Replayer
from iotcop.checks.base import Check
from iotcop.checks.echoes import without_container_echoes
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import CheckRun, Compliance, ConditionFact, Finding


def run_check_inline(cls: type[Check], fw: Firmware, ctx: ScanContext | None = None) -> CheckRun:
    """Run one check in this process (no timeout); used by the child and by tests."""
    ctx = ctx or ScanContext.default()
    start = time.perf_counter()
    run = CheckRun(check=cls.ID, version=cls.VERSION, status="ran", provisions=list(cls.PROVISIONS))
    try:
        for item in cls().run(fw, ctx):
            if isinstance(item, Finding):
                run.findings.append(item)
            elif isinstance(item, Compliance):
                run.compliance.append(item)
            elif isinstance(item, ConditionFact):
                run.conditions.append(item)
            else:
                raise TypeError(f"check yielded {type(item).__name__}")
    except Exception as exc:  # noqa: BLE001 - isolation is the point
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
        run = CheckRun(
            check=cls.ID,
            version=cls.VERSION,
            status="error",
            provisions=list(cls.PROVISIONS),
            error=f"{type(exc).__name__}: {exc}{where}",
        )
    run.seconds = round(time.perf_counter() - start, 4)
    run.findings = without_container_echoes(run.findings, fw)
    run.findings.sort(key=Finding.sort_key)
    return run


def _child(cls: type[Check], fw: Firmware, ctx: ScanContext, conn: Connection, traced: bool = False) -> None:
    try:
        if traced:
            recorder = Recorder()
            fw.observe(recorder)
            run = run_check_inline(cls, fw, ctx)
            conn.send({"run": run.model_dump(), "trace": recorder.answers if recorder.cacheable else None})
            return
        conn.send(run_check_inline(cls, fw, ctx).model_dump())
    finally:
        conn.close()


def run_checks(
    checks: Iterable[type[Check]],
    fw: Firmware,
    ctx: ScanContext,
    *,
    jobs: int | None = None,
    timeout_scale: float = 1.0,
    on_done: Callable[[CheckRun], None] | None = None,
) -> list[CheckRun]:
    """Run checks in parallel child processes; results in the order given.

    The profile in `ctx` may replace a check's TIMEOUT with its own budget.
    """
    budgets = ctx.profile.timeouts
    checks = list(checks)
    jobs = max(1, jobs or os.cpu_count() or 1)
    forking = mp.get_context("fork")
    pending = list(enumerate(checks))
    running: dict[Connection, tuple[int, type[Check], mp.Process, float]] = {}
    results: dict[int, CheckRun] = {}

    def finish(index: int, run: CheckRun) -> None:
        # What the check cost includes its share of the inventory's content pass.
        scanned = fw.content_seconds(getattr(checks[index], "CONTENT_NAME", "") or "")
        if scanned:
            run.seconds = round(run.seconds + scanned, 4)
        results[index] = run
        if on_done:
            on_done(run)

    cache = ctx.cache
    traces: dict[int, dict | None] = {}
    if cache is not None:
        replayer = Replayer(fw)
        for index, cls in list(pending):
            stored = cache.lookup(cls, ctx, replayer)
            if stored is not None:
                pending.remove((index, cls))
                finish(index, stored)

    for index, cls in list(pending):
        # A content check whose scanning the inventory had to stop has incomplete results: not run.
        failure = fw.content_failure(getattr(cls, "CONTENT_NAME", "") or "")
        if failure is not None:
            pending.remove((index, cls))
            status, why = failure
            finish(index, CheckRun(check=cls.ID, version=cls.VERSION, status=status, provisions=list(cls.PROVISIONS),
                                   error=f"content scan: {why}"))

    while pending or running:
        while pending and len(running) < jobs:
            index, cls = pending.pop(0)
            parent, child = forking.Pipe(duplex=False)
            traced = cache is not None and cache.worth_tracing(cls, ctx)
            proc = forking.Process(target=_child, args=(cls, fw, ctx, child, traced), daemon=True)
            proc.start()
            child.close()
            running[parent] = (index, cls, proc, time.monotonic() + budgets.get(cls.ID, cls.TIMEOUT) * timeout_scale)
        now = time.monotonic()
        soonest = min(deadline for *_, deadline in running.values())
        ready = wait(list(running), timeout=max(0.0, soonest - now))
        for conn in ready:
            index, cls, proc, _ = running.pop(conn)
            try:
                payload = conn.recv()
                if cache is not None and "trace" in payload:
                    traces[index], payload = payload["trace"], payload["run"]
                run = CheckRun.model_validate(payload)
            except (EOFError, OSError):
                proc.join(1)
                run = CheckRun(
                    check=cls.ID,
                    version=cls.VERSION,
                    status="error",
                    provisions=list(cls.PROVISIONS),
                    error=f"check process died (exit code {proc.exitcode})",
                )
            conn.close()
            proc.join(5)
            if cache is not None and traces.get(index) is not None:
                cache.store(cls, ctx, traces[index], run)
            finish(index, run)
        now = time.monotonic()
        for conn, (index, cls, proc, deadline) in list(running.items()):
            if now >= deadline and conn not in ready:
                proc.kill()
                proc.join(5)
                conn.close()
                del running[conn]
                finish(
                    index,
                    CheckRun(
                        check=cls.ID,
                        version=cls.VERSION,
                        status="timeout",
                        provisions=list(cls.PROVISIONS),
                        error=f"stopped after its time budget of {budgets.get(cls.ID, cls.TIMEOUT) * timeout_scale:g} s",
                        seconds=budgets.get(cls.ID, cls.TIMEOUT) * timeout_scale,
                    ),
                )
    return [results[i] for i in range(len(checks))]
