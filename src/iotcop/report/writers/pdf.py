"""report.pdf: the HTML report printed to PDF with WeasyPrint (Pango from Debian, no browser)."""

from __future__ import annotations

from pathlib import Path

from iotcop.errors import InputError
from iotcop.files import write_atomic
from iotcop.model import Assessment

FORMAT = "pdf"
DEFAULT = False  # slower than the other outputs; ask for it with --output pdf


def html_to_pdf(html: str, base_url: str | None = None) -> bytes:
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango libraries are missing
        raise InputError(f"PDF output needs WeasyPrint and Debian's libpango-1.0-0 ({exc})") from None
    return weasyprint.HTML(string=html, base_url=base_url).write_pdf()


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    from iotcop.report.writers.html import render_html

    path = out_dir / "report.pdf"
    write_atomic(path, html_to_pdf(render_html(assessment, getattr(context, "declaration", None))))
    return [path]
