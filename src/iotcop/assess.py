"""Findings + which checks ran + conditions -> one verdict per provision, and roll-ups.

Rules, in order, for each provision:
  FAIL            a finding (from a check that ran) informs it;
  NOT_APPLICABLE  one of its Annex B conditions is observed not to hold;
  NOT_TESTED      no check that can inform it ran (none exists, or all errored,
                  or extraction failed);
  NOT_APPLICABLE  ... or the declaration's conformance row says N-A;
  PASS            positive evidence from a check, or a declaration claim iotcop verified
                  itself (a page fetched, a date checked); every informing check ran, and
                  extraction was complete when firmware checks inform it;
  DECLARED        the declaration claims it (row Y) and nothing contradicts it; no
                  informing check errored or timed out;
  NOT_TESTED      (as above, when there is no claim either);
  INCONCLUSIVE    otherwise (checks ran and found nothing, which alone proves nothing).
Declaration findings (a row N, a contradicted condition answer) are FAILs like any other.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from iotcop import __version__
from iotcop.model import (
    Assessment,
    CheckRun,
    CheckSummary,
    Claim,
    ConditionFact,
    DeviceReport,
    Evidence,
    ExtractionReport,
    Finding,
    GroupVerdict,
    Target,
    Tool,
    Verdict,
    VerdictValue,
)
from iotcop.standards.catalogue import Catalogue, Group, Provision

V = VerdictValue

_NEEDS = {
    "D": "needs the manufacturer's declaration",
    "N": "needs a probe of the live device",
    "F": "no firmware check covers it yet",
    "X": "needs a manual or laboratory assessment",
}


@dataclass
class AssessmentInputs:
    """All inputs of an assessment; each source adds to it."""

    runs: list[CheckRun] = field(default_factory=list)
    extraction: ExtractionReport | None = None
    conditions: list[ConditionFact] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)  # from the manufacturer declaration
    declaration_findings: list[Finding] = field(default_factory=list)  # rows N, contradicted answers
    declared_items: list = field(default_factory=list)  # everything the declaration contributed, as given

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.runs if r.status == "ran" for f in r.findings] + list(self.declaration_findings)

    def add_declaration(self, items) -> None:
        """Take what iotcop.declaration.evidence.declaration_evidence returned."""
        items = list(items)
        self.declared_items.extend(items)
        for item in items:
            if isinstance(item, Claim):
                self.claims.append(item)
            elif isinstance(item, Finding):
                self.declaration_findings.append(item)
            elif isinstance(item, ConditionFact):
                self.conditions.append(item)
            else:
                raise TypeError(f"unexpected declaration item {type(item).__name__}")

    def all_conditions(self) -> list[ConditionFact]:
        return self.conditions + [c for r in self.runs if r.status == "ran" for c in r.conditions]


def assess_provisions(catalogue: Catalogue, evidence: AssessmentInputs) -> list[Verdict]:
    findings_by_p: dict[str, list[Finding]] = {}
    for f in evidence.findings:
        for p in f.provisions:
            findings_by_p.setdefault(p, []).append(f)
    runs_by_p: dict[str, list[CheckRun]] = {}
    for run in evidence.runs:
        for p in run.provisions:
            runs_by_p.setdefault(p, []).append(run)
    facts: dict[int, ConditionFact] = {}
    for fact in evidence.all_conditions():
        # A condition observed to hold outweighs a claim that it does not.
        if fact.condition not in facts or fact.holds:
            facts[fact.condition] = fact
    claims = {c.provision: c for c in evidence.claims}
    return [_verdict(p, findings_by_p.get(p.id, []), runs_by_p.get(p.id, []), facts, evidence.extraction,
                     claims.get(p.id))
            for p in catalogue.provisions.values()]


def _verdict(
    p: Provision,
    findings: list[Finding],
    runs: list[CheckRun],
    facts: dict[int, ConditionFact],
    extraction: ExtractionReport | None,
    claim: Claim | None = None,
) -> Verdict:
    checks = sorted({r.check for r in runs})
    base = dict(id=p.id, status=_status_label(p), checks=checks)
    firm = [f for f in findings if f.confidence != "possible"]
    if firm:
        ids = sorted({f.id for f in firm})
        return Verdict(**base, verdict=V.FAIL, findings=ids, note=f"{len(ids)} finding(s)")
    if findings:
        ids = sorted({f.id for f in findings})
        return Verdict(**base, verdict=V.INCONCLUSIVE, findings=ids,
                       note=f"{len(ids)} possible finding(s) to review; none confirmed")
    unmet = [facts[c] for c in p.conditions if c in facts and not facts[c].holds]
    if unmet:
        f = unmet[0]
        return Verdict(**base, verdict=V.NOT_APPLICABLE, note=f"condition {f.condition} does not hold ({f.source})")
    if claim is not None and claim.support == "N-A":
        return Verdict(**base, verdict=V.NOT_APPLICABLE, evidence=claim.evidence,
                       note=f"declared not applicable ({claim.source}): {claim.detail}")
    if claim is not None and claim.support != "N":
        decided = _claimed(base, claim, runs, extraction)
        if decided is not None:
            return decided
    ran = [r for r in runs if r.status == "ran"]
    if not runs:
        return Verdict(**base, verdict=V.NOT_TESTED, note=_NEEDS.get(p.evidence[0] if p.evidence else "X", ""))
    if extraction is not None and extraction.status == "failed" and not any(r.source != "firmware" for r in ran):
        return Verdict(**base, verdict=V.NOT_TESTED, note="extraction failed, so the firmware checks had nothing to read")
    if not ran:
        why = "; ".join(sorted({f"{r.check}: {r.status}" for r in runs}))
        return Verdict(**base, verdict=V.NOT_TESTED, note=f"no informing check completed ({why})")
    proofs = [c for r in ran for c in r.compliance if c.provision == p.id]
    problems = []
    if len(ran) < len(runs):
        problems.append("not every informing check completed")
    if extraction is not None and extraction.status != "complete" and any(r.source == "firmware" for r in ran):
        problems.append(f"extraction was {extraction.status}")  # live-probe runs do not depend on it
    if proofs and not problems:
        return Verdict(**base, verdict=V.PASS, note="; ".join(sorted({c.statement for c in proofs})),
                       evidence=[e for c in proofs for e in c.evidence])
    if not problems:
        problems.append("checks ran and found no issue, but none shows compliance")
    return Verdict(**base, verdict=V.INCONCLUSIVE, note="; ".join(problems))


def _claimed(base: dict, claim: Claim, runs: list[CheckRun], extraction: ExtractionReport | None) -> Verdict | None:
    """PASS for a verified claim, DECLARED for one only claimed; None leaves it to the firmware rules."""
    ran = [r for r in runs if r.status == "ran"]
    proofs = [c for r in ran for c in r.compliance if c.provision == base["id"]]
    stopped = sorted(f"{r.check}: {r.status}" for r in runs if r.status in ("error", "timeout"))
    problems = [f"not every informing check completed ({'; '.join(stopped)})"] if stopped else []
    if ran and extraction is not None and extraction.status != "complete":
        problems.append(f"extraction was {extraction.status}")
    seen: list[Evidence] = [e for c in proofs for e in c.evidence]
    if claim.verified and not problems:
        return Verdict(**base, verdict=V.PASS, note=claim.note or "verified", evidence=list(claim.evidence) + seen)
    if proofs and not problems:
        # The checks show it themselves: a declaration that also claims it does not weaken that to DECLARED.
        statements = "; ".join(sorted({c.statement for c in proofs}))
        return Verdict(**base, verdict=V.PASS, note=f"{statements}; also declared ({claim.source})" if claim.support == "Y"
                       else statements, evidence=seen + list(claim.evidence))
    if claim.support == "Y":
        if stopped:
            return Verdict(**base, verdict=V.INCONCLUSIVE, evidence=list(claim.evidence),
                           note=f"declared ({claim.source}), but " + "; ".join(problems))
        note = f"declared ({claim.source}): {claim.detail.rstrip('.')}"
        if claim.note:
            note += f"; {claim.note}"
        return Verdict(**base, verdict=V.DECLARED, note=note, evidence=list(claim.evidence))
    if claim.note and not runs:
        return Verdict(**base, verdict=V.INCONCLUSIVE, note=claim.note, evidence=list(claim.evidence))
    return None


def _status_label(p: Provision) -> str:
    """Annex B style: "M", "R C3,4"."""
    return p.status + ",".join(str(c) for c in p.conditions)


def roll_up(group: Group, catalogue: Catalogue, verdicts: dict[str, Verdict]) -> GroupVerdict:
    """A group's verdict from its mandatory provisions (all of them when it has none)."""
    members = [catalogue.provisions[p] for p in group.provisions]
    mandatory = [p for p in members if p.mandatory]
    basis = mandatory or members
    values = [verdicts[p.id].verdict for p in basis]
    failed_recs = [p.id for p in members if not p.mandatory and verdicts[p.id].verdict == V.FAIL]
    relevant = [v for v in values if v != V.NOT_APPLICABLE]
    if V.FAIL in values:
        verdict = V.FAIL
    elif not relevant:
        verdict = V.NOT_APPLICABLE
    elif all(v == V.PASS for v in relevant):
        verdict = V.PASS
    elif all(v in (V.PASS, V.DECLARED) for v in relevant):
        verdict = V.DECLARED
    elif all(v == V.NOT_TESTED for v in relevant):
        verdict = V.NOT_TESTED
    else:
        verdict = V.INCONCLUSIVE
    failing = [p.id for p in basis if verdicts[p.id].verdict == V.FAIL]
    notes = []
    if failing:
        notes.append("failing: " + ", ".join(failing))
    if failed_recs and mandatory:
        notes.append("recommendations not met: " + ", ".join(failed_recs))
    return GroupVerdict(id=group.id, title=group.title, verdict=verdict, provisions=list(group.provisions),
                        note="; ".join(notes))


def build_assessment(catalogue: Catalogue, target: Target, extraction: ExtractionReport, inputs: AssessmentInputs, *,
                     timings: dict[str, float] | None = None, components: list[dict] | None = None,
                     device: DeviceReport | None = None, declaration: Any = None, profile: str | None = None,
                     notes: list[str] | None = None) -> Assessment:
    """The one Assessment every output is rendered from: verdicts, roll-ups and the record of what ran."""
    verdicts = assess_provisions(catalogue, inputs)
    by_id = {v.id: v for v in verdicts}
    findings = sorted({f.id: f for f in inputs.findings}.values(), key=lambda f: f.sort_key())
    return Assessment(
        tool=Tool(version=__version__, catalogue_version=catalogue.version),
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        target=target,
        extraction=extraction,
        findings=findings,
        provisions=verdicts,
        guidelines=[roll_up(g, catalogue, by_id) for g in catalogue.guidelines],
        psti=[roll_up(g, catalogue, by_id) for g in catalogue.psti],
        checks=[CheckSummary(id=r.check, version=r.version, status=r.status, findings=len(r.findings),
                             seconds=r.seconds, error=r.error) for r in inputs.runs],
        components=list(components or []),
        timings=dict(timings or {}),
        profile=profile,
        notes=list(notes or []),
        claims=inputs.claims,
        declaration=declaration.summary() if declaration is not None else None,
        device=device,
    )
