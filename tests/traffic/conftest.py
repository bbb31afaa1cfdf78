"""Captures of real traffic, made once per test module in network namespaces (see netlab.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import netlab  # noqa: E402


def _require_lab() -> None:
    if os.geteuid() != 0:
        pytest.fail("the traffic tests create network namespaces and need root")
    missing = netlab.missing_programs()
    if missing:
        pytest.fail(f"missing programs {missing}: run scripts/setup (Debian packages in APT_PACKAGES)")


def device_step(lab: netlab.NetLab, *args: str, check: bool = True):
    env = ["env", f"IOTCOP_IFACE={lab.veth_device}"]
    return lab.device(env + [sys.executable, str(netlab.DEVICE_SCRIPT), *args], check=check)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_lab()
    lab = netlab.NetLab(tmp_path_factory.mktemp("netlab")).up()
    try:
        lab.start_cloud()
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="module")
def insecure_capture(lab) -> Path:
    """Boot (DHCP, NTP), update checks and the image over HTTP, telemetry with personal fields over HTTP, MQTT with
    its password and CoAP in clear, a log upload over FTP, and one report over TLS 1.0 to an expired certificate."""
    path = lab.tmp / "insecure.pcap"
    with lab.capture(path):
        device_step(lab, "boot")
        device_step(lab, "update", "http", "3", "1")
        device_step(lab, "telemetry", "http", "2")
        device_step(lab, "mqtt", "plain", lab.mqtt_user, lab.mqtt_password)
        device_step(lab, "coap")
        device_step(lab, "ftp", lab.ftp_user, lab.ftp_password)
        device_step(lab, "telemetry", "weak", "1")
    return path


@pytest.fixture(scope="module")
def secure_capture(lab) -> Path:
    """The same device done right: update checks and the image over HTTPS, telemetry over HTTPS, MQTT over TLS."""
    path = lab.tmp / "secure.pcap"
    with lab.capture(path):
        device_step(lab, "boot")
        device_step(lab, "update", "https", "3", "1")
        device_step(lab, "telemetry", "https", "2")
        device_step(lab, "mqtt", "tls", lab.mqtt_user, lab.mqtt_password)
    return path


def outage_capture(tmp: Path, mode: str) -> Path:
    """The device keeps a TLS session to its telemetry service; the service is down for 6 s in the middle."""
    _require_lab()
    lab = netlab.NetLab(tmp).up()
    try:
        lab.start_cloud(("dns", "web"))
        path = tmp / f"outage-{mode}.pcap"
        with lab.capture(path):
            device = lab.device_background("device", ["env", f"IOTCOP_IFACE={lab.veth_device}", sys.executable,
                                                      str(netlab.DEVICE_SCRIPT), "reconnect", mode, "22"])
            time.sleep(3)
            lab.stop("lighttpd")
            time.sleep(6)
            lab._start_lighttpd()
            device.wait(40)
        return path
    finally:
        lab.close()
