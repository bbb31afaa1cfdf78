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
