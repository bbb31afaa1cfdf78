"""Clause 5.6: minimise exposed attack surfaces (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

import re

from iotcop.conformance.language import (
    FAIL,
    INCONCLUSIVE,
    NA,
    PASS,
    Context,
    Outcome,
    declared_at,
    declared_services,
    filled,
    ixit,
    named,
    needs_declaration,
    no_declaration,
    words,
)
from iotcop.conformance.observed import SERVICE_ALIASES, observed_services


@named("interfaces_justified")
@needs_declaration
def _interfaces_justified(ctx: Context) -> Outcome:
    items = ixit(ctx, "interfaces")
    ev = declared_at(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no interfaces declared (ixit.interfaces)")
    if any(i.get("status") is None for i in items):
        return Outcome(INCONCLUSIVE, "declaration", "status not declared for every interface", evidence=ev)
    unexplained = [i["name"] for i in items if i["status"] == "enabled" and not filled(i.get("purpose"))]
    if unexplained:
        return Outcome(FAIL, "declaration", "enabled without a stated use: " + ", ".join(unexplained), evidence=ev)
    return Outcome(PASS, "declaration", f"{sum(i['status'] == 'enabled' for i in items)} enabled interface(s) with a use, "
                                        f"{sum(i['status'] == 'disabled' for i in items)} disabled", evidence=ev)


@named("disabled_interfaces_off", "firmware+probe")
def _disabled_interfaces_off(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    disabled = [i for i in ixit(ctx, "interfaces") or [] if i.get("status") == "disabled" and i.get("kind") in ("network", "logical", None)]
    if not disabled:
        return Outcome(INCONCLUSIVE, "firmware+probe", "no network interface declared disabled")
    seen = observed_services(ctx)
    running = []
    for i in disabled:
        names = words(i.get("name"), i.get("description"))
        for s in seen:
            if any(w in n for n in names for w in SERVICE_ALIASES.get(s.kind, {s.kind})):
                running.append((i["name"], s))
    if running:
        return Outcome(FAIL, "firmware+probe", "declared disabled but running: " + ", ".join(sorted({f"{n} ({s.label})" for n, s in running})),
                       evidence=[s.where for _, s in running[:6]])
    names = ", ".join(i["name"] for i in disabled)
    if ctx.device_complete():
        return Outcome(PASS, "firmware+probe", f"declared disabled and not seen on the device: {names}")
    return Outcome(INCONCLUSIVE, "firmware+probe", f"declared disabled and not started at boot: {names}; a probe of the device would confirm")


_SECRETS = re.compile(r"\b(password|passphrase|key|credential|secret|token|account|user ?name)s?\b", re.I)


_VERSIONS = re.compile(r"\b(version|serial|firmware|build|mac)\b", re.I)


@named("disclosure_minimal")
@needs_declaration
def _disclosure_minimal(ctx: Context) -> Outcome:
    items = [i for i in ixit(ctx, "interfaces") or [] if filled(i.get("disclosed_information"))]
    ev = declared_at(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "disclosed information not declared (ixit.interfaces[].disclosed_information)")
    text = " ".join(i["disclosed_information"] for i in items)
    bad = [i["name"] for i in items if _SECRETS.search(i["disclosed_information"]) and not re.search(r"\bno(?:ne|thing)?\b", i["disclosed_information"], re.I)]
    if bad:
        return Outcome(FAIL, "declaration", "security-relevant information disclosed without authentication on: " + ", ".join(bad), evidence=ev)
    if _VERSIONS.search(text):
        return Outcome(INCONCLUSIVE, "declaration", "versions or identifiers are disclosed; judge whether they are security-relevant", evidence=ev)
    return Outcome(PASS, "declaration", "no security-relevant information disclosed without authentication", evidence=ev)


@named("physical_interfaces")
@needs_declaration
def _physical_interfaces(ctx: Context, aspect: str) -> Outcome:
    items = [i for i in ixit(ctx, "interfaces") or [] if i.get("kind") == "physical"]
    ev = declared_at(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no physical interfaces declared (ixit.interfaces kind: physical)")
    if aspect == "listed":
        return Outcome(PASS, "declaration", "physical interfaces: " + ", ".join(i["name"] for i in items), evidence=ev)
    enabled = [i for i in items if i.get("status") == "enabled"]
    if aspect == "purpose":
        bare = [i["name"] for i in enabled if not filled(i.get("purpose"))]
        if bare:
            return Outcome(FAIL, "declaration", "exposed without a stated use: " + ", ".join(bare), evidence=ev)
        return Outcome(PASS, "declaration", "every exposed physical interface has a use", evidence=ev)
    debug_on = [i["name"] for i in enabled if i.get("debug")]
    if debug_on:
        return Outcome(FAIL, "declaration", "debug interface left enabled: " + ", ".join(debug_on), evidence=ev)
    if any(i.get("status") is None for i in items):
        return Outcome(INCONCLUSIVE, "declaration", "status not declared for every physical interface", evidence=ev)
    return Outcome(PASS, "declaration", "only physical interfaces with a use are enabled", evidence=ev)


@named("debug_interfaces")
@needs_declaration
def _debug_interfaces(ctx: Context, aspect: str) -> Outcome:
    items = ixit(ctx, "interfaces")
    ev = declared_at(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no interfaces declared (ixit.interfaces)")
    debug = [i for i in items if i.get("debug")]
    if aspect == "listed":
        if any(i.get("debug") is None for i in items if i.get("kind") == "physical"):
            return Outcome(INCONCLUSIVE, "declaration", "not every physical interface says whether it is a debug interface", evidence=ev)
        return Outcome(PASS, "declaration", "debug interfaces: " + (", ".join(i["name"] for i in debug) or "none"), evidence=ev)
    if not debug:
        return Outcome(NA, "declaration", "no debug interface declared", evidence=ev)
    if aspect == "disabled":
        on = [i["name"] for i in debug if i.get("status") != "disabled"]
        if on:
            return Outcome(FAIL, "declaration", "debug interface not disabled: " + ", ".join(on), evidence=ev)
        return Outcome(PASS, "declaration", "every debug interface is disabled: " + ", ".join(i["name"] for i in debug), evidence=ev)
    how = [i for i in debug if filled(i.get("disabled_by"))]
    if len(how) < len(debug):
        return Outcome(INCONCLUSIVE, "declaration", "how a debug interface is disabled is not declared for every one", evidence=ev)
    return Outcome(PASS, "declaration", "; ".join(f"{i['name']}: {i['disabled_by']}" for i in debug), evidence=ev)


@named("services_have_purpose")
@needs_declaration
def _services_have_purpose(ctx: Context) -> Outcome:
    items = list(ctx.data.get("network_services") or []) + declared_services(ctx)
    ev = declared_at(ctx, "network_services")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no services declared")
    bare = sorted({i["name"] for i in items if not filled(i.get("purpose"))} -
                  {i["name"] for i in items if filled(i.get("purpose"))})
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no stated use for: " + ", ".join(bare), evidence=ev)
    return Outcome(PASS, "declaration", "every declared service has a stated use", evidence=ev)
