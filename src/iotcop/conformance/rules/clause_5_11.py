"""Clause 5.11: make it easy for users to delete user data (the named TS 103 701 rules for its test cases)."""

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
)


@named("deletion_function")
@needs_declaration
def _deletion_function(ctx: Context, target: str) -> Outcome:
    items = ixit(ctx, "deletion_functions")
    if items:
        hits = [i for i in items if i.get("target_type") == target]
        ev = declared_at(ctx, "ixit.deletion_functions")
        if hits:
            return Outcome(PASS, "declaration", f"deletion on the {target}: " + "; ".join(i.get("description") or "declared" for i in hits), evidence=ev)
        return Outcome(FAIL, "declaration", f"no deletion function targets the {target}", evidence=ev)
    if target == "device" and filled((ctx.data.get("deletion") or {}).get("text")):
        return Outcome(PASS, "declaration", "deletion: " + ctx.data["deletion"]["text"], evidence=declared_at(ctx, "deletion.text"))
    if target == "service" and (ctx.data.get("personal_data") or {}).get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed", evidence=declared_at(ctx, "personal_data"))
    return Outcome(INCONCLUSIVE, "declaration", "no deletion functions declared (ixit.deletion_functions)")
