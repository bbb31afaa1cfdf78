"""report.html: a self-contained HTML report (no external files, scripts or fonts).

The provision filters are CSS `:target` links, so they work with JavaScript off;
JavaScript only adds a text search.
"""

from __future__ import annotations

from pathlib import Path

from iotcop.files import write_atomic
from iotcop.model import Assessment, VerdictValue
from iotcop.report.view import (
    DeclarationView,
    catalogue,
    guideline_chart,
    jinja_env,
    provision_rows,
    shown_assessment,
    verdict_counts,
)

FORMAT = "html"
DEFAULT = True


def report_title(assessment: Assessment, decl: DeclarationView) -> str:
    parts = [decl.product_name, decl.model, decl.firmware_version and f"firmware {decl.firmware_version}"]
    named = " ".join(str(p) for p in parts if p)
    return named or Path(assessment.target.path).name or assessment.target.path


def render_html(assessment: Assessment, declaration=None) -> str:
    shown = shown_assessment(assessment)
    decl = DeclarationView.of(declaration)
    cat = catalogue()
    rows = provision_rows(shown)
    demoted = sum(1 for before, after in zip(assessment.provisions, shown.provisions)
                  if before.verdict == VerdictValue.PASS and after.verdict != VerdictValue.PASS)
    components = [c for c in shown.components if isinstance(c, dict)]
    keys: list[str] = []
    for c in components:
        keys.extend(k for k in c if k not in keys and not isinstance(c[k], (dict, list)))
    return jinja_env().get_template("report.html.j2").render(
        a=shown,
        title=report_title(shown, decl),
        decl=decl,
        standard=f"{cat.standard} {cat.standard_version}",
        rows=rows,
        counts=verdict_counts(shown.provisions),
        mandatory_fail=sum(1 for r in rows if r.mandatory and r.verdict == "FAIL"),
        chart=guideline_chart(shown),
        demoted=demoted,
        components=components,
        component_keys=keys[:8],
    )


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / "report.html"
    write_atomic(path, render_html(assessment, getattr(context, "declaration", None)))
    return [path]
