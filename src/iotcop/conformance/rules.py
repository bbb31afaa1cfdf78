"""Decision rules for the test units of ETSI TS 103 701 test cases.

Every rule returns an Outcome: PASS only on positive evidence (a declaration field that meets
the rule, a check's compliance record, a page iotcop fetched), FAIL on counter-evidence (a check
finding, a declared value that breaks the provision, the firmware contradicting the declaration),
INCONCLUSIVE otherwise, and N/A when the declaration shows the unit has nothing to apply to.
Silence is never a PASS: a completeness unit ("nothing undeclared is there") passes only on a
completed probe of the live device, since a firmware image does not show everything that listens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from iotcop.model import CheckRun, Claim, DeviceReport, Evidence, ExtractionReport, Finding, Verdict

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


# -- declaration paths ---------------------------------------------------------------------------


def lookup(data: Any, dotted: str) -> list[Any] | None:
    """Values at a dotted path ("a.b[].c"): one per item where the path walks a list (None where an
    item lacks the field, [] through an empty list); None when nothing along the path is declared."""
    values = [data]
    for part in dotted.split("."):
        is_list = part.endswith("[]")
        key = part[:-2] if is_list else part
        nxt: list[Any] = []
        for v in values:
            child = v.get(key) if isinstance(v, dict) else None
            if is_list and isinstance(child, list):
                nxt.extend(child)
            else:
                nxt.append(child)
        values = nxt
    if values and all(v is None for v in values):
        return None
    return values


def _filled(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, (list, dict)):
        return bool(value)
    return True


def _no_declaration() -> Outcome:
    return Outcome(INCONCLUSIVE, "declaration", "no manufacturer declaration was given (scan --declaration)")


def documented(ctx: Context, paths: list[str]) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
    missing, evidence = [], []
    for item in paths:
        alternatives = item.split("|")
        found = None
        for alt in alternatives:
            values = lookup(ctx.data, alt)
            # A whole list declared empty ("sensors: []") says "none at all": that is documented.
            whole = "[]" not in alt
            if values is not None and all(_filled(v) or (whole and v == []) for v in values):
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
        return _no_declaration()
    values = lookup(ctx.data, path)
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
        return _no_declaration()
    values = lookup(ctx.data, path)
    ev = [e for e in [ctx.where(path)] if e]
    if not values or values[0] is None:
        return Outcome(INCONCLUSIVE, "declaration", f"not confirmed: {path} is not declared")
    if values[0] is True:
        return Outcome(PASS, "declaration", f"confirmed ({path})", evidence=ev)
    return Outcome(FAIL, "declaration", f"the manufacturer does not confirm it ({path}: false)", evidence=ev)


# -- cryptography named in the declaration ----------------------------------------------------------

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
        values = lookup(ctx.data, path)
        if not values:
            continue
        for v in values:
            text = " ".join(v) if isinstance(v, list) else str(v or "")
            groups.append((path, text))
    return groups or None


def weak_crypto(ctx: Context, paths: list[str]) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
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


# -- firmware checks and live probes ------------------------------------------------------------------


def _is_probe(check_id: str) -> bool:
    return check_id.startswith("probe.")


def check_source(ids) -> str:
    kinds = sorted({"probe" if _is_probe(i) else "firmware" for i in ids})
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
    if probes_missing and ctx.device is None:
        notes.append("needs a probe of the live device (scan --device) for " + ", ".join(probes_missing))
    elif not_run:
        notes.append("did not run: " + ", ".join(not_run))
    if stopped:
        notes.append("did not complete: " + "; ".join(stopped))
    firmware_ran = any(not _is_probe(r.check) for r in ran)
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


# -- completeness: observed against declared ------------------------------------------------------------

_AUTH_KINDS = {"telnet", "ssh", "ftp", "http", "snmp", "mqtt", "rtsp", "adb"}
_API_KINDS = {"mqtt", "coap", "upnp", "snmp", "rpc", "adb", "rtsp"}
_UI_KINDS = {"http": "web", "https": "web", "telnet": "cli", "ssh": "cli"}
_ALIASES = {
    "ssh": {"ssh", "sftp", "scp", "dropbear", "sshd"}, "http": {"http", "https", "web", "www", "lighttpd", "uhttpd", "httpd"},
    "telnet": {"telnet", "telnetd"}, "ftp": {"ftp", "ftpd", "vsftpd"}, "dns": {"dns", "dnsmasq"}, "dhcp": {"dhcp", "dnsmasq"},
    "snmp": {"snmp", "snmpd"}, "mqtt": {"mqtt", "mqtts", "mosquitto"}, "upnp": {"upnp", "ssdp", "miniupnpd"},
    "tftp": {"tftp", "tftpd"}, "mdns": {"mdns", "dns-sd", "avahi"}, "rtsp": {"rtsp"}, "adb": {"adb", "adbd"},
    "debugger": {"gdb", "gdbserver", "debugger"}, "ntp": {"ntp", "ntpd"}, "rpc": {"rpc", "portmap", "rpcbind"},
    "smb": {"smb", "cifs", "samba"}, "coap": {"coap"},
}
_PORTS = {"ssh": {22}, "http": {80, 443, 8080, 8443}, "telnet": {23}, "ftp": {21}, "dns": {53}, "dhcp": {67},
          "snmp": {161}, "mqtt": {1883, 8883}, "upnp": {1900, 5000}, "tftp": {69}, "mdns": {5353}, "rtsp": {554},
          "adb": {5555}, "ntp": {123}, "rpc": {111}, "smb": {445, 139}, "coap": {5683}}


@dataclass(frozen=True)
class Seen:
    kind: str  # service kind: ssh, http, telnet ...
    label: str
    where: Evidence
    password: bool = True  # False for a server shown to refuse password logins (dropbear -s)


def _device_kind(service: str) -> str:
    return {"https": "http", "ssdp": "upnp"}.get(service, service)


def observed_services(ctx: Context) -> list[Seen]:
    out: list[Seen] = []
    if ctx.firmware is not None:
        from iotcop.checks.services.daemons import started_daemons

        for d in started_daemons(ctx.firmware):
            if d.kind in ("super-server", "wifi-ap") or d.command.enabled is False:
                continue
            cmd = d.command
            kind = d.kind
            if cmd.service and cmd.service.lower() in _ALIASES:
                kind = cmd.service.lower()
            password = not (cmd.program in ("dropbear",) and "-s" in cmd.args) and not (
                cmd.program == "sshd" and "PasswordAuthentication=no" in " ".join(cmd.args))
            out.append(Seen(kind, f"{cmd.program} ({kind})", Evidence(path=cmd.path, line=cmd.line, excerpt=cmd.text[:200],
                                                                      detail=f"started at boot: {cmd.program}"), password))
    if ctx.device is not None:
        for s in ctx.device.services:
            kind = _device_kind(s.service)
            out.append(Seen(kind, f"{s.endpoint} {s.service}", Evidence(detail=f"seen on the device: {s.endpoint} {s.service}",
                                                                         excerpt=s.banner[:200] or None)))
    return out


def _port_of(label: str) -> int | None:
    m = re.match(r"^(?:tcp|udp)/(\d+)", label)
    return int(m.group(1)) if m else None


def _declared_covers(kind: str, seen: Seen, names: set[str], ports: set[int]) -> bool:
    words = _ALIASES.get(kind, {kind})
    if any(w in n for n in names for w in words):
        return True
    port = _port_of(seen.label)
    if port is not None:
        return port in ports
    return bool(_PORTS.get(kind, set()) & ports)


def _words(*texts: Any) -> set[str]:
    return {str(t).strip().lower() for t in texts if _filled(t)}


def completeness(ctx: Context, what: str) -> Outcome:
    source = "firmware+probe" if what != "sensors" else "firmware"
    if ctx.declaration is None:
        return Outcome(INCONCLUSIVE, source, "no declaration to compare the observed items with")
    if what == "sensors":
        return _sensor_completeness(ctx)
    data = ctx.data
    ixit = data.get("ixit") or {}
    if what == "services":
        declared = data.get("network_services")
        extra = ixit.get("software_services")
        if declared is None and extra is None:
            return Outcome(INCONCLUSIVE, source, "no network services declared (network_services, ixit.software_services)")
        items = (declared or []) + (extra or [])
        names = set().union(*[_words(i.get("name"), i.get("purpose")) for i in items]) if items else set()
        ports = {i["port"] for i in (declared or []) if isinstance(i.get("port"), int)}
        relevant = observed_services(ctx)
        label = "network service"
    elif what == "auth":
        mechs = ixit.get("auth_mechanisms")
        if mechs is None:
            return Outcome(INCONCLUSIVE, source, "no authentication mechanisms declared (ixit.auth_mechanisms)")
        names = set().union(*[_words(m.get("name"), m.get("service"), m.get("description")) for m in mechs]) if mechs else set()
        ports = set()
        relevant = [s for s in observed_services(ctx) if s.kind in _AUTH_KINDS and s.password]
        label = "password-based authentication mechanism"
    elif what == "user_interfaces":
        uis = ixit.get("user_interfaces")
        if uis is None:
            return Outcome(INCONCLUSIVE, source, "no user interfaces declared (ixit.user_interfaces)")
        # matched by the protocol named in the declared interface: an SSH shell does not cover a telnet one
        names = set().union(*[_words(u.get("name"), u.get("description")) for u in uis]) if uis else set()
        relevant = [s for s in observed_services(ctx) if s.kind in _UI_KINDS]
        undeclared = [s for s in relevant if not _declared_covers(s.kind, s, names, set())]
        return _completeness_outcome(ctx, source, relevant, undeclared, "user interface")
    else:  # apis
        apis = ixit.get("external_apis")
        if apis is None:
            return Outcome(INCONCLUSIVE, source, "no external APIs declared (ixit.external_apis)")
        names = set().union(*[_words(a.get("name"), a.get("protocol"), a.get("description")) for a in apis]) if apis else set()
        ports = {a["port"] for a in apis if isinstance(a.get("port"), int)}
        relevant = [s for s in observed_services(ctx) if s.kind in _API_KINDS]
        label = "external API"
    undeclared = [s for s in relevant if not _declared_covers(s.kind, s, names, ports)]
    return _completeness_outcome(ctx, source, relevant, undeclared, label)


def _completeness_outcome(ctx: Context, source: str, relevant: list[Seen], undeclared: list[Seen], label: str) -> Outcome:
    if undeclared:
        what = sorted({s.label for s in undeclared})
        return Outcome(FAIL, source, f"{len(what)} undeclared {label}(s): " + ", ".join(what),
                       evidence=[s.where for s in undeclared[:6]])
    if ctx.firmware is None and ctx.device is None:
        return Outcome(INCONCLUSIVE, source, "nothing was observed (no firmware, no device)")
    seen = sorted({s.label for s in relevant})
    summary = f"every {label} observed is declared ({', '.join(seen) or 'none observed'})"
    if ctx.device_complete():
        return Outcome(PASS, source, summary + "; the device probe completed", evidence=[s.where for s in relevant[:6]])
    return Outcome(INCONCLUSIVE, source, summary + "; a completed probe of the live device (scan --device) is needed "
                                                   "to show nothing else is reachable",
                   evidence=[s.where for s in relevant[:6]])


_SENSOR_TYPES = {"camera": {"camera"}, "microphone": {"microphone"}, "gps": {"location"}}


def _sensor_completeness(ctx: Context) -> Outcome:
    declared = ctx.data.get("sensors")
    if declared is None:
        return Outcome(INCONCLUSIVE, "firmware", "sensors are not declared")
    if ctx.firmware is None:
        return Outcome(INCONCLUSIVE, "firmware", "no firmware to look for sensor support in")
    from iotcop.checks.privacy.sensors import sensors

    types = {s.get("type") for s in declared}
    records = sensors(ctx.firmware)
    undeclared = [r for r in records if r.strength == "driver" and not (types & _SENSOR_TYPES.get(r.kind, {r.kind}))]
    if undeclared:
        return Outcome(FAIL, "firmware", "undeclared sensor support: " + ", ".join(sorted({r.kind for r in undeclared})),
                       evidence=[e for r in undeclared for e in r.evidence][:6])
    seen = sorted({r.kind for r in records})
    return Outcome(INCONCLUSIVE, "firmware", f"sensor support in the firmware ({', '.join(seen) or 'none found'}) matches "
                                             "the declaration; built-in drivers and the hardware need a physical inspection")


# -- named rules --------------------------------------------------------------------------------------

NAMED_RULES: dict[str, tuple[Callable[..., Outcome], str]] = {}


def named(name: str, source: str = "declaration"):
    def register(fn):
        NAMED_RULES[name] = (fn, source)
        return fn
    return register


def _ixit(ctx: Context, section: str) -> Any:
    return (ctx.data.get("ixit") or {}).get(section)


def _decl_needed(fn):
    def wrapped(ctx: Context, **kw):
        if ctx.declaration is None:
            return _no_declaration()
        return fn(ctx, **kw)
    wrapped.__name__ = fn.__name__
    return wrapped


def _ev(ctx: Context, *paths: str) -> list[Evidence]:
    return [e for e in (ctx.where(p) for p in paths) if e]


@named("justifications")
def _justifications(ctx: Context) -> Outcome:
    claim = ctx.claims.get("4-1")
    if ctx.declaration is None:
        return _no_declaration()
    if claim is not None and claim.verified:
        return Outcome(PASS, "declaration", claim.note or "every applicable recommendation has a row", evidence=list(claim.evidence))
    return Outcome(INCONCLUSIVE, "declaration", (claim.note if claim else "") or "the ICS does not cover every recommendation",
                   evidence=list(claim.evidence) if claim else [])


@named("password_origin")
@_decl_needed
def _password_origin(ctx: Context) -> Outcome:
    mechs = _ixit(ctx, "auth_mechanisms")
    if mechs:
        pw = [m for m in mechs if m.get("factor") in (None, "password", "pin")]
        shared = [m["name"] for m in pw if m.get("origin") == "shared"]
        if shared:
            return Outcome(FAIL, "declaration", "shared pre-installed password declared for: " + ", ".join(shared),
                           evidence=_ev(ctx, "ixit.auth_mechanisms"))
        if pw and all(m.get("origin") in ("user_defined", "unique_per_device", "none") for m in pw):
            return Outcome(PASS, "declaration", "every password mechanism is user-defined or unique per device: "
                           + ", ".join(f"{m['name']} ({m['origin']})" for m in pw), evidence=_ev(ctx, "ixit.auth_mechanisms"))
        if not pw:
            return Outcome(PASS, "declaration", "no password-based mechanism declared", evidence=_ev(ctx, "ixit.auth_mechanisms"))
        return Outcome(INCONCLUSIVE, "declaration", "the origin of some passwords is not declared (ixit.auth_mechanisms[].origin)")
    approach = (ctx.data.get("password") or {}).get("approach")
    if approach in ("user_defined", "unique_per_device", "none"):
        return Outcome(PASS, "declaration", f"password approach: {approach}", evidence=_ev(ctx, "password.approach"))
    return Outcome(INCONCLUSIVE, "declaration", "no password approach declared")


_SEQUENTIAL = re.compile(r"\b(increment\w*|sequen\w*|counter|serial number|consecutive)\b", re.I)
_PUBLIC = re.compile(r"\b(mac|serial|ssid|imei|model|device name|hostname|bssid)\b", re.I)
_KEYED = re.compile(r"\b(hmac|keyed|secret key|encrypt\w*|cmac)\b", re.I)
_RANDOM = re.compile(r"\b(random|rng|trng|csprng|drbg|entropy)\b", re.I)
_LENGTH = re.compile(r"\b(\d{1,3})[- ](?:character|char|digit|symbol)s?\b", re.I)


@named("password_generation")
@_decl_needed
def _password_generation(ctx: Context, aspect: str) -> Outcome:
    texts = [(ctx.data.get("password") or {}).get("generation")] + [m.get("password_generation") for m in _ixit(ctx, "auth_mechanisms") or []]
    text = " ".join(t for t in texts if _filled(t))
    ev = _ev(ctx, "password.generation", "ixit.auth_mechanisms")
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


@named("disclosure_declared")
@_decl_needed
def _disclosure_declared(ctx: Context) -> Outcome:
    vd = ctx.data.get("vulnerability_disclosure")
    if not vd:
        return Outcome(INCONCLUSIVE, "declaration", "no vulnerability disclosure policy declared")
    return Outcome(PASS, "declaration", f"policy {vd['policy_url']}, contact {vd['contact']}, acknowledgement within "
                                        f"{vd['acknowledgement_days']} days, status updates every {vd['status_update_days']} days",
                   evidence=_ev(ctx, "vulnerability_disclosure"))


def _published(ctx: Context, pid: str, what: str) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
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


@named("disclosure_published", "web")
def _disclosure_published(ctx: Context, aspect: str) -> Outcome:
    return _published(ctx, "5.2-1", "disclosure policy")


@named("support_declared")
@_decl_needed
def _support_declared(ctx: Context) -> Outcome:
    import datetime as dt

    support = ctx.data.get("support")
    if not support:
        return Outcome(INCONCLUSIVE, "declaration", "no support period declared")
    end = dt.date.fromisoformat(str(support["end_date"]))
    ev = _ev(ctx, "support.end_date")
    if end < dt.date.today():
        return Outcome(FAIL, "declaration", f"the declared support period ended on {end}", evidence=ev)
    return Outcome(PASS, "declaration", f"support until {end}, published at {support['published_url']}", evidence=ev)


@named("support_published", "web")
def _support_published(ctx: Context, aspect: str) -> Outcome:
    return _published(ctx, "5.3-13", "support period")


def _mechanisms(ctx: Context) -> list[dict]:
    return list(_ixit(ctx, "update_mechanisms") or [])


@named("automatic_updates")
@_decl_needed
def _automatic_updates(ctx: Context) -> Outcome:
    mechs = _mechanisms(ctx)
    auto = [m["name"] for m in mechs if m.get("initiation") == "automatic"]
    if auto:
        return Outcome(PASS, "declaration", "automatic update mechanism: " + ", ".join(auto), evidence=_ev(ctx, "ixit.update_mechanisms"))
    update = ctx.data.get("update") or {}
    if update.get("automatic") is True:
        return Outcome(PASS, "declaration", "updates declared automatic", evidence=_ev(ctx, "update.automatic"))
    if update.get("automatic") is False or (mechs and all(m.get("initiation") for m in mechs)):
        return Outcome(FAIL, "declaration", "no automatic update mechanism declared", evidence=_ev(ctx, "update"))
    return Outcome(INCONCLUSIVE, "declaration", "how updates start is not declared")


@named("update_checking")
@_decl_needed
def _update_checking(ctx: Context) -> Outcome:
    mechs = _mechanisms(ctx)
    good = [m for m in mechs if m.get("check_after_boot") is True and (m.get("check_interval_hours") or 0) > 0]
    if good:
        m = good[0]
        return Outcome(PASS, "declaration", f"{m['name']}: checks after start-up and every {m['check_interval_hours']} h",
                       evidence=_ev(ctx, "ixit.update_mechanisms"))
    if any(m.get("check_after_boot") is False for m in mechs):
        return Outcome(FAIL, "declaration", "the device does not check for updates after start-up", evidence=_ev(ctx, "ixit.update_mechanisms"))
    return Outcome(INCONCLUSIVE, "declaration", "the update-checking schedule is not declared (check_after_boot, check_interval_hours)")


@named("update_configuration")
@_decl_needed
def _update_configuration(ctx: Context, option: str) -> Outcome:
    mechs = [m for m in _mechanisms(ctx) if m.get("configurable") is not None]
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", "the update settings are not declared (ixit.update_mechanisms[].configurable)")
    if any(option in m["configurable"] for m in mechs):
        return Outcome(PASS, "declaration", f"the user can {option} automatic updates", evidence=_ev(ctx, "ixit.update_mechanisms"))
    return Outcome(FAIL, "declaration", f"no declared setting lets the user {option} automatic updates", evidence=_ev(ctx, "ixit.update_mechanisms"))


_SIGNED = re.compile(r"\b(sign\w*|authentic\w*|ed25519|ecdsa|rsa-?(?:2048|3072|4096)|certificate)\b", re.I)
_INTEGRITY = re.compile(r"\b(sign\w*|integrity|hash|sha-?(?:256|384|512)|hmac|digest)\b", re.I)


@named("update_verification")
@_decl_needed
def _update_verification(ctx: Context, aspect: str) -> Outcome:
    mechs = _mechanisms(ctx)
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", "no update mechanism declared (ixit.update_mechanisms)")
    ev = _ev(ctx, "ixit.update_mechanisms")
    if aspect == "trust":
        missing = [m["name"] for m in mechs if not _filled(m.get("trust_anchor"))]
        if missing:
            return Outcome(INCONCLUSIVE, "declaration", "no trust anchor declared for: " + ", ".join(missing), evidence=ev)
        return Outcome(PASS, "declaration", "trust anchors: " + "; ".join(f"{m['name']}: {m['trust_anchor']}" for m in mechs), evidence=ev)
    pattern = _SIGNED if aspect == "authenticity" else _INTEGRITY
    undescribed = [m["name"] for m in mechs if not (_filled(m.get("security_guarantees")) or _filled(m.get("cryptographic_details")))]
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
        return _no_declaration()
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


def _params(ctx: Context, purposes: tuple[str, ...] | None = None) -> list[dict]:
    items = list(_ixit(ctx, "security_parameters") or [])
    if purposes is not None:
        items = [p for p in items if p.get("purpose") in purposes and p.get("type") != "public"]
    return items


_PLAIN = re.compile(r"\b(plain\w*|clear ?text|unencrypted|none|base64|obfuscat\w*)\b", re.I)


@named("storage_protection")
@_decl_needed
def _storage_protection(ctx: Context) -> Outcome:
    items = [p for p in _params(ctx) if p.get("type") in ("critical", "sensitive")]
    ev = _ev(ctx, "ixit.security_parameters")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no sensitive security parameters declared (ixit.security_parameters)")
    weak = [p["name"] for p in items if _PLAIN.search(p.get("protection_scheme") or "")]
    if weak:
        return Outcome(FAIL, "declaration", "stored without protection: " + ", ".join(weak), evidence=ev)
    if any(not _filled(p.get("protection_scheme")) for p in items):
        return Outcome(INCONCLUSIVE, "declaration", "protection scheme not declared for every parameter", evidence=ev)
    return Outcome(PASS, "declaration", "every sensitive parameter has a protection scheme", evidence=ev)


@named("device_identity")
@_decl_needed
def _device_identity(ctx: Context, aspect: str) -> Outcome:
    ids = _params(ctx, ("identity",))
    if not ids:
        return Outcome(INCONCLUSIVE, "declaration", "no hard-coded device identity declared (security_parameters purpose: identity)")
    ev = _ev(ctx, "ixit.security_parameters")
    if aspect == "listed":
        return Outcome(PASS, "declaration", "identity: " + ", ".join(p["name"] for p in ids), evidence=ev)
    if all(_filled(p.get("tamper_resistance")) for p in ids):
        return Outcome(PASS, "declaration", "; ".join(f"{p['name']}: {p['tamper_resistance']}" for p in ids), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "tamper resistance not declared for every identity", evidence=ev)


@named("unique_parameters")
@_decl_needed
def _unique_parameters(ctx: Context) -> Outcome:
    items = _params(ctx, ("update", "communication"))
    ev = _ev(ctx, "ixit.security_parameters")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no parameters for update integrity or communication declared")
    shared = [p["name"] for p in items if p.get("unique_per_device") is False]
    if shared:
        return Outcome(FAIL, "declaration", "declared as the same on every device: " + ", ".join(shared), evidence=ev)
    if all(p.get("unique_per_device") is True for p in items):
        return Outcome(PASS, "declaration", "unique per device: " + ", ".join(p["name"] for p in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "uniqueness not declared for every parameter", evidence=ev)


def _version_key(v: str) -> str:
    return re.sub(r"[^0-9a-z.]", "", v.lower()).strip(".")


@named("implementations_match", "firmware")
def _implementations_match(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
    impls = _ixit(ctx, "network_security_implementations")
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
@_decl_needed
def _crypto_components(ctx: Context, aspect: str) -> Outcome:
    comps = [c for c in _ixit(ctx, "software_components") or [] if c.get("cryptographic")]
    ev = _ev(ctx, "ixit.software_components")
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


def _services(ctx: Context) -> list[dict]:
    return list(_ixit(ctx, "software_services") or [])


@named("unauthenticated_services_justified")
@_decl_needed
def _unauthenticated_justified(ctx: Context) -> Outcome:
    items = _services(ctx)
    ev = _ev(ctx, "ixit.software_services")
    if not items or any(s.get("authentication_required") is None for s in items):
        return Outcome(INCONCLUSIVE, "declaration", "authentication not declared for every software service", evidence=ev)
    open_ = [s["name"] for s in items if s["authentication_required"] is False and not s.get("relied_upon")]
    if open_:
        return Outcome(FAIL, "declaration", "reachable without authentication and not a relied-upon protocol: " + ", ".join(open_), evidence=ev)
    return Outcome(PASS, "declaration", "every service needs authentication or is a relied-upon network protocol", evidence=ev)


@named("configuration_authenticated")
@_decl_needed
def _configuration_authenticated(ctx: Context) -> Outcome:
    items = [s for s in _services(ctx) if s.get("changes_configuration")]
    ev = _ev(ctx, "ixit.software_services")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no service that changes configuration declared (software_services[].changes_configuration)")
    bad = [s["name"] for s in items if s.get("authentication_required") is False and not s.get("relied_upon")]
    if bad:
        return Outcome(FAIL, "declaration", "changes configuration without authentication: " + ", ".join(bad), evidence=ev)
    if all(s.get("authentication_required") is True or s.get("relied_upon") for s in items):
        return Outcome(PASS, "declaration", "configuration changes need authentication: " + ", ".join(s["name"] for s in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "authentication not declared for every configuration service", evidence=ev)


def _channels(ctx: Context, flag: str, remote: bool = False) -> Outcome:
    mechs = [m for m in _ixit(ctx, "communication_mechanisms") or [] if m.get(flag)]
    if remote:
        mechs = [m for m in mechs if m.get("remote")]
    if not mechs:
        return Outcome(INCONCLUSIVE, "declaration", f"no communication mechanism declared with {flag}" + (" and remote" if remote else ""))
    details = " ".join(" ".join(m.get("cryptographic_details") or []) for m in mechs)
    ev = _ev(ctx, "ixit.communication_mechanisms")
    weak = sorted({w.group(0) for w in WEAK_CRYPTO.finditer(details)})
    if weak:
        return Outcome(FAIL, "declaration", "carried with obsolete cryptography: " + ", ".join(weak), evidence=ev)
    bare = [m["name"] for m in mechs if not STRONG_CRYPTO.search(" ".join(m.get("cryptographic_details") or []))]
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no best-practice cryptography named for: " + ", ".join(bare), evidence=ev)
    return Outcome(PASS, "declaration", "protected in transit: " + ", ".join(m["name"] for m in mechs), evidence=ev)


@named("parameter_channels")
@_decl_needed
def _parameter_channels(ctx: Context, remote: bool = False) -> Outcome:
    return _channels(ctx, "carries_security_parameters", remote)


@named("personal_data_channels")
@_decl_needed
def _personal_data_channels(ctx: Context, sensitive: bool = False) -> Outcome:
    personal = ctx.data.get("personal_data") or {}
    if personal.get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed (personal_data.processed: false)", evidence=_ev(ctx, "personal_data"))
    if sensitive:
        items = _ixit(ctx, "personal_data") or []
        if personal.get("sensitive") is False and not any(i.get("sensitive") for i in items):
            return Outcome(NA, "declaration", "no sensitive personal data is processed", evidence=_ev(ctx, "personal_data.sensitive"))
    return _channels(ctx, "carries_personal_data")


@named("interfaces_justified")
@_decl_needed
def _interfaces_justified(ctx: Context) -> Outcome:
    items = _ixit(ctx, "interfaces")
    ev = _ev(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no interfaces declared (ixit.interfaces)")
    if any(i.get("status") is None for i in items):
        return Outcome(INCONCLUSIVE, "declaration", "status not declared for every interface", evidence=ev)
    unexplained = [i["name"] for i in items if i["status"] == "enabled" and not _filled(i.get("purpose"))]
    if unexplained:
        return Outcome(FAIL, "declaration", "enabled without a stated use: " + ", ".join(unexplained), evidence=ev)
    return Outcome(PASS, "declaration", f"{sum(i['status'] == 'enabled' for i in items)} enabled interface(s) with a use, "
                                        f"{sum(i['status'] == 'disabled' for i in items)} disabled", evidence=ev)


@named("disabled_interfaces_off", "firmware+probe")
def _disabled_interfaces_off(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
    disabled = [i for i in _ixit(ctx, "interfaces") or [] if i.get("status") == "disabled" and i.get("kind") in ("network", "logical", None)]
    if not disabled:
        return Outcome(INCONCLUSIVE, "firmware+probe", "no network interface declared disabled")
    seen = observed_services(ctx)
    running = []
    for i in disabled:
        words = _words(i.get("name"), i.get("description"))
        for s in seen:
            if any(w in n for n in words for w in _ALIASES.get(s.kind, {s.kind})):
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
@_decl_needed
def _disclosure_minimal(ctx: Context) -> Outcome:
    items = [i for i in _ixit(ctx, "interfaces") or [] if _filled(i.get("disclosed_information"))]
    ev = _ev(ctx, "ixit.interfaces")
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
@_decl_needed
def _physical_interfaces(ctx: Context, aspect: str) -> Outcome:
    items = [i for i in _ixit(ctx, "interfaces") or [] if i.get("kind") == "physical"]
    ev = _ev(ctx, "ixit.interfaces")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no physical interfaces declared (ixit.interfaces kind: physical)")
    if aspect == "listed":
        return Outcome(PASS, "declaration", "physical interfaces: " + ", ".join(i["name"] for i in items), evidence=ev)
    enabled = [i for i in items if i.get("status") == "enabled"]
    if aspect == "purpose":
        bare = [i["name"] for i in enabled if not _filled(i.get("purpose"))]
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
@_decl_needed
def _debug_interfaces(ctx: Context, aspect: str) -> Outcome:
    items = _ixit(ctx, "interfaces")
    ev = _ev(ctx, "ixit.interfaces")
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
    how = [i for i in debug if _filled(i.get("disabled_by"))]
    if len(how) < len(debug):
        return Outcome(INCONCLUSIVE, "declaration", "how a debug interface is disabled is not declared for every one", evidence=ev)
    return Outcome(PASS, "declaration", "; ".join(f"{i['name']}: {i['disabled_by']}" for i in debug), evidence=ev)


@named("services_have_purpose")
@_decl_needed
def _services_have_purpose(ctx: Context) -> Outcome:
    items = list(ctx.data.get("network_services") or []) + _services(ctx)
    ev = _ev(ctx, "network_services")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no services declared")
    bare = sorted({i["name"] for i in items if not _filled(i.get("purpose"))} -
                  {i["name"] for i in items if _filled(i.get("purpose"))})
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no stated use for: " + ", ".join(bare), evidence=ev)
    return Outcome(PASS, "declaration", "every declared service has a stated use", evidence=ev)


@named("resilience_covers")
@_decl_needed
def _resilience_covers(ctx: Context) -> Outcome:
    items = _ixit(ctx, "resilience") or []
    ev = _ev(ctx, "ixit.resilience")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "no resilience mechanisms declared")
    net = any(i.get("network_outage") for i in items)
    power = any(i.get("power_outage") for i in items)
    if net and power:
        return Outcome(PASS, "declaration", "network and power outages are both covered", evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "not covered: " + ", ".join(w for w, ok in (("network outage", net), ("power outage", power)) if not ok), evidence=ev)


@named("reconnection_backoff")
@_decl_needed
def _reconnection_backoff(ctx: Context) -> Outcome:
    items = [m for m in _ixit(ctx, "communication_mechanisms") or [] if _filled(m.get("reconnection"))]
    ev = _ev(ctx, "ixit.communication_mechanisms")
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "reconnection behaviour not declared")
    if all(re.search(r"back-?off|exponential|jitter|random(?:ised|ized)? delay", m["reconnection"], re.I) for m in items):
        return Outcome(PASS, "declaration", "reconnection with back-off: " + ", ".join(m["name"] for m in items), evidence=ev)
    return Outcome(INCONCLUSIVE, "declaration", "no back-off named for every mechanism", evidence=ev)


@named("deletion_function")
@_decl_needed
def _deletion_function(ctx: Context, target: str) -> Outcome:
    items = _ixit(ctx, "deletion_functions")
    if items:
        hits = [i for i in items if i.get("target_type") == target]
        ev = _ev(ctx, "ixit.deletion_functions")
        if hits:
            return Outcome(PASS, "declaration", f"deletion on the {target}: " + "; ".join(i.get("description") or "declared" for i in hits), evidence=ev)
        return Outcome(FAIL, "declaration", f"no deletion function targets the {target}", evidence=ev)
    if target == "device" and _filled((ctx.data.get("deletion") or {}).get("text")):
        return Outcome(PASS, "declaration", "deletion: " + ctx.data["deletion"]["text"], evidence=_ev(ctx, "deletion.text"))
    if target == "service" and (ctx.data.get("personal_data") or {}).get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed", evidence=_ev(ctx, "personal_data"))
    return Outcome(INCONCLUSIVE, "declaration", "no deletion functions declared (ixit.deletion_functions)")


@named("personal_data_documented")
@_decl_needed
def _personal_data_documented(ctx: Context) -> Outcome:
    personal = ctx.data.get("personal_data") or {}
    if personal.get("processed") is False:
        return Outcome(NA, "declaration", "no personal data is processed", evidence=_ev(ctx, "personal_data"))
    items = _ixit(ctx, "personal_data") or []
    if not _filled(personal.get("privacy_notice_url")) or not items:
        return Outcome(INCONCLUSIVE, "declaration", "privacy notice or processing activities not declared")
    bare = [i["name"] for i in items if not _filled(i.get("processing_activities"))]
    if bare:
        return Outcome(INCONCLUSIVE, "declaration", "no processing activities for: " + ", ".join(bare))
    return Outcome(PASS, "declaration", f"{len(items)} personal-data item(s) documented at {personal['privacy_notice_url']}",
                   evidence=_ev(ctx, "personal_data.privacy_notice_url", "ixit.personal_data"))


@named("telemetry_minimal")
@_decl_needed
def _telemetry_minimal(ctx: Context) -> Outcome:
    if (ctx.data.get("telemetry") or {}).get("collected") is False:
        return Outcome(NA, "declaration", "no telemetry is collected", evidence=_ev(ctx, "telemetry.collected"))
    items = _ixit(ctx, "telemetry") or []
    if not items:
        return Outcome(INCONCLUSIVE, "declaration", "telemetry items not declared (ixit.telemetry)")
    return Outcome(PASS if all(_filled(i.get("purpose")) for i in items) else INCONCLUSIVE, "declaration",
                   f"{sum(bool(i.get('personal_data')) for i in items)} of {len(items)} telemetry item(s) carry personal data, each with a purpose",
                   evidence=_ev(ctx, "ixit.telemetry"))


@named("telemetry_matches", "firmware")
def _telemetry_matches(ctx: Context) -> Outcome:
    if ctx.declaration is None:
        return _no_declaration()
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
                       checks=[run.check], evidence=ev + _ev(ctx, "telemetry.collected"))
    if collected is True:
        return Outcome(PASS, "firmware", "telemetry endpoints in the firmware are declared", checks=[run.check], evidence=ev)
    return Outcome(INCONCLUSIVE, "firmware", "telemetry endpoints found; the declaration does not say", checks=[run.check], evidence=ev)
