"""Completeness units: what the firmware and the probe observed, held against what the declaration lists.

Silence is never a PASS: "nothing undeclared is there" passes only on a completed probe of the live
device, since a firmware image does not show everything that listens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iotcop.conformance.language import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    Context,
    Outcome,
    words,
)
from iotcop.model import Evidence

_AUTH_KINDS = {"telnet", "ssh", "ftp", "http", "snmp", "mqtt", "rtsp", "adb"}


_API_KINDS = {"mqtt", "coap", "upnp", "snmp", "rpc", "adb", "rtsp"}


_UI_KINDS = {"http": "web", "https": "web", "telnet": "cli", "ssh": "cli"}


SERVICE_ALIASES = {
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
class ObservedService:
    kind: str  # service kind: ssh, http, telnet ...
    label: str
    where: Evidence
    password: bool = True  # False for a server shown to refuse password logins (dropbear -s)


def _device_kind(service: str) -> str:
    return {"https": "http", "ssdp": "upnp"}.get(service, service)


def observed_services(ctx: Context) -> list[ObservedService]:
    out: list[ObservedService] = []
    if ctx.firmware is not None:
        from iotcop.checks.services.daemons import started_daemons

        for d in started_daemons(ctx.firmware):
            if d.kind in ("super-server", "wifi-ap") or d.command.confidence == "possible":
                continue  # a start the image does not show (a string in a vendor program, a switch off by default)
            cmd = d.command
            kind = d.kind
            if cmd.service and cmd.service.lower() in SERVICE_ALIASES:
                kind = cmd.service.lower()
            password = not (cmd.program in ("dropbear",) and "-s" in cmd.args) and not (
                cmd.program == "sshd" and "PasswordAuthentication=no" in " ".join(cmd.args))
            out.append(ObservedService(kind, f"{cmd.program} ({kind})", Evidence(path=cmd.path, line=cmd.line, excerpt=cmd.text[:200],
                                                                      detail=f"started at boot: {cmd.program}"), password))
    if ctx.device is not None:
        for s in ctx.device.services:
            kind = _device_kind(s.service)
            out.append(ObservedService(kind, f"{s.endpoint} {s.service}", Evidence(detail=f"seen on the device: {s.endpoint} {s.service}",
                                                                         excerpt=s.banner[:200] or None)))
    return out


def _port_of(label: str) -> int | None:
    m = re.match(r"^(?:tcp|udp)/(\d+)", label)
    return int(m.group(1)) if m else None


def _declared_covers(kind: str, seen: ObservedService, names: set[str], ports: set[int]) -> bool:
    words = SERVICE_ALIASES.get(kind, {kind})
    if any(w in n for n in names for w in words):
        return True
    port = _port_of(seen.label)
    if port is not None:
        return port in ports
    return bool(_PORTS.get(kind, set()) & ports)


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
        names = set().union(*[words(i.get("name"), i.get("purpose")) for i in items]) if items else set()
        ports = {i["port"] for i in (declared or []) if isinstance(i.get("port"), int)}
        relevant = observed_services(ctx)
        label = "network service"
    elif what == "auth":
        mechs = ixit.get("auth_mechanisms")
        if mechs is None:
            return Outcome(INCONCLUSIVE, source, "no authentication mechanisms declared (ixit.auth_mechanisms)")
        names = set().union(*[words(m.get("name"), m.get("service"), m.get("description")) for m in mechs]) if mechs else set()
        ports = set()
        relevant = [s for s in observed_services(ctx) if s.kind in _AUTH_KINDS and s.password]
        label = "password-based authentication mechanism"
    elif what == "user_interfaces":
        uis = ixit.get("user_interfaces")
        if uis is None:
            return Outcome(INCONCLUSIVE, source, "no user interfaces declared (ixit.user_interfaces)")
        # matched by the protocol named in the declared interface: an SSH shell does not cover a telnet one
        names = set().union(*[words(u.get("name"), u.get("description")) for u in uis]) if uis else set()
        relevant = [s for s in observed_services(ctx) if s.kind in _UI_KINDS]
        undeclared = [s for s in relevant if not _declared_covers(s.kind, s, names, set())]
        return _completeness_outcome(ctx, source, relevant, undeclared, "user interface")
    else:  # apis
        apis = ixit.get("external_apis")
        if apis is None:
            return Outcome(INCONCLUSIVE, source, "no external APIs declared (ixit.external_apis)")
        names = set().union(*[words(a.get("name"), a.get("protocol"), a.get("description")) for a in apis]) if apis else set()
        ports = {a["port"] for a in apis if isinstance(a.get("port"), int)}
        relevant = [s for s in observed_services(ctx) if s.kind in _API_KINDS]
        label = "external API"
    undeclared = [s for s in relevant if not _declared_covers(s.kind, s, names, ports)]
    return _completeness_outcome(ctx, source, relevant, undeclared, label)


def _completeness_outcome(ctx: Context, source: str, relevant: list[ObservedService], undeclared: list[ObservedService], label: str) -> Outcome:
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
