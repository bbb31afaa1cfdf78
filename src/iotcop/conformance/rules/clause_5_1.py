"""Clause 5.1: no universal default passwords (the named TS 103 701 rules for its test cases)."""

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


@named("password_origin")
@needs_declaration
def _password_origin(ctx: Context) -> Outcome:
    mechs = ixit(ctx, "auth_mechanisms")
    if mechs:
        pw = [m for m in mechs if m.get("factor") in (None, "password", "pin")]
        shared = [m["name"] for m in pw if m.get("origin") == "shared"]
        if shared:
            return Outcome(FAIL, "declaration", "shared pre-installed password declared for: " + ", ".join(shared),
                           evidence=declared_at(ctx, "ixit.auth_mechanisms"))
        if pw and all(m.get("origin") in ("user_defined", "unique_per_device", "none") for m in pw):
            return Outcome(PASS, "declaration", "every password mechanism is user-defined or unique per device: "
                           + ", ".join(f"{m['name']} ({m['origin']})" for m in pw), evidence=declared_at(ctx, "ixit.auth_mechanisms"))
        if not pw:
            return Outcome(PASS, "declaration", "no password-based mechanism declared", evidence=declared_at(ctx, "ixit.auth_mechanisms"))
        return Outcome(INCONCLUSIVE, "declaration", "the origin of some passwords is not declared (ixit.auth_mechanisms[].origin)")
    approach = (ctx.data.get("password") or {}).get("approach")
    if approach in ("user_defined", "unique_per_device", "none"):
        return Outcome(PASS, "declaration", f"password approach: {approach}", evidence=declared_at(ctx, "password.approach"))
    return Outcome(INCONCLUSIVE, "declaration", "no password approach declared")


_SEQUENTIAL = re.compile(r"\b(increment\w*|sequen\w*|counter|serial number|consecutive)\b", re.I)


_PUBLIC = re.compile(r"\b(mac|serial|ssid|imei|model|device name|hostname|bssid)\b", re.I)


_KEYED = re.compile(r"\b(hmac|keyed|secret key|encrypt\w*|cmac)\b", re.I)


_RANDOM = re.compile(r"\b(random|rng|trng|csprng|drbg|entropy)\b", re.I)


_LENGTH = re.compile(r"\b(\d{1,3})[- ](?:character|char|digit|symbol)s?\b", re.I)


@named("password_generation")
@needs_declaration
def _password_generation(ctx: Context, aspect: str) -> Outcome:
    texts = [(ctx.data.get("password") or {}).get("generation")] + [m.get("password_generation") for m in ixit(ctx, "auth_mechanisms") or []]
    text = " ".join(t for t in texts if filled(t))
    ev = declared_at(ctx, "password.generation", "ixit.auth_mechanisms")
    if not text:
        return Outcome(INCONCLUSIVE, "declaration", "no password generation mechanism declared")
    if aspect == "documented":
        return Outcome(PASS, "declaration", f"generation declared: {text[:120]}", evidence=ev)
    if aspect == "not_sequential":
        if _SEQUENTIAL.search(text) and not _KEYED.search(text):
            return Outcome(FAIL, "declaration", f"passwords follow a sequence: {_SEQUENTIAL.search(text).group(0)}", evidence=ev)
        if _RANDOM.search(text):
            return Outcome(PASS, "declaration", "passwords come from a random source", evidence=ev)
    if aspect == "not_public":
        if _PUBLIC.search(text) and not _KEYED.search(text):
            return Outcome(FAIL, "declaration", f"passwords derive from a public identifier ({_PUBLIC.search(text).group(0)}) "
                                                "without a keyed secret", evidence=ev)
        if _RANDOM.search(text) or _KEYED.search(text):
            return Outcome(PASS, "declaration", "no derivation from public identifiers without a key", evidence=ev)
    if aspect == "strength":
        m = _LENGTH.search(text)
        if m and int(m.group(1)) < 8:
            return Outcome(FAIL, "declaration", f"passwords of {m.group(1)} characters", evidence=ev)
        if m and _RANDOM.search(text):
            return Outcome(PASS, "declaration", f"random passwords of {m.group(1)} characters", evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "the declared mechanism does not say enough to judge this")
