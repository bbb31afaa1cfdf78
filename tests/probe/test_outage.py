"""The resilience step (probe --outage) on a test network: device, gateway and cloud in network namespaces.

iotcop runs in the gateway namespace, as it would on the device's router; the outage takes the gateway's
upstream link down.  The device (tests/traffic/device.py appliance) serves a local web interface and keeps a
TLS connection to its cloud service: the resilient one keeps serving and retries with back-off, the fragile one
stops everything at the first failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "traffic"))
import netlab  # noqa: E402

EXE = str(Path(sys.executable).with_name("iotcop"))


def _listening(lab: netlab.NetLab, port: int) -> bool:
    out = subprocess.run(["ip", "netns", "exec", lab.device_ns, "ss", "-tlnH"], capture_output=True, text=True,
                         timeout=10).stdout
    return any(line.split()[3].endswith(f":{port}") for line in out.splitlines() if len(line.split()) > 3)


@pytest.mark.parametrize("mode", ["resilient", "fragile"])
def test_outage_step(tmp_path, mode):
    missing = netlab.missing_programs()
    if missing:
        pytest.fail(f"missing programs {missing}: run scripts/setup")
    lab = netlab.NetLab(tmp_path / "lab", gateway=True).up()
    try:
        lab.start_cloud(("dns", "web"))
        lab.device_background("device", ["env", f"IOTCOP_IFACE={lab.veth_device}", sys.executable,
                                         str(netlab.DEVICE_SCRIPT), "appliance", mode, "90"],
                              ready=lambda: _listening(lab, 8080))
        time.sleep(2)
        done = lab.in_gateway([EXE, "probe", netlab.DEVICE, "--ports", "8080", "--udp", "", "--budget", "20",
                               "--outage", f"link:{lab.gw_wan}", "--outage-seconds", "6", "--recovery-seconds", "12",
                               "--capture-interface", lab.gw_lan, "--format", "json"], timeout=240)
        link = subprocess.run(["ip", "-n", lab.gateway_ns, "link", "show", lab.gw_wan], capture_output=True,
                              text=True, timeout=10).stdout
    finally:
        lab.close()
    assert done.returncode in (0, 1), done.stderr
    assert "state DOWN" not in link  # the link is up again
    report = json.loads(done.stdout)
    outage = report["device"]["outage"]
    assert outage["kind"] == "link" and outage["samples_during"] >= 4
    verdicts = {v["id"]: v for v in report["provisions"]}
    traffic = report["traffic"][0]
    assert traffic["device"] == netlab.DEVICE and traffic["packets"] > 10
    if mode == "resilient":
        assert outage["during"]["8080"] == outage["samples_during"]
        assert outage["local_back_after"] is not None
        assert verdicts["5.9-2"]["verdict"] == "PASS", verdicts["5.9-2"]
        assert verdicts["5.9-1"]["verdict"] == "PASS", verdicts["5.9-1"]
    else:
        assert outage["during"]["8080"] < outage["samples_during"] / 2 and outage["local_back_after"] is None
        assert verdicts["5.9-2"]["verdict"] == "FAIL" and verdicts["5.9-1"]["verdict"] == "FAIL"


@pytest.mark.parametrize("comes_back", [True, False])
def test_link_and_power_steps_decide_the_5_9_cases(tmp_path, comes_back):
    """Two steps in one probe: the upstream link down, then the device's power cut (its processes ended by id) and
    restored (started again) by the commands the user gives; a device that does not come back fails."""
    missing = netlab.missing_programs()
    if missing:
        pytest.fail(f"missing programs {missing}: run scripts/setup")
    lab = netlab.NetLab(tmp_path / "lab", gateway=True).up()
    pidfile = lab.tmp / "appliance.pid"
    start = (f"cd {lab.tmp} && setsid ip netns exec {lab.device_ns} env IOTCOP_IFACE={lab.veth_device} "
             f"{sys.executable} {netlab.DEVICE_SCRIPT} appliance resilient 120 >> {lab.tmp}/appliance.log 2>&1 "
             f"< /dev/null & echo $! > {pidfile}")
    try:
        lab.start_cloud(("dns", "web"))
        first = lab.device_background("device", ["env", f"IOTCOP_IFACE={lab.veth_device}", sys.executable,
                                                 str(netlab.DEVICE_SCRIPT), "appliance", "resilient", "120"],
                                      ready=lambda: _listening(lab, 8080))
        pidfile.write_text(f"{first.pid}\n")
        time.sleep(2)
        done = lab.in_gateway([EXE, "probe", netlab.DEVICE, "--ports", "8080", "--udp", "", "--budget", "20",
                               "--outage", f"link:{lab.gw_wan}", "--outage", "power", "--outage-seconds", "4",
                               "--recovery-seconds", "10", "--power-off", f"kill $(cat {pidfile})",
                               "--power-on", start if comes_back else "true", "--view", "ts103701", "--format", "json"],
                              timeout=240)
    finally:
        try:
            import os
            import signal

            os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        lab.close()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    steps = report["device"]["outage"]["steps"]
    assert [s["kind"] for s in steps] == ["link", "power"]
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    expected = "PASS" if comes_back else "FAIL"
    assert verdicts["5.9-1"] == expected and verdicts["5.9-2"] == expected
    cases = {c["id"]: c for c in report["ts103701"]["test_cases"]}
    for cid in ("5.9-1-1", "5.9-1-2", "5.9-2-1", "5.9-2-2"):
        assert cases[cid]["verdict"] == expected, (cid, cases[cid])
        assert all(u["source"] in ("probe", "same_as") for u in cases[cid]["units"]), cases[cid]
