"""`iotcop batch`: the driver (discover, journal, write results, summarise) and the local process pool.

Each image is scanned in its own process, started from a fork server that has
iotcop imported already, in a session of its own so that the whole scan (the
extractor and the check processes too) can be stopped when its time budget runs
out.  The driver alone writes results and the journal; an engine only computes.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Callable, Iterable, Protocol

from iotcop.batch.image import (
    DEFAULT_FORMATS,
    ImageJob,
    ImageResult,
    analyse,
    result_key,
    watch_parent,
)
from iotcop.batch.journal import Journal, ResultStore
from iotcop.batch.summary import rows_for, totals, write_summary
from iotcop.errors import InputError
from iotcop.files import file_sha256


@dataclass
class BatchOptions:
    workers: int | None = None  # images at once (local) ; default: one per two cores, at least 1
    budget: float = 1800.0  # seconds one image may take, extraction included
    formats: tuple[str, ...] = DEFAULT_FORMATS
    only_checks: tuple[str, ...] = ()
    jobs: int | None = None  # checks in parallel within one scan
    cache_dir: str | None = None  # None: default cache; "": no cache
    retry_failed: bool = False
    test_delay: float = 0.0
    profile: str | None = None


class Engine(Protocol):
    name: str

    def run(self, jobs: list[ImageJob], on_start: Callable[[ImageJob], None],
            on_result: Callable[[ImageResult], None]) -> None: ...


def discover(paths: Iterable[Path]) -> list[dict]:
    """Every image named (folders are searched recursively), with its sha256, in a stable order."""
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            found.extend(sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")))
        elif p.is_file():
            found.append(p)
        else:
            raise InputError(f"{p}: no such file or directory")
    if not found:
        raise InputError("no images to scan")
    images, seen = [], set()
    for p in found:
        key = str(p.resolve())
        if key in seen:
            continue
        seen.add(key)
        try:
            images.append({"path": str(p), "sha256": file_sha256(p)})
        except OSError as exc:
            raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    return images


# -- local engine ---------------------------------------------------------------
def _child_main(job: dict, conn: Connection) -> None:
    os.setsid()
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        try:
            result = analyse(ImageJob.from_dict(job))
        except Exception as exc:  # noqa: BLE001 - reported as this image's failure, never as a traceback
            result = ImageResult(sha256=job["sha256"], path=job["path"], status="failed",
                                 error=f"internal error: {type(exc).__name__}: {exc}")
        conn.send(result.to_dict())
    finally:
        conn.close()


class LocalEngine:
    name = "local"

    def __init__(self, workers: int, budget: float) -> None:
        self.workers = max(1, workers)
        self.budget = budget

    def run(self, jobs: list[ImageJob], on_start, on_result) -> None:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["iotcop.batch.image", "iotcop.scan", "iotcop.report.writers"])
        pending = list(jobs)
        running: dict[Connection, tuple[ImageJob, mp.Process, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    job = pending.pop(0)
                    parent, child = ctx.Pipe(duplex=False)
                    proc = ctx.Process(target=_child_main, args=(job.to_dict(), child), daemon=False)
                    proc.start()
                    child.close()
                    running[parent] = (job, proc, time.monotonic() + self.budget)
                    on_start(job)
                soonest = min(deadline for _, _, deadline in running.values())
                ready = wait(list(running), timeout=max(0.05, min(1.0, soonest - time.monotonic())))
                for conn in ready:
                    job, proc, _ = running.pop(conn)
                    try:
                        result = ImageResult(**conn.recv())
                    except (EOFError, OSError):
                        proc.join(5)
                        result = ImageResult(sha256=job.sha256, path=job.path, status="failed",
                                             error=f"scan process died (exit code {proc.exitcode})")
                    conn.close()
                    proc.join(10)
                    _kill_group(proc)
                    on_result(result)
                now = time.monotonic()
                for conn, (job, proc, deadline) in list(running.items()):
                    if now >= deadline:
                        del running[conn]
                        _kill_group(proc)
                        conn.close()
                        on_result(ImageResult(sha256=job.sha256, path=job.path, status="failed",
                                              seconds=self.budget,
                                              error=f"stopped after the per-image time budget of {self.budget:g} s"))
        finally:
            for conn, (job, proc, _) in running.items():
                _kill_group(proc)
                conn.close()


def _kill_group(proc) -> None:
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the scan and everything it started
    except (ProcessLookupError, PermissionError):
        pass
    proc.join(5)


# -- driver ---------------------------------------------------------------------
@dataclass
class BatchReport:
    out_dir: Path
    totals: dict
    ran: int  # images processed in this invocation
    skipped: int  # already finished according to the journal
    results: list[ImageResult] = field(default_factory=list)


class _Bar:
    """Rich progress for a batch; silent when asked."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        self.progress = None
        if quiet:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
                                 console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task("Images", total=total, completed=done, current="")
        self.active: list[str] = []

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def started(self, job: ImageJob) -> None:
        if self.progress:
            self.active.append(Path(job.path).name)
            self.progress.update(self.task, current=", ".join(self.active[-3:]))

    def finished(self, result: ImageResult) -> None:
        if self.progress:
            name = Path(result.path).name
            if name in self.active:
                self.active.remove(name)
            self.progress.update(self.task, advance=1, current=", ".join(self.active[-3:]))
            if result.status != "done":
                self.progress.console.print(f"[red]{result.path}: {result.error}[/red]")


def default_workers() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


def run_batch(paths: Iterable[Path], out_dir: Path, options: BatchOptions | None = None,
              engine: Engine | None = None, quiet: bool = False) -> BatchReport:
    options = options or BatchOptions()
    out_dir = Path(out_dir)
    images = discover(paths)
    journal = Journal(out_dir)
    store = ResultStore(out_dir)
    store.clean_temporaries()
    workers = options.workers or default_workers()
    engine = engine or LocalEngine(workers, options.budget)
    jobs_per_scan = options.jobs or max(1, (os.cpu_count() or 1) // workers)

    finished = journal.finished()
    # A result written just before a crash, whose journal line was never written: record it, do not redo it.
    for image in images:
        sha = image["sha256"]
        if sha not in finished and store.has(result_key(sha)):
            finished[sha] = journal.append("done", sha256=sha, path=image["path"], result=f"results/{result_key(sha)}",
                                           recovered=True, **_summary_from_folder(store.folder(result_key(sha))))
    unique: dict[str, dict] = {}
    for image in images:
        unique.setdefault(image["sha256"], image)
    todo = [img for sha, img in unique.items()
            if sha not in finished or (options.retry_failed and finished[sha]["event"] == "failed")]
    meta = {"engine": engine.name, "out_dir": str(out_dir)}
    journal.append("batch", images=len(images), unique=len(unique), todo=len(todo), engine=engine.name, pid=os.getpid())
    report = BatchReport(out_dir=out_dir, totals={}, ran=0, skipped=len(unique) - len(todo))

    jobs = [ImageJob(path=str(Path(img["path"]).resolve()), sha256=img["sha256"], formats=options.formats, only_checks=options.only_checks,
                     jobs=jobs_per_scan, extract_timeout=min(900.0, options.budget), cache_dir=options.cache_dir,
                     budget=options.budget, profile=options.profile, test_delay=options.test_delay)
            for img in todo]

    def on_start(job: ImageJob) -> None:
        journal.append("start", sha256=job.sha256, path=job.path)
        bar.started(job)

    def on_result(result: ImageResult) -> None:
        if result.sha256 in finished and finished[result.sha256]["event"] == "done":
            return  # a duplicate delivery of a job already recorded
        record = {"sha256": result.sha256, "path": result.path, "seconds": result.seconds, "worker": result.worker}
        if result.status == "done":
            key = result_key(result.sha256)
            store.write(key, result.files)
            record.update(result=f"results/{key}", exit_code=result.exit_code, summary=result.summary,
                          reused=result.reused, checks_reused=result.checks_reused, checks_run=result.checks_run)
            finished[result.sha256] = journal.append("done", **record)
        else:
            finished[result.sha256] = journal.append("failed", error=result.error, **record)
        report.ran += 1
        report.results.append(result)
        bar.finished(result)

    def summarise() -> None:
        # From the journal as written: an interruption can land between a record's append and `finished`.
        write_summary(out_dir, images, {**finished, **journal.finished()},
                      {**meta, "updated": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()})

    with _Bar(len(unique), len(unique) - len(todo), quiet) as bar:
        try:
            if jobs:
                engine.run(jobs, on_start, on_result)
        finally:
            summarise()  # also after an interruption: the summary shows what is done and what is pending
    report.totals = totals(rows_for(images, {**finished, **journal.finished()}))
    return report


def _summary_from_folder(folder: Path) -> dict:
    import json

    from iotcop.batch.image import summarise
    from iotcop.model import Assessment
    from iotcop.scan import exit_code_for

    data = json.loads((folder / "report.json").read_text())
    return {"summary": summarise(data), "exit_code": exit_code_for(Assessment.model_validate(data))}


def exit_code(report: BatchReport) -> int:
    """0: every image scanned and none fails a mandatory provision; 1: one fails; 2: an image was not scanned."""
    if report.totals.get("failing_mandatory"):
        return 1
    if report.totals.get("failed") or report.totals.get("pending"):
        return 2
    return 0
