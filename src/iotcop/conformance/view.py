"""The assessment as ETSI TS 103 701 test cases: one verdict per test case from its test units.

A test case is
  N/A           when its provision is not applicable (an Annex B condition observed or declared
                not to hold, or an ICS row N-A), or when every unit has nothing to apply to;
  FAIL          when the ICS row of its provision says N (conceptual cases), or any unit FAILs;
  PASS          when every unit PASSes (units that need a laboratory never do);
  INCONCLUSIVE  otherwise.
Coverage says what can decide a test case at best: "automated" when every unit is decided by
firmware checks, live probes, traffic captures or pages iotcop fetches (a unit with `evidence:` is
decided by those checks when they ran, its declaration rule being the claim they are held against); "declaration" when some unit rests on rules
over the manufacturer declaration; "manual" when some unit needs a laboratory or a person.
"""

from __future__ import annotations

from collections import Counter

from iotcop.conformance.data import (
    DECLARATION_RULES,
    TestCase,
    TestCases,
    Unit,
    load_test_cases,
)
from iotcop.conformance.language import (
    FAIL,
    INCONCLUSIVE,
    NA,
    PASS,
    Context,
    Outcome,
    check_source,
    checks,
    confirmed,
    documented,
    each,
    strong_crypto,
    weak_crypto,
)
from iotcop.conformance.observed import completeness
from iotcop.conformance.rules import NAMED_RULES
from iotcop.model import (
    ConformanceView,
    Evidence,
    TestCaseResult,
    TestUnitResult,
    VerdictValue,
)

VERDICTS = (PASS, FAIL, INCONCLUSIVE, NA)
COVERAGE = ("automated", "declaration", "manual")
_AUTOMATED_SOURCES = {"firmware", "probe", "traffic", "web", "firmware+probe", "probe+traffic", "firmware+traffic",
                      "firmware+probe+traffic"}


def unit_source(unit: Unit, cases: TestCases, _seen: frozenset[str] = frozenset()) -> str:
    if unit.evidence:
        return check_source(unit.evidence)  # decided by the evidence when it is there
    kind = unit.rule_kind
    rule = unit.rule
    if kind in DECLARATION_RULES:
        return "declaration"
    if kind == "checks":
        return check_source(rule["checks"])
    if kind == "completeness":
        return "firmware" if rule["completeness"] == "sensors" else "firmware+probe"
    if kind == "named":
        return NAMED_RULES[rule["named"]][1]
    if kind == "manual":
        return "manual"
    target = rule["same_as"]
    if target in _seen:
        return "manual"
    return case_coverage(cases.cases[target], cases, _seen | {unit.case})


def case_coverage(case: TestCase, cases: TestCases | None = None, _seen: frozenset[str] = frozenset()) -> str:
    cases = cases or load_test_cases()
    sources = [unit_source(u, cases, _seen) for u in case.units]
    # a same_as unit returns the coverage of the case it refers to
    if any(s == "manual" for s in sources):
        return "manual"
    if any(s in ("declaration",) for s in sources):
        return "declaration"
    return "automated"


def coverage_table(cases: TestCases | None = None) -> dict:
    """Counts of test cases per coverage class, of all and of the network-relevant ones."""
    cases = cases or load_test_cases()
    rows = {c.id: case_coverage(c, cases) for c in cases.cases.values()}
    network = [c.id for c in cases.cases.values() if c.network]
    table = {
        "all": {k: sum(1 for v in rows.values() if v == k) for k in COVERAGE},
        "network": {k: sum(1 for cid in network if rows[cid] == k) for k in COVERAGE},
        "by_kind": {kind: {k: sum(1 for c in cases.cases.values() if c.kind == kind and rows[c.id] == k) for k in COVERAGE}
                    for kind in ("conceptual", "functional", "combined")},
    }
    table["all"]["total"] = len(rows)
    table["network"]["total"] = len(network)
    table["cases"] = rows
    return table


class _Evaluator:
    def __init__(self, cases: TestCases, ctx: Context) -> None:
        self.cases = cases
        self.ctx = ctx
        self.done: dict[str, TestCaseResult] = {}
        self.active: set[str] = set()

    def case(self, case: TestCase) -> TestCaseResult:
        if case.id in self.done:
            return self.done[case.id]
        self.active.add(case.id)
        coverage = case_coverage(case, self.cases)
        verdict_of_p = self.ctx.verdicts.get(case.provision)
        units = [self.unit(case, u) for u in case.units]
        note = ""
        if verdict_of_p is not None and verdict_of_p.verdict == VerdictValue.NOT_APPLICABLE:
            verdict, note = NA, f"provision {case.provision} is not applicable: {verdict_of_p.note}"
        else:
            verdict = _combine([u.verdict for u in units])
            row = self._ics_row(case.provision)
            if row is not None and row.support == "N" and case.kind in ("conceptual", "combined"):
                verdict = FAIL
                note = f"the ICS declares {case.provision} not met ({self.ctx.declaration.source}:{row.line}): {row.detail}"
            elif verdict == FAIL:
                note = "failed units: " + ", ".join(u.unit for u in units if u.verdict == FAIL)
            elif verdict == INCONCLUSIVE:
                open_ = [u.unit for u in units if u.verdict == INCONCLUSIVE]
                note = "undecided units: " + ", ".join(open_)
        result = TestCaseResult(id=case.id, provision=case.provision, kind=case.kind, coverage=coverage, network=case.network,
                                verdict=verdict, note=note, units=units)
        self.active.discard(case.id)
        self.done[case.id] = result
        return result

    def _ics_row(self, pid: str):
        decl = self.ctx.declaration
        return decl.conformance.get(pid) if decl is not None else None

    def unit(self, case: TestCase, unit: Unit) -> TestUnitResult:
        outcome = self._decide(case, unit)
        if unit.evidence:
            outcome = self._with_evidence(case, unit, outcome)
        if unit.fail_on and outcome.verdict != FAIL:
            contra = checks(self.ctx, list(unit.fail_on), {case.provision}, proofs_allowed=False)
            if contra.verdict == FAIL:
                outcome = Outcome(FAIL, f"{outcome.source}+{check_source(unit.fail_on)}",
                                  "contradicted by " + contra.note + (f" (the unit alone: {outcome.verdict})" if outcome.note else ""),
                                  checks=contra.checks, findings=contra.findings, evidence=contra.evidence + outcome.evidence)
            else:
                outcome.checks = sorted(set(outcome.checks) | set(contra.checks))
        return TestUnitResult(unit=unit.id, verdict=outcome.verdict, source=outcome.source, note=outcome.note,
                              checks=outcome.checks, findings=outcome.findings, evidence=_dedupe(outcome.evidence))

    def _with_evidence(self, case: TestCase, unit: Unit, claim: Outcome) -> Outcome:
        """The evidence decides (FAIL on a finding, PASS on positive evidence); the unit's own rule is the claim.

        A claim that fails on its own (declared weak cryptography) keeps the unit FAIL whatever is observed; when the
        evidence is missing or silent the claim's outcome stands, marked as such.
        """
        seen = checks(self.ctx, list(unit.evidence), set(unit.evidence_provisions or [case.provision]),
                      proofs_allowed=True)
        claim_note = f"the claim ({claim.source}): {claim.verdict}" + (f", {claim.note}" if claim.note else "")
        if seen.checks:
            seen.source = check_source(seen.checks)  # the evidence that was there, not all that could be
        if seen.verdict == FAIL or (seen.verdict == PASS and claim.verdict != FAIL):
            return Outcome(seen.verdict, seen.source, f"decided by the {seen.source} evidence: {seen.note}; {claim_note}",
                           checks=sorted(set(seen.checks) | set(claim.checks)), findings=seen.findings,
                           evidence=seen.evidence + claim.evidence)
        if seen.verdict == PASS:
            return Outcome(FAIL, claim.source, f"{claim.note}; the {seen.source} evidence alone would pass: {seen.note}",
                           checks=sorted(set(seen.checks) | set(claim.checks)), findings=claim.findings,
                           evidence=claim.evidence + seen.evidence)
        if seen.checks:
            claim.note = (claim.note + "; " if claim.note else "") + f"{seen.source} evidence: {seen.note}"
            claim.checks = sorted(set(claim.checks) | set(seen.checks))
        return claim

    def _decide(self, case: TestCase, unit: Unit) -> Outcome:
        rule = unit.rule
        kind = unit.rule_kind
        ctx = self.ctx
        if kind == "documented":
            return documented(ctx, rule["documented"])
        if kind == "each":
            return each(ctx, rule["each"], rule)
        if kind == "weak_crypto":
            return weak_crypto(ctx, rule["weak_crypto"])
        if kind == "strong_crypto":
            return strong_crypto(ctx, rule["strong_crypto"])
        if kind == "confirmed":
            return confirmed(ctx, rule["confirmed"])
        if kind == "checks":
            return checks(ctx, rule["checks"], set(rule.get("provisions") or [case.provision]))
        if kind == "completeness":
            return completeness(ctx, rule["completeness"])
        if kind == "named":
            fn, _ = NAMED_RULES[rule["named"]]
            args = {k: v for k, v in rule.items() if k != "named"}
            return fn(ctx, **args)
        if kind == "manual":
            return Outcome(INCONCLUSIVE, "manual", f"needs a laboratory or a person: {rule['manual']}")
        target = rule["same_as"]
        if target in self.active:
            return Outcome(INCONCLUSIVE, "manual", f"refers back to {target}")
        other = self.case(self.cases.cases[target])
        return Outcome(other.verdict, "same_as", f"as test case {target}: {other.verdict}" + (f" ({other.note})" if other.note else ""),
                       checks=sorted({c for u in other.units for c in u.checks}),
                       findings=sorted({f for u in other.units for f in u.findings}),
                       evidence=[e for u in other.units for e in u.evidence][:6])


def _combine(verdicts: list[str]) -> str:
    relevant = [v for v in verdicts if v != NA]
    if not relevant:
        return NA
    if FAIL in relevant:
        return FAIL
    if all(v == PASS for v in relevant):
        return PASS
    return INCONCLUSIVE


def _dedupe(evidence: list[Evidence]) -> list[Evidence]:
    out: list[Evidence] = []
    for e in evidence:
        if e not in out:
            out.append(e)
    return out[:8]


def conformance_view(ctx: Context, cases: TestCases | None = None) -> ConformanceView:
    cases = cases or load_test_cases()
    evaluator = _Evaluator(cases, ctx)
    results = [evaluator.case(c) for c in cases.cases.values()]
    counts = Counter(r.verdict for r in results)
    return ConformanceView(standard=f"{cases.standard} {cases.version}", declaration=ctx.declaration is not None,
                           device=ctx.device is not None, counts={v: counts.get(v, 0) for v in VERDICTS},
                           test_cases=results)


def view_for_scan(assessment, runs, declaration=None, firmware=None, declared_items=()) -> ConformanceView:
    """The TS 103 701 view of a finished scan (what `scan --view ts103701` adds to the report)."""
    from iotcop.model import Finding

    ctx = Context(
        declaration=declaration,
        runs={r.check: r for r in runs},
        extraction=assessment.extraction,
        verdicts={v.id: v for v in assessment.provisions},
        claims={c.provision: c for c in assessment.claims},
        declaration_findings=[i for i in declared_items if isinstance(i, Finding)]
        or [f for f in assessment.findings if f.check.startswith("declaration.")],
        firmware=firmware,
        device=assessment.device,
        components=list(assessment.components),
    )
    return conformance_view(ctx)
