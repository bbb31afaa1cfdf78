"""MQTT: one anonymous CONNECT (v3.1.1) written by hand; CONNACK return code 0 means anyone may connect."""

from __future__ import annotations

import socket
import time

from iotcop.model import ServiceObservation
from iotcop.probe.context import Issue, ProbeContext, ServiceResult

RETURN_CODES = {0: "accepted", 1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
                4: "bad user name or password", 5: "not authorised"}


def _string(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id: str, keepalive: int = 30) -> bytes:
    variable = _string("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big")  # level 4, clean session
    body = variable + _string(client_id)
    return bytes([0x10]) + _remaining_length(len(body)) + body


DISCONNECT = bytes([0xE0, 0x00])


def connack(ctx: ProbeContext, port: int) -> int | None:
    """The CONNACK return code for an anonymous CONNECT, or None if the peer does not speak MQTT."""
    with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
        sock.settimeout(ctx.budget.timeout(ctx.read_timeout))
        sock.sendall(connect_packet("iotcop-probe"))
        answer = b""
        try:
            while len(answer) < 4:
                chunk = sock.recv(4 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        if len(answer) == 4 and answer[0] == 0x20 and answer[1] == 0x02:
            if answer[3] == 0:
                try:
                    sock.sendall(DISCONNECT)
                except OSError:
                    pass
            return answer[3]
        return None


def probe(ctx: ProbeContext, port: int, banner: bytes = b"", code: int | None = None) -> ServiceResult:
    endpoint = f"tcp/{port}"
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="mqtt"))
    if code is None:
        started = time.monotonic()
        try:
            code = connack(ctx, port)
        except OSError as exc:
            ctx.budget.log(endpoint, "login", "error", username="(anonymous)", detail=str(exc)[:200])
            result.checks_cut["probe.unauthenticated-access"] = f"MQTT connect failed: {exc}"[:200]
            return result
        ctx.budget.log(endpoint, "login", "success" if code == 0 else "failure", username="(anonymous)",
                       detail=RETURN_CODES.get(code, str(code)), seconds=time.monotonic() - started)
    result.observation.facts["anonymous_connack"] = RETURN_CODES.get(code, str(code))
    if code == 0:
        result.issues.append(Issue("probe.unauthenticated-access", endpoint,
                                   title="MQTT broker accepts anonymous clients",
                                   detail="CONNECT without user name or password was accepted (CONNACK 0): anyone "
                                          "can subscribe to and publish device topics"))
    result.checks_ran.add("probe.unauthenticated-access")
    return result
