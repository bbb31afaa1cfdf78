"""Clause 5.3: keep software updated (the named TS 103 701 rules for its test cases)."""

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
    no_declaration,
    published_claim,
)
from iotcop.model import Evidence


@named("support_declared")
@needs_declaration
def _support_declared(ctx: Context) -> Outcome:
    import datetime as dt

    support = ctx.data.get("support")
    if not support:
        return Outcome(INCONCLUSIVE, "declaration", "no support period declared")
    end = dt.date.fromisoformat(str(support["end_date"]))
    ev = declared_at(ctx, "support.end_date")
    if end < dt.date.today():
        return Outcome(FAIL, "declaration", f"the declared support period ended on {end}", evidence=ev)
    return Outcome(PASS, "declaration", f"support until {end}, published at {support['published_url']}", evidence=ev)


@named("support_published", "web")
def _support_published(ctx: Context, aspect: str) -> Outcome:
    return published_claim(ctx, "5.3-13", "support period")


def _mechanisms(ctx: Context) -> list[dict]:
    return list(ixit(ctx, "update_mechanisms") or [])


@named("automatic_updates")
@needs_declaration
def _automatic_updates(ctx: Context) -> Outcome:
    mechs = _mechanisms(ctx)
    auto = [m["name"] for m in mechs if m.get("initiation") == "automatic"]
    if auto:
        return Outcome(PASS, "declaration", "automatic update mechanism: " + ", ".join(auto), evidence=declared_at(ctx, "ixit.update_mechanisms"))
    update = ctx.data.get("update") or {}
    if update.get("automatic") is True:
        return Outcome(PASS, "declaration", "updates declared automatic", evidence=declared_at(ctx, "update.automatic"))
    if update.get("automatic") is False or (mechs and all(m.get("initiation") for m in mechs)):
        return Outcome(FAIL, "declaration", "no automatic update mechanism declared", evidence=declared_at(ctx, "update"))
    return Outcome(INCONCLUSIVE, "declaration", "how updates start is not declared")


@named("update_checking")
@needs_declaration
def _update_checking(ctx: Context) -> Outcome:
    mechs = _mechanisms(ctx)
    good = [m for m in mechs if m.get("check_after_boot") is True and (m.get("check_interval_hours") or 0) > 0]
    if good:
        m = good[0]
        return Outcome(PASS, "declaration", f"{m['name']}: checks after start-up and every {m['check_interval_hours']} h",
                       evidence=declared_at(ctx, "ixit.update_mechanisms"))
    if any(m.get("check_after_boot") is False for m in mechs):
        return Outcome(FAIL, "declaration", "the device does not check for updates after start-up", evidence=declared_at(ctx, "ixit.update_mechanisms"))
    return Outcome(INCONCLUSIVE, "declaration", "the update-checking schedule is not declared (check_after_boot, check_interval_hours)")


@named("update_configuration")
@needs_declaration
def _update_configuration(ctx: Context, option: str) -> Outcome:
    mechs = [m for m in _mechanisms(ctx) if m.get("configurable") is not None]
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", "the update settings are not declared (ixit.update_mechanisms[].configurable)")
    if any(option in m["configurable"] for m in mechs):
        return Outcome(PASS, "declaration", f"the user can {option} automatic updates", evidence=declared_at(ctx, "ixit.update_mechanisms"))
    return Outcome(FAIL, "declaration", f"no declared setting lets the user {option} automatic updates", evidence=declared_at(ctx, "ixit.update_mechanisms"))


_SIGNED = re.compile(r"\b(sign\w*|authentic\w*|ed25519|ecdsa|rsa-?(?:2048|3072|4096)|certificate)\b", re.I)


_INTEGRITY = re.compile(r"\b(sign\w*|integrity|hash|sha-?(?:256|384|512)|hmac|digest)\b", re.I)


@named("update_verification")
@needs_declaration
def _update_verification(ctx: Context, aspect: str) -> Outcome:
    mechs = _mechanisms(ctx)
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", "no update mechanism declared (ixit.update_mechanisms)")
    ev = declared_at(ctx, "ixit.update_mechanisms")
    if aspect == "trust":
        missing = [m["name"] for m in mechs if not filled(m.get("trust_anchor"))]
        if missing:
            return Outcome(INCONCLUSIVE, "declaration", "no trust anchor declared for: " + ", ".join(missing), evidence=ev)
        return Outcome(PASS, "declaration", "trust anchors: " + "; ".join(f"{m['name']}: {m['trust_anchor']}" for m in mechs), evidence=ev)
    pattern = _SIGNED if aspect == "authenticity" else _INTEGRITY
    undescribed = [m["name"] for m in mechs if not (filled(m.get("security_guarantees")) or filled(m.get("cryptographic_details")))]
    if undescribed:
        return Outcome(INCONCLUSIVE, "declaration", "guarantees not declared for: " + ", ".join(undescribed), evidence=ev)
    lacking = [m["name"] for m in mechs
               if not pattern.search(" ".join([m.get("security_guarantees") or ""] + list(m.get("cryptographic_details") or [])))]
    if lacking:
        return Outcome(FAIL, "declaration", f"no {aspect} check declared for: " + ", ".join(lacking), evidence=ev)
    return Outcome(PASS, "declaration", f"every update mechanism declares an {aspect} check", evidence=ev)


@named("model_in_firmware", "firmware")
def _model_in_firmware(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    model = str(ctx.data.get("model_designation") or "").strip()
    if not model or ctx.firmware is None:
        return Outcome(INCONCLUSIVE, "firmware", "no model designation or no firmware to look in")
    fw = ctx.firmware
    needle = model.lower()
    looked = 0
    for entry in fw.files():
        if looked >= 3000:
            break
        if not entry.path.startswith(("/etc/", "/www/", "/usr/share/", "/usr/lib/lua/", "/var/www/")) or not 0 < entry.size <= 262144:
            continue
        looked += 1
        try:
            text = fw.read_text(entry)
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        low = text.lower()
        at = low.find(needle)
        if at >= 0:
            line_no = low.count("\n", 0, at) + 1
            line = text.splitlines()[line_no - 1] if text.splitlines() else ""
            return Outcome(PASS, "firmware", f"the firmware shows the model designation {model!r}",
                           evidence=[Evidence(path=entry.path, line=line_no, excerpt=line.strip()[:200])])
    return Outcome(INCONCLUSIVE, "firmware", f"{model!r} not found in the firmware's text files ({looked} read)")
