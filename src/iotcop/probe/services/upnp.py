"""UPnP, after an SSDP answer: the device description at its LOCATION (only when that is the probed address),
and, for an Internet Gateway Device, whether its port-forwarding control answers without authentication.

The control is asked GetStatusInfo (read-only), then AddPortMapping for the prober's own address on one
random high port with a 60-second lease, removed at once with DeletePortMapping: a mapping accepted without
credentials is a configuration change made without authentication (5.5-5); a refusal (SOAP error 606
"Action not authorized", HTTP 401/403) is positive evidence.  Other errors (a conflict, an argument the
gateway does not support) decide nothing.
"""

from __future__ import annotations

import http.client
import random
import socket
import time
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

from iotcop.probe.context import Issue, ProbeContext, ServiceResult

MAX_DESCRIPTION = 131072
DEVICE_FIELDS = ("deviceType", "friendlyName", "manufacturer", "modelName", "modelNumber", "serialNumber", "UDN")
# WAN connection services whose AddPortMapping opens the gateway's firewall.
PORT_MAPPING_SERVICES = (":service:WANIPConnection:", ":service:WANPPPConnection:")
SOAP_ENVELOPE = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
                 's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
                 '<u:{action} xmlns:u="{service}">{arguments}</u:{action}></s:Body></s:Envelope>\r\n')
MAPPING_DESCRIPTION = "iotcop-probe (removed at once)"
REFUSED_CODES = ("606",)  # UPnP error: Action not authorized


def same_host(ctx: ProbeContext, url: str) -> tuple[str, int, str] | None:
    """(host, port, path) of an http URL on the probed address; None for any other host or scheme."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    if parts.scheme != "http" or (parts.hostname or "").lower() != ctx.address.lower():
        return None
    return ctx.address, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _http(ctx: ProbeContext, url: str, method: str = "GET", body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes] | None:
    target = same_host(ctx, url)
    if target is None:
        return None
    host, port, path = target
    endpoint = f"tcp/{port}"
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=ctx.budget.timeout(ctx.read_timeout))
    try:
        conn.request(method, path, body=body, headers={"User-Agent": "iotcop", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read(MAX_DESCRIPTION)
        status = resp.status
    except (OSError, http.client.HTTPException) as exc:
        ctx.budget.log(endpoint, "request", "error", detail=f"{method} {path}: {exc}"[:200],
                       seconds=time.monotonic() - started)
        return None
    finally:
        conn.close()
    ctx.budget.log(endpoint, "request", str(status), detail=f"{method} {path}"[:200], seconds=time.monotonic() - started)
    return status, data


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_description(data: bytes) -> dict | None:
    """The root device's identity and every service (type, control URL) of a UPnP description."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return None  # descriptions have no DTD; refusing one keeps entity expansion out
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    device = next((e for e in root if _local(e.tag) == "device"), None)
    if device is None:
        return None
    info = {name: (next((c.text or "" for c in device if _local(c.tag) == name), "")).strip()[:200]
            for name in DEVICE_FIELDS}
    base = next((e.text or "" for e in root if _local(e.tag) == "URLBase"), "").strip()
    services = []
    for svc in root.iter():
        if _local(svc.tag) != "service":
            continue
        fields = {_local(c.tag): (c.text or "").strip() for c in svc}
        services.append({"type": fields.get("serviceType", "")[:200], "control": fields.get("controlURL", "")[:200]})
    return {"device": {k: v for k, v in info.items() if v}, "services": services[:64], "base": base}


def examine(ctx: ProbeContext, location: str, result: ServiceResult) -> None:
    facts = result.observation.facts
    if same_host(ctx, location) is None:
        facts["description"] = "not fetched: LOCATION is not on the probed address"
        return
    fetched = _http(ctx, location)
    if fetched is None or fetched[0] != 200:
        facts["description"] = f"not readable ({fetched[0] if fetched else 'no answer'})"
        return
    described = parse_description(fetched[1])
    if described is None:
        facts["description"] = "not a UPnP device description"
        return
    facts["device"] = described["device"]
    facts["services"] = [s["type"] for s in described["services"]]
    check = "probe.unauthenticated-access"
    result.checks_ran.add(check)
    for svc in described["services"]:
        if not any(marker in svc["type"] for marker in PORT_MAPPING_SERVICES) or not svc["control"]:
            continue
        control = urljoin(described["base"] or location, svc["control"])
        answer = _soap(ctx, control, svc["type"], "GetStatusInfo")
        status = answer[0] if answer else None
        facts.setdefault("port_mapping_control", {})[control] = status
        if answer and status == 200 and b"GetStatusInfoResponse" in answer[1]:
            endpoint = f"tcp/{same_host(ctx, control)[1]}"
            result.issues.append(Issue(
                check, endpoint, provisions=("5.6-2",),
                title="UPnP port forwarding control open without authentication",
                detail=f"{svc['type'].rsplit(':', 2)[-2]} at {control} answered GetStatusInfo without credentials: "
                       "anyone on the network can ask the gateway about and for port forwarding",
                excerpt=answer[1][:200].decode("utf-8", "replace")))
        try_port_mapping(ctx, control, svc["type"], result)
        break


def _soap(ctx: ProbeContext, control: str, service: str, action: str, arguments: dict | None = None):
    body = "".join(f"<{k}>{v}</{k}>" for k, v in (arguments or {}).items())
    envelope = SOAP_ENVELOPE.format(action=action, service=service, arguments=body).encode()
    return _http(ctx, control, "POST", envelope, {"Content-Type": 'text/xml; charset="utf-8"',
                                                   "SOAPAction": f'"{service}#{action}"'})


def _local_address(ctx: ProbeContext) -> str:
    """The address this machine uses towards the device (what a mapping would forward to)."""
    with socket.socket(socket.AF_INET6 if ":" in ctx.address else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((ctx.address, 9))
        return s.getsockname()[0]


def _error_code(data: bytes) -> str:
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return ""
    return next(((e.text or "").strip() for e in root.iter() if _local(e.tag) == "errorCode"), "")


def try_port_mapping(ctx: ProbeContext, control: str, service: str, result: ServiceResult) -> None:
    """AddPortMapping for this machine on one random port, deleted at once; the outcome decides 5.5-5."""
    check = "probe.unauthenticated-config"
    port = random.randint(40000, 49999)
    args = {"NewRemoteHost": "", "NewExternalPort": port, "NewProtocol": "TCP", "NewInternalPort": port,
            "NewInternalClient": _local_address(ctx), "NewEnabled": 1,
            "NewPortMappingDescription": MAPPING_DESCRIPTION, "NewLeaseDuration": 60}
    answer = _soap(ctx, control, service, "AddPortMapping", args)
    endpoint = f"tcp/{same_host(ctx, control)[1]}"
    facts = result.observation.facts
    result.checks_ran.add(check)
    if answer is None:
        facts["add_port_mapping"] = "no answer"
        return
    status, data = answer
    if status == 200 and b"AddPortMappingResponse" in data:
        removed = _soap(ctx, control, service, "DeletePortMapping",
                        {"NewRemoteHost": "", "NewExternalPort": port, "NewProtocol": "TCP"})
        facts["add_port_mapping"] = f"accepted (external port {port}); deleted: {bool(removed and removed[0] == 200)}"
        result.issues.append(Issue(
            check, endpoint, title="UPnP gateway changed its port forwarding without authentication",
            detail=f"AddPortMapping of TCP {port} to {args['NewInternalClient']} was accepted without credentials "
                   f"(removed at once: {'yes' if removed and removed[0] == 200 else 'no answer'})"))
        return
    code = _error_code(data)
    facts["add_port_mapping"] = f"refused: HTTP {status}" + (f", UPnP error {code}" if code else "")
    if status in (401, 403) or code in REFUSED_CODES:
        result.issues.append(Issue(check, endpoint, compliant=True,
                                   detail=f"the gateway refused AddPortMapping without credentials "
                                          f"(HTTP {status}{', UPnP error ' + code if code else ''})"))
