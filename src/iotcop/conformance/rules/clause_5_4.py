"""Clause 5.4: securely store sensitive security parameters (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

import re

from iotcop.conformance.language import (
    FAIL,
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


def _params(ctx: Context, purposes: tuple[str, ...] | None = None) -> list[dict]:
    items = list(ixit(ctx, "security_parameters") or [])
    if purposes is not None:
        items = [p for p in items if p.get("purpose") in purposes and p.get("type") != "public"]
    return items


_PLAIN = re.compile(r"\b(plain\w*|clear ?text|unencrypted|none|base64|obfuscat\w*)\b", re.I)


@named("storage_protection")
@needs_declaration
def _storage_protection(ctx: Context) -> Outcome:
    items = [p for p in _params(ctx) if p.get("type") in ("critical", "sensitive")]
    ev = declared_at(ctx, "ixit.security_parameters")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no sensitive security parameters declared (ixit.security_parameters)")
    weak = [p["name"] for p in items if _PLAIN.search(p.get("protection_scheme") or "")]
    if weak:
        return Outcome(FAIL, "declaration", "stored without protection: " + ", ".join(weak), evidence=ev)
    if any(not filled(p.get("protection_scheme")) for p in items):
        return Outcome(INCONCLUSIVE, "declaration", "protection scheme not declared for every parameter", evidence=ev)
    return Outcome(PASS, "declaration", "every sensitive parameter has a protection scheme", evidence=ev)


@named("device_identity")
@needs_declaration
def _device_identity(ctx: Context, aspect: str) -> Outcome:
    ids = _params(ctx, ("identity",))
    if not ids:
        return Outcome(INCONCLUSIVE, "declaration", "no hard-coded device identity declared (security_parameters purpose: identity)")
    ev = declared_at(ctx, "ixit.security_parameters")
    if aspect == "listed":
        return Outcome(PASS, "declaration", "identity: " + ", ".join(p["name"] for p in ids), evidence=ev)
    if all(filled(p.get("tamper_resistance")) for p in ids):
        return Outcome(PASS, "declaration", "; ".join(f"{p['name']}: {p['tamper_resistance']}" for p in ids), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "tamper resistance not declared for every identity", evidence=ev)


@named("unique_parameters")
@needs_declaration
def _unique_parameters(ctx: Context) -> Outcome:
    items = _params(ctx, ("update", "communication"))
    ev = declared_at(ctx, "ixit.security_parameters")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no parameters for update integrity or communication declared")
    shared = [p["name"] for p in items if p.get("unique_per_device") is False]
    if shared:
        return Outcome(FAIL, "declaration", "declared as the same on every device: " + ", ".join(shared), evidence=ev)
    if all(p.get("unique_per_device") is True for p in items):
        return Outcome(PASS, "declaration", "unique per device: " + ", ".join(p["name"] for p in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "uniqueness not declared for every parameter", evidence=ev)
