"""What every human-facing output shows, derived once from the Assessment.

Two rules live here so that the SARIF, HTML, PDF, label, statement and consumer
outputs cannot disagree:

* A provision is shown as PASS only when the report carries its evidence: the
  compliance statement and at least one informing check that ran.  A PASS
  without them (a hand-edited or damaged report) is shown as INCONCLUSIVE and
  the roll-ups are recomputed from what is shown.
* The manufacturer declaration is read through `DeclarationView`, which accepts
  the declaration object or a plain mapping of the same fields.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotcop.declaration.paths import value_at
from iotcop.model import Assessment, Finding, Verdict, VerdictValue
from iotcop.report.findings import vulnerability_detail
from iotcop.standards.catalogue import Catalogue, load_catalogue

V = VerdictValue
TEMPLATES = Path(__file__).parent / "templates"

VERDICT_WORDS = {
    "PASS": "Pass (verified)",
    "FAIL": "Fail",
    "DECLARED": "Declared by the manufacturer",
    "INCONCLUSIVE": "Inconclusive",
    "NOT_TESTED": "Not tested",
    "NOT_APPLICABLE": "Not applicable",
}
VERDICT_ORDER = ("FAIL", "PASS", "DECLARED", "INCONCLUSIVE", "NOT_TESTED", "NOT_APPLICABLE")
VERDICT_COLOURS = {
    "PASS": "#1b7f3b",
    "FAIL": "#b3261e",
    "DECLARED": "#2f5fb3",
    "INCONCLUSIVE": "#8a5300",
    "NOT_TESTED": "#6b6b6b",
    "NOT_APPLICABLE": "#a9a9a9",
}
NO_EVIDENCE_NOTE = "the report says PASS but holds no evidence for it (no compliance statement from a check that ran)"


@functools.cache
def catalogue() -> Catalogue:
    return load_catalogue()


@functools.cache
def jinja_env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(("html", "j2", "svg", "xml"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(VERDICT_WORDS=VERDICT_WORDS, VERDICT_COLOURS=VERDICT_COLOURS)
    return env


# --- evidence rule -------------------------------------------------------------


def has_pass_evidence(verdict: Verdict, assessment: Assessment) -> bool:
    """A PASS is backed when a compliance statement is recorded and an informing check ran."""
    if getattr(verdict, "evidence", None):  # what the PASS rests on: files seen, pages fetched
        return True
    ran = {c.id for c in assessment.checks if c.status == "ran"}
    return bool(verdict.note.strip()) and any(c in ran for c in verdict.checks)


def shown_assessment(assessment: Assessment) -> Assessment:
    """The assessment as the outputs show it: no PASS without evidence."""
    from iotcop.assess import roll_up

    changed = False
    shown: list[Verdict] = []
    for v in assessment.provisions:
        if v.verdict == V.PASS and not has_pass_evidence(v, assessment):
            v = v.model_copy(update={"verdict": V.INCONCLUSIVE, "note": NO_EVIDENCE_NOTE})
            changed = True
        shown.append(v)
    if not changed:
        return assessment
    cat = catalogue()
    by_id = {v.id: v for v in shown}
    if all(p in by_id for p in cat.provisions):
        guidelines = [roll_up(g, cat, by_id) for g in cat.guidelines]
        psti = [roll_up(g, cat, by_id) for g in cat.psti]
    else:  # a report from another catalogue: never show a group PASS we cannot re-derive
        guidelines = [_demote(g) for g in assessment.guidelines]
        psti = [_demote(g) for g in assessment.psti]
    return assessment.model_copy(update={"provisions": shown, "guidelines": guidelines, "psti": psti})


def _demote(group):
    if group.verdict in (V.PASS, V.DECLARED):
        return group.model_copy(update={"verdict": V.INCONCLUSIVE, "note": "re-check: report inconsistent"})
    return group


# --- declaration ---------------------------------------------------------------

_FIELDS: dict[str, tuple[str, ...]] = {
    "product_name": ("product.name",),
    "product_type": ("product.type",),
    "model": ("model_designation", "product.model"),
    "batch": ("product.batch",),
    "manufacturer_name": ("manufacturer.name",),
    "manufacturer_address": ("manufacturer.address",),
    "firmware_version": ("firmware_version",),
    "support_end": ("support.end_date",),
    "support_url": ("support.published_url",),
    "vdp_policy_url": ("vulnerability_disclosure.policy_url",),
    "vdp_contact": ("vulnerability_disclosure.contact",),
    "vdp_ack_days": ("vulnerability_disclosure.acknowledgement_days",),
    "vdp_status_days": ("vulnerability_disclosure.status_update_days",),
    "security_txt": ("vulnerability_disclosure.security_txt_url",),
    "update_present": ("update.present",),
    "update_mechanism": ("update.description",),
    "update_automatic": ("update.automatic",),
    "update_url": ("update.url",),
    "password_approach": ("password.approach",),
    "password_generation": ("password.generation",),
    "password_change": ("password.how_to_change",),
    "deletion": ("deletion.text",),
    "deletion_url": ("deletion.url",),
    "two_step_login": ("two_step_login",),
}


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, (str, int, float, bool, dict, list)):
        return _plain(value.value)  # enums
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, str):
        return value.strip() or None
    return value


@dataclass
class DeclarationView:
    """The declaration fields the outputs need; None means the manufacturer has not said."""

    present: bool = False
    values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, declaration: Any) -> DeclarationView:
        if declaration is None:
            return cls()
        values = {}
        for name, paths in _FIELDS.items():
            for path in paths:
                value = _plain(value_at(declaration, path))
                if value is not None and not isinstance(value, dict):
                    values[name] = value
                    break
        return cls(present=True, values=values)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def __getattr__(self, name: str) -> Any:
        if name in _FIELDS:
            return self.values.get(name)
        raise AttributeError(name)

    def support_end_date(self) -> dt.date | None:
        raw = self.values.get("support_end")
        if raw is None:
            return None
        try:
            return dt.date.fromisoformat(str(raw)[:10])
        except ValueError:
            return None


# --- tables --------------------------------------------------------------------


@dataclass
class EvidenceItem:
    kind: str  # "finding" | "compliance" | "declaration" | "note"
    text: str
    path: str | None = None
    line: int | None = None
    excerpt: str | None = None
    severity: str | None = None
    finding: str | None = None  # the finding's id, for a link to it


@dataclass
class ProvisionRow:
    id: str
    clause: str
    status: str
    mandatory: bool
    summary: str
    guideline: str | None
    verdict: str
    note: str
    checks: list[str]
    evidence: list[EvidenceItem]


def provision_rows(shown: Assessment) -> list[ProvisionRow]:
    cat = catalogue()
    findings = {f.id: f for f in shown.findings}
    rows = []
    for v in shown.provisions:
        p = cat.provisions.get(v.id)
        evidence: list[EvidenceItem] = []
        for fid in v.findings:
            f = findings.get(fid)
            if f is not None:
                evidence.append(_finding_item(f))
        if v.verdict == V.PASS:
            for statement in filter(None, (s.strip() for s in v.note.split("; "))):
                evidence.append(EvidenceItem("compliance", statement))
        elif v.verdict == V.DECLARED and v.note:
            evidence.append(EvidenceItem("declaration", v.note))
        rows.append(ProvisionRow(
            id=v.id,
            clause=p.clause if p else v.id.split("-")[0],
            status=v.status,
            mandatory=p.mandatory if p else v.status.startswith("M"),
            summary=p.summary if p else "",
            guideline=str(p.guideline) if p and p.guideline is not None else None,
            verdict=v.verdict.value,
            note=v.note,
            checks=list(v.checks),
            evidence=evidence,
        ))
    return rows


def _finding_item(f: Finding) -> EvidenceItem:
    ev = f.evidence
    # A vulnerability finding's title already names its component, count and first ids: its JSON detail
    # is shown as facts with the finding itself, never here.
    detail = None if vulnerability_detail(f) is not None else ev.detail
    text = f.title + (f": {detail}" if detail else "")
    return EvidenceItem("finding", text, path=ev.path, line=ev.line, excerpt=ev.excerpt, severity=f.severity.value,
                        finding=f.id)


def verdict_counts(verdicts) -> dict[str, int]:
    counts = {k: 0 for k in VERDICT_ORDER}
    for v in verdicts:
        counts[v.verdict.value if hasattr(v.verdict, "value") else v.verdict] += 1
    return counts


def guideline_chart(shown: Assessment, width: int = 720) -> dict:
    """Geometry of a stacked bar per guideline: how its provisions' verdicts split."""
    cat = catalogue()
    by_id = {v.id: v for v in shown.provisions}
    label_w, bar_w, row_h = 250, width - 250 - 40, 22
    bars = []
    for i, g in enumerate(cat.guidelines):
        members = [by_id[p] for p in g.provisions if p in by_id]
        counts = verdict_counts(members)
        total = max(1, len(members))
        x = label_w
        segments = []
        for key in VERDICT_ORDER:
            if counts[key]:
                w = bar_w * counts[key] / total
                segments.append({"x": round(x, 2), "w": round(w, 2), "verdict": key, "count": counts[key]})
                x += w
        bars.append({"y": 30 + i * row_h, "label": f"{g.id}. {g.title}", "segments": segments, "total": len(members)})
    legend, x = [], 10
    for key in VERDICT_ORDER:
        legend.append({"x": x, "key": key, "colour": VERDICT_COLOURS[key]})
        x += 24 + 7 * len(key)
    return {"width": width, "height": 30 + len(bars) * row_h + 10, "label_w": label_w, "bar_w": bar_w,
            "row_h": row_h, "bars": bars, "legend": legend}


# --- plain words for consumers ---------------------------------------------------

MET = ("PASS", "DECLARED")
_GUIDELINE_WORDS = {
    # guideline number: (when met, subject when not)
    "1": ("No universal default passwords", "Default passwords"),
    "2": ("Security problems can be reported", "Reporting security problems"),
    "3": ("Software can be updated securely", "Software updates"),
    "4": ("Passwords and keys are stored securely", "Storage of passwords and keys"),
    "5": ("Communicates securely", "Secure communication"),
    "6": ("Unused services and ports are switched off", "Exposed services"),
    "7": ("Software integrity is checked", "Software integrity"),
    "8": ("Personal data is protected", "Protection of personal data"),
    "9": ("Keeps working safely through outages", "Resilience to outages"),
    "10": ("Telemetry is watched for attacks", "Telemetry monitoring"),
    "11": ("Personal data can be deleted easily", "Deleting personal data"),
    "12": ("Easy to install and maintain", "Installation and maintenance"),
    "13": ("Input data is validated", "Input validation"),
}


@dataclass
class PlainResult:
    id: str
    text: str
    verdict: str
    state: str  # "checked" | "declared" | "problem" | "not confirmed" | "not applicable"


def _state(verdict: str) -> str:
    return {"PASS": "checked", "DECLARED": "declared", "FAIL": "problem",
            "NOT_APPLICABLE": "not applicable"}.get(verdict, "not confirmed")


def psti_results(shown: Assessment, decl: DeclarationView) -> list[PlainResult]:
    out = []
    end = decl.support_end_date()
    for g in shown.psti:
        v = g.verdict.value
        if g.id == "psti-1":
            text = {"FAIL": "Default or guessable passwords were found",
                    "NOT_APPLICABLE": "Uses no passwords"}.get(v, "No universal default passwords" if v in MET
                                                                 else "Default passwords: not confirmed")
        elif g.id == "psti-2":
            where = (decl.vdp_contact or decl.vdp_policy_url or "").removeprefix("mailto:")  # plain words for shoppers
            if v in MET:
                text = f"Security problems can be reported to {where}" if where else "Security problems can be reported"
            elif v == "FAIL":
                text = "No working way to report security problems was found"
            else:
                text = "How to report security problems: not confirmed"
        elif g.id == "psti-3":
            if v in MET and end:
                text = f"Security updates until {end.isoformat()}"
            elif v == "FAIL":
                text = "The security update period is not published properly"
            else:
                text = "Security update period: not confirmed"
        else:
            text = g.title
        out.append(PlainResult(g.id, text, v, _state(v)))
    return out


def guideline_results(shown: Assessment) -> list[PlainResult]:
    out = []
    for g in shown.guidelines:
        met, subject = _GUIDELINE_WORDS.get(str(g.id), (g.title, g.title))
        v = g.verdict.value
        if v in MET:
            text = met
        elif v == "FAIL":
            text = f"{subject}: problem found"
        elif v == "NOT_APPLICABLE":
            text = f"{subject}: does not apply"
        else:
            text = f"{subject}: not confirmed"
        out.append(PlainResult(f"cop-{g.id}", text, v, _state(v)))
    return out


# --- one row per promise -------------------------------------------------------------

# What a guideline promises beyond the PSTI requirement it contains: its row speaks of that part only, so the
# passwords and reporting rows of PSTI are never contradicted by a guideline row about the same provisions.
_BEYOND_PSTI = {
    "1": ("Logins are protected (sound authentication, limits on guessing)", "Login protection"),
    "2": ("Reported security problems are acted on in time", "Handling reported problems"),
}


def promise_results(shown: Assessment, decl: DeclarationView) -> list[PlainResult]:
    """Each promise to the shopper once, in plain words: the three PSTI requirements, then each guideline for
    what it asks beyond them (a guideline's verdict rolled up over its provisions outside the PSTI ones)."""
    from iotcop.assess import roll_up

    cat = catalogue()
    by_id = {v.id: v for v in shown.provisions}
    in_psti = {p for g in shown.psti for p in g.provisions}
    out = psti_results(shown, decl)
    for r, g in zip(guideline_results(shown), shown.guidelines):
        rest = [p for p in g.provisions if p not in in_psti]
        if len(rest) == len(g.provisions) or not rest or not all(p in by_id and p in cat.provisions for p in rest):
            out.append(r)
            continue
        part = roll_up(g.model_copy(update={"provisions": rest}), cat, by_id)
        met, subject = _BEYOND_PSTI.get(str(g.id), _GUIDELINE_WORDS.get(str(g.id), (g.title, g.title)))
        v = part.verdict.value
        text = met if v in MET else f"{subject}: problem found" if v == "FAIL" else \
            f"{subject}: does not apply" if v == "NOT_APPLICABLE" else f"{subject}: not confirmed"
        out.append(PlainResult(r.id, text, v, _state(v)))
    return out


@dataclass
class VulnerabilitySummary:
    checked: bool  # the known-vulnerability check ran
    components: int = 0  # components with at least one known vulnerability
    known: int = 0  # distinct vulnerabilities precise records place in the installed versions
    possible: int = 0  # further ones only approximate records suggest (to be reviewed)
    known_exploited: int = 0  # of all those, actively exploited (CISA KEV)

    def sentence(self) -> str:
        if not self.checked:
            return "Known vulnerabilities: not checked"
        if not (self.known or self.possible):
            return "No known vulnerability found in the identified software"
        text = f"{self.known} known vulnerabilit{'y' if self.known == 1 else 'ies'} in {self.components} component" \
               f"{'' if self.components == 1 else 's'}"
        text += f", {self.known_exploited} actively exploited"
        if self.possible:
            text += f" ({self.possible} more possible)"
        return text

    def short(self) -> str:
        """For the label, where a line holds about 55 characters."""
        if not self.checked or not (self.known or self.possible):
            return self.sentence()
        return f"{self.known} known vulnerabilit{'y' if self.known == 1 else 'ies'}, {self.known_exploited} actively exploited"

    def as_dict(self) -> dict:
        return {"checked": self.checked, "components": self.components, "known": self.known,
                "possible": self.possible, "known_exploited": self.known_exploited, "text": self.sentence(),
                "short": self.short()}


def vulnerability_summary(shown: Assessment) -> VulnerabilitySummary:
    ran = any(c.id == "vulns.known-vulnerability" and c.status == "ran" for c in shown.checks)
    known: set[tuple[str, str]] = set()
    possible: set[tuple[str, str]] = set()
    exploited: set[tuple[str, str]] = set()
    for f in shown.findings:
        vd = vulnerability_detail(f)
        if vd is None:
            continue
        for v in vd.vulnerabilities:
            key = (vd.component, v.id)
            (possible if vd.group == "possible" else known).add(key)
            if v.known_exploited:
                exploited.add(key)
    possible -= known
    return VulnerabilitySummary(checked=ran or bool(known or possible), components=len({c for c, _ in known}),
                                known=len(known), possible=len(possible), known_exploited=len(exploited))


def product_title(name: str | None, model: str | None) -> str | None:
    """Name and model once: "HomeRouter HR-100", but "IoTCop Demo Router ICD-1" when the name holds the model."""
    if not name:
        return model or None
    if model and model.casefold() not in name.casefold():
        return f"{name} {model}"
    return name
