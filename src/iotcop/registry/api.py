"""JSON API under /api/v1 (described by /openapi.json)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Callable, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Path as PathParam, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, undefer

from iotcop.registry import service
from iotcop.registry.cache import RenderCache
from iotcop.registry.models import Label, LabelReport, Product, ScanJob, utcnow
from iotcop.registry.schemas import (
    IDEMPOTENCY_PATTERN,
    JobOut,
    LabelOut,
    Problem,
    ProductDetail,
    ProductOut,
    PublishOut,
    RevokeIn,
    VerifyOut,
    VersionOut,
)
from iotcop.registry.service import Caller, RegistryError
from iotcop.registry.uploads import PartRule, multipart_schema, read_parts

PRODUCT_LIST = TypeAdapter(list[ProductOut])
router = APIRouter(prefix="/api/v1", tags=["registry"])
bearer = HTTPBearer(auto_error=False, description="A manufacturer API token (`iotcop registry manufacturer add`).")

PRODUCT_ID = PathParam(pattern=r"^[0-9a-f]{16}$", description="registry product id")
LABEL_ID = PathParam(ge=1, le=2**31 - 1)
JOB_ID = PathParam(pattern=r"^[0-9a-f]{32}$")
ERRORS = {status: {"model": Problem} for status in (400, 401, 403, 404, 409, 413, 422, 429)}


T = TypeVar("T")


async def in_session(request: Request, work: Callable[..., T], *args) -> T:
    """work(session, *args) on a request thread, with a session opened and closed on that thread.

    A connection is held only while the thread runs, never across an await: a request waiting for a thread
    holds none, so the pool (sized to the threads) cannot run dry while threads wait for it.
    """
    factory = request.app.state.sessions

    def run() -> T:
        with factory() as session:
            return work(session, *args)

    return await run_in_threadpool(run)


def cached(cache: RenderCache, key: tuple, render: Callable[[], bytes]) -> bytes:
    """The rendered answer for `key` (which must hold a stamp read from the database), rendering it if new."""
    body = cache.get(key)
    if body is None:
        body = render()
        cache.put(key, body)
    return body


def json_response(model: BaseModel, status: int = 200, headers: dict | None = None) -> Response:
    """Serialised on the request thread, so the event loop only sends bytes."""
    return Response(model.model_dump_json().encode(), status_code=status, media_type="application/json",
                    headers=headers)


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    # Its own short session: a request must never hold one connection while it waits for a second.
    with request.app.state.sessions() as session:
        found = service.authenticate(session, credentials.credentials if credentials else None)
    if found is None:
        raise HTTPException(401, "a valid API token is needed (Authorization: Bearer TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})
    return found


CALLER = Annotated[Caller, Depends(caller)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_PATTERN,
                                              description="the same key for a retried submission")]


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


# --- rendering rows --------------------------------------------------------------------


def label_out(label: Label) -> LabelOut:
    revoked = service.revocation(label)
    return LabelOut(
        id=label.id, product_id=label.product_id, label_product_id=label.label_pid,
        firmware_version=label.firmware_version, firmware_sha256=label.firmware_sha256, level=label.level,
        level_meaning=label.level_meaning, support_end=label.support_end,
        support_active=service.support_active(label), issued_at=label.issued_at,
        published_at=label.published_at, revoked=revoked is not None, revoked_at=revoked and revoked.at,
        revoked_by=revoked and revoked.by, revoked_reason=revoked and revoked.reason, key_id=label.key_id,
        page_url=f"/products/{label.product_id}?label={label.id}", label_url=f"/api/v1/labels/{label.id}/label.json",
        report_url=f"/api/v1/labels/{label.id}/report.json",
    )


def product_out(product: Product, latest: Label | None) -> ProductOut:
    return ProductOut(id=product.id, name=product.name, model=product.model, type=product.type,
                      manufacturer=product.manufacturer.name, page_url=f"/products/{product.id}",
                      latest=label_out(latest) if latest else None)


def product_detail(product: Product, versions: list[Label]) -> ProductDetail:
    """versions: service.history(), newest first."""
    rows = []
    for i, label in enumerate(versions):
        older = versions[i + 1] if i + 1 < len(versions) else None
        rows.append(VersionOut(label=label_out(label),
                               changes_from_previous=service.changes(older.summary, label.summary) if older else None))
    latest = versions[0] if versions else None
    summary = latest.summary if latest else {}
    return ProductDetail(product=product_out(product, latest), results=summary.get("results", []),
                         vulnerability_reporting=summary.get("contact", {}), versions=rows)


# --- public reads -----------------------------------------------------------------------


@router.get("/products", response_model=list[ProductOut], responses=ERRORS)
async def list_products(request: Request,
                        q: Annotated[str, Query(max_length=200, description="product, model or manufacturer")] = "",
                        limit: Annotated[int, Query(ge=1, le=100)] = 50,
                        offset: Annotated[int, Query(ge=0, le=100_000)] = 0):
    return await in_session(request, _list_products, request.app.state.render_cache, q, limit, offset)


def _list_products(session: Session, cache: RenderCache, q: str, limit: int, offset: int) -> Response:
    key = ("api/products", " ".join(q.lower().split()), limit, offset, dt.date.today(), service.generation(session))
    body = cached(cache, key, lambda: PRODUCT_LIST.dump_json(
        [product_out(p, latest) for p, latest in service.search_products(session, q, limit, offset)]))
    return Response(body, media_type="application/json")


@router.get("/products/{product_id}", response_model=ProductDetail, responses=ERRORS)
async def get_product(request: Request, product_id: Annotated[str, PRODUCT_ID]):
    return await in_session(request, _get_product, product_id, request.app.state.settings.history_limit)


def _get_product(session: Session, product_id: str, history_limit: int) -> Response:
    product = session.get(Product, product_id)
    if product is None:
        raise RegistryError(404, "no such product")
    return json_response(product_detail(product, service.history(session, product.id, history_limit)))


def _label(session: Session, label_id: int, *columns) -> Label:
    label = session.get(Label, label_id, options=[undefer(c) for c in columns])
    if label is None:
        raise RegistryError(404, "no such label")
    return label


@router.get("/labels/{label_id}", response_model=LabelOut, responses=ERRORS)
async def get_label(request: Request, label_id: Annotated[int, LABEL_ID]):
    return await in_session(request, lambda session: json_response(label_out(_label(session, label_id))))


@router.get("/labels/{label_id}/label.json", responses={200: {"content": {"application/json": {}},
                                                              "description": "the signed label file, byte for byte"},
                                                         **ERRORS})
async def get_label_file(request: Request, label_id: Annotated[int, LABEL_ID]):
    return await in_session(request, _label_file, label_id)


def _label_file(session: Session, label_id: int) -> Response:
    label = _label(session, label_id, Label.label_json)
    return Response(label.label_json.encode("ascii"), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="label-{label.id}.json"'})


@router.get("/labels/{label_id}/report.json", responses={200: {"content": {"application/json": {}},
                                                               "description": "the report the label was made from"},
                                                          **ERRORS})
async def get_label_report(request: Request, label_id: Annotated[int, LABEL_ID]):
    return await in_session(request, _label_report, label_id)


def _label_report(session: Session, label_id: int) -> Response:
    report = session.get(LabelReport, _label(session, label_id).id)
    if report is None:
        raise RegistryError(404, "no report stored for this label")
    return Response(report.body.encode(), media_type="application/json")


@router.post("/verify", response_model=VerifyOut, responses=ERRORS,
             openapi_extra={"requestBody": {"required": True, "description": "a signed label file (label.json)",
                                            "content": {"application/json": {"schema": {"type": "object"}}}}})
async def verify(request: Request):
    limit = request.app.state.settings.max_label_bytes
    body = await request.body()
    if len(body) > limit:
        raise RegistryError(413, f"a label file is at most {limit} bytes")
    if not body.strip():
        raise RegistryError(422, "send the label file (label.json) as the request body")
    if not body.lstrip().startswith(b"{"):
        raise RegistryError(422, "a label file is a JSON object")
    return await in_session(request, _verify, body)


def _verify(session: Session, body: bytes) -> Response:
    return json_response(verification_out(service.verify_label_bytes(session, body)))


def verification_out(v: service.Verification) -> VerifyOut:
    return VerifyOut(status=v.status, reason=v.reason, key_id=v.key_id, signer=v.signer, revoked_at=v.revoked_at,
                     label=v.label, published=label_out(v.published) if v.published else None)


# --- manufacturer writes ----------------------------------------------------------------


JSON_TYPES = ("application/json",)
DECLARATION_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json",
                     "text/plain")
FIRMWARE_TYPES = ("application/x-tar", "application/gzip", "application/zip")


@router.post("/labels", status_code=201, response_model=PublishOut,
             responses={200: {"model": PublishOut, "description": "already published (a repeated submission)"},
                        415: {"model": Problem}, **ERRORS},
             openapi_extra=multipart_schema({"label": "the signed label.json",
                                             "report": "the report.json the label was made from"},
                                            required=("label", "report")))
async def publish(request: Request, who: CALLER, idempotency_key: IdempotencyKey = None):
    # The body is read only here, after CALLER has checked the token.
    settings = request.app.state.settings
    parts = await read_parts(request, {"label": PartRule(settings.max_label_bytes, JSON_TYPES),
                                       "report": PartRule(settings.max_report_bytes, JSON_TYPES)})
    return await in_session(request, _publish, who, parts["label"].data, parts["report"].data, idempotency_key,
                            client_of(request))


def _publish(session: Session, who: Caller, label_bytes: bytes, report_bytes: bytes, key: str | None,
             client: str | None) -> Response:
    label, created = service.publish_label(session, who, label_bytes, report_bytes, key, client)
    return json_response(PublishOut(created=created, label=label_out(label)), status=201 if created else 200,
                         headers={"Location": f"/api/v1/labels/{label.id}"})


@router.post("/labels/{label_id}/revoke", response_model=LabelOut, responses=ERRORS)
async def revoke(request: Request, who: CALLER, label_id: Annotated[int, LABEL_ID], body: RevokeIn):
    return await in_session(request, lambda session: json_response(
        label_out(service.revoke_label(session, who, label_id, body.reason, client_of(request)))))


def job_out(job: ScanJob) -> JobOut:
    return JobOut(id=job.id, status=job.status, firmware_name=job.firmware_name, firmware_sha256=job.firmware_sha256,
                  firmware_size=job.firmware_size, declaration=bool(job.has_declaration), attempts=job.attempts,
                  created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at, error=job.error,
                  exit_code=job.exit_code,
                  report_url=f"/api/v1/scans/{job.id}/report" if job.status == "done" else None)


@router.post("/scans", status_code=202, response_model=JobOut,
             responses={200: {"model": JobOut, "description": "already submitted (a repeated submission)"},
                        415: {"model": Problem}, **ERRORS},
             openapi_extra=multipart_schema({"firmware": "the firmware image",
                                             "declaration": "manufacturer declaration (YAML)"},
                                            required=("firmware",)))
async def submit_scan(request: Request, who: CALLER, idempotency_key: IdempotencyKey = None):
    # The body is read only here, after CALLER has checked the token; the image streams into its job folder.
    settings = request.app.state.settings
    job_id = uuid.uuid4().hex
    folder = request.app.state.jobs.job_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        parts = await read_parts(request, {
            "firmware": PartRule(settings.max_firmware_bytes, FIRMWARE_TYPES, to_file="firmware"),
            "declaration": PartRule(settings.max_declaration_bytes, DECLARATION_TYPES, required=False)}, folder)
        firmware, declaration = parts["firmware"], parts.get("declaration")
        if declaration is not None:
            await run_in_threadpool(_check_declaration, declaration.data)
            (folder / "declaration").write_bytes(declaration.data)
        job, created = await in_session(request, _store_job, who, job_id, firmware.filename or "firmware",
                                        firmware.sha256, firmware.size, declaration is not None,
                                        idempotency_key or f"scan:{firmware.sha256}", client_of(request))
    except BaseException:
        _remove(folder)
        raise
    if created:
        request.app.state.jobs.submit(job.id)
    else:
        _remove(folder)
    return json_response(job, status=202 if created else 200, headers={"Location": f"/api/v1/scans/{job.id}"})


def _remove(folder) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _check_declaration(data: bytes) -> None:
    import tempfile
    from pathlib import Path

    from iotcop.declaration import load_declaration
    from iotcop.errors import InputError

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "declaration.yaml"
        path.write_bytes(data)
        try:
            load_declaration(path)
        except InputError as exc:
            raise RegistryError(422, f"declaration: {exc}") from None


def _store_job(session: Session, who: Caller, job_id: str, name: str, sha: str, size: int, has_decl: bool,
               key: str, client: str | None) -> tuple[JobOut, bool]:
    existing = session.scalar(select(ScanJob).where(ScanJob.manufacturer_id == who.manufacturer.id,
                                                    ScanJob.idempotency_key == key))
    if existing is not None:
        return job_out(existing), False
    job = ScanJob(id=job_id, manufacturer_id=who.manufacturer.id, idempotency_key=key, status="queued",
                  firmware_name=name[:255], firmware_sha256=sha, firmware_size=size, has_declaration=int(has_decl),
                  attempts=0, created_at=utcnow())
    session.add(job)
    service.audit(session, who.actor, "scan.submit", f"scan:{job_id}", client, sha256=sha, size=size)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        existing = session.scalar(select(ScanJob).where(ScanJob.manufacturer_id == who.manufacturer.id,
                                                        ScanJob.idempotency_key == key))
        if existing is None:
            raise
        return job_out(existing), False
    return job_out(job), True


def _own_job(session: Session, who: Caller, job_id: str) -> ScanJob:
    job = session.get(ScanJob, job_id)
    if job is None or job.manufacturer_id != who.manufacturer.id:
        raise RegistryError(404, "no such scan job of yours")
    return job


@router.get("/scans/{job_id}", response_model=JobOut, responses=ERRORS)
async def get_scan(request: Request, who: CALLER, job_id: Annotated[str, JOB_ID]):
    return await in_session(request, lambda session: json_response(job_out(_own_job(session, who, job_id))))


@router.get("/scans/{job_id}/report", responses={200: {"content": {"application/json": {}}}, **ERRORS})
async def get_scan_report(request: Request, who: CALLER, job_id: Annotated[str, JOB_ID]):
    return await in_session(request, _scan_report, who, job_id)


def _scan_report(session: Session, who: Caller, job_id: str) -> Response:
    job = _own_job(session, who, job_id)
    if job.status != "done" or job.report_json is None:
        raise RegistryError(409, f"the scan is {job.status}" + (f": {job.error}" if job.error else ""))
    return Response(job.report_json.encode(), media_type="application/json")
