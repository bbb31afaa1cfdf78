"""The traffic checks: what a capture of the device's traffic means for EN 303 645.

Each is a check-like item (the probe's ProbeCheck shape) whose provisions are its row in
standards/data/mapping/traffic.yaml, validated at start-up like the firmware and probe rows.  Each becomes one CheckRun with
source "traffic": findings for what the capture shows against a provision, positive evidence only
for what it shows in favour (an update check repeated at an interval, TLS 1.2+ on every application
exchange, reconnection with back-off).  A capture cut short still gives its findings but never
positive evidence; a check that needs the declaration is skipped without one.
"""

from __future__ import annotations

import functools

from iotcop.checks.base import CheckDoc
from iotcop.model import CheckRun, Compliance, Evidence, Finding, Severity, TrafficReport
from iotcop.probe.checks import ProbeCheck
from iotcop.traffic.analyse import INFRASTRUCTURE
from iotcop.traffic.sensitive import SENSITIVE_CATEGORIES

NEEDS_DECLARATION = {"traffic.declared-endpoints"}
# How long after start-up (the device asking DHCP for an address) a capture must show the device online without an
# update check before that counts against 5.3-5 (iotcop traffic --update-window).
UPDATE_WINDOW = 600.0
# personal data category (sensitive.py) -> words that name it in a declaration's personal_data.categories
_CATEGORY_WORDS = {"contact": ("contact", "e-mail", "email", "phone"), "identity": ("name", "identity", "owner", "user"),
                   "location": ("location", "gps", "position"), "address": ("address", "postal"),
                   "health": ("health", "heart", "fitness", "medical"), "network": ("network", "ssid", "mac"),
                   "device": ("device", "serial")}
_TELEMETRY_WORDS = ("telemetry", "analytics", "metrics", "stats", "track", "collect", "report", "events", "log")

TRAFFIC_CHECKS: tuple[ProbeCheck, ...] = (
    ProbeCheck(
        "traffic.cleartext-credentials", Severity.high,
        CheckDoc(
            title="A password or token crosses the network in clear text",
            why="Anyone on the path (the Wi-Fi, the ISP, a compromised router) reads the credential and can reuse it.",
            fix="Carry every credential and token only inside TLS (HTTPS, MQTT over TLS, SSH), never in URLs.",
            limitations="Credentials inside protocols tshark does not decode, or in unstructured payloads, are not "
                        "recognised; values are masked in the report.",
        ),
    ),
    ProbeCheck(
        "traffic.personal-data-in-clear", Severity.high,
        CheckDoc(
            title="Personal data crosses the network in clear text",
            why="Names, contact details, location or health readings sent without encryption can be read by anyone "
                "on the path.",
            fix="Send personal data only over TLS 1.2 or later to the associated services.",
            limitations="Recognised by field names and value patterns (e-mail, phone number) in JSON, form and "
                        "query data; location and health readings are the sensitive categories (5.8-2).",
        ),
    ),
    ProbeCheck(
        "traffic.plaintext-protocols", Severity.medium,
        CheckDoc(
            title="The device talks an unencrypted application protocol",
            why="HTTP, MQTT, CoAP, telnet and FTP without TLS/DTLS expose and let anyone alter what is exchanged.",
            fix="Use HTTPS, MQTT over TLS, CoAP over DTLS, SSH/SFTP instead.",
            limitations="DNS, NTP and DHCP are infrastructure protocols and not reported here.",
        ),
    ),
    ProbeCheck(
        "traffic.tls-quality", Severity.medium,
        CheckDoc(
            title="A TLS session of the device uses weak parameters",
            why="TLS 1.0/1.1, weak cipher suites, expired or self-signed certificates and short keys do not give "
                "best-practice protection.",
            fix="Negotiate TLS 1.2 or 1.3 with AEAD cipher suites and a valid certificate from a trusted issuer.",
            limitations="TLS 1.3 encrypts the certificate, so it is judged only for TLS 1.2 and older sessions.",
        ),
    ),
    ProbeCheck(
        "traffic.update-channel", Severity.high,
        CheckDoc(
            title="How the device checks for and fetches updates",
            why="An update check or image over plain HTTP can be replaced by an attacker on the path; a device "
                "that never checks does not get security fixes.",
            fix="Check for updates over TLS after boot and periodically; verify each image's signature.",
            limitations="Update traffic is recognised by names and paths (update, firmware, ota, .bin ...); an "
                        "image over plain HTTP may still be signed, so 5.3-10 is only a possible finding.  No update "
                        "check after start-up (5.3-5) is judged only on a capture that shows the device asking DHCP "
                        "for an address and then online for the update window (600 s unless given); an update check "
                        "to a server whose name says nothing of updates, inside TLS, is not recognised, so that "
                        "finding is a likely one.",
        ),
    ),
    ProbeCheck(
        "traffic.declared-endpoints", Severity.medium,
        CheckDoc(
            title="What the device sends does not match the declaration",
            why="Telemetry, personal data or sensor readings the manufacturer did not declare are processing the "
                "user was not told about.",
            fix="Declare every telemetry flow, personal data category and sensor, or stop sending them.",
            limitations="Only what travels in clear or in names (DNS, SNI) can be compared; encrypted payloads are "
                        "judged by their destination.",
        ),
    ),
    ProbeCheck(
        "traffic.reconnection", Severity.low,
        CheckDoc(
            title="How the device reconnects after an outage",
            why="A device that retries many times a second after an outage loads the network and the service "
                "(a reconnection storm when many devices do it at once).",
            fix="Retry with an increasing, randomised delay.",
            limitations="Judged from TCP connection attempts that failed (reset or unanswered) and the first that "
                        "succeeded afterwards; the capture must span the outage.",
        ),
    ),
)


def get_traffic_check(check_id: str) -> ProbeCheck:
    for check in TRAFFIC_CHECKS:
        if check.ID == check_id:
            return check
    raise KeyError(check_id)


@functools.cache
def traffic_checks() -> tuple[ProbeCheck, ...]:
    """Every traffic check, validated against its mapping rows."""
    from iotcop.standards.catalogue import load_catalogue
    from iotcop.standards.mapping import mapping, validate_mapping

    validate_mapping(mapping(), TRAFFIC_CHECKS, load_catalogue(), prefix="traffic.")
    return TRAFFIC_CHECKS


def _finding(check: ProbeCheck, endpoint: str, detail: str, title: str | None = None,
             provisions: list[str] | None = None, related: list[Evidence] | None = None, excerpt: str | None = None,
             confidence: str = "confirmed") -> Finding:
    return Finding(check=check.ID, severity=check.SEVERITY, provisions=provisions or list(check.PROVISIONS),
                   title=title or check.DOC.title, evidence=Evidence(path=endpoint, detail=detail, excerpt=excerpt),
                   why=check.DOC.why, fix=check.DOC.fix, related=related or [], confidence=confidence).with_id()


def _proof(check: ProbeCheck, provision: str, statement: str, where: str) -> Compliance:
    return Compliance(check=check.ID, provision=provision, statement=statement,
                      evidence=[Evidence(path=where, detail=statement)])


def _app_traffic(report: TrafficReport) -> tuple[list[tuple[str, str]], list]:
    """(peer, plaintext protocol) pairs and the TLS observations of the device's application traffic."""
    plain = [(p.address, name) for p in report.peers for name in p.plaintext]
    tls = [t for p in report.peers for t in p.tls]
    return plain, tls


def evaluate(report: TrafficReport, declaration=None, update_window: float = UPDATE_WINDOW
             ) -> dict[str, tuple[list[Finding], list[Compliance]]]:
    """check id -> (findings, positive evidence) for one capture."""
    out: dict[str, tuple[list[Finding], list[Compliance]]] = {c.ID: ([], []) for c in TRAFFIC_CHECKS}
    where = report.capture
    can_prove = report.complete
    plain, tls = _app_traffic(report)

    check = get_traffic_check("traffic.cleartext-credentials")
    for item in report.cleartext:
        if item.kind == "personal":
            continue
        related = list(item.firmware)
        out[check.ID][0].append(_finding(
            check, f"{item.endpoint} ({item.protocol})",
            f"{item.kind} in clear {item.direction}: {item.field} = {item.masked}"
            + (f" (seen {item.count} times)" if item.count > 1 else "")
            + (f"; the same value is in the firmware at {related[0].path}" if related else ""),
            title=f"{item.protocol} {item.kind} in clear text", related=related))

    check = get_traffic_check("traffic.personal-data-in-clear")
    by_endpoint: dict[tuple[str, str], list] = {}
    for item in report.cleartext:
        if item.kind == "personal":
            by_endpoint.setdefault((item.endpoint, item.protocol), []).append(item)
    for (endpoint, protocol), items in sorted(by_endpoint.items()):
        categories = sorted({i.category or "personal" for i in items})
        sensitive = sorted(set(categories) & SENSITIVE_CATEGORIES)
        fields = ", ".join(sorted({i.field.rsplit(": ", 1)[-1] for i in items}))[:200]
        out[check.ID][0].append(_finding(
            check, f"{endpoint} ({protocol})",
            f"personal data ({', '.join(categories)}) in clear {items[0].direction}: {fields}",
            title=f"{protocol} carries personal data in clear text",
            provisions=["5.8-1", "5.8-2"] if sensitive else ["5.8-1"]))

    check = get_traffic_check("traffic.plaintext-protocols")
    for peer in report.peers:
        for name in peer.plaintext:
            services = [s for s in peer.services if s["protocol"].upper() in (name.upper(), name.upper().split()[0])]
            eps = ", ".join(sorted({f"{s['endpoint']} ({s['direction']})" for s in services})) or "?"
            names = f" ({', '.join(peer.names[:3])})" if peer.names else ""
            out[check.ID][0].append(_finding(
                check, f"{peer.address}{names}", f"{name} without encryption on {eps}",
                title=f"{name} in clear text with {peer.address}"))

    check = get_traffic_check("traffic.tls-quality")
    for t in tls:
        for why in t.weak:
            out[check.ID][0].append(_finding(check, t.server + (f" ({t.sni})" if t.sni else ""),
                                             f"{why}; versions {', '.join(t.versions) or '?'}, suites "
                                             f"{', '.join(t.cipher_suites) or '?'}",
                                             title=f"Weak TLS with {t.sni or t.server}: {why}"))
    negotiated = [t for t in tls if t.versions]
    if can_prove and negotiated and not plain and not any(t.weak for t in tls):
        versions = sorted({v for t in negotiated for v in t.versions})
        statement = (f"every application exchange in the capture used TLS ({', '.join(versions)}) with AEAD or "
                     f"strong suites: {len(negotiated)} server(s), no clear-text application protocol")
        out[check.ID][1].append(_proof(check, "5.5-1", statement, where))
        for other in ("traffic.personal-data-in-clear", "traffic.cleartext-credentials"):
            for p in get_traffic_check(other).PROVISIONS:
                out[other][1].append(_proof(get_traffic_check(other), p,
                                            "no application data crossed the network in clear text: " + statement, where))

    check = get_traffic_check("traffic.update-channel")
    for u in report.updates:
        if u.channel in ("http", "ftp", "coap"):
            detail = f"update check to {u.host} over {u.channel.upper()} ({u.count} request(s): {u.requests[0]})"
            out[check.ID][0].append(_finding(check, f"{u.server or u.host} ({u.channel})", detail,
                                             title=f"Updates over {u.channel.upper()} without encryption",
                                             provisions=["5.3-7"]))
            if u.downloads:
                out[check.ID][0].append(_finding(
                    check, f"{u.server or u.host} ({u.channel})",
                    f"{u.downloads} update image(s) downloaded over {u.channel.upper()}; unless the device verifies a "
                    "signature on the image, anyone on the path can replace it",
                    title="Update image fetched without a protected channel", provisions=["5.3-10"],
                    confidence="possible"))
    weak_update = {t.sni or t.server.rsplit(":", 1)[0] for t in tls if t.weak}
    for u in report.updates:
        if u.channel.startswith(("tls", "https")) and (u.host in weak_update or u.server in weak_update):
            out[check.ID][0].append(_finding(check, f"{u.server} ({u.host})", f"update server {u.host} reached over "
                                             "TLS with weak parameters (see traffic.tls-quality)",
                                             title="Update channel uses weak TLS", provisions=["5.3-7"]))
    secure = [u for u in report.updates if u.channel.startswith(("tls", "https"))
              and u.host not in weak_update and u.server not in weak_update]
    if can_prove and secure and not any(f.provisions == ["5.3-7"] for f in out[check.ID][0]):
        versions = sorted({v for t in tls if t.sni in {u.host for u in secure} for v in t.versions})
        out[check.ID][1].append(_proof(check, "5.3-7", f"update server(s) {', '.join(sorted({u.host for u in secure}))} "
                                                       f"reached only over TLS ({', '.join(versions) or 'version not seen'})",
                                       where))
    periodic = [u for u in report.updates if u.count >= 2 and u.interval_seconds]
    if can_prove and periodic:
        u = periodic[0]
        out[check.ID][1].append(_proof(check, "5.3-5", f"the device checked {u.host} for updates {u.count} times, "
                                                       f"first {u.first_at:g} s into the capture, then every "
                                                       f"{u.interval_seconds:g} s (median)", where))

    silent = _no_check_after_start_up(report, update_window)
    if silent is not None:
        out[check.ID][0].append(_finding(check, report.device or report.capture, silent,
                                         title="No update check after start-up", provisions=["5.3-5"],
                                         confidence="likely"))

    check = get_traffic_check("traffic.reconnection")
    for c in report.connections:
        for o in c.outages:
            iv = o["intervals"]
            if c.backoff is False and o["failed_attempts"] >= 8:
                out[check.ID][0].append(_finding(
                    check, c.endpoint, f"{o['failed_attempts']} failed connection attempts in {o['seconds']:g} s "
                    f"(median {sorted(iv)[len(iv) // 2]:g} s apart) without increasing the delay",
                    title="Reconnection without back-off"))
    recovered = [c for c in report.connections if c.reconnected and c.backoff]
    if can_prove and recovered and not out[check.ID][0]:
        c = recovered[0]
        o = [o for o in c.outages if o["reconnected"]][-1]
        out[check.ID][1].append(_proof(check, "5.9-3", f"after an outage of {o['seconds']:g} s the device reconnected "
                                                       f"to {c.endpoint}, retrying {o['failed_attempts']} times with "
                                                       f"growing delays ({', '.join(f'{x:g}' for x in o['intervals'][:8])} s)",
                                       where))

    if declaration is not None:
        _declared(report, declaration, out)
    return out


def _no_check_after_start_up(report: TrafficReport, window: float) -> str | None:
    """Why the capture shows the device online after start-up for WINDOW seconds without an update check, if it does."""
    joined = report.joined_at
    if joined is None or report.duration_seconds - joined < window:
        return None
    if any(u.first_at <= joined + window for u in report.updates):
        return None
    used = sorted({f"{p.names[0] if p.names else p.address} {s['endpoint']} ({s['protocol']})" for p in report.peers
                   for s in p.services if s["direction"] == "from device" and s["protocol"] not in INFRASTRUCTURE
                   and p.last_seen >= joined})
    if not used:
        return None  # not shown to be online: it could not have reached an update server
    return (f"the device asked for an address (DHCP) {joined:g} s into the capture and was then online for "
            f"{report.duration_seconds - joined:g} s, using {', '.join(used[:4])}, without any request or name that "
            f"looks for an update in the first {window:g} s")


def _declared(report: TrafficReport, declaration, out) -> None:
    check = get_traffic_check("traffic.declared-endpoints")
    findings, proofs = out[check.ID]
    src = getattr(declaration, "source", "declaration")
    personal = [i for i in report.cleartext if i.kind == "personal"]
    pd = getattr(declaration, "personal_data", None)
    if personal and pd is not None and pd.processed is False:
        cats = sorted({i.category for i in personal if i.category})
        findings.append(_finding(check, personal[0].endpoint, f"personal data ({', '.join(cats)}) leaves the device, "
                                 f"but {declaration.where('personal_data.processed')} says none is processed",
                                 title="Personal data sent that the declaration says is not processed",
                                 provisions=["6-4"], related=[Evidence(path=declaration.where("personal_data.processed"))]))
    elif personal and pd is not None and pd.processed and report.complete:
        declared_words = " ".join(pd.categories).lower()
        seen = sorted({i.category for i in personal if i.category})
        undeclared = [c for c in seen if not any(w in declared_words for w in _CATEGORY_WORDS.get(c, (c,)))]
        if undeclared:
            findings.append(_finding(check, personal[0].endpoint, "personal data of categories the declaration does not "
                                     f"list leaves the device: {', '.join(undeclared)} (declared: "
                                     f"{', '.join(pd.categories) or 'none'})",
                                     title="Personal data sent beyond the declared categories", provisions=["6-4"],
                                     related=[Evidence(path=declaration.where("personal_data.categories"))]))
        else:
            proofs.append(_proof(check, "6-4", f"every personal data category seen in the traffic ({', '.join(seen)}) is "
                                               f"a declared one ({declaration.where('personal_data.categories')})",
                                 report.capture))
    telemetry_hosts = sorted({n for p in report.peers for n in p.names if any(w in n for w in _TELEMETRY_WORDS)})
    reports_sensors = bool(report.sensors) or bool(personal)
    tel = getattr(declaration, "telemetry", None)
    if (telemetry_hosts or reports_sensors) and (tel is None or tel.collected is False):
        what = ", ".join(telemetry_hosts) or "readings with " + ", ".join(report.sensors or ["personal fields"])
        said = "does not declare telemetry" if tel is None else f"says none is collected ({declaration.where('telemetry.collected')})"
        findings.append(_finding(check, telemetry_hosts[0] if telemetry_hosts else report.capture,
                                 f"the device reports telemetry ({what}), but the declaration {said}",
                                 title="Telemetry not declared", provisions=["6-5"]))
    elif tel is not None and tel.collected and (telemetry_hosts or reports_sensors) and report.complete:
        proofs.append(_proof(check, "6-5", f"telemetry seen ({', '.join(telemetry_hosts) or 'sensor readings'}) is "
                                           f"declared ({declaration.where('telemetry.collected')})", report.capture))
    sensors = getattr(declaration, "sensors", None)
    if report.sensors:
        declared = {s.type.lower() for s in sensors or []}
        undeclared = [s for s in report.sensors if not any(s in d or d in s for d in declared)]
        if sensors is None or undeclared:
            findings.append(_finding(check, report.capture, "sensor readings in the device's traffic ("
                                     + ", ".join(undeclared or report.sensors) + ") that the declaration "
                                     + ("does not list" if sensors is not None else "has no sensors section for"),
                                     title="Sensor readings sent that are not declared", provisions=["5.8-3"]))
        elif report.complete:
            proofs.append(_proof(check, "5.8-3", "every sensor reading in the traffic (" + ", ".join(report.sensors)
                                 + f") is a declared sensor ({src})", report.capture))


def traffic_runs(reports: list[TrafficReport], declaration=None, seconds: float = 0.0,
                 update_window: float = UPDATE_WINDOW) -> list[CheckRun]:
    """One CheckRun (source "traffic") per traffic check over every capture given."""
    traffic_checks()
    per_capture = [evaluate(r, declaration, update_window) for r in reports]
    runs = []
    for check in TRAFFIC_CHECKS:
        if check.ID in NEEDS_DECLARATION and declaration is None:
            runs.append(CheckRun(check=check.ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                                 error="needs the manufacturer declaration (--declaration)", source="traffic"))
            continue
        findings = {f.id: f for got in per_capture for f in got[check.ID][0]}
        proofs = [c for got in per_capture for c in got[check.ID][1]]
        failed = {p for f in findings.values() for p in f.provisions if f.confidence != "possible"}
        proofs = [c for c in proofs if c.provision not in failed]
        runs.append(CheckRun(check=check.ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                             findings=sorted(findings.values(), key=lambda f: f.sort_key()), compliance=proofs,
                             seconds=round(seconds, 3), source="traffic"))
    return runs
