"""Join firmware and device evidence: which start of the boot model explains each service seen on the device.

    device tcp/23 (telnet)  <->  /etc/init.d/rcS:10 `/usr/sbin/telnetd -l /bin/sh -p 23`  <->  5.6-1

Rules (check probe.service-correlation, provision 5.6-1):
  * a service seen on the device that no boot command of the firmware starts -> finding (unexplained);
  * with a declaration: a service seen on the device that is not declared -> finding (undeclared);
  * a plaintext login service (telnet, ftp) the firmware starts and the device exposes -> finding that
    confirms the firmware finding live;
  * a service the firmware starts but the device does not expose -> noted in device.correlation only;
  * with a declaration, a completed probe, and every service seen started by the firmware and declared (no
    finding) -> positive evidence for 5.6-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from iotcop.model import CheckRun, Compliance, DeviceReport, Evidence, ServiceObservation
from iotcop.probe.checks import get_probe_check
from iotcop.probe.context import Issue
from iotcop.probe.engine import finding_from

CHECK_ID = "probe.service-correlation"

# Program basenames at boot -> the service kind the probe reports, with its usual endpoint.
PROGRAMS = {
    "telnetd": ("telnet", "tcp/23"), "utelnetd": ("telnet", "tcp/23"), "in.telnetd": ("telnet", "tcp/23"),
    "dropbear": ("ssh", "tcp/22"), "sshd": ("ssh", "tcp/22"),
    "lighttpd": ("http", "tcp/80"), "httpd": ("http", "tcp/80"), "uhttpd": ("http", "tcp/80"),
    "mini_httpd": ("http", "tcp/80"), "boa": ("http", "tcp/80"), "goahead": ("http", "tcp/80"),
    "nginx": ("http", "tcp/80"), "thttpd": ("http", "tcp/80"),
    "vsftpd": ("ftp", "tcp/21"), "ftpd": ("ftp", "tcp/21"), "proftpd": ("ftp", "tcp/21"),
    "pure-ftpd": ("ftp", "tcp/21"), "bftpd": ("ftp", "tcp/21"),
    "mosquitto": ("mqtt", "tcp/1883"), "snmpd": ("snmp", "udp/161"), "mini_snmpd": ("snmp", "udp/161"),
    "miniupnpd": ("ssdp", "udp/1900"), "avahi-daemon": ("mdns", "udp/5353"), "mdnsd": ("mdns", "udp/5353"),
    "rtspd": ("rtsp", "tcp/554"), "live555MediaServer": ("rtsp", "tcp/554"),
}
INETD_SERVICES = {"telnet": "telnet", "ftp": "ftp", "ssh": "ssh", "http": "http", "www": "http", "snmp": "snmp"}
KIND_ALIASES = {"https": "http"}  # a web server started once may serve both
PLAINTEXT = {"telnet", "ftp"}


@dataclass(frozen=True)
class Started:
    kind: str
    path: str
    line: int | None
    program: str
    text: str
    port: str | None  # from the command line, when it says (-p 2323)
    confidence: str = "confirmed"  # of the start in the boot model: confirmed, likely (behind a switch), possible


def started_services(fw) -> list[Started]:
    """Network services the firmware's boot model starts (iotcop.boot), each with the place that starts it."""
    from iotcop.checks.services.boot import boot_commands

    out = []
    for cmd in boot_commands(fw):
        kind = None
        if cmd.mechanism in ("inetd", "xinetd") and cmd.service:
            kind = INETD_SERVICES.get(cmd.service)
        if kind is None:
            kind = (PROGRAMS.get(cmd.program) or (None,))[0]
        if kind is None:
            continue
        port = None
        args = list(cmd.args)
        if "-p" in args and args.index("-p") + 1 < len(args):
            value = args[args.index("-p") + 1].rsplit(":", 1)[-1]
            port = value if value.isdigit() else None
        out.append(Started(kind, cmd.path, cmd.line, cmd.program, cmd.text[:200], port, cmd.confidence))
    return out


def _kind(obs: ServiceObservation) -> str:
    return KIND_ALIASES.get(obs.service, obs.service)


def correlate(fw, device: DeviceReport, declared: list[dict] | None = None, probe_ran: bool = True) -> CheckRun:
    """The probe.service-correlation run; fills device.correlation with one row per service."""
    check = get_probe_check(CHECK_ID)
    started = started_services(fw) if fw is not None else []
    by_kind: dict[str, list[Started]] = {}
    rank = {"confirmed": 0, "likely": 1, "possible": 2}
    for s in sorted(started, key=lambda x: rank.get(x.confidence, 3)):
        by_kind.setdefault(s.kind, []).append(s)
    declared_kinds = None if declared is None else {str(d.get("name", "")).lower() for d in declared} | {
        KIND_ALIASES.get(str(d.get("name", "")).lower(), "") for d in declared}
    rows, issues = [], []
    seen_kinds = set()
    for obs in device.services:
        kind = _kind(obs)
        if kind == "unknown":
            continue
        seen_kinds.add(kind)
        starters = by_kind.get(kind, [])
        row = {"endpoint": obs.endpoint, "service": obs.service,
               "firmware": [{"path": s.path, "line": s.line, "program": s.program, "text": s.text,
                             "port": s.port, "confidence": s.confidence} for s in starters],
               "declared": None if declared_kinds is None else kind in declared_kinds}
        if not starters:
            row["status"] = "not started by the firmware"
            issues.append(Issue(CHECK_ID, obs.endpoint, title=f"{obs.service} on the device is not started by the firmware",
                                detail=f"{obs.endpoint} answers as {obs.service} ({obs.banner[:60]}), but no boot "
                                       "file of the firmware starts such a service"))
        else:
            row["status"] = "started by the firmware"
            first = starters[0]
            if kind in PLAINTEXT:
                issues.append(Issue(CHECK_ID, obs.endpoint,
                                    title=f"{obs.service} started at boot is reachable on the device",
                                    detail=f"{obs.endpoint} answers as {obs.service}; started by {first.path}:{first.line}",
                                    excerpt=first.text))
        if declared_kinds is not None and kind not in declared_kinds:
            issues.append(Issue(CHECK_ID, obs.endpoint, title=f"{obs.service} on the device is not declared",
                                detail=f"{obs.endpoint} answers as {obs.service}, which the declaration's network "
                                       "services do not list"))
        rows.append(row)
    for kind, starters in sorted(by_kind.items()):
        if kind not in seen_kinds:
            s = starters[0]
            rows.append({"endpoint": None, "service": kind, "status": "started by the firmware, not seen on the device",
                         "firmware": [{"path": x.path, "line": x.line, "program": x.program, "text": x.text,
                                       "port": x.port, "confidence": x.confidence} for x in starters], "declared": None})
    if declared is not None:
        for d in declared:
            name = str(d.get("name", "")).lower()
            if name and KIND_ALIASES.get(name, name) not in seen_kinds:
                rows.append({"endpoint": None, "service": name, "status": "declared, not seen on the device",
                             "firmware": [], "declared": True})
    device.correlation = rows
    findings = [finding_from(check, i) for i in issues]
    for f, i in zip(findings, issues):
        if i.excerpt and "started by" in (i.detail or ""):
            first = next(s for s in by_kind.get(_kind_of_endpoint(device, i.endpoint), []))
            f.related.append(type(f.evidence)(path=first.path, line=first.line, excerpt=first.text))
    if not probe_ran:
        return CheckRun(check=CHECK_ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                        error="the device could not be probed", source="device")
    compliance = []
    seen_rows = [r for r in rows if r["endpoint"] is not None]
    if declared_kinds is not None and fw is not None and seen_rows and not findings and device.complete:
        # Positive evidence: every interface open on the device is one the firmware starts and the declaration names.
        statement = (f"every service open on the device ({', '.join(r['endpoint'] + ' ' + r['service'] for r in seen_rows)}) "
                     "is started by the firmware and declared")
        compliance = [Compliance(check=CHECK_ID, provision=p, statement=statement,
                                 evidence=[Evidence(path=r["endpoint"], detail=r["status"]) for r in seen_rows])
                      for p in check.PROVISIONS]
    return CheckRun(check=CHECK_ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                    findings=findings, compliance=compliance, source="device")


def _kind_of_endpoint(device: DeviceReport, endpoint: str) -> str:
    return next(_kind(o) for o in device.services if o.endpoint == endpoint)


def probe_and_correlate(host: str, options, fw, declaration=None) -> tuple[DeviceReport, list[CheckRun]]:
    """`iotcop scan FW --device HOST`: the probe's runs plus the correlation run, all with source "device"."""
    from iotcop.probe.engine import ProbeOptions, run_probe

    result = run_probe(host, options or ProbeOptions())
    declared = None
    services = getattr(declaration, "network_services", None) if declaration is not None else None
    if services is not None:
        declared = [{"name": s.name, "protocol": s.protocol, "port": s.port} for s in services]
    reachable = any(r.status != "skipped" for r in result.runs)
    run = correlate(fw, result.report, declared, probe_ran=reachable)
    runs = result.runs + [run]
    if declaration is not None and reachable:
        from iotcop.probe.model_designation import model_run

        runs.append(model_run(result.report, declaration))
    if fw is not None:
        import time

        from iotcop.probe.functions import probe_functions
        from iotcop.probe.input_validation import probe_input_validation

        budget = (options or ProbeOptions()).budget
        if reachable:
            credentials = (options or ProbeOptions()).test_credentials
            runs.extend(probe_functions(fw, result.report, deadline=time.monotonic() + max(5.0, budget / 3),
                                        credentials=credentials))
            runs.append(probe_input_validation(fw, result.report, deadline=time.monotonic() + max(5.0, budget / 3),
                                               credentials=credentials))
        else:
            for check in map(get_probe_check, ("probe.unauthenticated-functions", "probe.input-validation")):
                runs.append(CheckRun(check=check.ID, version=check.VERSION, status="skipped",
                                     provisions=list(check.PROVISIONS), error="the device could not be probed",
                                     source="device"))
    return result.report, runs
