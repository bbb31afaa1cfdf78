"""Server-side scans as background jobs.

The job table in the database is the queue: a job is `queued` until a worker
claims it (an UPDATE that only succeeds for a queued row, so two workers never
run the same job), then `running`, then `done` or `failed`.  At start-up jobs
left `running` by a stopped server are queued again, so no upload is lost.

Engines do the scanning.  The default runs `iotcop scan` in a child process per
job (a thread pool waits on them), so a crashing or runaway scan cannot take the
web server down and is killed at its time limit.  The Celery engine hands the
image to the batch workers (`iotcop worker`) through Redis instead.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from iotcop.registry.config import Settings
from iotcop.registry.models import ScanJob, utcnow

log = logging.getLogger("iotcop.registry.jobs")


@dataclass
class ScanOutcome:
    report_json: str | None
    exit_code: int | None
    error: str | None = None


class ScanEngine(Protocol):
    name: str

    def scan(self, firmware: Path, declaration: Path | None, sha256: str, timeout: float) -> ScanOutcome: ...


class LocalEngine:
    """`iotcop scan` in a child process of its own session, killed with its children at the time limit."""

    name = "local"

    def scan(self, firmware: Path, declaration: Path | None, sha256: str, timeout: float) -> ScanOutcome:
        out = Path(tempfile.mkdtemp(prefix="iotcop-registry-scan-"))
        cmd = [sys.executable, "-c", "from iotcop.cli import main; main()", "scan", str(firmware),
               "--out", str(out), "--output", "json", "--quiet"]
        if declaration is not None:
            cmd += ["--declaration", str(declaration), "--no-fetch"]
        try:
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            try:
                _, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                return ScanOutcome(None, None, f"the scan took longer than {timeout:.0f} s and was stopped")
            report = out / "report.json"
            if proc.returncode in (0, 1) and report.is_file():
                return ScanOutcome(report.read_text(), proc.returncode)
            lines = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.startswith("iotcop:")]
            return ScanOutcome(None, proc.returncode, lines[-1] if lines else f"the scan ended with code {proc.returncode}")
        finally:
            shutil.rmtree(out, ignore_errors=True)


class CeleryEngine:
    """Hands the image to the batch engine's Celery workers (`iotcop worker`) through Redis.

    The image goes by path: the upload folder must be at the same path on every worker (shared storage).
    The declaration goes as text inside the task, and is used without fetching its pages, as LocalEngine does.
    """

    name = "celery"

    def __init__(self, broker: str) -> None:
        from iotcop.batch.celery_app import make_app

        self.app = make_app(broker)

    def scan(self, firmware: Path, declaration: Path | None, sha256: str, timeout: float) -> ScanOutcome:
        from celery.exceptions import TimeoutError as CeleryTimeout

        from iotcop.batch.celery_app import TASK_NAME
        from iotcop.batch.image import ImageJob

        text = None
        if declaration is not None:
            try:  # checked as UTF-8 at upload; decoded strictly so the worker hashes the same bytes
                text = declaration.read_bytes().decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return ScanOutcome(None, None, f"declaration: cannot read it ({exc})")
        job = ImageJob(path=str(firmware.resolve()), sha256=sha256, formats=("json",), cache_dir="", budget=timeout,
                       declaration=text, fetch=False)
        pending = self.app.send_task(TASK_NAME, args=[job.to_dict()], time_limit=timeout + 60)
        try:
            result = pending.get(timeout=timeout + 120)  # the worker's own budget stops the scan first
        except CeleryTimeout:
            return ScanOutcome(None, None, f"no worker finished the scan within {timeout + 120:.0f} s "
                                           "(are `iotcop worker` processes running?)")
        if result.get("status") != "done":
            return ScanOutcome(None, result.get("exit_code"), result.get("error") or "the scan failed")
        body = base64.b64decode(result["files"]["report.json"]).decode()
        return ScanOutcome(body, result.get("exit_code"))


def make_engine(settings: Settings) -> ScanEngine:
    if settings.scan_engine == "celery":
        return CeleryEngine(settings.celery_broker)
    return LocalEngine()


class JobRunner:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], engine: ScanEngine | None = None,
                 active: bool = True) -> None:
        self.settings = settings
        self.active = active  # False: jobs are only recorded (queued) and run by the next active server
        self.sessions = sessions
        self.engine = engine or (make_engine(settings) if active else LocalEngine())
        self.pool = ThreadPoolExecutor(max_workers=max(1, settings.scan_workers), thread_name_prefix="scan-job")
        self._closed = threading.Event()

    def job_dir(self, job_id: str) -> Path:
        return self.settings.upload_dir / job_id

    def resume(self) -> int:
        """Queue again what a stopped server left running, and start every queued job."""
        with self.sessions() as session:
            session.execute(update(ScanJob).where(ScanJob.status == "running").values(status="queued"))
            session.commit()
            ids = list(session.scalars(select(ScanJob.id).where(ScanJob.status == "queued")
                                       .order_by(ScanJob.created_at)))
        for job_id in ids:
            self.submit(job_id)
        return len(ids)

    def submit(self, job_id: str) -> None:
        if self.active and not self._closed.is_set():
            self.pool.submit(self._run, job_id)

    def close(self) -> None:
        self._closed.set()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _claim(self, job_id: str) -> ScanJob | None:
        with self.sessions() as session:
            claimed = session.execute(update(ScanJob).where(ScanJob.id == job_id, ScanJob.status == "queued")
                                      .values(status="running", started_at=utcnow(),
                                              attempts=ScanJob.attempts + 1))
            session.commit()
            if claimed.rowcount != 1:
                return None
            return session.get(ScanJob, job_id)

    def _run(self, job_id: str) -> None:
        job = self._claim(job_id)
        if job is None:
            return
        folder = self.job_dir(job_id)
        declaration = folder / "declaration"
        try:
            outcome = self.engine.scan(folder / "firmware", declaration if job.has_declaration else None,
                                       job.firmware_sha256, self.settings.scan_timeout)
        except Exception as exc:  # noqa: BLE001 - a failed job is recorded, never lost
            log.exception("scan job %s failed", job_id)
            outcome = ScanOutcome(None, None, f"internal error: {type(exc).__name__}")
        if self._closed.is_set() and outcome.report_json is None:
            return  # stopped with the server: stays running, and is queued again at the next start
        with self.sessions() as session:
            values = dict(finished_at=utcnow(), exit_code=outcome.exit_code, error=outcome.error,
                          report_json=outcome.report_json,
                          status="done" if outcome.report_json is not None else "failed")
            session.execute(update(ScanJob).where(ScanJob.id == job_id).values(**values))
            session.commit()
        shutil.rmtree(folder, ignore_errors=True)
