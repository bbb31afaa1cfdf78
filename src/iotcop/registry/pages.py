"""Server-rendered pages: search, product pages (the label's QR code lands here), label verification, feed.

No page needs JavaScript; the only form that is posted (verification) carries a CSRF token.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from iotcop.registry import service
from iotcop.registry.api import cached, in_session, label_out, product_detail
from iotcop.registry.models import Product
from iotcop.registry.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    csrf_form_value,
    csrf_valid,
)
from iotcop.registry.service import RegistryError

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
STATE_MARKS = {"checked": "\u2713", "declared": "\u25cb", "problem": "\u2717", "not confirmed": "?",
               "not applicable": "\u2013"}
STATE_WORDS = {"checked": "checked by analysis", "declared": "declared by the manufacturer",
               "problem": "problem found", "not confirmed": "not confirmed", "not applicable": "does not apply"}


@functools.cache
def templates():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(("html",), default=True),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(STATE_MARKS=STATE_MARKS, STATE_WORDS=STATE_WORDS, revocation=service.revocation,
                       web_link=web_link)
    return env


def render(name: str, status: int = 200, headers: dict | None = None, **values) -> HTMLResponse:
    html = templates().get_template(name).render(**values)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(request: Request, status: int, message: str, headers=None) -> HTMLResponse:
    titles = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
              413: "Too large", 415: "Wrong file type", 422: "Cannot use that input", 429: "Too many requests",
              500: "Something went wrong", 503: "Busy"}
    return render("error.html", status=status, headers=dict(headers or {}), title=titles.get(status, "Error"),
                  message=message, status_code=status)


def web_link(value) -> str | None:
    """A declaration's URL as a link only when it is http(s) with a host; anything else is shown as text."""
    if not isinstance(value, str) or len(value) > 2000 or any(c.isspace() or not c.isprintable() for c in value):
        return None
    parts = urlsplit(value)
    return value if parts.scheme.lower() in ("http", "https") and parts.hostname else None


def contact_link(value) -> str | None:
    """A reporting contact: a web address, or an e-mail address (as mailto:)."""
    if web_link(value):
        return value
    if not isinstance(value, str):
        return None
    address = value[len("mailto:"):] if value.lower().startswith("mailto:") else value
    if re.fullmatch(r"[^@\s<>\"'/:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", address):
        return "mailto:" + address
    return None


@router.get("/", response_class=HTMLResponse)
async def home(request: Request):
    return await in_session(request, _home, request)


def _home(session: Session, request: Request) -> HTMLResponse:
    key = ("home", dt.date.today(), service.generation(session))
    return HTMLResponse(cached(request.app.state.render_cache, key, lambda: _render_home(session).body))


def _render_home(session: Session) -> HTMLResponse:
    items = service.feed_labels(session, limit=10)
    return render("home.html", title="Find a product's security label", counts=service.counts(session),
                  new=[label for kind, label in items if kind == "new"][:10],
                  expiring=[label for kind, label in items if kind == "expiring"][:10], today=dt.date.today())


@router.get("/search", response_class=HTMLResponse)
async def search(request: Request, q: Annotated[str, Query(max_length=200)] = "",
                 page: Annotated[int, Query(ge=1, le=1000)] = 1):
    return await in_session(request, _search, request, q, page)


def _search(session: Session, request: Request, q: str, page: int) -> HTMLResponse:
    key = ("search", q, page, dt.date.today(), service.generation(session))
    return HTMLResponse(cached(request.app.state.render_cache, key, lambda: _render_search(session, q, page).body))


def _render_search(session: Session, q: str, page: int) -> HTMLResponse:
    per_page = 25
    rows = service.search_products(session, q, per_page + 1, (page - 1) * per_page) if q.strip() else []
    return render("search.html", title=f"Search: {q}" if q else "Search", q=q, rows=rows[:per_page], page=page,
                  more=len(rows) > per_page, today=dt.date.today())


def _render_product_page(request: Request, session: Session, product: Product, selected: int | None,
                         scanned: bool = False) -> HTMLResponse:
    history = service.history(session, product.id, request.app.state.settings.history_limit)
    detail = product_detail(product, history)
    versions = detail.versions
    chosen = next((v for v in versions if v.label.id == selected), versions[0] if versions else None)
    summary = next((label.summary for label in history if chosen and label.id == chosen.label.id), {})
    contact = summary.get("contact", {})
    return render("product.html", title=" ".join(x for x in (product.name, product.model) if x), product=product,
                  detail=detail, chosen=chosen, summary=summary, scanned=scanned, today=dt.date.today(),
                  contact=contact, contact_href=contact_link(contact.get("vdp_contact")))


@router.get("/products/{product_id}", response_class=HTMLResponse)
async def product_page(request: Request, product_id: str,
                       label: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None):
    return await in_session(request, _product_by_id, request, product_id, label)


def _product_by_id(session: Session, request: Request, product_id: str, label: int | None) -> HTMLResponse:
    # A cached page costs one read of the generation: a publication or revocation anywhere renders it anew.
    key = ("product", product_id, label, dt.date.today(), service.generation(session))

    def render() -> bytes:
        product = session.get(Product, product_id) if len(product_id) == 16 else None
        if product is None:
            raise RegistryError(404, "There is no product with that id in this registry.")
        return _render_product_page(request, session, product, label).body

    return HTMLResponse(cached(request.app.state.render_cache, key, render))


@router.get("/p/{label_pid}", response_class=HTMLResponse)
async def qr_target(request: Request, label_pid: str):
    """Where a label's QR code points: the product page, opened at the firmware version of that label."""
    return await in_session(request, _qr_target, request, label_pid)


def _qr_target(session: Session, request: Request, label_pid: str) -> HTMLResponse:
    key = ("qr", label_pid, dt.date.today(), service.generation(session))

    def render() -> bytes:
        label = service.find_by_label_pid(session, label_pid) if len(label_pid) <= 64 else None
        if label is None:
            raise RegistryError(404, "No label with that code is published in this registry. "
                                     "A label that is not published here cannot be confirmed.")
        return _render_product_page(request, session, label.product, label.id, scanned=True).body

    return HTMLResponse(cached(request.app.state.render_cache, key, render))


# --- verification -------------------------------------------------------------------------


def _csrf_pair(request: Request) -> tuple[str, str, bool]:
    cookie = request.cookies.get(CSRF_COOKIE)
    fresh = not cookie or len(cookie) > 100
    if fresh:
        cookie = secrets.token_urlsafe(24)
    return cookie, csrf_form_value(request.app.state.csrf_secret, cookie), fresh


def _verify_page(request: Request, status: int = 200, **values) -> HTMLResponse:
    cookie, token, fresh = _csrf_pair(request)
    response = render("verify.html", status=status, title="Check a label", csrf_field=CSRF_FIELD, csrf_token=token,
                      max_bytes=request.app.state.settings.max_label_bytes, **values)
    if fresh:
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", path="/verify",
                            secure=request.app.state.settings.public_url.startswith("https:"))
    return response


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request):
    return _verify_page(request, result=None, pasted="")


@router.post("/verify", response_class=HTMLResponse)
async def verify_submit(request: Request):
    settings = request.app.state.settings
    limit = settings.max_label_bytes
    async with request.form(max_files=1, max_fields=4, max_part_size=limit + 1) as form:
        if not csrf_valid(request.app.state.csrf_secret, request.cookies.get(CSRF_COOKIE),
                          str(form.get(CSRF_FIELD) or "")):
            return _verify_page(request, status=403, result=None, pasted="",
                                error="The form had expired or did not come from this site. Please try again.")
        data = b""
        upload = form.get("label_file")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data = await upload.read(limit + 1)
        pasted = form.get("label_text")
        if not data and isinstance(pasted, str) and pasted.strip():
            data = pasted.strip().encode("utf-8") + b"\n"  # a signed file ends with one newline
    if not data:
        return _verify_page(request, status=422, result=None, pasted="",
                            error="Paste the contents of label.json or choose the file.")
    if len(data) > limit:
        return _verify_page(request, status=413, result=None, pasted="",
                            error=f"That is larger than any label file ({limit} bytes at most).")
    result = await in_session(request, _verify_bytes, data)
    return _verify_page(request, result=result, pasted="")


def _verify_bytes(session: Session, data: bytes):
    try:
        v = service.verify_label_bytes(session, data)
    except RegistryError as exc:  # not JSON, not UTF-8, nested too deep: the form says so
        v = service.Verification("invalid", exc.message)
    return {"status": v.status, "reason": v.reason, "signer": v.signer, "key_id": v.key_id,
            "label": v.label or {}, "published": label_out(v.published) if v.published else None}


# --- feed -------------------------------------------------------------------------------------


@router.get("/feed.json")
async def feed(request: Request):
    return await in_session(request, _feed, request)


def _feed(session: Session, request: Request) -> Response:
    key = ("feed", dt.date.today(), service.generation(session))
    return Response(cached(request.app.state.render_cache, key, lambda: _render_feed(session, request).body),
                    media_type="application/feed+json")


def _render_feed(session: Session, request: Request) -> JSONResponse:
    base = request.app.state.settings.public_base
    items = []
    for kind, label in service.feed_labels(session):
        p = label.product
        name = " ".join(x for x in (p.name, p.model) if x)
        url = f"{base}/products/{p.id}?label={label.id}"
        revoked = service.revocation(label)
        when = label.published_at
        if kind == "new":
            title = f"New label: {name}, firmware {label.firmware_version or 'unknown'} (level {label.level})"
            item_id = f"{base}/labels/{label.id}/new"
        elif kind == "expiring":
            title = f"Security updates end soon: {name} on {label.support_end.isoformat()}"
            item_id = f"{base}/labels/{label.id}/expiring/{label.support_end.isoformat()}"
        else:
            title = f"Label revoked: {name}, firmware {label.firmware_version or 'unknown'}"
            when = revoked.at
            item_id = f"{base}/labels/{label.id}/revoked"
        text = title + (f". Revoked: {revoked.sentence}." if revoked else "")
        items.append({"id": item_id, "url": url, "title": title, "content_text": text,
                      "date_published": when.isoformat(), "tags": [kind],
                      "_iotcop": {"label_id": label.id, "product_id": p.id, "level": label.level,
                                  "support_end": label.support_end.isoformat() if label.support_end else None,
                                  "revoked": revoked is not None,
                                  "revoked_at": revoked.at.isoformat() if revoked else None,
                                  "revoked_by": revoked.by if revoked else None,
                                  "revoked_reason": revoked.reason if revoked else None}})
    return JSONResponse({"version": "https://jsonfeed.org/version/1.1", "title": "iotcop label registry",
                         "home_page_url": base + "/", "feed_url": base + "/feed.json",
                         "description": "Labels published or revoked in the last 30 days, and labels whose "
                                        "security updates end in the next 90 days.", "items": items},
                        media_type="application/feed+json")


@router.get("/healthz")
async def healthz():
    # On the event loop, never behind the request threads: it answers while every thread is busy.
    return {"ok": True}


@router.get("/favicon.ico")
def favicon():
    return RedirectResponse("/static/favicon.svg", status_code=301)
