"""Components with publicly known vulnerabilities, from the offline vulnerability database.

Findings a user can act on, grouped:
* one finding per component with the vulnerabilities precise records place in its version (likely);
* one finding per component with the vulnerabilities only approximate records or an unknown distribution
  backport leave open (possible), apart from the first;
* one finding per actively exploited vulnerability (CISA KEV), whatever the group.
Each finding's evidence.detail is a JSON object (schema: report-1.schema.json $defs/vulnerabilityDetail)
whose `vulnerabilities` list is sorted by KEV, then EPSS, then CVSS.
"""

from __future__ import annotations

import json
import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity
from iotcop.vulns.db import fingerprint
from iotcop.vulns.vex import SETTLED, VULNERABILITY_ANALYSIS, Analysis, analyse_cached, with_statements

_DEFAULT_SEVERITY = Severity.medium
# Version strings of distribution builds (Debian, Ubuntu, RHEL ...) whose security fixes are backported
# without changing the upstream version number.
_DISTRO_BUILD = re.compile(r"Debian|Ubuntu|Raspbian|\+deb\d|ubuntu\d|\.el\d|\+rpi\d|platform: debian")
_DESCRIPTION_CHARS = 200


def confidence(a: Analysis) -> str:
    """'likely' for a version inside a precise record's range; 'possible' when the range is inferred from
    packaging history, a distribution build may carry a backported fix nobody recorded, or a kernel fix
    may have reached this stable branch without the source knowing."""
    m = a.match
    if m.approximate or m.uncertainty:
        return "possible"
    distro_record = any(s.name.startswith(("debian", "alpine", "osv")) and "fixed in" in s.rule or "Debian" in s.rule
                        for s in m.sources)
    if distro_record or a.distro_checked:
        return "likely"
    comp = m.component
    excerpts = " ".join(str(e.get("excerpt", "")) for e in comp.evidence)
    if comp.distro or _DISTRO_BUILD.search(excerpts) or _DISTRO_BUILD.search(comp.version or ""):
        return "possible"
    return "likely"


def _source_text(a: Analysis) -> str:
    parts = []
    for s in a.match.sources:
        ref = s.ref or {}
        where = ref.get("url") or "/".join(filter(None, (ref.get("repo"), (ref.get("commit") or "")[:12], ref.get("path"))))
        parts.append(f"{s.name} [{s.rule}]" + (f" ({where})" if where else "") + (" ~approximate" if s.approximate else ""))
    return "; ".join(parts)


def _one_line(text: str | None) -> str | None:
    if not text:
        return None
    line = " ".join(text.split())
    return line if len(line) <= _DESCRIPTION_CHARS else line[: _DESCRIPTION_CHARS - 3].rstrip() + "..."


def _severity(a: Analysis) -> str:
    m = a.match
    return m.severity if m.severity in Severity.__members__ else _DEFAULT_SEVERITY.value


def rank_key(a: Analysis) -> tuple:
    """KEV first, then EPSS, then CVSS (highest first), then the id."""
    m = a.match
    return (not m.known_exploited, -(m.epss if m.epss is not None else -1.0),
            -(m.cvss_score if m.cvss_score is not None else -1.0), m.id)


def vulnerability_entry(a: Analysis) -> dict:
    m = a.match
    return {
        "id": m.id,
        "aliases": m.aliases,
        "known_exploited": m.known_exploited,
        "epss": m.epss,
        "epss_percentile": m.epss_percentile,
        "cvss": m.cvss_score,
        "cvss_vector": m.cvss_vector,
        "severity": _severity(a),
        "severity_basis": "CVSS" if m.cvss_score is not None else ("source rating" if m.severity else "default"),
        "description": _one_line(m.description or m.title),
        "fixed": m.fixed,
        "confidence": confidence(a),
        "approximate": m.approximate,
        "sources": _source_text(a),
    }


def _component_detail(comp, entries: list[dict], group: str) -> dict:
    hosts = sorted({ev["path"] for ev in comp.evidence if ev.get("path")})
    return {
        "group": group,
        "component": comp.name,
        "version": comp.version,
        "package_version": comp.package_version,
        "purl": comp.purl,
        "cpe": comp.cpe,
        "files": hosts,
        "count": len(entries),
        "known_exploited": sum(1 for e in entries if e["known_exploited"]),
        "vulnerabilities": entries,
    }


class KnownVulnerability(Check):
    ID = "vulns.known-vulnerability"
    VERSION = "2.0.0"
    SEVERITY = _DEFAULT_SEVERITY
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="Component with a known vulnerability",
        why=(
            "A component version that a public advisory lists as vulnerable gives an attacker a documented way "
            "in; a fix for it already exists upstream."
        ),
        fix=(
            "Update the component to a version the advisory lists as fixed, or apply the upstream patch and "
            "record it (a VEX statement) so the firmware is not reported as affected. Start with the actively "
            "exploited ones (CISA KEV), then the highest EPSS."
        ),
        references=("https://www.cve.org/", "https://osv.dev/", "https://cyclonedx.org/capabilities/vex/",
                    "https://www.cisa.gov/known-exploited-vulnerabilities-catalog", "https://www.first.org/epss/"),
        limitations=(
            "Versions are read from package databases and version strings; a vendor patch applied without a version "
            "change is not seen. One finding lists a component's vulnerabilities from precise records (likely); a "
            "second lists those only packaging history suggests, or that a distribution may have fixed by a backport "
            "nobody recorded in the image or the database (possible: INCONCLUSIVE rather than FAIL until reviewed). "
            "Each actively exploited vulnerability (CISA KEV) also gets its own finding. Fixes recorded by the "
            "distribution (Debian changelog in the image, imported Debian tracker / OSV / Alpine records) and "
            "image facts (kernel architecture, configuration and modules, BusyBox applets, unused libraries) "
            "remove a match; the SBOM's VEX says why."
        ),
    )

    USES = (VULNERABILITY_ANALYSIS,)

    @classmethod
    def environment(cls) -> str:
        return fingerprint()  # the same image matched against another database is another result

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        # VEX statements the user gave (scan --vex) settle vulnerabilities as the image's own evidence does.
        yield from self.findings(with_statements(analyse_cached(fw), ctx.vex))

    def findings(self, analyses: list[Analysis]) -> Iterator[CheckOutput]:
        """Findings for these vulnerability analyses (also used to redo the matching on a stored report)."""
        groups: dict[tuple[str, str], list[Analysis]] = {}
        comps = {}
        for a in analyses:
            if a.state in SETTLED:
                continue
            comp = a.match.component
            comps[comp.key] = comp
            group = "possible" if confidence(a) == "possible" else "likely"
            groups.setdefault((comp.key, group), []).append(a)
        for (key, group), items in sorted(groups.items()):
            comp = comps[key]
            items.sort(key=rank_key)
            entries = [vulnerability_entry(a) for a in items]
            ev = comp.evidence[0] if comp.evidence else {}
            worst = max((Severity(e["severity"]) for e in entries), key=lambda s: s.rank)
            kev = sum(1 for a in items if a.match.known_exploited)
            word = "known vulnerabilit" if group == "likely" else "possible vulnerabilit"
            title = f"{comp.name} {comp.version}: {len(items)} {word}{'y' if len(items) == 1 else 'ies'}"
            if kev:
                title += f" ({kev} actively exploited)"
            top = ", ".join(a.match.id for a in items[:3])
            title += f"; first {top}" if len(items) > 3 else f": {top}"
            yield self.finding(
                ev.get("path"), title=title, offset=ev.get("offset"), excerpt=ev.get("excerpt"),
                detail=json.dumps(_component_detail(comp, entries, group), sort_keys=True),
                severity=worst, confidence=group,
            )
            for a in items:
                if not a.match.known_exploited:
                    continue
                m = a.match
                entry = vulnerability_entry(a)
                desc = f" ({_one_line(m.title or m.description)[:80]})" if (m.title or m.description) else ""
                yield self.finding(
                    ev.get("path"), title=f"{comp.name} {comp.version}: {m.id} is actively exploited (CISA KEV){desc}",
                    offset=ev.get("offset"), excerpt=ev.get("excerpt"),
                    detail=json.dumps(_component_detail(comp, [entry], "known-exploited"), sort_keys=True),
                    severity=Severity.critical if group == "likely" else Severity.high, confidence=group,
                )

