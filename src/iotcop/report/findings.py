"""Findings as people read them: vulnerability facts, stable fingerprints, groups and plain text.

Every output (terminal, HTML, SARIF, provision table) renders a finding through here, so a vulnerability
finding is always shown as facts (CVE id and link, one-line description, CVSS, KEV, EPSS, fixed version)
and never as the JSON object its `evidence.detail` holds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from iotcop.model import Finding, Severity

VULN_CHECK = "vulns.known-vulnerability"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
CONFIDENCE_ORDER = ("confirmed", "likely", "possible")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: Any) -> str:
    """Text from the image with every control character, terminal escape and bidi override shown escaped.

    A file named "a\\x1b[2Jb\\nFAIL" prints as a\\x1b[2Jb\\nFAIL on one line: it can neither add a line
    to a summary nor send an escape sequence to a terminal.
    """
    text = "" if text is None else str(text)

    def one(m: re.Match) -> str:
        c = m.group(0)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")

    return _CONTROL.sub(one, text)


# --- vulnerabilities ---------------------------------------------------------------


def record_url(vuln_id: str) -> str:
    """The public record of a vulnerability id: CVE, GitHub advisory, or OSV for every other id."""
    if re.fullmatch(r"CVE-\d{4}-\d{4,}", vuln_id):
        return f"https://www.cve.org/CVERecord?id={vuln_id}"
    if vuln_id.startswith("GHSA-"):
        return f"https://github.com/advisories/{vuln_id}"
    return f"https://osv.dev/vulnerability/{vuln_id}"


@dataclass(frozen=True)
class VulnFact:
    id: str
    severity: str
    known_exploited: bool = False
    cvss: float | None = None
    cvss_vector: str | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    description: str | None = None
    fixed: str | None = None
    confidence: str = "likely"
    approximate: bool = False
    aliases: tuple[str, ...] = ()
    sources: str = ""

    @property
    def url(self) -> str:
        return record_url(self.id)

    @property
    def cvss_text(self) -> str | None:
        return f"CVSS {self.cvss:.1f}" if self.cvss is not None else None

    @property
    def epss_text(self) -> str | None:
        return f"EPSS {self.epss * 100:.1f}%" if self.epss is not None else None

    def facts(self) -> list[str]:
        """The short facts in the order a triager reads them."""
        out = []
        if self.known_exploited:
            out.append("actively exploited (CISA KEV)")
        out.append(" ".join(x for x in (self.cvss_text, self.severity) if x))
        if self.epss_text:
            out.append(self.epss_text)
        if self.fixed:
            out.append(f"fixed in {self.fixed}")
        if self.confidence == "possible":
            out.append("possible: to review")
        return out

    def line(self, description_chars: int | None = 120) -> str:
        text = f"{self.id} ({', '.join(self.facts())})"
        if self.description:
            d = self.description
            if description_chars and len(d) > description_chars:
                d = d[: description_chars - 1].rstrip() + "…"
            text += f": {d}"
        return text


@dataclass(frozen=True)
class VulnDetail:
    group: str  # likely | possible | known-exploited
    component: str
    version: str | None
    package_version: str | None
    purl: str | None
    cpe: str | None
    files: tuple[str, ...]
    vulnerabilities: tuple[VulnFact, ...]

    @property
    def count(self) -> int:
        return len(self.vulnerabilities)

    @property
    def known_exploited(self) -> int:
        return sum(1 for v in self.vulnerabilities if v.known_exploited)

    @property
    def component_label(self) -> str:
        return " ".join(x for x in (self.component, self.version) if x)

    @property
    def max_cvss(self) -> float | None:
        scores = [v.cvss for v in self.vulnerabilities if v.cvss is not None]
        return max(scores) if scores else None

    @property
    def max_epss(self) -> float | None:
        scores = [v.epss for v in self.vulnerabilities if v.epss is not None]
        return max(scores) if scores else None

    def summary(self) -> str:
        word = {"likely": "known", "possible": "possible", "known-exploited": "actively exploited"}[self.group]
        n = self.count
        text = f"{self.component_label}: {n} {word} vulnerabilit{'y' if n == 1 else 'ies'}"
        if self.group != "known-exploited":
            text += f", {self.known_exploited} actively exploited"
        if self.package_version and self.package_version != self.version:
            text += f" (package {self.package_version})"
        return text

    def text(self, top: int = 3, description_chars: int | None = 100) -> str:
        """One paragraph of plain text: the summary and the first vulnerabilities (already ranked)."""
        shown = [v.line(description_chars) for v in self.vulnerabilities[:top]]
        more = self.count - len(shown)
        return self.summary() + ". " + "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _fact(entry: dict) -> VulnFact:
    def num(key: str) -> float | None:
        value = entry.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    severity = entry.get("severity")
    return VulnFact(
        id=str(entry.get("id") or "?"),
        severity=severity if severity in SEVERITY_ORDER else "medium",
        known_exploited=entry.get("known_exploited") is True,
        cvss=num("cvss"),
        cvss_vector=entry.get("cvss_vector") if isinstance(entry.get("cvss_vector"), str) else None,
        epss=num("epss"),
        epss_percentile=num("epss_percentile"),
        description=entry.get("description") if isinstance(entry.get("description"), str) else None,
        fixed=entry.get("fixed") if isinstance(entry.get("fixed"), str) else None,
        confidence=entry.get("confidence") if entry.get("confidence") in ("likely", "possible") else "likely",
        approximate=entry.get("approximate") is True,
        aliases=tuple(str(a) for a in entry.get("aliases") or () if isinstance(a, str)),
        sources=entry.get("sources") if isinstance(entry.get("sources"), str) else "",
    )


@functools.lru_cache(maxsize=8192)
def _parse_detail(detail: str) -> VulnDetail | None:
    try:
        data = json.loads(detail)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("vulnerabilities"), list) or not data.get("component"):
        return None
    vulns = tuple(_fact(v) for v in data["vulnerabilities"] if isinstance(v, dict))
    if not vulns:
        return None

    def text(key: str) -> str | None:
        return data.get(key) if isinstance(data.get(key), str) else None

    group = data.get("group") if data.get("group") in ("likely", "possible", "known-exploited") else "likely"
    return VulnDetail(group=group, component=str(data["component"]), version=text("version"),
                      package_version=text("package_version"), purl=text("purl"), cpe=text("cpe"),
                      files=tuple(str(f) for f in data.get("files") or () if isinstance(f, str)),
                      vulnerabilities=vulns)


def vulnerability_detail(f: Finding) -> VulnDetail | None:
    """The structured vulnerability list of a vulnerability finding; None for every other finding."""
    detail = f.evidence.detail
    if f.check != VULN_CHECK or not detail or not detail.lstrip().startswith("{"):
        return None
    return _parse_detail(detail)


def detail_text(f: Finding, top: int = 3, description_chars: int | None = 100) -> str | None:
    """The evidence detail as plain text: vulnerability facts for a vulnerability finding."""
    vd = vulnerability_detail(f)
    if vd is not None:
        return vd.text(top, description_chars)
    return detail_words(f.evidence.detail)


def detail_words(detail: str | None, top: int = 3) -> str | None:
    """Any evidence detail as words: a vulnerability list as facts, another JSON value flattened, text as it is
    (for outputs that hold an Evidence without its finding, such as TS 103 701 test units)."""
    if not detail or not detail.lstrip().startswith(("{", "[")):
        return detail
    vd = _parse_detail(detail)
    if vd is not None:
        return vd.text(top)
    try:  # an unknown JSON detail is still shown as words, never as a dict
        return _flatten(json.loads(detail))
    except ValueError:
        return detail


def _flatten(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list):
        return ", ".join(_flatten(v) for v in value)
    return str(value)


def is_known_exploited(f: Finding) -> bool:
    vd = vulnerability_detail(f)
    return vd is not None and vd.known_exploited > 0


def known_exploited_ids(findings: Iterable[Finding]) -> list[str]:
    """Distinct actively exploited vulnerability ids across the findings, in first-seen order."""
    seen: dict[str, None] = {}
    for f in findings:
        vd = vulnerability_detail(f)
        if vd is not None:
            for v in vd.vulnerabilities:
                if v.known_exploited:
                    seen.setdefault(f"{vd.component}:{v.id}", None)
    return list(seen)


# --- fingerprints ------------------------------------------------------------------


def fingerprint(f: Finding) -> str:
    """A finding's identity across scans and database updates (baseline files and SARIF use it).

    For most findings it is the finding id.  A vulnerability finding's id changes whenever the
    database adds a CVE or an EPSS score moves; its fingerprint is the component and its version
    (an image can hold two copies of a library at different versions), the group and, for a
    known-exploited finding, the one vulnerability it names.
    """
    vd = vulnerability_detail(f)
    if vd is None:
        return f.id
    parts = [f.check, vd.component, vd.version or "", vd.group]
    if vd.group == "known-exploited":
        parts.append(vd.vulnerabilities[0].id)
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


# --- ordering ----------------------------------------------------------------------


def triage_key(f: Finding) -> tuple:
    """Actively exploited first, then confirmed/likely before possible, then severity, then EPSS and CVSS."""
    vd = vulnerability_detail(f)
    kev = vd.known_exploited if vd else 0
    epss = (vd.max_epss or 0.0) if vd else 0.0
    cvss = (vd.max_cvss or 0.0) if vd else 0.0
    return (kev == 0, f.confidence == "possible", -f.severity.rank, -epss, -cvss) + f.sort_key()


# --- groups ------------------------------------------------------------------------


@dataclass
class ComponentGroup:
    key: str
    label: str
    findings: list[Finding] = field(default_factory=list)
    vulnerabilities: int = 0
    known_exploited: int = 0


@dataclass
class CheckGroup:
    check: str
    title: str
    why: str
    fix: str
    references: tuple[str, ...]
    findings: list[Finding] = field(default_factory=list)
    components: list[ComponentGroup] = field(default_factory=list)  # vulnerability findings only

    @property
    def family(self) -> str:
        return self.check.split(".", 1)[0]

    @property
    def worst(self) -> str:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=Severity.info).value


@functools.cache
def check_docs() -> dict[str, Any]:
    from iotcop.checks.discovery import all_checks

    return {c.ID: c.DOC for c in all_checks()}


def group_findings(findings: Iterable[Finding]) -> list[CheckGroup]:
    """Findings grouped by check (worst first), vulnerability findings also by component."""
    docs = check_docs()
    groups: dict[str, CheckGroup] = {}
    for f in sorted(findings, key=triage_key):
        g = groups.get(f.check)
        if g is None:
            doc = docs.get(f.check)
            # The explanation is said once per check; a finding whose text differs keeps its own.
            g = groups[f.check] = CheckGroup(f.check, doc.title if doc else f.check, doc.why if doc else f.why,
                                             doc.fix if doc else f.fix, tuple(doc.references) if doc else ())
        g.findings.append(f)
        vd = vulnerability_detail(f)
        if vd is not None:
            key = f"{vd.component}@{vd.version or ''}"
            comp = next((c for c in g.components if c.key == key), None)
            if comp is None:
                comp = ComponentGroup(key, vd.component_label)
                g.components.append(comp)
            comp.findings.append(f)
            if vd.group != "known-exploited":
                comp.vulnerabilities += vd.count
                comp.known_exploited += vd.known_exploited
    return sorted(groups.values(), key=lambda g: (min(triage_key(f)[:3] for f in g.findings), g.check))
