"""consumer.html: the Code of Practice's advice to consumers, made concrete for this product.

Facts come from the manufacturer declaration and the assessment; whatever
neither gives is shown as "Unknown", never guessed.
"""

from __future__ import annotations

from pathlib import Path

from iotcop.files import write_atomic
from iotcop.model import Assessment
from iotcop.label.level import LEVELS, label_level
from iotcop.report.view import (
    DeclarationView,
    jinja_env,
    product_title,
    promise_results,
    shown_assessment,
    vulnerability_summary,
)

FORMAT = "consumer"
DEFAULT = True


_PASSWORD_WAYS = {
    "user_defined": "You choose the password when you first set the device up.",
    "unique_per_device": "Each device comes with its own password; change it to one of your own in the settings.",
    "none": "The device uses no passwords.",
}


def password_advice(decl: DeclarationView) -> str:
    parts = []
    if decl.password_approach:
        parts.append(_PASSWORD_WAYS.get(str(decl.password_approach), f"Passwords: {decl.password_approach}."))
    if decl.password_generation:
        parts.append(f"Where the password comes from: {decl.password_generation}.")
    if decl.password_change:
        parts.append(f"How to change it: {decl.password_change}")
    return " ".join(parts)


def render_consumer(assessment: Assessment, declaration=None) -> str:
    shown = shown_assessment(assessment)
    decl = DeclarationView.of(declaration)
    end = decl.support_end_date()
    failing = {v.id for v in shown.provisions if v.verdict.value == "FAIL"}
    password_findings = [f for f in shown.findings if {"5.1-1", "5.1-2"} & set(f.provisions)]
    exposed = sorted({f.title for f in shown.findings
                      if {"5.6-1", "5.6-4"} & set(f.provisions) and f.check.startswith("services.")})
    named = product_title(decl.product_name, decl.model)
    level = label_level(assessment)
    return jinja_env().get_template("consumer.html.j2").render(
        name=named or "this product",
        named=bool(named),
        firmware_version=decl.firmware_version,
        level=level,
        levels=LEVELS,
        vulns=vulnerability_summary(shown),
        target=Path(shown.target.path).name or shown.target.path,
        generated=shown.generated_at[:10],
        decl=decl,
        support_end=end.isoformat() if end else None,
        support_url=decl.support_url,
        results=promise_results(shown, decl),
        password_problem=f"{len(password_findings)} finding(s)" if "5.1-1" in failing and password_findings else "",
        exposed=exposed,
        password_text=password_advice(decl),
    )


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / "consumer.html"
    write_atomic(path, render_consumer(assessment, getattr(context, "declaration", None)))
    return [path]
