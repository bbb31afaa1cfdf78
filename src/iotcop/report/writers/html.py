"""report.html: one self-contained page (no external file, script, font or CDN) for triaging an assessment.

Findings are grouped by check (and vulnerability findings by component), collapsed, counted and explained
once per check; filters (severity, confidence, provision, guideline, check family, actively exploited,
accepted), a text search and sorting act on them in the page's one script.  Without JavaScript every
finding is still there, and the provision filters are CSS `:target` links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.files import write_atomic
from iotcop.model import Assessment, Finding, VerdictValue
from iotcop.report.findings import (
    SEVERITY_ORDER,
    CheckGroup,
    VulnDetail,
    detail_text,
    fingerprint,
    group_findings,
    known_exploited_ids,
    vulnerability_detail,
)
from iotcop.report.view import (
    DeclarationView,
    catalogue,
    guideline_chart,
    jinja_env,
    product_title,
    provision_rows,
    shown_assessment,
    verdict_counts,
)

FORMAT = "html"
DEFAULT = True
SEVERITY_COLOURS = {"critical": "#7f1d1d", "high": "#b3261e", "medium": "#8a5300", "low": "#2f5fb3",
                    "info": "#5f6368"}


def report_title(assessment: Assessment, decl: DeclarationView) -> str:
    parts = [product_title(decl.product_name, decl.model), decl.firmware_version and f"firmware {decl.firmware_version}"]
    named = " ".join(str(p) for p in parts if p)
    return named or Path(assessment.target.path).name or assessment.target.path


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


@dataclass
class Card:
    f: Finding
    fp: str
    rank: int
    guidelines: list[str]
    where: str
    vuln: VulnDetail | None
    detail: str | None
    accepted: str | None
    own_why: str | None  # shown only when it differs from the check's explanation
    own_fix: str | None

    @property
    def kev(self) -> bool:
        return bool(self.vuln and self.vuln.known_exploited)

    @property
    def epss(self) -> float:
        return (self.vuln.max_epss or 0.0) if self.vuln else 0.0


@dataclass
class ComponentRow:
    name: str
    version: str
    package: str
    kind: str
    likely: int = 0
    possible: int = 0
    known_exploited: int = 0
    files: list[str] = field(default_factory=list)
    anchor: str | None = None


def _cards(groups: list[CheckGroup], accepted: dict[str, str], guideline_of: dict[str, str]) -> dict[str, Card]:
    cards: dict[str, Card] = {}
    for group in groups:
        for f in group.findings:
            ev = f.evidence
            where = (ev.path or "") + (f":{ev.line}" if ev.line else "") + (
                f" @ {ev.offset}" if ev.offset is not None and not ev.line and ev.path else "")
            vd = vulnerability_detail(f)
            cards[f.id] = Card(
                f=f, fp=fingerprint(f), rank=len(cards),
                guidelines=sorted({guideline_of[p] for p in f.provisions if p in guideline_of}, key=int),
                where=where, vuln=vd, detail=None if vd else detail_text(f), accepted=accepted.get(f.id),
                own_why=f.why if f.why and f.why != group.why else None,
                own_fix=f.fix if f.fix and f.fix != group.fix else None)
    return cards


def _components(shown: Assessment, cards: dict[str, Card]) -> list[ComponentRow]:
    rows: dict[str, ComponentRow] = {}
    for c in shown.components:
        if not isinstance(c, dict) or not c.get("name"):
            continue
        package = c.get("package") or {}
        files = [e.get("path") for e in c.get("evidence") or [] if isinstance(e, dict) and e.get("path")]
        key = f"{c['name']}@{c.get('version') or ''}"
        rows[key] = ComponentRow(
            name=str(c["name"]), version=str(c.get("version") or ""),
            package=" ".join(str(x) for x in (package.get("name"), package.get("version")) if x),
            kind=str(c.get("type") or ""), files=list(dict.fromkeys(files)))
    for card in cards.values():
        vd = card.vuln
        if vd is None:
            continue
        key = f"{vd.component}@{vd.version or ''}"
        row = rows.setdefault(key, ComponentRow(vd.component, vd.version or "", vd.package_version or "", "",
                                                files=list(vd.files)))
        row.anchor = row.anchor or "c-" + slug(key)
        if vd.group == "likely":
            row.likely += vd.count
            row.known_exploited += vd.known_exploited
        elif vd.group == "possible":
            row.possible += vd.count
            row.known_exploited += vd.known_exploited
    return sorted(rows.values(), key=lambda r: (-r.known_exploited, -r.likely, -r.possible, r.name.lower()))


def severity_chart(cards: dict[str, Card], width: int = 720) -> dict:
    """Findings per Code of Practice guideline, stacked by severity (a finding counts under each guideline it informs)."""
    cat = catalogue()
    counts = {str(g.id): {s: 0 for s in SEVERITY_ORDER} for g in cat.guidelines}
    for card in cards.values():
        for g in card.guidelines:
            counts[g][card.f.severity.value] += 1
    label_w, row_h = 250, 22
    bar_w = width - label_w - 50
    top = max([sum(c.values()) for c in counts.values()] + [1])
    bars = []
    for i, g in enumerate(cat.guidelines):
        x, segments = float(label_w), []
        for s in SEVERITY_ORDER:
            n = counts[str(g.id)][s]
            if n:
                w = bar_w * n / top
                segments.append({"x": round(x, 2), "w": round(max(w, 1.5), 2), "severity": s, "count": n})
                x += w
        bars.append({"y": 30 + i * row_h, "id": str(g.id), "label": f"{g.id}. {g.title}", "segments": segments,
                     "total": sum(counts[str(g.id)].values()), "end": round(x, 2)})
    legend, x = [], 10
    for s in SEVERITY_ORDER:
        legend.append({"x": x, "key": s, "colour": SEVERITY_COLOURS[s]})
        x += 24 + 7 * len(s)
    return {"width": width, "height": 30 + len(bars) * row_h + 10, "bars": bars, "legend": legend, "row_h": row_h}


def _boot(shown: Assessment) -> dict | None:
    boot = getattr(shown, "boot", None)
    if not isinstance(boot, dict):
        return None
    programs = [p for p in boot.get("programs") or [] if isinstance(p, dict)]
    missing = [m for m in boot.get("missing") or [] if isinstance(m, dict)]
    return {"init": boot.get("init"), "inittab": boot.get("inittab"), "programs": programs, "missing": missing,
            "notes": [n for n in boot.get("notes") or [] if isinstance(n, str)],
            "truncated": [t for t in boot.get("truncated") or [] if isinstance(t, str)]}


def render_html(assessment: Assessment, declaration=None) -> str:
    shown = shown_assessment(assessment)
    decl = DeclarationView.of(declaration)
    cat = catalogue()
    rows = provision_rows(shown)
    demoted = sum(1 for before, after in zip(assessment.provisions, shown.provisions)
                  if before.verdict == VerdictValue.PASS and after.verdict != VerdictValue.PASS)
    guideline_of = {p.id: str(p.guideline) for p in cat.provisions.values() if p.guideline is not None}
    triage = shown.triage or {}
    accepted = {a["finding"]: "; ".join(f"{e['reason']} (until {e['expires']})" for e in a["entries"])
                for a in triage.get("accepted", [])}
    groups = group_findings(shown.findings)
    cards = _cards(groups, accepted, guideline_of)
    findings_of = {r.id: [e.finding for e in r.evidence if e.finding] for r in rows}
    severity_counts = {s: sum(1 for c in cards.values() if c.f.severity.value == s) for s in SEVERITY_ORDER}
    families = sorted({g.family for g in groups})
    provisions_with_findings = [r.id for r in rows if findings_of[r.id]]
    return jinja_env().get_template("report.html.j2").render(
        a=shown,
        title=report_title(shown, decl),
        decl=decl,
        standard=f"{cat.standard} {cat.standard_version}",
        rows=rows,
        findings_of=findings_of,
        counts=verdict_counts(shown.provisions),
        mandatory_fail=sum(1 for r in rows if r.mandatory and r.verdict == "FAIL"),
        chart=guideline_chart(shown),
        sev_chart=severity_chart(cards),
        demoted=demoted,
        groups=groups,
        cards=cards,
        severity_counts=severity_counts,
        kev_ids=known_exploited_ids(shown.findings),
        accepted_count=len(accepted),
        triage=triage,
        families=families,
        provisions_with_findings=provisions_with_findings,
        guidelines=cat.guidelines,
        components=_components(shown, cards),
        boot=_boot(shown),
        slug=slug,
        SEVERITY_ORDER=SEVERITY_ORDER,
        SEVERITY_COLOURS=SEVERITY_COLOURS,
    )


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / "report.html"
    write_atomic(path, render_html(assessment, getattr(context, "declaration", None)))
    return [path]
