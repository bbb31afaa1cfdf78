"""The rule language of the TS 103 701 conformance view: outcomes, the context rules read, and the rule kinds.

Every rule returns an Outcome: PASS only on positive evidence (a declaration field that meets
the rule, a check's compliance record, a page iotcop fetched), FAIL on counter-evidence (a check
finding, a declared value that breaks the provision, the firmware contradicting the declaration),
INCONCLUSIVE otherwise, and N/A when the declaration shows the unit has nothing to apply to.
The generic kinds (documented, each, confirmed, weak_crypto, strong_crypto, checks) are named in
standards/data/ts103701.yaml directly; rules that need code are registered with `named` in
iotcop.conformance.rules, one module per EN 303 645 clause.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from iotcop.declaration.paths import values_at
from iotcop.model import (
    CheckRun,
    Claim,
    DeviceReport,
    Evidence,
    ExtractionReport,
    Finding,
    Verdict,
)

PASS, FAIL, INCONCLUSIVE, NA = "PASS", "FAIL", "INCONCLUSIVE", "N/A"


@dataclass
class Outcome:
    verdict: str
    source: str
    note: str = ""
    checks: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Context:
    """Everything the rules read; any part may be missing."""

    declaration: Any = None  # iotcop.declaration.Declaration
    runs: dict[str, CheckRun] = field(default_factory=dict)
    extraction: ExtractionReport | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
    declaration_findings: list[Finding] = field(default_factory=list)
    firmware: Any = None  # iotcop.firmware.model.Firmware
    device: DeviceReport | None = None
    components: list[dict] = field(default_factory=list)

    @property
    def data(self) -> dict:
        return dict(self.declaration.raw) if self.declaration is not None else {}

    def where(self, dotted: str) -> Evidence | None:
        if self.declaration is None:
            return None
        key = re.sub(r"\[\]", "", dotted)
        line = self.declaration.line(key) or self.declaration.line(key.rsplit(".", 1)[0])
        return Evidence(path=self.declaration.source, line=line, detail=f"declared: {key}")

    def device_complete(self) -> bool:
        return self.device is not None and self.device.complete


def filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def no_declaration() -> Outcome:
    return Outcome(INCONCLUSIVE, "declaration", "no manufacturer declaration was given (scan --declaration)")


def documented(ctx: Context, paths: list[str]) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    missing, evidence = [], []
    for item in paths:
        alternatives = item.split("|")
        found = None
        for alt in alternatives:
            values = values_at(ctx.data, alt)
            # A whole list declared empty ("sensors: []") says "none at all": that is documented.
            whole = "[]" not in alt
            if values is not None and all(filled(v) or (whole and v == []) for v in values):
                found = alt
                break
        if found is None:
            missing.append(" or ".join(alternatives))
        else:
            ev = ctx.where(found)
            if ev is not None:
                evidence.append(ev)
    if missing:
        return Outcome(INCONCLUSIVE, "declaration", "not declared: " + "; ".join(missing), evidence=evidence)
    return Outcome(PASS, "declaration", "declared: " + ", ".join(p.split("|")[0] for p in paths), evidence=evidence)


def each(ctx: Context, path: str, rule: dict) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    values = values_at(ctx.data, path)
    ev = [e for e in [ctx.where(path)] if e]
    if not values:
        return Outcome(INCONCLUSIVE, "declaration", f"not declared: {path}")
    if "is" in rule:
        bad = [v for v in values if v is not None and v != rule["is"]]
        want = f"{rule['is']!r}".lower()
    elif "in" in rule:
        bad = [v for v in values if v is not None and v not in rule["in"]]
        want = "one of " + ", ".join(map(str, rule["in"]))
    else:
        bad = [v for v in values if v is not None and v in rule["not_in"]]
        want = "none of " + ", ".join(map(str, rule["not_in"]))
    if bad:
        return Outcome(FAIL, "declaration", f"{path}: {len(bad)} of {len(values)} declared value(s) are not {want} "
                                            f"({', '.join(map(str, bad[:3]))})", evidence=ev)
    if any(v is None for v in values):
        return Outcome(INCONCLUSIVE, "declaration", f"{path}: not declared for every item", evidence=ev)
    return Outcome(PASS, "declaration", f"{path}: every declared value is {want}", evidence=ev)


def confirmed(ctx: Context, path: str) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    values = values_at(ctx.data, path)
    ev = [e for e in [ctx.where(path)] if e]
    if not values or values[0] is None:
        return Outcome(INCONCLUSIVE, "declaration", f"not confirmed: {path} is not declared")
    if values[0] is True:
        return Outcome(PASS, "declaration", f"confirmed ({path})", evidence=ev)
    return Outcome(FAIL, "declaration", f"the manufacturer does not confirm it ({path}: false)", evidence=ev)


WEAK_CRYPTO = re.compile(
    r"\b(md[245]|sha-?1|des|3des|triple[- ]des|rc[24]|crc-?(?:16|32)?|ssl ?v?[23](?:\.0)?|tls ?v?1\.[01]|"
    r"rsa-?(?:512|768|1024)|dsa-?1024|ecb|null cipher|export cipher|xor|base64|wep|wpa1?|tkip|http basic)\b", re.I)


STRONG_CRYPTO = re.compile(
    r"\b(aes(?:-?(?:128|192|256))?(?:-?(?:gcm|ccm|cbc|ctr|xts))?|chacha20(?:-poly1305)?|sha-?(?:256|384|512)|sha3(?:-\d+)?|"
    r"ed(?:25519|448)|x25519|x448|ecdsa|ecdhe|p-?(?:256|384|521)|rsa-?(?:2048|3072|4096)|tls ?v?1\.[23]|dtls ?1\.[23]|"
    r"ssh-?2?|argon2(?:id)?|scrypt|bcrypt|pbkdf2|yescrypt|sha512-?crypt|hmac(?:-sha-?\d+)?|wpa[23]|sae|ml-kem|ml-dsa)\b", re.I)


def _crypto_groups(ctx: Context, paths: list[str]) -> list[tuple[str, str]] | None:
    """(path, text) per declared item; None when nothing is declared."""
    groups = []
    for path in paths:
        values = values_at(ctx.data, path)
        if not values:
            continue
        for v in values:
            text = " ".join(v) if isinstance(v, list) else str(v or "")
            groups.append((path, text))
    return groups or None


def weak_crypto(ctx: Context, paths: list[str]) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    groups = _crypto_groups(ctx, paths)
    ev = [e for e in (ctx.where(p) for p in paths) if e]
    if groups is None:
        return Outcome(INCONCLUSIVE, "declaration", "no cryptographic details declared: " + ", ".join(paths))
    weak = sorted({m.group(0) for _, text in groups for m in WEAK_CRYPTO.finditer(text)}, key=str.lower)
    if weak:
        return Outcome(FAIL, "declaration", "declared cryptography includes broken or obsolete primitives: " + ", ".join(weak),
                       evidence=ev)
    if any(not text.strip() for _, text in groups):
        return Outcome(INCONCLUSIVE, "declaration", "cryptographic details missing for some items", evidence=ev)
    return Outcome(PASS, "declaration", "no broken or obsolete primitive among the declared cryptography", evidence=ev)


def strong_crypto(ctx: Context, paths: list[str]) -> Outcome:
    weak = weak_crypto(ctx, paths)
    if weak.verdict != PASS:
        return weak
    groups = _crypto_groups(ctx, paths) or []
    unknown = [text for _, text in groups if not STRONG_CRYPTO.search(text)]
    if unknown:
        return Outcome(INCONCLUSIVE, "declaration", "no recognised best-practice primitive named in: " + "; ".join(unknown[:3]),
                       evidence=weak.evidence)
    names = sorted({m.group(0) for _, text in groups for m in STRONG_CRYPTO.finditer(text)}, key=str.lower)
    return Outcome(PASS, "declaration", "best-practice primitives declared: " + ", ".join(names), evidence=weak.evidence)


def _is_probe(check_id: str) -> bool:
    return check_id.startswith("probe.")


def evidence_kind(check_id: str) -> str:
    """Which evidence a check reads: the firmware, a probe of the live device, or a capture of its traffic."""
    return "probe" if _is_probe(check_id) else "traffic" if check_id.startswith("traffic.") else "firmware"


def check_source(ids) -> str:
    kinds = sorted({evidence_kind(i) for i in ids})
    return "+".join(kinds)


def checks(ctx: Context, ids: list[str], provisions: set[str], *, proofs_allowed: bool = True) -> Outcome:
    source = check_source(ids)
    firm: list[Finding] = []
    possible: list[Finding] = []
    ran: list[CheckRun] = []
    not_run: list[str] = []
    stopped: list[str] = []
    for cid in ids:
        run = ctx.runs.get(cid)
        if run is None:
            not_run.append(cid)
            continue
        if run.status != "ran":
            stopped.append(f"{cid}: {run.status}")
            continue
        ran.append(run)
        for f in run.findings:
            if set(f.provisions) & provisions:
                (possible if f.confidence == "possible" else firm).append(f)
    used = [r.check for r in ran]
    if firm:
        titles = sorted({f.title for f in firm})
        return Outcome(FAIL, source, f"{len(firm)} finding(s): " + "; ".join(titles[:3]) + (" ..." if len(titles) > 3 else ""),
                       checks=used, findings=sorted({f.id for f in firm}), evidence=[f.evidence for f in firm[:5]])
    notes = []
    if possible:
        notes.append(f"{len(possible)} possible finding(s) to review")
    probes_missing = [c for c in not_run if _is_probe(c)]
    captures_missing = [c for c in not_run if evidence_kind(c) == "traffic"]
    if probes_missing and ctx.device is None:
        notes.append("needs a probe of the live device (scan --device) for " + ", ".join(probes_missing))
    elif captures_missing and len(captures_missing) == len(not_run):
        notes.append("needs a capture of the device's traffic (--traffic) for " + ", ".join(captures_missing))
    elif not_run:
        notes.append("did not run: " + ", ".join(not_run))
    if stopped:
        notes.append("did not complete: " + "; ".join(stopped))
    firmware_ran = any(evidence_kind(r.check) == "firmware" for r in ran)
    if firmware_ran and ctx.extraction is not None and ctx.extraction.status != "complete":
        notes.append(f"extraction was {ctx.extraction.status}")
    proofs = [c for r in ran for c in r.compliance if c.provision in provisions]
    if proofs and proofs_allowed and not possible and not stopped and not (
            firmware_ran and ctx.extraction is not None and ctx.extraction.status != "complete"):
        return Outcome(PASS, source, "; ".join(sorted({c.statement for c in proofs})), checks=used,
                       evidence=[e for c in proofs for e in c.evidence][:8])
    if not ran:
        return Outcome(INCONCLUSIVE, source, "; ".join(notes) or "no informing check ran", checks=used)
    if not notes:
        notes.append("ran and found no issue, but nothing shows compliance")
    return Outcome(INCONCLUSIVE, source, "; ".join(notes), checks=used, findings=sorted({f.id for f in possible}))


NAMED_RULES: dict[str, tuple[Callable[..., Outcome], str]] = {}


def named(name: str, source: str = "declaration"):
    def register(fn):
        NAMED_RULES[name] = (fn, source)
        return fn
    return register


def ixit(ctx: Context, section: str) -> Any:
    return (ctx.data.get("ixit") or {}).get(section)


def needs_declaration(fn):
    def wrapped(ctx: Context, **kw):
        if ctx.declaration is None:
            return no_declaration()
        return fn(ctx, **kw)
    wrapped.__name__ = fn.__name__
    return wrapped


def declared_at(ctx: Context, *paths: str) -> list[Evidence]:
    return [e for e in (ctx.where(p) for p in paths) if e]


def words(*texts: Any) -> set[str]:
    return {str(t).strip().lower() for t in texts if filled(t)}


def published_claim(ctx: Context, pid: str, what: str) -> Outcome:
    if ctx.declaration is None:
        return no_declaration()
    failing = [f for f in ctx.declaration_findings if pid in f.provisions and f.confidence != "possible"
               and f.check != "declaration.conformance"]
    if failing:
        return Outcome(FAIL, "web", "; ".join(f.title for f in failing), findings=[f.id for f in failing],
                       evidence=[f.evidence for f in failing])
    claim = ctx.claims.get(pid)
    if claim is None:
        return Outcome(INCONCLUSIVE, "web", f"no {what} declared")
    if claim.verified:
        return Outcome(PASS, "web", claim.note or "verified", evidence=list(claim.evidence))
    return Outcome(INCONCLUSIVE, "web", claim.note or f"the {what} was not verified", evidence=list(claim.evidence))


def declared_channels(ctx: Context, flag: str, remote: bool = False) -> Outcome:
    mechs = [m for m in ixit(ctx, "communication_mechanisms") or [] if m.get(flag)]
    if remote:
        mechs = [m for m in mechs if m.get("remote")]
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", f"no communication mechanism declared with {flag}" + (" and remote" if remote else ""))
    details = " ".join(" ".join(m.get("cryptographic_details") or []) for m in mechs)
    ev = declared_at(ctx, "ixit.communication_mechanisms")
    weak = sorted({w.group(0) for w in WEAK_CRYPTO.finditer(details)})
    if weak:
        return Outcome(FAIL, "declaration", "carried with obsolete cryptography: " + ", ".join(weak), evidence=ev)
    bare = [m["name"] for m in mechs if not STRONG_CRYPTO.search(" ".join(m.get("cryptographic_details") or []))]
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no best-practice cryptography named for: " + ", ".join(bare), evidence=ev)
    return Outcome(PASS, "declaration", "protected in transit: " + ", ".join(m["name"] for m in mechs), evidence=ev)


def declared_services(ctx: Context) -> list[dict]:
    return list(ixit(ctx, "software_services") or [])
