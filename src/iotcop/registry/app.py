"""The FastAPI application: start-up (migrations, secrets, job queue), middleware and error handling."""

from __future__ import annotations

import logging
import secrets
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import select
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from iotcop import __version__
from iotcop.registry.cache import RenderCache
from iotcop.registry.config import Settings
from iotcop.registry.db import make_engine, migrate, sessions
from iotcop.registry.models import Meta
from iotcop.registry.security import SECURITY_HEADERS, BodyLimit, PublicOrigin, RateLimiter, SecurityHeaders
from iotcop.registry.service import RegistryError, _insert_ignore

log = logging.getLogger("iotcop.registry")
STATIC = Path(__file__).parent / "static"


def _secret(session_factory) -> bytes:
    with session_factory() as session:
        _insert_ignore(session, Meta.__table__, {"key": "csrf_secret", "value": secrets.token_hex(32)})
        session.commit()
        return bytes.fromhex(session.scalar(select(Meta.value).where(Meta.key == "csrf_secret")))


def private_folder(path: Path) -> None:
    """Uploads (unpublished firmware) are for the registry's eyes only."""
    path.mkdir(parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)


def create_app(settings: Settings, start_jobs: bool = True) -> FastAPI:
    from iotcop.registry import api, pages
    from iotcop.registry.jobs import JobRunner

    engine = make_engine(settings.db_url, pool_size=settings.pool_size)
    migrate(engine)
    session_factory = sessions(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread

        # The pool holds a connection for every request thread (Settings.pool_size).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        private_folder(settings.data_dir)
        private_folder(settings.upload_dir)
        if start_jobs:
            app.state.jobs.resume()
        try:
            yield
        finally:
            app.state.jobs.close()
            engine.dispose()

    app = FastAPI(
        title="iotcop label registry",
        version=__version__,
        description="Published IoT security labels: products, firmware versions, label verification.",
        docs_url=None,  # the interactive docs load scripts from elsewhere, which the CSP forbids
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory
    app.state.csrf_secret = _secret(session_factory)
    app.state.render_cache = RenderCache()
    app.state.jobs = JobRunner(settings, session_factory, active=start_jobs)

    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/") or request.url.path.endswith(".json")

    @app.exception_handler(RegistryError)
    async def _registry_error(request: Request, exc: RegistryError):
        if wants_json(request):
            return JSONResponse({"detail": exc.message}, status_code=exc.status)
        return pages.error_page(request, exc.status, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        if wants_json(request):
            return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)
        return pages.error_page(request, exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid")} for e in exc.errors()[:20]]
        if wants_json(request):
            return JSONResponse({"detail": problems}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, p['loc'][1:])) or 'request'}: {p['msg']}" for p in problems)
        return pages.error_page(request, 422, text)

    @app.exception_handler(SQLAlchemyTimeout)
    async def _busy(request: Request, exc: SQLAlchemyTimeout):
        message = "the registry is busy; try again shortly"
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "5"})
        return pages.error_page(request, 503, message, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        ref = uuid.uuid4().hex[:12]
        log.error("internal error %s on %s %s", ref, request.method, request.url.path, exc_info=exc)
        message = f"internal error (reference {ref})"
        headers = {k.decode(): v.decode() for k, v in SECURITY_HEADERS}
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=500, headers=headers)
        return pages.error_page(request, 500, message, headers=headers)

    # Outermost first: headers on every answer (429 and 413 too), then the rate limit, then size limits.
    limited = {"/api/v1/scans": settings.max_firmware_bytes + settings.max_declaration_bytes + 65536,
               "/api/v1/labels": settings.max_label_bytes + settings.max_report_bytes + 65536,
               "/api/v1/verify": settings.max_label_bytes,
               "/verify": settings.max_label_bytes * 2 + 8192}
    app.add_middleware(BodyLimit, default=1024 * 1024, by_prefix=limited)
    app.add_middleware(RateLimiter, read=settings.read_limit, write=settings.write_limit)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(PublicOrigin, public_url=settings.public_url)
    return app
