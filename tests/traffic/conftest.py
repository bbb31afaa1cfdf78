"""Captures of real traffic, made once per test module in network namespaces (see netlab.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import netlab  # noqa: E402


from netlab import device_step, require_lab  # noqa: E402


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_lab()
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
