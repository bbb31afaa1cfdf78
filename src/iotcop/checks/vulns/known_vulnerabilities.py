"""Components with publicly known vulnerabilities, from the offline vulnerability database."""

from __future__ import annotations

import json
import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity
from iotcop.vulns.db import fingerprint
from iotcop.vulns.vex import VULNERABILITY_ANALYSIS, Analysis, analyse_cached

_DEFAULT_SEVERITY = Severity.medium
# Version strings of distribution builds (Debian, Ubuntu, RHEL ...) whose security fixes are backported
# without changing the upstream version number.
_DISTRO_BUILD = re.compile(r"Debian|Ubuntu|Raspbian|\+deb\d|ubuntu\d|\.el\d|\+rpi\d")


def _confidence(a: Analysis) -> str:
    """'likely' for an upstream version inside an advisory's range; 'possible' when the range is inferred
    from packaging history or the build may carry a backported fix."""
    excerpts = " ".join(str(e.get("excerpt", "")) for e in a.match.component.evidence)
    if a.match.approximate or _DISTRO_BUILD.search(excerpts) or _DISTRO_BUILD.search(a.match.component.version):
        return "possible"
    # Kernel records without a fix for this stable branch say nothing about the branch's backports.
    if all(s.rule.startswith("mainline") or "no fix known" in s.rule for s in a.match.sources):
        return "possible"
    return "likely"


def _source_text(a: Analysis) -> str:
    parts = []
    for s in a.match.sources:
        ref = s.ref or {}
        where = ref.get("url") or "/".join(filter(None, (ref.get("repo"), (ref.get("commit") or "")[:12], ref.get("path"))))
        parts.append(f"{s.name} [{s.rule}]" + (f" ({where})" if where else "") + (" ~approximate" if s.approximate else ""))
    return "; ".join(parts)


class KnownVulnerability(Check):
    ID = "vulns.known-vulnerability"
    VERSION = "1.1.0"
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
            "record it (a VEX statement) so the firmware is not reported as affected."
        ),
        references=("https://www.cve.org/", "https://osv.dev/", "https://cyclonedx.org/capabilities/vex/"),
        limitations=(
            "Versions are read from package databases and version strings; a vendor patch applied without a version "
            "change is not seen. Records marked approximate come from packaging history (the version a packager "
            "moved away from citing the advisory), not from an upstream statement. Only components with a rule in "
            "sbom/data/components.yaml or a package database entry are matched. Matches on approximate records, "
            "on a distribution build that may carry backported fixes, or on a kernel branch the record has no fix "
            "data for, are reported as possible: they make the "
            "provision INCONCLUSIVE rather than FAIL until reviewed."
        ),
    )

    USES = (VULNERABILITY_ANALYSIS,)

    @classmethod
    def environment(cls) -> str:
        return fingerprint()  # the same image matched against another database is another result

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        yield from self.findings(analyse_cached(fw))

    def findings(self, analyses: list[Analysis]) -> Iterator[CheckOutput]:
        """Findings for these vulnerability analyses (also used to redo the matching on a stored report)."""
        for a in analyses:
            if a.state == "not_affected":
                continue
            m = a.match
            comp = m.component
            ev = comp.evidence[0] if comp.evidence else {}
            severity = Severity(m.severity) if m.severity in Severity.__members__ else _DEFAULT_SEVERITY
            cvss = f"CVSS {m.cvss_score} {m.cvss_vector}" if m.cvss_score is not None else "no CVSS score in the source"
            detail = {
                "id": m.id,
                "component": comp.name,
                "version": comp.version,
                "purl": comp.purl,
                "cpe": comp.cpe,
                "cvss": cvss,
                "severity_basis": "CVSS" if m.cvss_score is not None else ("source rating" if m.severity else "default"),
                "known_exploited": m.known_exploited,
                "approximate": m.approximate,
                "confidence": _confidence(a),
                "sources": _source_text(a),
            }
            title = f"{comp.name} {comp.version}: {m.id}"
            if m.title:
                title += f" ({m.title[:80]})"
            yield self.finding(
                ev.get("path"),
                title=title,
                offset=ev.get("offset"),
                excerpt=ev.get("excerpt"),
                detail=json.dumps(detail, sort_keys=True),
                severity=Severity.critical if m.known_exploited else severity,
                confidence=_confidence(a),
            )
