"""Clause 4: reporting how recommendations were implemented (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

from iotcop.conformance.language import (
    INCONCLUSIVE,
    PASS,
    Context,
    Outcome,
    named,
    no_declaration,
)


@named("justifications")
def _justifications(ctx: Context) -> Outcome:
    claim = ctx.claims.get("4-1")
    if ctx.declaration is None:
        return no_declaration()
    if claim is not None and claim.verified:
        return Outcome(PASS, "declaration", claim.note or "every applicable recommendation has a row", evidence=list(claim.evidence))
    return Outcome(INCONCLUSIVE, "declaration", (claim.note if claim else "") or "the ICS does not cover every recommendation",
                   evidence=list(claim.evidence) if claim else [])
