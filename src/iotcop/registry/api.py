"""JSON API under /api/v1 (described by /openapi.json)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    File,
    Header,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from iotcop.registry import service
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

router = APIRouter(prefix="/api/v1", tags=["registry"])
bearer = HTTPBearer(auto_error=False, description="A manufacturer API token (`iotcop registry manufacturer add`).")

PRODUCT_ID = PathParam(pattern=r"^[0-9a-f]{16}$", description="registry product id")
LABEL_ID = PathParam(ge=1, le=2**31 - 1)
JOB_ID = PathParam(pattern=r"^[0-9a-f]{32}$")
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem},
          413: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}}


def db(request: Request):
    with request.app.state.sessions() as session:
        yield session


DB = Annotated[Session, Depends(db)]


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
    return LabelOut(
        id=label.id, product_id=label.product_id, label_product_id=label.label_pid,
        firmware_version=label.firmware_version, firmware_sha256=label.firmware_sha256, level=label.level,
        level_meaning=label.summary.get("level_meaning", ""), support_end=label.support_end,
        support_active=service.support_active(label), issued_at=label.issued_at,
        published_at=label.published_at, revoked=label.revoked_at is not None,
        revoked_reason=label.revoked_reason, key_id=label.key_id,
        page_url=f"/products/{label.product_id}?label={label.id}", label_url=f"/api/v1/labels/{label.id}/label.json",
        report_url=f"/api/v1/labels/{label.id}/report.json",
    )


def product_out(product: Product, latest: Label | None) -> ProductOut:
    return ProductOut(id=product.id, name=product.name, model=product.model, type=product.type,
                      manufacturer=product.manufacturer.name, page_url=f"/products/{product.id}",
                      latest=label_out(latest) if latest else None)


def product_detail(session: Session, product: Product, limit: int) -> ProductDetail:
    versions = service.history(session, product.id, limit)
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
def list_products(session: DB, q: Annotated[str, Query(max_length=200, description="product, model or manufacturer")] = "",
                  limit: Annotated[int, Query(ge=1, le=100)] = 50,
                  offset: Annotated[int, Query(ge=0, le=100_000)] = 0):
    return [product_out(p, latest) for p, latest in service.search_products(session, q, limit, offset)]


@router.get("/products/{product_id}", response_model=ProductDetail, responses=ERRORS)
def get_product(request: Request, session: DB, product_id: Annotated[str, PRODUCT_ID]):
    product = session.get(Product, product_id)
    if product is None:
        raise RegistryError(404, "no such product")
    return product_detail(session, product, request.app.state.settings.history_limit)


def _label(session: Session, label_id: int) -> Label:
    label = session.get(Label, label_id)
    if label is None:
        raise RegistryError(404, "no such label")
    return label


@router.get("/labels/{label_id}", response_model=LabelOut, responses=ERRORS)
def get_label(session: DB, label_id: Annotated[int, LABEL_ID]):
    return label_out(_label(session, label_id))


@router.get("/labels/{label_id}/label.json", responses={200: {"content": {"application/json": {}},
                                                              "description": "the signed label file, byte for byte"},
                                                         **ERRORS})
def get_label_file(session: DB, label_id: Annotated[int, LABEL_ID]):
    label = _label(session, label_id)
    return Response(label.label_json.encode("ascii"), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="label-{label.id}.json"'})


@router.get("/labels/{label_id}/report.json", responses={200: {"content": {"application/json": {}},
                                                               "description": "the report the label was made from"},
                                                          **ERRORS})
def get_label_report(session: DB, label_id: Annotated[int, LABEL_ID]):
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
    return await run_in_threadpool(_verify, request, body)


def _verify(request: Request, body: bytes) -> VerifyOut:
    with request.app.state.sessions() as session:
        return verification_out(service.verify_label_bytes(session, body))


def verification_out(v: service.Verification) -> VerifyOut:
    return VerifyOut(status=v.status, reason=v.reason, key_id=v.key_id, signer=v.signer, revoked_at=v.revoked_at,
                     label=v.label, published=label_out(v.published) if v.published else None)


# --- manufacturer writes ----------------------------------------------------------------


UNTYPED = ("", "application/octet-stream")  # a part sent without a type is judged by its content


async def _read_upload(upload: UploadFile, limit: int, what: str, types: tuple[str, ...]) -> bytes:
    media = (upload.content_type or "").split(";")[0].strip().lower()
    if types and media not in types + UNTYPED:
        raise RegistryError(415, f"{what}: expected {' or '.join(types)}, got {media or 'no type'}")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise RegistryError(413, f"{what}: at most {limit} bytes")
    if not data:
        raise RegistryError(422, f"{what}: empty")
    return data


@router.post("/labels", status_code=201, response_model=PublishOut,
             responses={200: {"model": PublishOut, "description": "already published (a repeated submission)"},
                        415: {"model": Problem}, **ERRORS})
async def publish(request: Request, who: CALLER,
                  label: Annotated[UploadFile, File(description="the signed label.json")],
                  report: Annotated[UploadFile, File(description="the report.json the label was made from")],
                  idempotency_key: IdempotencyKey = None):
    settings = request.app.state.settings
    label_bytes = await _read_upload(label, settings.max_label_bytes, "label", ("application/json",))
    report_bytes = await _read_upload(report, settings.max_report_bytes, "report", ("application/json",))
    stored, created = await run_in_threadpool(_publish, request, who, label_bytes, report_bytes, idempotency_key)
    return JSONResponse(PublishOut(created=created, label=stored).model_dump(mode="json"),
                        status_code=201 if created else 200,
                        headers={"Location": f"/api/v1/labels/{stored.id}"})


def _publish(request: Request, who: Caller, label_bytes: bytes, report_bytes: bytes, key: str | None):
    with request.app.state.sessions() as session:
        label, created = service.publish_label(session, who, label_bytes, report_bytes, key, client_of(request))
        return label_out(label), created


@router.post("/labels/{label_id}/revoke", response_model=LabelOut, responses=ERRORS)
def revoke(request: Request, session: DB, who: CALLER, label_id: Annotated[int, LABEL_ID], body: RevokeIn):
    return label_out(service.revoke_label(session, who, label_id, body.reason, client_of(request)))


def job_out(job: ScanJob) -> JobOut:
    return JobOut(id=job.id, status=job.status, firmware_name=job.firmware_name, firmware_sha256=job.firmware_sha256,
                  firmware_size=job.firmware_size, declaration=bool(job.has_declaration), attempts=job.attempts,
                  created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at, error=job.error,
                  exit_code=job.exit_code,
                  report_url=f"/api/v1/scans/{job.id}/report" if job.status == "done" else None)


DECLARATION_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json",
                     "text/plain")


@router.post("/scans", status_code=202, response_model=JobOut,
             responses={200: {"model": JobOut, "description": "already submitted (a repeated submission)"},
                        415: {"model": Problem}, **ERRORS})
async def submit_scan(request: Request, who: CALLER,
                      firmware: Annotated[UploadFile, File(description="the firmware image")],
                      declaration: Annotated[UploadFile | None, File(description="manufacturer declaration")] = None,
                      idempotency_key: IdempotencyKey = None):
    settings = request.app.state.settings
    media = (firmware.content_type or "").split(";")[0].strip().lower()
    if media not in UNTYPED + ("application/x-tar", "application/gzip", "application/zip"):
        raise RegistryError(415, f"firmware: expected application/octet-stream, got {media or 'no type'}")
    decl = None
    if declaration is not None and declaration.filename:
        decl = await _read_upload(declaration, settings.max_declaration_bytes, "declaration", DECLARATION_TYPES)
        await run_in_threadpool(_check_declaration, decl)
    job_id = uuid.uuid4().hex
    folder = request.app.state.jobs.job_dir(job_id)
    folder.mkdir(parents=True, exist_ok=True)
    size, digest = 0, hashlib.sha256()
    try:
        with open(folder / "firmware", "wb") as out:
            while chunk := await firmware.read(1 << 20):
                size += len(chunk)
                if size > settings.max_firmware_bytes:
                    raise RegistryError(413, f"firmware: at most {settings.max_firmware_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise RegistryError(422, "firmware: empty")
        if decl is not None:
            (folder / "declaration").write_bytes(decl)
        job, created = await run_in_threadpool(_store_job, request, who, job_id, firmware.filename or "firmware",
                                               digest.hexdigest(), size, decl is not None,
                                               idempotency_key or f"scan:{digest.hexdigest()}")
    except BaseException:
        _remove(folder)
        raise
    if created:
        request.app.state.jobs.submit(job.id)
    else:
        _remove(folder)
    return JSONResponse(job.model_dump(mode="json"), status_code=202 if created else 200,
                        headers={"Location": f"/api/v1/scans/{job.id}"})


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


def _store_job(request: Request, who: Caller, job_id: str, name: str, sha: str, size: int, has_decl: bool,
               key: str) -> tuple[JobOut, bool]:
    with request.app.state.sessions() as session:
        existing = session.scalar(select(ScanJob).where(ScanJob.manufacturer_id == who.manufacturer.id,
                                                        ScanJob.idempotency_key == key))
        if existing is not None:
            return job_out(existing), False
        job = ScanJob(id=job_id, manufacturer_id=who.manufacturer.id, idempotency_key=key, status="queued",
                      firmware_name=name[:255], firmware_sha256=sha, firmware_size=size, has_declaration=int(has_decl),
                      attempts=0, created_at=utcnow())
        session.add(job)
        service.audit(session, who.actor, "scan.submit", f"scan:{job_id}", client_of(request), sha256=sha, size=size)
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
def get_scan(session: DB, who: CALLER, job_id: Annotated[str, JOB_ID]):
    return job_out(_own_job(session, who, job_id))


@router.get("/scans/{job_id}/report", responses={200: {"content": {"application/json": {}}}, **ERRORS})
def get_scan_report(session: DB, who: CALLER, job_id: Annotated[str, JOB_ID]):
    job = _own_job(session, who, job_id)
    if job.status != "done" or job.report_json is None:
        raise RegistryError(409, f"the scan is {job.status}" + (f": {job.error}" if job.error else ""))
    return Response(job.report_json.encode(), media_type="application/json")
