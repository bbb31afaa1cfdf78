"""Celery engine: the batch's images fanned out to `iotcop worker` processes through Redis.

Delivery guarantees, and what gives them:
* a killed worker loses no job: acks_late (a job is acknowledged only when it has
  finished) and reject_on_worker_lost (a pool process that dies puts its job back);
  when a whole worker machine dies, Redis hands its unacknowledged job to another
  worker once the visibility timeout has passed;
* a retried or redelivered job leaves exactly one result: the task id is the result
  key (image sha256 + tool version), a worker returns the stored result instead of
  scanning again when that id already succeeded, and the driver writes each result
  folder once (rename of a complete temporary folder; a second write is dropped).
Workers read images by path: the paths given to `iotcop batch` must be readable at
the same place on every worker (shared storage).
"""

from __future__ import annotations

import base64
import os
import time
from urllib.parse import urlparse

from celery import Celery

from iotcop.batch.image import ImageJob, ImageResult, result_key, run_isolated
from iotcop.errors import InputError

TASK_NAME = "iotcop.scan_image"
QUEUE = "iotcop"
DEFAULT_VISIBILITY_TIMEOUT = 7200.0  # must exceed the longest scan, or a running job is handed out twice
MAX_RETRIES = 2


def check_broker(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
        raise InputError(f"--broker {url!r}: expected redis://HOST:PORT/DB")
    return url


def make_app(broker: str, visibility_timeout: float | None = None) -> Celery:
    broker = check_broker(broker)
    vt = visibility_timeout or float(os.environ.get("IOTCOP_VISIBILITY_TIMEOUT", DEFAULT_VISIBILITY_TIMEOUT))
    app = Celery("iotcop", broker=broker, backend=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds only the job it is running
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        result_expires=7 * 24 * 3600,
        result_extended=True,
        broker_transport_options={"visibility_timeout": vt},
        result_backend_transport_options={"visibility_timeout": vt},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(bind=True, name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
    def scan_image(self, job: dict) -> dict:
        prior = self.backend.get_task_meta(self.request.id)
        if prior.get("status") == "SUCCESS" and isinstance(prior.get("result"), dict) \
                and prior["result"].get("status") == "done":
            return prior["result"]  # a redelivered job that already finished elsewhere
        # A pool process is daemonic and may not fork the scan's own processes: scan in a child of its own.
        image_job = ImageJob.from_dict(job)
        result = run_isolated(image_job, image_job.budget)
        if result.status == "failed" and result.error.startswith("internal error") and \
                self.request.retries < MAX_RETRIES:
            raise self.retry(countdown=2 + 3 * self.request.retries)
        return encode(result)

    return app


def _failed(res) -> bool:
    value = res.result
    return not isinstance(value, dict) or value.get("status") != "done"


def encode(result: ImageResult) -> dict:
    data = result.to_dict()
    data["files"] = {name: base64.b64encode(blob).decode() for name, blob in result.files.items()}
    return data


def decode(data: dict) -> ImageResult:
    data = dict(data)
    data["files"] = {name: base64.b64decode(text) for name, text in (data.get("files") or {}).items()}
    return ImageResult(**data)


def run_worker(broker: str, concurrency: int = 1, visibility_timeout: float | None = None,
               loglevel: str = "INFO") -> None:
    app = make_app(broker, visibility_timeout)
    app.worker_main(["worker", f"--concurrency={concurrency}", "--pool=prefork", f"--loglevel={loglevel}",
                     f"--hostname=iotcop-{os.getpid()}@%h", f"--queues={QUEUE}", "--without-gossip",
                     "--without-mingle"])


class CeleryEngine:
    name = "celery"

    def __init__(self, broker: str, budget: float, poll: float = 0.5) -> None:
        self.app = make_app(broker)
        self.budget = budget
        self.poll = poll

    def run(self, jobs: list[ImageJob], on_start, on_result) -> None:
        from celery.exceptions import TimeoutError as CeleryTimeout  # noqa: F401 - imported for clarity

        try:
            self.app.connection_for_write().ensure_connection(max_retries=3, timeout=5)
        except Exception as exc:  # noqa: BLE001 - any connection failure is the user's broker address
            raise InputError(f"cannot reach the broker {self.app.conf.broker_url}: {exc}") from None
        outstanding = {}
        for job in jobs:
            task_id = result_key(job.sha256)
            existing = self.app.AsyncResult(task_id)
            if existing.state in ("FAILURE", "REVOKED") or (existing.state == "SUCCESS" and _failed(existing)):
                existing.forget()  # an earlier batch's failure: try again
            if existing.state != "SUCCESS":
                self.app.send_task(TASK_NAME, args=[job.to_dict()], task_id=task_id,
                                   time_limit=self.budget + 60)  # the scan's own budget stops it first
            outstanding[task_id] = (job, existing if existing.state == "SUCCESS" else self.app.AsyncResult(task_id))
            on_start(job)
        # Bounded: as long as one worker would need for every image in turn, plus slack for redeliveries.
        deadline = time.monotonic() + self.budget * max(1, len(jobs)) + 600
        while outstanding and time.monotonic() < deadline:
            for task_id, (job, res) in list(outstanding.items()):
                state = res.state
                if state == "SUCCESS":
                    on_result(decode(res.get(timeout=30)))
                elif state in ("FAILURE", "REVOKED"):
                    error = str(res.result) if res.result is not None else state
                    on_result(ImageResult(sha256=job.sha256, path=job.path, status="failed",
                                          error=f"worker: {type(res.result).__name__}: {error}"))
                else:
                    continue
                del outstanding[task_id]
            if outstanding:
                time.sleep(self.poll)
        for task_id, (job, _) in outstanding.items():
            on_result(ImageResult(sha256=job.sha256, path=job.path, status="failed",
                                  error="no worker finished it in time (are `iotcop worker` processes running?)"))
