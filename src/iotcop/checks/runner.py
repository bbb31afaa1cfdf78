"""Run checks isolated from each other and from the scanner.

Each check runs in a forked child with its own time budget: an exception, a
crash or a timeout becomes a CheckRun with status error/timeout, and the scan
goes on.  Forking shares the inventory without copying or re-parsing it.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Callable, Iterable

from iotcop.checks.base import Check
from iotcop.checks.echoes import without_container_echoes
from iotcop.firmware.model import Firmware
from iotcop.model import CheckRun, Compliance, ConditionFact, Finding

# An iotcop.batch.cache.AnalysisCache while one is in use (set by iotcop.batch.cache.using()): checks whose
# recorded inputs are unchanged are answered from it, the others run traced so their result can be stored.
analysis_cache = None


def run_check_inline(cls: type[Check], fw: Firmware) -> CheckRun:
    """Run one check in this process (no timeout); used by the child and by tests."""
    start = time.perf_counter()
    run = CheckRun(check=cls.ID, version=cls.VERSION, status="ran", provisions=list(cls.PROVISIONS))
    try:
        for item in cls().run(fw):
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


def _child(cls: type[Check], fw: Firmware, conn: Connection, traced: bool = False) -> None:
    try:
        if traced:
            from iotcop.batch.cache import start_tracing

            recorder = start_tracing(fw)
            run = run_check_inline(cls, fw)
            conn.send({"run": run.model_dump(), "trace": recorder.answers if recorder.cacheable else None})
            return
        conn.send(run_check_inline(cls, fw).model_dump())
    finally:
        conn.close()


def run_checks(
    checks: Iterable[type[Check]],
    fw: Firmware,
    *,
    jobs: int | None = None,
    timeout_scale: float = 1.0,
    on_done: Callable[[CheckRun], None] | None = None,
    timeouts: dict[str, float] | None = None,
) -> list[CheckRun]:
    """Run checks in parallel child processes; results in the order given.

    `timeouts` replaces the TIMEOUT of the checks it names (a scan profile's budgets).
    """
    budgets = timeouts or {}
    checks = list(checks)
    jobs = max(1, jobs or os.cpu_count() or 1)
    ctx = mp.get_context("fork")
    pending = list(enumerate(checks))
    running: dict[Connection, tuple[int, type[Check], mp.Process, float]] = {}
    results: dict[int, CheckRun] = {}

    def finish(index: int, run: CheckRun) -> None:
        # What the check cost includes its share of the inventory's content pass.
        scanned = fw.content_status.get(getattr(checks[index], "CONTENT_NAME", "") or "")
        if scanned is not None:
            run.seconds = round(run.seconds + scanned.seconds, 4)
        results[index] = run
        if on_done:
            on_done(run)

    cache = analysis_cache
    traces: dict[int, dict | None] = {}
    if cache is not None:
        replayer = cache.replayer(fw)
        for index, cls in list(pending):
            stored = cache.lookup(cls, replayer)
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
            parent, child = ctx.Pipe(duplex=False)
            traced = cache is not None and cache.worth_tracing(cls)
            proc = ctx.Process(target=_child, args=(cls, fw, child, traced), daemon=True)
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
                cache.store(cls, traces[index], run)
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
