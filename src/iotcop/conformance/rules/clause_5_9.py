"""Clause 5.9: make systems resilient to outages (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

import re

from iotcop.conformance.language import (
    INCONCLUSIVE,
    PASS,
    Context,
    Outcome,
    declared_at,
    filled,
    ixit,
    named,
    needs_declaration,
)


@named("resilience_covers")
@needs_declaration
def _resilience_covers(ctx: Context) -> Outcome:
    items = ixit(ctx, "resilience") or []
    ev = declared_at(ctx, "ixit.resilience")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no resilience mechanisms declared")
    net = any(i.get("network_outage") for i in items)
    power = any(i.get("power_outage") for i in items)
    if net and power:
        return Outcome(PASS, "declaration", "network and power outages are both covered", evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "not covered: " + ", ".join(w for w, ok in (("network outage", net), ("power outage", power)) if not ok), evidence=ev)


@named("reconnection_backoff")
@needs_declaration
def _reconnection_backoff(ctx: Context) -> Outcome:
    items = [m for m in ixit(ctx, "communication_mechanisms") or [] if filled(m.get("reconnection"))]
    ev = declared_at(ctx, "ixit.communication_mechanisms")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "reconnection behaviour not declared")
    if all(re.search(r"back-?off|exponential|jitter|random(?:ised|ized)? delay", m["reconnection"], re.I) for m in items):
        return Outcome(PASS, "declaration", "reconnection with back-off: " + ", ".join(m["name"] for m in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "no back-off named for every mechanism", evidence=ev)
