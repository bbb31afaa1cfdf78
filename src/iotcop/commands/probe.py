"""`iotcop probe HOST`: probe one live device and give provision verdicts from what it exposes."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _udp_option(value: str | None) -> dict[int, str] | None:
    if value is None:
        return None
    from iotcop.errors import InputError

    out: dict[int, str] = {}
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, port = item.partition(":")
        if name not in ("snmp", "ssdp", "mdns", "coap") or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"--udp: {item!r} is not SERVICE:PORT (snmp, ssdp, mdns or coap)")
        out[int(port)] = name
    return out


def register(cli: click.Group) -> None:
    @cli.command("probe")
    @click.argument("host")
    @click.option("--budget", type=click.FloatRange(1, 3600), default=60, show_default=True,
                  help="Seconds the whole probe may take; every connection and login try is bounded by it.")
    @click.option("--ports", default="common", show_default=True, metavar="common|all|LIST",
                  help="TCP ports: the common IoT ports, all 65535, or a list like 22,80,8000-8080.")
    @click.option("--udp", "udp", metavar="LIST", help="UDP services to query as SERVICE:PORT, e.g. snmp:161,coap:5683 "
                                                      "(default: snmp:161, ssdp:1900, mdns:5353, coap:5683, coap:5684).")
    @click.option("--allow-range", is_flag=True, help="Accept a network or broadcast-looking address (never multicast).")
    @click.option("--outage", "outages", multiple=True, metavar="link:IFACE|dns|power",
                  help="Resilience step on a test network you control (iotcop on the device's gateway, as root): take "
                       "IFACE down, drop the device's DNS, or cut its power with --power-off/--power-on, then watch the "
                       "device through it and after (repeatable: the steps run one after the other).")
    @click.option("--power-off", metavar="COMMAND", help="With --outage power: shell command that cuts the device's power.")
    @click.option("--power-on", metavar="COMMAND", help="With --outage power: shell command that restores it.")
    @click.option("--outage-seconds", type=click.FloatRange(1, 600), default=20, show_default=True)
    @click.option("--recovery-seconds", type=click.FloatRange(1, 600), default=30, show_default=True,
                  help="How long after the outage the device has to answer again.")
    @click.option("--capture-interface", metavar="IFACE",
                  help="With --outage: record the device's traffic here (tcpdump) and analyse it like 'iotcop traffic'.")
    @click.option("--view", "view", type=click.Choice(["ts103701"]),
                  help="Also assess as ETSI TS 103 701 test cases (the probe as the only evidence).")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="Write report.json here.")
    @click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.option("--quiet", "-q", is_flag=True, help="No summary; the exit code tells the result.")
    def probe(host, budget, ports, udp, allow_range, out_dir, fmt, quiet, outages=(), outage_seconds=20.0,
              recovery_seconds=30.0, capture_interface=None, power_off=None, power_on=None, view=None) -> None:
        """Probe one device on the network: open ports, services, default logins, TLS, brute-force protection.

        Only HOST is contacted. Every connection and login try is logged in the report (device.attempts).
        """
        from iotcop.probe.engine import ProbeOptions, run_probe
        from iotcop.probe.report import device_assessment
        from iotcop.report.writers import OutputContext, write_outputs
        from iotcop.scan import exit_code_for

        from iotcop.probe.outage import parse_outage

        plans = [parse_outage(o, outage_seconds, recovery_seconds, capture_interface, power_off, power_on)
                 for o in outages]
        result = run_probe(host, ProbeOptions(budget=budget, ports=ports, udp=_udp_option(udp), allow_range=allow_range))
        traffic = _outage_steps(plans, result) if plans else None
        assessment = device_assessment(host, result)
        assessment.traffic = traffic
        if view == "ts103701":
            from iotcop.conformance import view_for_scan

            assessment.ts103701 = view_for_scan(assessment, result.runs)
        if out_dir is not None:
            write_outputs(assessment, out_dir, ("json",), OutputContext())
        if fmt == "json":
            from iotcop.report.writers.json import render

            sys.stdout.write(render(assessment))
        elif not quiet:
            print_device(assessment)
        sys.exit(exit_code_for(assessment))


def _outage_steps(plans, result):
    """Run each outage in turn; add their runs (and those of their captures) to the probe's; the captures' reports."""
    import shutil
    import tempfile

    from iotcop.probe.outage import run_outage, traffic_recovery

    reports = []
    facts = []
    captures = []
    for plan in plans:
        work = Path(tempfile.mkdtemp(prefix="iotcop-outage-"))
        try:
            outcome = run_outage(plan, result.report, work)
            facts.append(outcome.facts)
            result.runs.extend(outcome.runs)
            if outcome.capture is None or not outcome.capture.exists():
                continue
            from iotcop.traffic.evidence import traffic_evidence

            got, _, _ = traffic_evidence([outcome.capture], device=result.report.address)
            got[0].capture = f"{plan.capture_interface} during the {plan.kind} outage"
            traffic_recovery(outcome.runs, got[0], outcome.facts)
            reports.extend(got)
            captures.append(got[0])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    result.report.outage = facts[0] if len(facts) == 1 else {"steps": facts}
    if captures:
        from iotcop.traffic.checks import traffic_runs

        result.runs.extend(r for r in traffic_runs(captures) if r.check == "traffic.reconnection")
    return reports or None


def print_device(assessment) -> None:
    from rich.console import Console
    from rich.markup import escape

    from iotcop.report.findings import printable

    def t(value) -> str:  # what a device sent (banners, paths) can neither style nor escape the terminal
        return escape(printable(value))

    out = Console(highlight=False, soft_wrap=False)
    dev = assessment.device
    out.print(f"[bold]{t(dev.address)}[/]: {len(dev.services)} service(s), {len(dev.attempts)} attempt(s), "
              f"{dev.seconds:.1f} s of a {dev.budget_seconds:g} s budget" + ("" if dev.complete else " (stopped by the budget)"))
    for s in dev.services:
        out.print(f"  {s.endpoint:<10} {t(s.service):<7} {t(s.banner[:70])}")
    if assessment.findings:
        out.print("[bold]Findings[/]")
        for f in assessment.findings:
            out.print(f"  {escape('[' + f.severity.value + ']')} {t(f.evidence.path)}  {t(f.title)}: "
                      f"{t(f.evidence.detail or '')}")
    decided = [v for v in assessment.provisions if v.verdict.value in ("FAIL", "PASS")]
    for v in decided:
        out.print(f"  {v.id:<7} {v.verdict.value:<5} {v.note}")
