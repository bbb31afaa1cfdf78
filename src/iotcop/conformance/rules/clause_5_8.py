"""Clause 5.8: ensure that personal data is secure (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

from iotcop.conformance.language import (
    NA,
    Context,
    Outcome,
    declared_at,
    declared_channels,
    ixit,
    named,
    needs_declaration,
)


@named("personal_data_channels")
@needs_declaration
def _personal_data_channels(ctx: Context, sensitive: bool = False) -> Outcome:
    personal = ctx.data.get("personal_data") or {}
    if personal.get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed (personal_data.processed: false)", evidence=declared_at(ctx, "personal_data"))
    if sensitive:
        items = ixit(ctx, "personal_data") or []
        if personal.get("sensitive") is False and not any(i.get("sensitive") for i in items):
            return Outcome(NA, "declaration", "no sensitive personal data is processed", evidence=declared_at(ctx, "personal_data.sensitive"))
    return declared_channels(ctx, "carries_personal_data")
