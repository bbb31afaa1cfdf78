"""Clause 6: data protection provisions for consumer IoT (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

from iotcop.conformance.language import (
    FAIL,
    INCONCLUSIVE,
    NA,
    PASS,
    Context,
    Outcome,
    declared_at,
    filled,
    ixit,
    named,
    needs_declaration,
    no_declaration,
)


@named("personal_data_documented")
@needs_declaration
def _personal_data_documented(ctx: Context) -> Outcome:
    personal = ctx.data.get("personal_data") or {}
    if personal.get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed", evidence=declared_at(ctx, "personal_data"))
    items = ixit(ctx, "personal_data") or []
    if not filled(personal.get("privacy_notice_url")) or not items:
        return Outcome(INCONCLUSIVE, "declaration", "privacy notice or processing activities not declared")
    bare = [i["name"] for i in items if not filled(i.get("processing_activities"))]
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no processing activities for: " + ", ".join(bare))
    return Outcome(PASS, "declaration", f"{len(items)} personal-data item(s) documented at {personal['privacy_notice_url']}",
                   evidence=declared_at(ctx, "personal_data.privacy_notice_url", "ixit.personal_data"))


@named("telemetry_minimal")
@needs_declaration
def _telemetry_minimal(ctx: Context) -> Outcome:
    if (ctx.data.get("telemetry") or {}).get("collected") is False:
        return Outcome(NA, "declaration", "no telemetry is collected", evidence=declared_at(ctx, "telemetry.collected"))
    items = ixit(ctx, "telemetry") or []
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "telemetry items not declared (ixit.telemetry)")
    return Outcome(PASS if all(filled(i.get("purpose")) for i in items) else INCONCLUSIVE, "declaration",
                   f"{sum(bool(i.get('personal_data')) for i in items)} of {len(items)} telemetry item(s) carry personal data, each with a purpose",
                   evidence=declared_at(ctx, "ixit.telemetry"))


@named("telemetry_matches", "firmware")
def _telemetry_matches(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    run = ctx.runs.get("privacy.cloud-endpoints")
    if run is None or run.status != "ran":
        return Outcome(INCONCLUSIVE, "firmware", "privacy.cloud-endpoints did not run")
    seen = [c for c in run.conditions if c.condition == 6 and c.holds]
    collected = (ctx.data.get("telemetry") or {}).get("collected")
    if not seen:
        return Outcome(INCONCLUSIVE, "firmware", "no telemetry endpoint found in the firmware (which alone shows nothing)",
                       checks=[run.check])
    ev = [c.evidence for c in seen if c.evidence]
    if collected is False:
        return Outcome(FAIL, "firmware", "the firmware sends telemetry, the declaration says none is collected",
                       checks=[run.check], evidence=ev + declared_at(ctx, "telemetry.collected"))
    if collected is True:
        return Outcome(PASS, "firmware", "telemetry endpoints in the firmware are declared", checks=[run.check], evidence=ev)
    return Outcome(INCONCLUSIVE, "firmware", "telemetry endpoints found; the declaration does not say", checks=[run.check], evidence=ev)
