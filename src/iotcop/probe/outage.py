"""The resilience step: an outage made on a test network the user controls, and how the device lives through it.

iotcop must run on the device's gateway (the machine that routes the device's traffic), as root:

    iotcop probe 10.0.0.20 --outage link:wan0 --outage-seconds 20 --capture-interface lan0

  link:IFACE  sets IFACE (the gateway's upstream link) down for the set time, then up again;
  dns         drops the device's DNS queries (UDP and TCP port 53, forwarded or to the gateway itself) with an
              nftables table of its own, removed afterwards;
  power       runs the user's --power-off command (a switched socket, a PDU, a bench supply), waits, runs
              --power-on, and watches the device come back (recovery after power loss, 5.9-1 and 5.9-2).

Before, during and after the outage the TCP services the probe found open are connected to once a second
(the device's local functions, 5.9-2); for RECOVERY seconds after the outage the device must answer again
(5.9-1).  With --capture-interface, tcpdump records the device's traffic on the gateway from before the
outage to the end of the recovery window, and the capture is analysed like `iotcop traffic` (reconnection
and back-off, 5.9-3; whether the device's traffic to its services came back, 5.9-1).
The link or the DNS is always restored, also when the step is interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.errors import InputError
from iotcop.model import CheckRun, Compliance, DeviceReport, Evidence, Finding
from iotcop.probe.checks import get_probe_check
from iotcop.probe.context import Issue
from iotcop.probe.engine import finding_from

NFT_TABLE = "iotcop_outage"
SAMPLE_SECONDS = 1.0
CONNECT_TIMEOUT = 1.0


@dataclass
class OutagePlan:
    kind: str  # link, dns or power
    interface: str | None
    seconds: float
    recovery: float = 30.0
    capture_interface: str | None = None
    power_off: str | None = None  # shell commands for kind "power"
    power_on: str | None = None


@dataclass
class OutageResult:
    facts: dict = field(default_factory=dict)
    runs: list[CheckRun] = field(default_factory=list)
    capture: Path | None = None


def parse_outage(spec: str, seconds: float, recovery: float, capture_interface: str | None,
                 power_off: str | None = None, power_on: str | None = None) -> OutagePlan:
    kind, _, iface = spec.partition(":")
    if kind == "power" and not iface:
        if not power_off or not power_on:
            raise InputError("--outage power needs --power-off and --power-on commands")
        return OutagePlan("power", None, seconds, recovery, capture_interface, power_off, power_on)
    if kind == "link" and iface:
        if not Path("/sys/class/net", iface).exists():
            raise InputError(f"--outage link:{iface}: no such network interface on this machine")
        return OutagePlan("link", iface, seconds, recovery, capture_interface)
    if kind == "dns" and not iface:
        if shutil.which("nft") is None:
            raise InputError("--outage dns needs nftables (the 'nft' command)")
        return OutagePlan("dns", None, seconds, recovery, capture_interface)
    raise InputError(f"--outage {spec!r}: expected link:INTERFACE, dns or power")


def _answers(address: str, ports: list[int]) -> dict[int, bool]:
    out = {}
    for port in ports:
        try:
            with socket.create_connection((address, port), timeout=CONNECT_TIMEOUT):
                out[port] = True
        except OSError:
            out[port] = False
    return out


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise InputError(f"{' '.join(argv[:4])}: {(done.stderr or done.stdout).strip().splitlines()[-1][:200]}")


def _shell(command: str, what: str) -> None:
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()
        raise InputError(f"{what} failed (exit {done.returncode}): {tail[-1][:200] if tail else command[:100]}")


def _start(plan: OutagePlan, address: str) -> None:
    if plan.kind == "power":
        _shell(plan.power_off, "--power-off")
        return
    if plan.kind == "link":
        _run(["ip", "link", "set", "dev", plan.interface, "down"])
        return
    family = "ip6" if ":" in address else "ip"
    rules = "\n".join(f"  chain {hook} {{ type filter hook {hook} priority -10; "
                      f"{family} saddr {address} udp dport 53 drop; {family} saddr {address} tcp dport 53 drop; }}"
                      for hook in ("forward", "input"))
    script = f"table inet {NFT_TABLE} {{\n{rules}\n}}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as fh:
        fh.write(script)
    try:
        _run(["nft", "-f", fh.name])
    finally:
        os.unlink(fh.name)


def _end(plan: OutagePlan) -> None:
    if plan.kind == "power":
        _shell(plan.power_on, "--power-on")
        return
    if plan.kind == "link":
        subprocess.run(["ip", "link", "set", "dev", plan.interface, "up"], capture_output=True, timeout=30)
    else:
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True, timeout=30)


def _capture(interface: str, path: Path, address: str) -> subprocess.Popen:
    if shutil.which("tcpdump") is None:
        raise InputError("--capture-interface needs tcpdump")
    proc = subprocess.Popen(["tcpdump", "-i", interface, "-U", "--immediate-mode", "-n", "-w", str(path), "-Z", "root",
                             "host", address], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not path.exists():
        if proc.poll() is not None:
            raise InputError(f"tcpdump on {interface} stopped: {proc.stderr.read().decode()[-200:]}")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc


def run_outage(plan: OutagePlan, device: DeviceReport, workdir: Path) -> OutageResult:
    """Make the outage, watch the device's local services through it and after, record the traffic."""
    ports = sorted(int(s.endpoint.split("/")[1]) for s in device.services if s.endpoint.startswith("tcp/"))
    result = OutageResult()
    facts = result.facts
    facts.update({"kind": plan.kind, "interface": plan.interface, "seconds": plan.seconds, "recovery": plan.recovery,
                  "ports": ports})
    capture = None
    if plan.capture_interface:
        result.capture = workdir / "outage.pcap"
        capture = _capture(plan.capture_interface, result.capture, device.address)
    before = _answers(device.address, ports)
    during: list[dict[int, bool]] = []
    after: list[tuple[float, dict[int, bool]]] = []
    started = time.monotonic()
    try:
        _start(plan, device.address)
        facts["started_at"] = round(time.monotonic() - started, 2)
        while time.monotonic() - started < plan.seconds:
            during.append(_answers(device.address, ports))
            time.sleep(SAMPLE_SECONDS)
    finally:
        _end(plan)
    ended = time.monotonic()
    facts["ended_at"] = round(ended - started, 2)
    while time.monotonic() - ended < plan.recovery:
        sample = _answers(device.address, ports)
        after.append((round(time.monotonic() - ended, 2), sample))
        if ports and all(sample[p] for p in ports if before.get(p)) and not plan.capture_interface:
            break  # without a capture only the local services are watched: they are back
        time.sleep(SAMPLE_SECONDS)
    if capture is not None:
        time.sleep(0.5)
        os.killpg(capture.pid, signal.SIGINT)
        try:
            capture.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(capture.pid, signal.SIGKILL)
    facts["before"] = {str(p): ok for p, ok in before.items()}
    facts["during"] = {str(p): sum(1 for s in during if s[p]) for p in ports}
    facts["samples_during"] = len(during)
    back = next((t for t, s in after if all(s[p] for p in ports if before.get(p))), None)
    facts["local_back_after"] = back
    result.runs = _judge(plan, device, before, during, back)
    return result


def _judge(plan: OutagePlan, device: DeviceReport, before, during, back) -> list[CheckRun]:
    if plan.kind == "power":
        return [_power_run(plan, device, before, back)]
    local = get_probe_check("probe.outage-local-function")
    recovery = get_probe_check("probe.outage-recovery")
    served = [p for p, ok in before.items() if ok]
    what = f"{'the link ' + plan.interface if plan.kind == 'link' else 'DNS'} down for {plan.seconds:g} s"
    local_findings: list[Finding] = []
    local_proofs: list[Compliance] = []
    if not served:
        local_run = CheckRun(check=local.ID, version=local.VERSION, status="skipped", provisions=list(local.PROVISIONS),
                             error="no TCP service of the device answered before the outage", source="device")
    else:
        stopped = [p for p in served if during and sum(1 for s in during if s[p]) < len(during) / 2]
        for p in stopped:
            local_findings.append(finding_from(local, Issue(local.ID, f"tcp/{p}", title="A local service stopped during "
                                                            "a network outage",
                                                            detail=f"tcp/{p} answered before, then {sum(1 for s in during if s[p])} "
                                                                   f"of {len(during)} times with {what}")))
        if not stopped and during:
            statement = f"{len(served)} local service(s) kept answering with {what} ({len(during)} checks each)"
            local_proofs = [Compliance(check=local.ID, provision=p, statement=statement,
                                       evidence=[Evidence(path=f"tcp/{q}", detail=statement) for q in served])
                            for p in local.PROVISIONS]
        local_run = CheckRun(check=local.ID, version=local.VERSION, status="ran", provisions=list(local.PROVISIONS),
                             findings=local_findings, compliance=local_proofs, source="device")
    rec_findings, rec_proofs = [], []
    if served:
        if back is None:
            rec_findings.append(finding_from(recovery, Issue(recovery.ID, device.address,
                                                             title="The device did not recover after a network outage",
                                                             detail=f"its local services ({', '.join(f'tcp/{p}' for p in served)}) "
                                                                    f"did not answer again within {plan.recovery:g} s after {what}")))
        else:
            statement = f"local services answered again {back:g} s after {what} ended"
            rec_proofs = [Compliance(check=recovery.ID, provision=p, statement=statement,
                                     evidence=[Evidence(path=device.address, detail=statement)])
                          for p in recovery.PROVISIONS]
    rec_run = CheckRun(check=recovery.ID, version=recovery.VERSION, status="ran" if served else "skipped",
                       provisions=list(recovery.PROVISIONS), findings=rec_findings, compliance=rec_proofs,
                       error=None if served else "no TCP service of the device answered before the outage",
                       source="device")
    return [local_run, rec_run]


def _power_run(plan: OutagePlan, device: DeviceReport, before, back) -> CheckRun:
    check = get_probe_check("probe.power-recovery")
    served = [p for p, ok in before.items() if ok]
    if not served:
        return CheckRun(check=check.ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                        error="no TCP service of the device answered before the power was cut", source="device")
    what = f"power off for {plan.seconds:g} s"
    if back is None:
        finding = finding_from(check, Issue(check.ID, device.address, title="The device did not recover after a power loss",
                                            detail=f"its services ({', '.join(f'tcp/{p}' for p in served)}) did not answer "
                                                   f"within {plan.recovery:g} s after {what}"))
        return CheckRun(check=check.ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                        findings=[finding], source="device")
    statement = f"the device answered again on {', '.join(f'tcp/{p}' for p in served)} {back:g} s after {what}"
    proofs = [Compliance(check=check.ID, provision=p, statement=statement,
                         evidence=[Evidence(path=device.address, detail=statement)]) for p in check.PROVISIONS]
    return CheckRun(check=check.ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                    compliance=proofs, source="device")


def traffic_recovery(runs: list[CheckRun], report, facts: dict) -> None:
    """With a capture: the device's own connections to its services must come back after the outage (5.9-1)."""
    recovery = next((r for r in runs if r.check in ("probe.outage-recovery", "probe.power-recovery")), None)
    if recovery is None:
        return
    if recovery.status != "ran" and not report.connections:
        return
    check = get_probe_check(recovery.check)
    outbound = [c for c in report.connections if c.outages]
    reconnected = [c for c in outbound if c.reconnected]
    lost = [c for c in outbound if not c.reconnected]
    facts["traffic"] = {"reconnected": [c.endpoint for c in reconnected], "not_reconnected": [c.endpoint for c in lost]}
    for c in lost:
        recovery.findings.append(finding_from(check, Issue(check.ID, c.endpoint,
                                                           title="The device did not reconnect to a service after a network outage",
                                                           detail=f"{c.failures} failed attempts to {c.endpoint} and no "
                                                                  "successful connection by the end of the recovery window")))
    if lost:
        recovery.compliance = []
    elif reconnected and recovery.compliance:
        names = ", ".join(c.endpoint for c in reconnected)
        for proof in recovery.compliance:
            proof.statement += f"; its connections to {names} were re-established (capture)"
    recovery.status = "ran"
