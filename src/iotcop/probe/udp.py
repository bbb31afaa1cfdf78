"""UDP services: SNMP (default communities), SSDP/UPnP, mDNS/DNS-SD and CoAP (or its DTLS handshake), each
asked by unicast datagrams to the probed address only."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass, field

from iotcop.model import ServiceObservation
from iotcop.probe.ber import BerError, parse_snmp_response, snmp_get
from iotcop.probe.context import Issue, ProbeContext, ServiceResult
from iotcop.probe.safety import BudgetExceeded
from iotcop.probe.services import upnp

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


SSDP_MAX_ANSWERS = 16  # a root device answers ssdp:all once per device and service type


def probe_ssdp(ctx: ProbeContext, port: int = 1900) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    # Unicast M-SEARCH to the device itself, never to the multicast group.
    request = (f"M-SEARCH * HTTP/1.1\r\nHOST: {ctx.address}:{port}\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\n"
               "ST: ssdp:all\r\n\r\n").encode()
    answers = [a for a in _exchange_many(ctx, port, request, SSDP_MAX_ANSWERS) if a.startswith(b"HTTP/1.1 200")]
    ctx.budget.log(endpoint, "query", f"{len(answers)} answer(s)" if answers else "no answer",
                   detail="M-SEARCH ssdp:all")
    if not answers:
        return None
    parsed = [_headers(a.decode("latin-1", "replace")) for a in answers]
    location = next((h["location"] for h in parsed if h.get("location")), None)
    result = ServiceResult(ServiceObservation(
        endpoint=endpoint, service="ssdp", banner=next((h["server"] for h in parsed if h.get("server")), "")[:200],
        facts={"location": location, "st": sorted({h["st"] for h in parsed if h.get("st")})}))
    if location:
        upnp.examine(ctx, location, result)
    return result


def _exchange_many(ctx: ProbeContext, port: int, payload: bytes, limit: int, wait: float = 1.5) -> list[bytes]:
    """Send one datagram to the probed address only and collect its answers for WAIT seconds (at most LIMIT)."""
    family = socket.AF_INET6 if ":" in ctx.address else socket.AF_INET
    answers: list[bytes] = []
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((ctx.address, port))  # connected: datagrams from other sources are dropped
        stop_at = time.monotonic() + ctx.budget.timeout(wait)
        try:
            sock.send(payload)
            while len(answers) < limit:
                left = stop_at - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                answers.append(sock.recv(65535))
        except (socket.timeout, ConnectionRefusedError, OSError):
            pass
    return answers


def _headers(text: str) -> dict[str, str]:
    out = {}
    for line in text.split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


# -- mDNS / DNS-SD ------------------------------------------------------------------------------

MDNS_MAX_TYPES = 8
MDNS_MAX_INSTANCES = 16
DNS_PTR, DNS_TXT, DNS_SRV, DNS_A = 12, 16, 33, 1
SERVICES_NAME = "_services._dns-sd._udp.local"


class DnsError(ValueError):
    pass


def dns_query(qid: int, questions: list[tuple[str, int]]) -> bytes:
    """A DNS query with the unicast-response (QU) bit set on each question."""
    body = b""
    for name, qtype in questions:
        body += b"".join(bytes([len(p)]) + p for p in (x.encode() for x in name.split(".")) if p) + b"\x00"
        body += struct.pack(">HH", qtype, 0x8001)
    return struct.pack(">HHHHHH", qid, 0, len(questions), 0, 0, 0) + body


def _name(data: bytes, offset: int) -> tuple[str, int]:
    labels, jumps, end = [], 0, None
    while True:
        if offset >= len(data):
            raise DnsError("name runs past the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data) or jumps > 32:
                raise DnsError("bad compression pointer")
            end = offset + 2 if end is None else end
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            continue
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        labels.append(data[offset + 1:offset + 1 + length].decode("utf-8", "replace"))
        offset += 1 + length


def parse_dns(data: bytes) -> tuple[int, list[tuple[str, int, object]]]:
    """(id, records of every section as (name, type, value)); PTR/SRV/TXT/A values decoded."""
    if len(data) < 12:
        raise DnsError("short message")
    qid, _flags, qd, an, ns, ar = struct.unpack(">HHHHHH", data[:12])
    offset = 12
    for _ in range(qd):
        _, offset = _name(data, offset)
        offset += 4
    records = []
    for _ in range(an + ns + ar):
        name, offset = _name(data, offset)
        if offset + 10 > len(data):
            raise DnsError("record runs past the message")
        rtype, _cls, _ttl, length = struct.unpack(">HHIH", data[offset:offset + 10])
        start, offset = offset + 10, offset + 10 + length
        if offset > len(data):
            raise DnsError("record data runs past the message")
        raw = data[start:offset]
        value: object = raw
        if rtype == DNS_PTR:
            value = _name(data, start)[0]
        elif rtype == DNS_SRV and length >= 7:
            value = (struct.unpack(">H", raw[4:6])[0], _name(data, start + 6)[0])
        elif rtype == DNS_TXT:
            value, i = [], 0
            while i < len(raw):
                value.append(raw[i + 1:i + 1 + raw[i]].decode("utf-8", "replace"))
                i += 1 + raw[i]
        elif rtype == DNS_A and length == 4:
            value = socket.inet_ntoa(raw)
        records.append((name, rtype, value))
    return qid, records


def _mdns_ask(ctx: ProbeContext, port: int, endpoint: str, questions: list[tuple[str, int]],
              wait: float = 1.5) -> list | None:
    qid = int.from_bytes(os.urandom(2), "big")
    answer = _exchange(ctx, port, dns_query(qid, questions), wait=wait)
    records = None
    if answer is not None:
        try:
            got_id, records = parse_dns(answer)
            if got_id not in (qid, 0):
                records = None
        except DnsError:
            records = None
    ctx.budget.log(endpoint, "query", f"{len(records)} record(s)" if records is not None else "no answer",
                   detail=" ".join(f"{n}/{t}" for n, t in questions)[:200])
    return records


def probe_mdns(ctx: ProbeContext, port: int = 5353) -> ServiceResult | None:
    """DNS-SD enumeration by unicast queries to the device only: service types, then their instances."""
    endpoint = f"udp/{port}"
    records = _mdns_ask(ctx, port, endpoint, [(SERVICES_NAME, DNS_PTR)])
    # The responder's host name, asked by reverse lookup: a responder publishing no service still has one.
    reverse = ipaddress.ip_address(ctx.address).reverse_pointer
    named = _mdns_ask(ctx, port, endpoint, [(reverse, DNS_PTR)], wait=1.0)
    if records is None and named is None:
        return None
    records = records or []
    types = sorted({v for n, t, v in records if t == DNS_PTR and n.lower() == SERVICES_NAME.lower()})
    hostname = next((v for n, t, v in named or [] if t == DNS_PTR and n.lower() == reverse.lower()), None)
    facts: dict = {"hostname": hostname, "service_types": types, "services": []}
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="mdns", banner=(hostname or "")[:200],
                                              facts=facts))
    known: list[tuple[str, int, object]] = list(records)
    try:
        for stype in types[:MDNS_MAX_TYPES]:
            known += _mdns_ask(ctx, port, endpoint, [(stype, DNS_PTR)], wait=1.0) or []
        instances = sorted({v for n, t, v in known if t == DNS_PTR and n in types[:MDNS_MAX_TYPES]})
        for instance in instances[:MDNS_MAX_INSTANCES]:
            if not any(n == instance and t == DNS_SRV for n, t, _ in known):
                known += _mdns_ask(ctx, port, endpoint, [(instance, DNS_SRV), (instance, DNS_TXT)], wait=1.0) or []
            srv = next((v for n, t, v in known if n == instance and t == DNS_SRV), None)
            txt = next((v for n, t, v in known if n == instance and t == DNS_TXT), [])
            stype = next(n for n, t, v in known if t == DNS_PTR and v == instance)
            facts["services"].append({
                "type": stype, "name": instance[:-len(stype) - 1] if instance.endswith("." + stype) else instance,
                "port": srv[0] if srv else None, "host": srv[1] if srv else None,
                "txt": [x for x in txt if x][:20]})
    except BudgetExceeded as exc:
        facts["incomplete"] = str(exc)
    return result


# -- CoAP ---------------------------------------------------------------------------------------

@dataclass
class CoapMessage:
    kind: int  # 0 CON, 1 NON, 2 ACK, 3 RST
    code: int
    message_id: int
    token: bytes
    options: list[tuple[int, bytes]] = field(default_factory=list)
    payload: bytes = b""

    @property
    def code_text(self) -> str:
        return f"{self.code >> 5}.{self.code & 0x1F:02d}"


def parse_coap(data: bytes) -> CoapMessage | None:
    """RFC 7252 message: header, token, delta-encoded options, then the payload after the 0xFF marker."""
    if len(data) < 4 or data[0] >> 6 != 1 or (data[0] & 0x0F) > 8:
        return None
    token_len = data[0] & 0x0F
    msg = CoapMessage((data[0] >> 4) & 3, data[1], int.from_bytes(data[2:4], "big"), data[4:4 + token_len])
    i, number = 4 + token_len, 0
    while i < len(data):
        if data[i] == 0xFF:
            msg.payload = data[i + 1:]
            break
        delta, length = data[i] >> 4, data[i] & 0x0F
        i += 1
        values = []
        for nibble in (delta, length):
            if nibble == 13:
                values.append(data[i] + 13 if i < len(data) else None)
                i += 1
            elif nibble == 14:
                values.append(int.from_bytes(data[i:i + 2], "big") + 269 if i + 1 < len(data) else None)
                i += 2
            elif nibble == 15:
                values.append(None)
            else:
                values.append(nibble)
        if None in values or i + values[1] > len(data):
            return None
        number += values[0]
        msg.options.append((number, data[i:i + values[1]]))
        i += values[1]
    return msg


def _dtls_client_hello() -> bytes:
    """A DTLS 1.2 ClientHello offering the PSK and certificate suites of RFC 7252 (CCM_8) and common GCM ones."""
    suites = (0xC0A8, 0xC0AE, 0x00A8, 0xC02B, 0xC02F, 0xC0A4)
    extensions = (struct.pack(">HHH", 10, 6, 4) + struct.pack(">HH", 0x001D, 0x0017)  # supported groups
                  + struct.pack(">HHB", 11, 2, 1) + b"\x00"  # EC point formats: uncompressed
                  + struct.pack(">HHH", 13, 8, 6) + struct.pack(">HHH", 0x0403, 0x0804, 0x0401))  # signatures
    body = (b"\xfe\xfd" + os.urandom(32) + b"\x00" + b"\x00"  # version, random, no session id, no cookie
            + struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites)
            + b"\x01\x00" + struct.pack(">H", len(extensions)) + extensions)
    length = len(body).to_bytes(3, "big")
    handshake = b"\x01" + length + b"\x00\x00" + b"\x00\x00\x00" + length + body
    return b"\x16\xfe\xfd" + b"\x00\x00" + b"\x00" * 6 + struct.pack(">H", len(handshake)) + handshake


DTLS_HANDSHAKES = {3: "HelloVerifyRequest", 2: "ServerHello"}


def dtls_answer(data: bytes | None) -> str | None:
    """What a DTLS server said to the ClientHello, or None when the answer is not DTLS."""
    if not data or len(data) < 13 or data[1] != 0xFE or data[2] not in (0xFD, 0xFF):
        return None
    if data[0] == 21:
        return "alert"
    if data[0] == 22 and len(data) > 13:
        return DTLS_HANDSHAKES.get(data[13], "handshake")
    return None


def probe_coap(ctx: ProbeContext, port: int = 5683) -> ServiceResult | None:
    endpoint = f"udp/{port}"
    check = "probe.unauthenticated-access"
    message_id = int.from_bytes(os.urandom(2), "big")
    token = os.urandom(4)
    # CON GET /.well-known/core: version 1, type 0, token length 4, code 0.01, Uri-Path options (11).
    request = (bytes([0x44, 0x01]) + message_id.to_bytes(2, "big") + token + bytes([0xBB]) + b".well-known"
               + bytes([0x04]) + b"core")
    answer = _exchange(ctx, port, request)
    msg = parse_coap(answer) if answer else None
    ok = msg is not None and (msg.message_id == message_id or msg.token == token) and msg.kind != 3
    ctx.budget.log(endpoint, "request", msg.code_text if ok else "no answer", detail="GET /.well-known/core")
    if not ok:
        return _probe_coaps(ctx, port)
    body = msg.payload
    resources = [part.split(">", 1)[0].lstrip("<") for part in body.decode("utf-8", "replace").split(",")
                 if part.startswith("<")]
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="coap",
                                              facts={"code": msg.code_text, "resources": resources[:50],
                                                     "transport": "udp"}))
    if msg.code >> 5 == 2:
        result.issues.append(Issue(check, endpoint, provisions=("5.6-2",),
                                   title="CoAP resource directory readable without authentication",
                                   detail=f"GET /.well-known/core answered {msg.code_text} over plain UDP, "
                                          f"listing {len(resources)} resource(s)",
                                   excerpt=body[:200].decode("utf-8", "replace")))
    result.checks_ran.add(check)
    return result


def _probe_coaps(ctx: ProbeContext, port: int) -> ServiceResult | None:
    """No plain CoAP answer: is it CoAP over DTLS (coaps)?  Only the first handshake flight is sent."""
    endpoint = f"udp/{port}"
    answer = _exchange(ctx, port, _dtls_client_hello())
    said = dtls_answer(answer)
    ctx.budget.log(endpoint, "handshake", said or "no answer", detail="DTLS 1.2 ClientHello")
    if said is None:
        return None
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="coaps",
                                              facts={"transport": "dtls", "dtls": said}))
    # Examined: the resources are out of reach without completing a DTLS handshake.
    result.checks_ran.add("probe.unauthenticated-access")
    return result


UDP_PROBES = {161: probe_snmp, 1900: probe_ssdp, 5353: probe_mdns, 5683: probe_coap}
