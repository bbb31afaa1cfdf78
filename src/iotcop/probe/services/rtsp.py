"""RTSP: OPTIONS for the server and its methods, then an unauthenticated DESCRIBE of the root and of a few
stream paths common on cameras; a 200 with a session description means the stream is open to anyone."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field

from iotcop.model import ServiceObservation
from iotcop.probe.context import Issue, ProbeContext, ServiceResult
from iotcop.probe.safety import BudgetExceeded

# Tried in order until one is described; cameras rarely serve "/" itself.
STREAM_PATHS = ("/", "/live", "/stream1", "/live.sdp", "/h264", "/ch0", "/11", "/Streaming/Channels/101",
                "/cam/realmonitor?channel=1&subtype=0", "/videoMain", "/media/video1")
MAX_RESPONSE = 65536


@dataclass
class RtspResponse:
    status: int
    line: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def parse_response(data: bytes) -> RtspResponse | None:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1", "replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return RtspResponse(int(parts[1]), lines[0].strip(), headers, body[:_content_length(headers)])


def _content_length(headers: dict[str, str]) -> int:
    try:
        return max(0, min(int(headers.get("content-length", "0")), MAX_RESPONSE))
    except ValueError:
        return 0


def request(ctx: ProbeContext, port: int, method: str, target: str, cseq: int) -> RtspResponse | None:
    """One request on its own connection; the answer is read up to its Content-Length, bounded in size and time."""
    wire = (f"{method} {target} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: iotcop\r\n"
            + ("Accept: application/sdp\r\n" if method == "DESCRIBE" else "") + "\r\n").encode()
    data = b""
    with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
        sock.settimeout(ctx.budget.timeout(ctx.read_timeout))
        sock.sendall(wire)
        try:
            while len(data) < MAX_RESPONSE:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                if b"\r\n\r\n" in data:
                    parsed = parse_response(data)
                    if parsed is None or len(data.partition(b"\r\n\r\n")[2]) >= _content_length(parsed.headers):
                        break
        except OSError:
            pass
    return parse_response(data)


def _url(ctx: ProbeContext, port: int, path: str) -> str:
    host = f"[{ctx.address}]" if ":" in ctx.address else ctx.address
    return f"rtsp://{host}:{port}{path}"


def probe(ctx: ProbeContext, port: int, banner: bytes = b"") -> ServiceResult:
    endpoint = f"tcp/{port}"
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="rtsp"))
    facts = result.observation.facts
    check = "probe.unauthenticated-access"
    try:
        options = _logged(ctx, endpoint, port, "OPTIONS", "*", 1)
        if options is not None:
            facts["methods"] = [m.strip() for m in options.headers.get("public", "").split(",") if m.strip()]
            result.observation.banner = options.headers.get("server", "")[:200]
        described: dict[str, int] = {}
        for cseq, path in enumerate(STREAM_PATHS, start=2):
            answer = _logged(ctx, endpoint, port, "DESCRIBE", _url(ctx, port, path), cseq)
            if answer is None:
                break  # not answering RTSP any more: no point asking for other paths
            described[path] = answer.status
            result.observation.banner = result.observation.banner or answer.headers.get("server", "")[:200]
            if answer.status in (401, 403):
                facts.setdefault("auth", answer.headers.get("www-authenticate", "")[:200])
            if answer.status == 200 and _is_sdp(answer):
                facts["open_stream"] = path
                media = [line[2:].split(" ", 1)[0] for line in answer.body.decode("latin-1").splitlines()
                         if line.startswith("m=")]
                result.issues.append(Issue(check, endpoint, provisions=("5.6-2",),
                                           title="RTSP stream described without authentication",
                                           detail=f"DESCRIBE {path} returned a session description without "
                                                  f"credentials (media: {', '.join(media) or 'none listed'})",
                                           excerpt=answer.line))
                break
        facts["describe"] = described
    except BudgetExceeded as exc:
        result.checks_cut[check] = str(exc)
        return result
    except OSError as exc:
        ctx.budget.log(endpoint, "request", "error", detail=str(exc)[:200])
        result.checks_cut[check] = f"RTSP request failed: {exc}"[:200]
        return result
    result.checks_ran.add(check)
    return result


def _is_sdp(answer: RtspResponse) -> bool:
    return answer.body.startswith(b"v=0") or "application/sdp" in answer.headers.get("content-type", "")


def _logged(ctx: ProbeContext, endpoint: str, port: int, method: str, target: str, cseq: int) -> RtspResponse | None:
    started = time.monotonic()
    answer = request(ctx, port, method, target, cseq)
    ctx.budget.log(endpoint, "request", answer.line if answer else "no answer", detail=f"{method} {target}"[:200],
                   seconds=time.monotonic() - started)
    return answer
