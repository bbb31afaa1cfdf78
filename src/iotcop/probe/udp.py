"""UDP services: SNMP (default communities), SSDP/UPnP, mDNS and CoAP discovery, one datagram each."""

from __future__ import annotations

import os
import socket
import struct
import time

from iotcop.model import ServiceObservation
from iotcop.probe.ber import BerError, parse_snmp_response, snmp_get
from iotcop.probe.context import Issue, ProbeContext, ServiceResult
from iotcop.probe.safety import BudgetExceeded

SNMP_COMMUNITIES = ("public", "private")
SYS_DESCR, SYS_NAME = "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"


def _exchange(ctx: ProbeContext, port: int, payload: bytes, wait: float = 1.5) -> bytes | None:
    """Send one datagram to the probed address only and read one answer from it."""
    family = socket.AF_INET6 if ":" in ctx.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(ctx.budget.timeout(wait))
        sock.connect((ctx.address, port))  # connected: datagrams from other sources are dropped
        try:
            sock.send(payload)
            return sock.recv(65535)
        except (socket.timeout, ConnectionRefusedError, OSError):
            return None


def probe_snmp(ctx: ProbeContext, port: int = 161) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    result = None
    for community in SNMP_COMMUNITIES:
        try:
            ctx.budget.login_slot(endpoint)
        except BudgetExceeded:
            break
        request_id = int.from_bytes(os.urandom(3), "big")
        started = time.monotonic()
        answer = _exchange(ctx, port, snmp_get(community, request_id, SYS_DESCR, SYS_NAME))
        seconds = time.monotonic() - started
        response = None
        if answer is not None:
            try:
                response = parse_snmp_response(answer)
            except BerError:
                response = None
        ok = response is not None and response.request_id == request_id and response.error_status == 0
        ctx.budget.log(endpoint, "login", "success" if ok else "no answer", username="community",
                       password=community, seconds=seconds)
        if not ok:
            continue
        if result is None:
            descr = str(response.values.get(SYS_DESCR) or "")
            result = ServiceResult(ServiceObservation(endpoint=endpoint, service="snmp", banner=descr[:200],
                                                      facts={"sysName": response.values.get(SYS_NAME)}))
        result.issues.append(Issue("probe.snmp-community", endpoint,
                                   title=f"SNMP answers the default community '{community}'",
                                   detail=f"GetRequest with community '{community}' returned sysDescr",
                                   excerpt=str(response.values.get(SYS_DESCR) or "")[:200]))
    if result is not None:
        result.checks_ran.add("probe.snmp-community")
    return result


def probe_ssdp(ctx: ProbeContext, port: int = 1900) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    # Unicast M-SEARCH to the device itself, never to the multicast group.
    request = (f"M-SEARCH * HTTP/1.1\r\nHOST: {ctx.address}:{port}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
               "ST: ssdp:all\r\n\r\n").encode()
    answer = _exchange(ctx, port, request)
    ctx.budget.log(endpoint, "query", "answer" if answer else "no answer")
    if not answer:
        return None
    headers = _headers(answer.decode("latin-1", "replace"))
    return ServiceResult(ServiceObservation(endpoint=endpoint, service="ssdp", banner=headers.get("server", ""),
                                            facts={"location": headers.get("location"), "st": headers.get("st")}))


def _headers(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def probe_mdns(ctx: ProbeContext, port: int = 5353) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    # A unicast DNS-SD service enumeration query (QU bit set) sent to the device only.
    qname = b"".join(bytes([len(p)]) + p for p in (b"_services", b"_dns-sd", b"_udp", b"local")) + b"\x00"
    query = struct.pack(">HHHHHH", 0, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 12, 0x8001)
    answer = _exchange(ctx, port, query)
    ctx.budget.log(endpoint, "query", "answer" if answer else "no answer")
    if not answer or len(answer) < 12:
        return None
    answers = struct.unpack(">H", answer[6:8])[0]
    return ServiceResult(ServiceObservation(endpoint=endpoint, service="mdns", facts={"answers": answers}))


def probe_coap(ctx: ProbeContext, port: int = 5683) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    message_id = int.from_bytes(os.urandom(2), "big")
    # CON GET /.well-known/core: version 1, type 0, token length 0, code 0.01, Uri-Path options 11.
    request = bytes([0x40, 0x01]) + message_id.to_bytes(2, "big") + bytes([0xBB]) + b".well-known" + bytes([0x04]) + b"core"
    answer = _exchange(ctx, port, request)
    ok = bool(answer) and len(answer) >= 4 and answer[0] >> 6 == 1 and answer[2:4] == message_id.to_bytes(2, "big")
    ctx.budget.log(endpoint, "request", "answer" if ok else "no answer", detail="GET /.well-known/core")
    if not ok:
        return None
    code = answer[1]
    token_len = answer[0] & 0x0F
    body = answer.split(b"\xff", 1)[1] if b"\xff" in answer[4 + token_len:] else b""
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="coap",
                                              facts={"code": f"{code >> 5}.{code & 0x1F:02d}",
                                                     "resources": body[:300].decode("utf-8", "replace")}))
    if code >> 5 == 2:
        result.issues.append(Issue("probe.unauthenticated-access", endpoint, provisions=("5.6-2",),
                                   title="CoAP resource directory readable without authentication",
                                   detail="GET /.well-known/core answered " + f"{code >> 5}.{code & 0x1F:02d}",
                                   excerpt=body[:200].decode("utf-8", "replace")))
        result.checks_ran.add("probe.unauthenticated-access")
    return result


UDP_PROBES = {161: probe_snmp, 1900: probe_ssdp, 5353: probe_mdns, 5683: probe_coap}
