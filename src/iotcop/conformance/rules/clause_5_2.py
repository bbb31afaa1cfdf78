"""Clause 5.2: a means to manage reports of vulnerabilities (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

from iotcop.conformance.language import (
    INCONCLUSIVE,
    PASS,
    Context,
    Outcome,
    declared_at,
    named,
    needs_declaration,
    published_claim,
)


@named("disclosure_declared")
@needs_declaration
def _disclosure_declared(ctx: Context) -> Outcome:
    vd = ctx.data.get("vulnerability_disclosure")
    if not vd:
        return Outcome(INCONCLUSIVE, "declaration", "no vulnerability disclosure policy declared")
    return Outcome(PASS, "declaration", f"policy {vd['policy_url']}, contact {vd['contact']}, acknowledgement within "
                                        f"{vd['acknowledgement_days']} days, status updates every {vd['status_update_days']} days",
                   evidence=declared_at(ctx, "vulnerability_disclosure"))


@named("disclosure_published", "web")
def _disclosure_published(ctx: Context, aspect: str) -> Outcome:
    return published_claim(ctx, "5.2-1", "disclosure policy")
