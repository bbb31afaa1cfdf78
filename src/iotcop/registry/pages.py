"""Server-rendered pages: search, product pages (the label's QR code lands here), the label image, the full
report as a page, label verification, JSON Feed and Atom feed.

No page needs JavaScript; the only form that is posted (verification) carries a CSRF token.  The full report
page is the self-contained report.html: its own CSP allows exactly its inline style and script by hash.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import re
import secrets
from xml.etree import ElementTree as ET
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from iotcop.registry import service
from iotcop.registry.api import cached, in_session, label_out, product_detail
from iotcop.registry.models import Label, LabelReport, Product
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
    from iotcop.label.level import LEVELS

    env.globals.update(STATE_MARKS=STATE_MARKS, STATE_WORDS=STATE_WORDS, revocation=service.revocation,
                       web_link=web_link, LEVELS=LEVELS)
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


# --- the label image and the full report ---------------------------------------------------


def _stored_label(session: Session, label_id: int, *columns) -> Label:
    from sqlalchemy.orm import undefer

    label = session.get(Label, label_id, options=[undefer(c) for c in columns]) if 0 < label_id < 2**31 else None
    if label is None:
        raise RegistryError(404, "There is no label with that id in this registry.")
    return label


@router.get("/labels/{label_id}/label.svg")
async def label_image(request: Request, label_id: int):
    return await in_session(request, _label_image, request, label_id)


def _label_image(session: Session, request: Request, label_id: int) -> Response:
    key = ("label.svg", label_id, service.generation(session))

    def render() -> bytes:
        from iotcop.label.make import render_svg

        label = _stored_label(session, label_id, Label.label_json)
        content = json.loads(label.label_json).get("label") or {}
        return render_svg(_renderable(content), label.key_id).encode()

    return Response(cached(request.app.state.render_cache, key, render), media_type="image/svg+xml")


def _renderable(content: dict) -> dict:
    """The signed label's content with every field the drawing reads (older or minimal labels lack some)."""
    product = {"name": None, "model": None, "manufacturer": None, **(content.get("product") or {})}
    firmware = {"version": None, "file": None, **(content.get("firmware") or {})}
    report = {"tool": "iotcop", **(content.get("report") or {})}
    return {"results": [], "level": 0, "level_meaning": "", "registry_url": None, "security_updates_until": None,
            "issued_at": "", **content, "product": product, "firmware": firmware, "report": report}


@router.get("/labels/{label_id}/report", response_class=HTMLResponse)
async def report_page(request: Request, label_id: int):
    return await in_session(request, _report_page, request, label_id)


def _inline_hashes(html: str, tag: str) -> list[str]:
    bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies]


def _report_page(session: Session, request: Request, label_id: int) -> Response:
    key = ("report-page", label_id, service.generation(session))

    def render() -> bytes:
        from iotcop.model import Assessment
        from iotcop.report.writers.html import render_html

        label = _stored_label(session, label_id)
        stored = session.get(LabelReport, label.id)
        if stored is None:
            raise RegistryError(404, "No report is stored for this label.")
        html = render_html(Assessment.model_validate(json.loads(stored.body)))
        # The page comes back to the product page it belongs to.
        back = f'<p><a href="/products/{label.product_id}?label={label.id}">Back to the product page</a></p>'
        return html.replace("<header>", back + "<header>", 1).encode()

    body = cached(request.app.state.render_cache, key, render)
    text = body.decode()
    csp = ("default-src 'none'; img-src 'self' data:; style-src " + " ".join(_inline_hashes(text, "style"))
           + "; script-src " + " ".join(_inline_hashes(text, "script"))
           + "; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
    return HTMLResponse(body, headers={"Content-Security-Policy": csp})


# --- feeds -------------------------------------------------------------------------------------


@router.get("/feed.json")
async def feed(request: Request):
    return await in_session(request, _feed, request)


def _feed(session: Session, request: Request) -> Response:
    key = ("feed", dt.date.today(), service.generation(session))
    return Response(cached(request.app.state.render_cache, key, lambda: _render_feed(session, request).body),
                    media_type="application/feed+json")


FEED_TITLE = "iotcop label registry"
FEED_DESCRIPTION = ("Labels published or revoked in the last 30 days, and labels whose security updates end in the "
                    "next 90 days.")


def _render_feed(session: Session, request: Request) -> JSONResponse:
    base = request.app.state.settings.public_base
    return JSONResponse({"version": "https://jsonfeed.org/version/1.1", "title": FEED_TITLE,
                         "home_page_url": base + "/", "feed_url": base + "/feed.json",
                         "description": FEED_DESCRIPTION, "items": feed_items(session, base)},
                        media_type="application/feed+json")


def feed_items(session: Session, base: str) -> list[dict]:
    """The feed's entries (JSON Feed 1.1 items), shared by /feed.json and /feed.atom."""
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
    return items


ATOM = "http://www.w3.org/2005/Atom"


@router.get("/feed.atom")
async def atom_feed(request: Request):
    return await in_session(request, _atom, request)


def _atom(session: Session, request: Request) -> Response:
    key = ("feed.atom", dt.date.today(), service.generation(session))
    return Response(cached(request.app.state.render_cache, key, lambda: _render_atom(session, request)),
                    media_type="application/atom+xml")


def _render_atom(session: Session, request: Request) -> bytes:
    """Atom 1.0 (RFC 4287) of the same entries as the JSON Feed, built with the standard library's ElementTree."""
    base = request.app.state.settings.public_base
    items = feed_items(session, base)
    ET.register_namespace("", ATOM)

    def sub(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", base + "/feed.atom")
    sub(feed, "title", FEED_TITLE)
    sub(feed, "subtitle", FEED_DESCRIPTION)
    updated = max((i["date_published"] for i in items), default=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
                  .isoformat())
    sub(feed, "updated", _rfc3339(updated))
    sub(feed, "link", href=base + "/feed.atom", rel="self", type="application/atom+xml")
    sub(feed, "link", href=base + "/", rel="alternate", type="text/html")
    sub(sub(feed, "author"), "name", FEED_TITLE)
    for item in items:
        entry = sub(feed, "entry")
        sub(entry, "id", item["id"])
        sub(entry, "title", item["title"])
        sub(entry, "updated", _rfc3339(item["date_published"]))
        sub(entry, "published", _rfc3339(item["date_published"]))
        sub(entry, "link", href=item["url"], rel="alternate", type="text/html")
        for tag in item["tags"]:
            sub(entry, "category", term=tag)
        sub(entry, "summary", item["content_text"])
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


def _rfc3339(stamp: str) -> str:
    when = dt.datetime.fromisoformat(stamp)
    if when.tzinfo is None:  # SQLite hands back naive UTC times
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@router.get("/healthz")
async def healthz():
    # On the event loop, never behind the request threads: it answers while every thread is busy.
    return {"ok": True}


@router.get("/favicon.ico")
def favicon():
    return RedirectResponse("/static/favicon.svg", status_code=301)
