"""A probe of one device: scan, identify each open port, run the service probes in parallel within the
budget, and turn what they saw into probe-check runs (CheckRun, source "device")."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from dataclasses import dataclass, field

from iotcop.errors import InputError
from iotcop.model import (
    CheckRun,
    Compliance,
    DeviceReport,
    Evidence,
    Finding,
    ServiceObservation,
)
from iotcop.probe import udp
from iotcop.probe.checks import PROBE_CHECKS, get_probe_check, probe_checks
from iotcop.probe.context import Issue, ProbeContext, ServiceResult
from iotcop.probe.safety import Budget, BudgetExceeded, resolve_target
from iotcop.probe.scanner import common_ports, parse_ports, tcp_scan
from iotcop.probe.services import ftp, http, mqtt, rtsp, ssh, telnet, tls

SERVICE_CONCURRENCY = 8
RTSP_OPTIONS = b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\nUser-Agent: iotcop\r\n\r\n"
_CUT = object()  # a probe the budget stopped or never started
_VERSION_IN_BANNER = re.compile(r"\d+\.\d+")
_REFUSING_KINDS = ("mqtt", "ftp", "rtsp")  # services whose probe gets an explicit refusal, not just silence


@dataclass
class ProbeOptions:
    budget: float = 60.0
    ports: str = "common"
    udp: dict[int, str] | None = None  # port -> service; None: the common UDP ports
    allow_range: bool = False
    credentials: tuple[tuple[str, str], ...] | None = None
    test_credentials: tuple[str, str] | None = None  # the user's own login, to show authenticated access works


@dataclass
class ProbeResult:
    report: DeviceReport
    runs: list[CheckRun]
    services: list[ServiceResult] = field(default_factory=list)


def _peek_banner(ctx: ProbeContext, port: int, wait: float = 1.0) -> bytes:
    with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
        sock.settimeout(ctx.budget.timeout(wait))
        try:
            return sock.recv(1024)
        except (socket.timeout, OSError):
            return b""


def identify(ctx: ProbeContext, port: int) -> tuple[str, bytes, dict]:
    """What speaks on PORT: from its greeting, or from how it answers TLS, HTTP, RTSP and MQTT."""
    banner = _peek_banner(ctx, port)
    if banner.startswith(b"SSH-"):
        return "ssh", banner, {}
    if banner[:1] == bytes([255]) or b"login:" in banner.lower():
        return "telnet", banner, {}
    if banner.startswith(b"220"):
        return "ftp", banner, {}
    if banner:
        return "unknown", banner, {}
    hint = common_ports()["tcp"].get(port, "")
    if hint in ("https", "mqtts") or port in (443, 8443) or True:
        if tls.speaks_tls(ctx, port):
            return "https", b"", {}
    if hint == "mqtt":
        code = _mqtt_code(ctx, port)
        if code is not None:
            return "mqtt", b"", {"code": code}
    answer = _plain_request(ctx, port, RTSP_OPTIONS if hint == "rtsp" else
                            b"GET / HTTP/1.0\r\nUser-Agent: iotcop-probe\r\n\r\n")
    if answer.startswith(b"HTTP/"):
        if hint != "rtsp" and _http_status(answer) >= 400:
            # RTSP servers answer a stray HTTP GET with an HTTP error (GStreamer's: 503); ask in RTSP.
            rtsp_answer = _plain_request(ctx, port, RTSP_OPTIONS)
            if rtsp_answer.startswith(b"RTSP/"):
                return "rtsp", rtsp_answer, {}
        return "http", answer, {}
    if answer.startswith(b"RTSP/"):
        return "rtsp", answer, {}
    code = _mqtt_code(ctx, port)
    if code is not None:
        return "mqtt", b"", {"code": code}
    return "unknown", answer, {}


def _http_status(answer: bytes) -> int:
    parts = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _printable(data: bytes) -> str:
    return "".join(c if 32 <= ord(c) < 127 else " " for c in data.decode("latin-1")).strip()


def _mqtt_code(ctx: ProbeContext, port: int) -> int | None:
    try:
        return mqtt.connack(ctx, port)
    except OSError:
        return None


def _plain_request(ctx: ProbeContext, port: int, request: bytes) -> bytes:
    try:
        with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
            sock.settimeout(ctx.budget.timeout(2.0))
            sock.sendall(request)
            return sock.recv(1024)
    except OSError:
        return b""


def probe_port(ctx: ProbeContext, port: int) -> ServiceResult:
    endpoint = f"tcp/{port}"
    try:
        kind, banner, extra = identify(ctx, port)
    except BudgetExceeded as exc:
        result = ServiceResult(ServiceObservation(endpoint=endpoint, service="unknown"))
        result.checks_cut["probe.default-credentials"] = str(exc)
        return result
    except OSError as exc:
        ctx.budget.log(endpoint, "connect", "error", detail=str(exc)[:200])
        return ServiceResult(ServiceObservation(endpoint=endpoint, service="unknown"))
    ctx.budget.log(endpoint, "identify", kind, detail=_printable(banner[:80]))
    try:
        if kind == "ssh":
            return ssh.probe(ctx, port, banner)
        if kind == "telnet":
            result = telnet.probe(ctx, port, banner)
            result.issues.append(Issue("probe.plaintext-login", endpoint, title="Telnet login service open",
                                       detail="telnet has no encryption: the login prompt "
                                              f"({_printable(banner[:40]) or 'option negotiation'}) takes the "
                                              "password in clear text"))
            result.checks_ran.add("probe.plaintext-login")
            return result
        if kind == "ftp":
            return ftp.probe(ctx, port, banner)
        if kind == "mqtt":
            return mqtt.probe(ctx, port, code=extra.get("code"))
        if kind == "rtsp":
            return rtsp.probe(ctx, port)
        if kind == "http":
            return http.probe(ctx, port)
        if kind == "https":
            result = http.probe(ctx, port, tls=True)
            try:
                facts, issues = tls.probe_tls(ctx, port)
                result.observation.facts["tls"] = facts
                result.issues.extend(issues)
                result.checks_ran.add("probe.tls-config")
            except BudgetExceeded as exc:
                result.checks_cut["probe.tls-config"] = str(exc)
            return result
    except BudgetExceeded as exc:
        result = ServiceResult(ServiceObservation(endpoint=endpoint, service=kind))
        result.checks_cut["probe.default-credentials"] = str(exc)
        return result
    return ServiceResult(ServiceObservation(endpoint=endpoint, service=kind,
                                            banner=banner[:200].decode("latin-1", "replace").strip()))


async def _probe_all(ctx: ProbeContext, ports: list[int], udp_ports: dict[int, str]):
    outcome = await tcp_scan(ctx.address, ports, ctx.budget)
    limit = asyncio.Semaphore(SERVICE_CONCURRENCY)

    async def guarded(fn, *args):
        async with limit:
            left = ctx.budget.remaining()
            if left <= 0.1:
                return _CUT
            try:
                return await asyncio.wait_for(asyncio.to_thread(fn, *args), timeout=left + 5)
            except asyncio.TimeoutError:
                return _CUT

    udp_jobs = []
    for port, kind in sorted(udp_ports.items()):
        fn = {"snmp": udp.probe_snmp, "ssdp": udp.probe_ssdp, "mdns": udp.probe_mdns, "coap": udp.probe_coap}.get(kind)
        if fn:
            udp_jobs.append(guarded(fn, ctx, port))
    tcp_jobs = [guarded(probe_port, ctx, p) for p in outcome.open]
    results = await asyncio.gather(*tcp_jobs, *udp_jobs)
    return outcome, results


def run_probe(host: str, options: ProbeOptions | None = None) -> ProbeResult:
    options = options or ProbeOptions()
    probe_checks()  # stop here if the mapping data is inconsistent
    addresses = resolve_target(host, options.allow_range)
    if len(addresses) != 1:
        raise InputError(f"{host}: {len(addresses)} addresses; probe them one at a time")
    ports = parse_ports(options.ports)
    udp_ports = options.udp if options.udp is not None else dict(common_ports()["udp"])
    budget = Budget(seconds=options.budget)
    ctx = ProbeContext(address=addresses[0], budget=budget)
    if options.credentials is not None:
        ctx.credentials = options.credentials
    started = time.monotonic()
    outcome, results = asyncio.run(_probe_all(ctx, ports, udp_ports))
    seconds = time.monotonic() - started
    finished = [r for r in results if isinstance(r, ServiceResult)]
    cut_short = any(r is _CUT for r in results) or not outcome.complete
    reachable = bool(outcome.open or outcome.refused or any(finished))
    report = DeviceReport(address=ctx.address, budget_seconds=options.budget, seconds=round(seconds, 3),
                          ports_scanned=len(ports) + len(udp_ports), complete=not cut_short,
                          services=sorted((r.observation for r in finished), key=_endpoint_key),
                          attempts=list(budget.attempts))
    runs = check_runs(finished, reachable, cut_short, seconds)
    return ProbeResult(report=report, runs=runs, services=finished)


def _endpoint_key(obs: ServiceObservation) -> tuple:
    proto, _, port = obs.endpoint.partition("/")
    return (proto, int(port) if port.isdigit() else 0)


def check_runs(results: list[ServiceResult], reachable: bool, cut_short: bool, seconds: float) -> list[CheckRun]:
    """One run per probe check from what the probe saw: skipped when nothing answered, timeout when cut short."""
    runs = []
    for check in PROBE_CHECKS:
        if check.NEEDS_FIRMWARE or check.STEP:
            continue  # added by the correlation when a firmware is scanned with the device, or by its step
        findings, compliance = [], []
        for r in results:
            for issue in r.issues:
                if issue.check != check.ID:
                    continue
                if issue.compliant:
                    compliance.extend(_compliance(check, issue))
                else:
                    findings.append(finding_from(check, issue))
        cuts = sorted({why for r in results for c, why in r.checks_cut.items() if c == check.ID})
        if not reachable:
            status, error = "skipped", "the device did not answer on any probed port"
        elif cuts and not findings:
            status, error = ("timeout" if any("budget" in c or "attempts" in c for c in cuts) else "error"), "; ".join(cuts)[:300]
        elif cut_short and not findings and not any(check.ID in r.checks_ran for r in results):
            status, error = "timeout", "the time budget ended before this probe could run"
        else:
            status, error = "ran", None
        if check.ID == "probe.unauthenticated-access" and status == "ran" and not findings and not cut_short:
            compliance.extend(_refused_everywhere(check, results))
        runs.append(CheckRun(check=check.ID, version=check.VERSION, status=status, provisions=list(check.PROVISIONS),
                             findings=findings, compliance=compliance, error=error, seconds=round(seconds, 3),
                             source="device"))
    return runs


def _refused_everywhere(check, results: list[ServiceResult]) -> list[Compliance]:
    """Positive evidence for 5.6-2 from a completed probe: every service the probe found was examined for access
    without credentials and answered with an explicit refusal (MQTT CONNACK not authorised, anonymous FTP login
    refused, RTSP 401), and no banner names a software version."""
    looked = [r for r in results if check.ID in r.checks_ran and check.ID not in r.checks_cut]
    if not looked or len(looked) < len(results) or any(r.observation.service not in _REFUSING_KINDS for r in looked):
        return []  # a service not examined (telnet, SSH ...) or one that was only silent decides nothing
    if any(_VERSION_IN_BANNER.search(r.observation.banner or "") for r in looked):
        return []  # a banner naming a software version is itself a disclosure
    examined = sorted({r.observation.endpoint + " " + r.observation.service for r in looked})
    statement = (f"{len(examined)} service(s) examined for access without credentials refused it: "
                 + ", ".join(examined[:6]) + (" ..." if len(examined) > 6 else ""))
    return [Compliance(check=check.ID, provision="5.6-2", statement=statement,
                       evidence=[Evidence(path=e.split()[0], detail=statement) for e in examined[:6]])]


def finding_from(check, issue: Issue) -> Finding:
    return Finding(check=check.ID, severity=check.SEVERITY, provisions=list(issue.provisions or check.PROVISIONS),
                   title=issue.title or check.DOC.title,
                   evidence=Evidence(path=issue.endpoint, detail=issue.detail, excerpt=issue.excerpt),
                   why=check.DOC.why, fix=check.DOC.fix).with_id()


def _compliance(check, issue: Issue) -> list[Compliance]:
    return [Compliance(check=check.ID, provision=p, statement=issue.detail,
                       evidence=[Evidence(path=issue.endpoint, detail=issue.detail)])
            for p in (issue.provisions or check.PROVISIONS)]


__all__ = ["ProbeOptions", "ProbeResult", "run_probe", "get_probe_check"]
