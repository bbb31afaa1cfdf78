"""RTSP: an unauthenticated DESCRIBE of the root stream; 200 with SDP means the stream is open to anyone."""

from __future__ import annotations

import socket

from iotcop.model import ServiceObservation
from iotcop.probe.context import Issue, ProbeContext, ServiceResult


def describe(ctx: ProbeContext, port: int, path: str = "/") -> bytes:
    host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
    request = (f"DESCRIBE rtsp://{host}:{port}{path} RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n"
               "User-Agent: iotcop\r\n\r\n").encode()
    with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
        sock.settimeout(ctx.budget.timeout(ctx.read_timeout))
        sock.sendall(request)
        data = b""
        try:
            while len(data) < 16384:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data and (b"Content-Length" not in data or data.rstrip().endswith(b"")):
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = _content_length(head)
                    if len(body) >= length:
                        break
        except OSError:
            pass
    return data


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            try:
                return int(line.split(b":", 1)[1])
            except ValueError:
                return 0
    return 0


def probe(ctx: ProbeContext, port: int, banner: bytes = b"") -> ServiceResult:
    endpoint = f"tcp/{port}"
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="rtsp"))
    try:
        answer = describe(ctx, port)
    except OSError as exc:
        ctx.budget.log(endpoint, "request", "error", detail=str(exc)[:200])
        result.checks_cut["probe.unauthenticated-access"] = f"RTSP request failed: {exc}"[:200]
        return result
    status = answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    ctx.budget.log(endpoint, "request", status or "no answer", detail="DESCRIBE /")
    for line in answer.split(b"\r\n"):
        if line.lower().startswith(b"server:"):
            result.observation.banner = line[7:].strip().decode("latin-1", "replace")[:200]
    result.observation.facts["describe"] = status
    if status.startswith("RTSP/1.0 200") and b"v=0" in answer:
        result.issues.append(Issue("probe.unauthenticated-access", endpoint, provisions=("5.6-2",),
                                   title="RTSP stream described without authentication",
                                   detail="DESCRIBE / returned a session description without credentials",
                                   excerpt=status))
    result.checks_ran.add("probe.unauthenticated-access")
    return result
