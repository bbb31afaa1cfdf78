"""Label data from a report (+ declaration), and its SVG, PNG and PDF renderings."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import textwrap
from pathlib import Path

from iotcop.label.level import LEVELS, label_level
from iotcop.model import Assessment
from iotcop.report.view import (
    DeclarationView,
    jinja_env,
    product_title,
    promise_results,
    shown_assessment,
    vulnerability_summary,
)

LABEL_SCHEMA = "iotcop.label/1"
# Promises shown on the label besides the three PSTI ones (space is short).
LABEL_GUIDELINES = ("cop-4", "cop-5", "cop-6", "cop-11")
UNNAMED = "Product not named by the manufacturer"
LEVEL_COLOURS = {0: "#5f6368", 1: "#8a5300", 2: "#2f5fb3", 3: "#1b7f3b", 4: "#1b7f3b"}


def product_id(assessment: Assessment, decl: DeclarationView) -> str:
    key = "\x00".join(str(x or "") for x in (decl.manufacturer_name, decl.model, decl.product_name,
                                             assessment.target.sha256 or assessment.target.path))
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def registry_page(base: str | None, pid: str) -> str | None:
    """`{id}` in the URL is replaced by the product id; otherwise the id is appended as a path segment."""
    if not base:
        return None
    if "{id}" in base:
        return base.replace("{id}", pid)
    return base.rstrip("/") + "/" + pid


def build_label(assessment: Assessment, report_bytes: bytes, declaration=None, registry_url: str | None = None,
                now: dt.datetime | None = None) -> dict:
    shown = shown_assessment(assessment)
    decl = DeclarationView.of(declaration)
    level = label_level(assessment)
    end = decl.support_end_date()
    pid = product_id(shown, decl)
    results = [r for r in promise_results(shown, decl) if r.id.startswith("psti-") or r.id in LABEL_GUIDELINES]
    now = now or dt.datetime.now(dt.timezone.utc)
    return {
        "schema": LABEL_SCHEMA,
        "product": {
            "id": pid,
            # Without a declaration nobody has named the product: the firmware file is named as the firmware's.
            "name": decl.product_name or UNNAMED,
            "type": decl.product_type,
            "model": decl.model,
            "manufacturer": decl.manufacturer_name,
        },
        "firmware": {"version": decl.firmware_version, "sha256": shown.target.sha256,
                     "file": Path(shown.target.path).name},
        "security_updates_until": end.isoformat() if end else None,
        "level": level.value,
        "level_meaning": level.meaning,
        "level_limits": level.reasons[:12],
        "levels": {str(n): text for n, text in LEVELS.items()},
        "known_vulnerabilities": vulnerability_summary(shown).as_dict(),
        "results": [{"id": r.id, "text": r.text, "verdict": r.verdict, "state": r.state} for r in results],
        "registry_url": registry_page(registry_url, pid),
        "report": {"sha256": hashlib.sha256(report_bytes).hexdigest(), "generated_at": shown.generated_at,
                   "tool": f"iotcop {shown.tool.version}", "catalogue": shown.tool.catalogue_version,
                   "extraction": shown.extraction.status},
        "declaration_given": decl.present,
        "issued_at": now.replace(microsecond=0).isoformat(),
    }


# --- rendering -------------------------------------------------------------------

WIDTH, HEIGHT = 420, 620
_MARK = {"checked": "\u2713", "declared": "\u25cb", "problem": "\u2717", "not confirmed": "?", "not applicable": "\u2013"}
_MARK_COLOUR = {"checked": "#1b7f3b", "declared": "#2f5fb3", "problem": "#b3261e", "not confirmed": "#6b6b6b",
                "not applicable": "#6b6b6b"}


def _qr(url: str, size: int) -> dict:
    import segno

    qr = segno.make(url, error="m", micro=False)
    matrix = [list(row) for row in qr.matrix]
    n = len(matrix) + 8  # quiet zone of 4 modules each side
    cell = size / n
    path = "".join(f"M{x + 4},{y + 4}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return {"path": path, "scale": round(cell, 4), "modules": n}


def render_svg(label: dict, key_id: str) -> str:
    lines = []
    y = 0
    for r in label["results"]:
        wrapped = textwrap.wrap(r["text"], 44) or [""]
        lines.append({"dy": y, "mark": _MARK.get(r["state"], "?"), "colour": _MARK_COLOUR.get(r["state"], "#6b6b6b"),
                      "text": wrapped, "state": r["state"]})
        y += 17 * len(wrapped) + 6
    url = label.get("registry_url")
    qr = _qr(url, 112) if url else None
    product = label["product"]
    title = product_title(product.get("name"), product.get("model")) or UNNAMED
    return jinja_env().get_template("label.svg.j2").render(
        label=label, width=WIDTH, height=HEIGHT, title=textwrap.wrap(title, 34)[:2] or ["Unnamed product"],
        lines=lines, qr=qr, url_lines=textwrap.wrap(url, 40, break_on_hyphens=False)[:3] if url else [],
        level_colour=LEVEL_COLOURS.get(label["level"], "#5f6368"),
        meaning_lines=textwrap.wrap(label.get("level_meaning") or "", 54)[:2],
        key_id=key_id, level=label["level"], vulns=(label.get("known_vulnerabilities") or {}).get("short"),
    )


def render_pdf(svg: str) -> bytes:
    from iotcop.report.writers.pdf import html_to_pdf

    data = base64.b64encode(svg.encode()).decode()
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>@page {{ size: {WIDTH}px {HEIGHT}px; margin: 0 }}"
            f" body {{ margin: 0 }} img {{ display: block; width: {WIDTH}px; height: {HEIGHT}px }}</style></head>"
            f"<body><img alt='security label' src='data:image/svg+xml;base64,{data}'></body></html>")
    return html_to_pdf(html)


def render_png(pdf: bytes, scale: float = 2.0) -> bytes:
    import io

    import pypdfium2

    doc = pypdfium2.PdfDocument(pdf)
    try:
        image = doc[0].render(scale=scale).to_pil()
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()
    finally:
        doc.close()
