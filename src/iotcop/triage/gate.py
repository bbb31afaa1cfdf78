"""Accepting findings from a baseline, and the CI gate (`--fail-on`) over what is left.

`--fail-on` takes one or more conditions, comma-separated; the scan exits 1 when any holds:

    mandatory          a mandatory provision FAILs (the default)
    fail               any provision FAILs, recommendations too
    SEVERITY[:CONF]    a finding at or above SEVERITY (critical, high, medium, low, info) with confidence
                       at or above CONF (confirmed, likely, possible; default likely)
    kev                an actively exploited vulnerability (CISA KEV)
    never              never (the exit code then says only whether the scan itself worked)

Findings a baseline accepts do not count; a provision whose every finding is accepted does not count
as failing.  A FAIL that rests on no finding (a contradicted declaration claim) cannot be accepted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from iotcop.errors import InputError
from iotcop.model import Assessment, Finding, Severity
from iotcop.report.findings import fingerprint, vulnerability_detail
from iotcop.standards.catalogue import load_catalogue
from iotcop.triage.baseline import Acceptance, Baseline

SEVERITIES = ("critical", "high", "medium", "low", "info")
CONFIDENCES = ("confirmed", "likely", "possible")
_CONF_RANK = {"confirmed": 2, "likely": 1, "possible": 0}


@dataclass(frozen=True)
class FailOn:
    mandatory: bool = True
    any_fail: bool = False
    severity: str | None = None
    confidence: str = "likely"
    kev: bool = False

    @classmethod
    def parse(cls, text: str | None) -> FailOn:
        if text is None or not text.strip():
            return cls()
        values = {"mandatory": False, "any_fail": False, "severity": None, "confidence": "likely", "kev": False}
        never = False
        for raw in text.split(","):
            item = raw.strip().lower()
            if item == "never":
                never = True
            elif item == "mandatory":
                values["mandatory"] = True
            elif item == "fail":
                values["any_fail"] = True
            elif item == "kev":
                values["kev"] = True
            else:
                sev, _, conf = item.partition(":")
                if sev not in SEVERITIES or (conf and conf not in CONFIDENCES):
                    raise InputError(f"--fail-on: unknown condition {raw.strip()!r} (use mandatory, fail, kev, never, "
                                     "or SEVERITY[:CONFIDENCE] such as high or medium:possible)")
                values["severity"], values["confidence"] = sev, conf or "likely"
        if never and any(v for k, v in values.items() if k != "confidence"):
            raise InputError("--fail-on: 'never' cannot be combined with other conditions")
        return cls(**values)


@dataclass
class Accepted:
    """What a baseline accepts in one assessment."""

    findings: dict[str, list[Acceptance]] = field(default_factory=dict)  # finding id -> entries (all of it)
    vulnerabilities: dict[str, dict[str, Acceptance]] = field(default_factory=dict)  # finding id -> vuln id -> entry
    expired: list[Acceptance] = field(default_factory=list)
    unused: list[Acceptance] = field(default_factory=list)

    def reason(self, finding_id: str) -> str | None:
        entries = self.findings.get(finding_id)
        return "; ".join(f"{e.reason} (until {e.expires})" for e in entries) if entries else None

    def reasons(self) -> dict[str, str]:
        return {fid: self.reason(fid) or "" for fid in self.findings}


def accept(assessment: Assessment, baseline: Baseline | None, today: dt.date | None = None) -> Accepted:
    out = Accepted()
    if baseline is None:
        return out
    today = today or dt.datetime.now(dt.timezone.utc).date()
    active = [e for e in baseline.entries if e.active(today)]
    out.expired = [e for e in baseline.entries if not e.active(today)]
    used: set[int] = set()
    for f in assessment.findings:
        fp = fingerprint(f)
        for i, e in enumerate(active):
            if e.fingerprint and e.fingerprint in (fp, f.id):
                out.findings.setdefault(f.id, []).append(e)
                used.add(i)
        vd = vulnerability_detail(f)
        if vd is None:
            continue
        names = {vd.component.lower()}
        for v in vd.vulnerabilities:
            ids = {v.id, *v.aliases}
            for i, e in enumerate(active):
                if e.vulnerability in ids and (e.component is None or e.component.lower() in names):
                    out.vulnerabilities.setdefault(f.id, {})[v.id] = e
                    used.add(i)
        if f.id not in out.findings and len(out.vulnerabilities.get(f.id, {})) == len(vd.vulnerabilities):
            out.findings[f.id] = list(dict.fromkeys(out.vulnerabilities[f.id].values()))
    out.unused = [e for i, e in enumerate(active) if i not in used]
    return out


def triage_record(accepted: Accepted, baseline: Baseline | None, vex: list | None = None) -> dict | None:
    """The `triage` section of report.json."""
    if baseline is None and not vex:
        return None
    record: dict = {}
    if baseline is not None:
        record["baseline"] = {"file": baseline.path, "sha256": baseline.sha256, "entries": len(baseline.entries)}
        record["accepted"] = [{"finding": fid, "entries": [e.as_dict() for e in entries]}
                              for fid, entries in accepted.findings.items()]
        record["accepted_vulnerabilities"] = [
            {"finding": fid, "vulnerability": vid, **e.as_dict()}
            for fid, by_vuln in accepted.vulnerabilities.items() if fid not in accepted.findings
            for vid, e in by_vuln.items()]
        record["expired"] = [e.as_dict() for e in accepted.expired]
        record["unused"] = [e.as_dict() for e in accepted.unused]
    if vex:
        record["vex"] = [{"file": d.path, "sha256": d.sha256, "statements": len(d.statements)} for d in vex]
    return record


def _effective(f: Finding, accepted: Accepted) -> tuple[Severity, bool] | None:
    """A finding's severity and KEV flag once accepted vulnerabilities are set aside; None when fully accepted."""
    if f.id in accepted.findings:
        return None
    vd = vulnerability_detail(f)
    taken = accepted.vulnerabilities.get(f.id, {})
    if vd is None or not taken:
        return f.severity, bool(vd and vd.known_exploited)
    rest = [v for v in vd.vulnerabilities if v.id not in taken]
    worst = max((Severity(v.severity) for v in rest), key=lambda s: s.rank)
    # The finding's own severity may be raised above its entries' (a KEV finding is critical): keep the lower.
    severity = worst if worst.rank < f.severity.rank else f.severity
    return severity, any(v.known_exploited for v in rest)


def gate(assessment: Assessment, fail_on: FailOn, accepted: Accepted | None = None) -> list[str]:
    """Why the gate fails (empty: it passes)."""
    accepted = accepted or Accepted()
    catalogue = load_catalogue()
    findings = {f.id: f for f in assessment.findings}
    live = {fid: eff for fid, f in findings.items() if (eff := _effective(f, accepted)) is not None}
    reasons: list[str] = []
    if fail_on.mandatory or fail_on.any_fail:
        for v in assessment.provisions:
            if v.verdict.value != "FAIL":
                continue
            mandatory = v.id in catalogue.provisions and catalogue.provisions[v.id].mandatory
            if not (fail_on.any_fail or mandatory):
                continue
            counted = [fid for fid in v.findings if fid in live]
            if len(counted) < len(v.findings):  # some accepted: what is left must be able to FAIL on its own
                counted = [fid for fid in counted if findings[fid].confidence != "possible"]
            if counted or not v.findings:
                kind = "mandatory provision" if mandatory else "provision"
                reasons.append(f"{kind} {v.id} FAILs" + (f" ({len(counted)} finding(s) not accepted)" if counted else ""))
    if fail_on.severity:
        floor = Severity(fail_on.severity).rank
        conf_floor = _CONF_RANK[fail_on.confidence]
        hits = [findings[fid] for fid, (sev, _) in live.items()
                if sev.rank >= floor and _CONF_RANK[findings[fid].confidence] >= conf_floor]
        if hits:
            reasons.append(f"{len(hits)} finding(s) at or above {fail_on.severity} "
                           f"(confidence {fail_on.confidence} or higher), e.g. {hits[0].title}")
    if fail_on.kev:
        kev = [findings[fid] for fid, (_, is_kev) in live.items() if is_kev]
        if kev:
            reasons.append(f"{len(kev)} finding(s) with an actively exploited vulnerability (CISA KEV)")
    return reasons
