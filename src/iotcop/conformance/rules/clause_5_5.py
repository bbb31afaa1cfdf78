"""Clause 5.5: communicate securely (the named TS 103 701 rules for its test cases)."""

from __future__ import annotations

import re

from iotcop.conformance.language import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Context,
    Outcome,
    declared_at,
    declared_channels,
    declared_services,
    ixit,
    named,
    needs_declaration,
    no_declaration,
)
from iotcop.model import Evidence


def _version_key(v: str) -> str:
    return re.sub(r"[^0-9a-z.]", "", v.lower()).strip(".")


@named("implementations_match", "firmware")
def _implementations_match(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    impls = ixit(ctx, "network_security_implementations")
    if not impls:
        return Outcome(INCONCLUSIVE, "firmware", "no reviewed implementations declared (ixit.network_security_implementations)")
    if ctx.firmware is None and not ctx.components:
        return Outcome(INCONCLUSIVE, "firmware", "no firmware components to compare with")
    found = {}
    for c in ctx.components:
        found.setdefault(str(c.get("name", "")).lower(), set()).add(str(c.get("version", "")))
    mismatched, matched, unseen = [], [], []
    for impl in impls:
        name = impl["name"].lower()
        versions = found.get(name)
        if not versions:
            unseen.append(impl["name"])
        elif impl.get("version") and _version_key(impl["version"]) not in {_version_key(v) for v in versions}:
            mismatched.append(f"{impl['name']} declared {impl['version']}, firmware has {', '.join(sorted(versions))}")
        else:
            matched.append(f"{impl['name']} {', '.join(sorted(versions))}")
    ev = [Evidence(path=e.get("path"), offset=e.get("offset"), excerpt=e.get("excerpt"))
          for c in ctx.components if str(c.get("name", "")).lower() in {i["name"].lower() for i in impls}
          for e in (c.get("evidence") or [])[:1]]
    if mismatched:
        return Outcome(FAIL, "firmware", "not the reviewed version: " + "; ".join(mismatched), evidence=ev)
    if unseen:
        return Outcome(INCONCLUSIVE, "firmware", "not identified in the firmware: " + ", ".join(unseen)
                       + (f"; matching: {', '.join(matched)}" if matched else ""), evidence=ev)
    return Outcome(PASS, "firmware", "the firmware carries the reviewed implementations: " + ", ".join(matched), evidence=ev)


@named("crypto_components")
@needs_declaration
def _crypto_components(ctx: Context, aspect: str) -> Outcome:
    comps = [c for c in ixit(ctx, "software_components") or [] if c.get("cryptographic")]
    ev = declared_at(ctx, "ixit.software_components")
    if not comps:
        return Outcome(INCONCLUSIVE, "declaration", "no component providing cryptography declared (software_components[].cryptographic)")
    if aspect == "listed":
        return Outcome(PASS, "declaration", "cryptographic components: " + ", ".join(c["name"] for c in comps), evidence=ev)
    fixed = [c["name"] for c in comps if c.get("updateable") is False]
    if fixed:
        return Outcome(FAIL, "declaration", "cryptography that cannot be updated: " + ", ".join(fixed), evidence=ev)
    if all(c.get("updateable") is True for c in comps):
        return Outcome(PASS, "declaration", "every cryptographic component is updateable", evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "updateability not declared for every cryptographic component", evidence=ev)


@named("unauthenticated_services_justified")
@needs_declaration
def _unauthenticated_justified(ctx: Context) -> Outcome:
    items = declared_services(ctx)
    ev = declared_at(ctx, "ixit.software_services")
    if not items or any(s.get("authentication_required") is None for s in items):
        return Outcome(INCONCLUSIVE, "declaration", "authentication not declared for every software service", evidence=ev)
    open_ = [s["name"] for s in items if s["authentication_required"] is False and not s.get("relied_upon")]
    if open_:
        return Outcome(FAIL, "declaration", "reachable without authentication and not a relied-upon protocol: " + ", ".join(open_), evidence=ev)
    return Outcome(PASS, "declaration", "every service needs authentication or is a relied-upon network protocol", evidence=ev)


@named("configuration_authenticated")
@needs_declaration
def _configuration_authenticated(ctx: Context) -> Outcome:
    items = [s for s in declared_services(ctx) if s.get("changes_configuration")]
    ev = declared_at(ctx, "ixit.software_services")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no service that changes configuration declared (software_services[].changes_configuration)")
    bad = [s["name"] for s in items if s.get("authentication_required") is False and not s.get("relied_upon")]
    if bad:
        return Outcome(FAIL, "declaration", "changes configuration without authentication: " + ", ".join(bad), evidence=ev)
    if all(s.get("authentication_required") is True or s.get("relied_upon") for s in items):
        return Outcome(PASS, "declaration", "configuration changes need authentication: " + ", ".join(s["name"] for s in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "authentication not declared for every configuration service", evidence=ev)


@named("parameter_channels")
@needs_declaration
def _parameter_channels(ctx: Context, remote: bool = False) -> Outcome:
    return declared_channels(ctx, "carries_security_parameters", remote)
