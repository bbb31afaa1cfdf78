"""`iotcop probe` and `iotcop scan ROOTFS --device 127.0.0.1` against real daemons on loopback."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jsonschema
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402

from iotcop.report.writers.json import report_schema  # noqa: E402

RCS = """#!/bin/sh
mount -a
/usr/sbin/dropbear -r /etc/dropbear/dropbear_ed25519_host_key -p 22
# remote maintenance access
/usr/sbin/telnetd -l /bin/login -p 23 &
"""


def make_rootfs(root: Path) -> Path:
    for d in ("bin", "sbin", "usr/sbin", "lib", "dev", "proc", "tmp", "etc/init.d"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc/inittab").write_text("::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n")
    (root / "etc/init.d/rcS").write_text(RCS)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    for prog in ("bin/busybox", "usr/sbin/telnetd", "usr/sbin/dropbear"):
        (root / prog).write_bytes(b"\x7fELF placeholder")
    return root


@pytest.fixture
def loopback_device(tmp_path):
    started = [daemons.start_telnetd(tmp_path / "telnet", "admin", "admin", delay=0),
               daemons.start_mosquitto(tmp_path / "mqtt", hardened=True)]
    yield started
    for d in started:
        d.stop()


def test_scan_with_device_correlates_boot_commands_and_open_services(cli, tmp_path, loopback_device):
    telnet, mqtt = loopback_device
    rootfs = make_rootfs(tmp_path / "rootfs")
    out = tmp_path / "out"
    started = time.monotonic()
    result = cli("scan", rootfs, "--device", "127.0.0.1", "--device-budget", "30", "--device-ports",
                 f"{telnet.port},{mqtt.port}", "--format", "json", "--quiet",
                 "--out", out, timeout=300)
    assert result.code == 1, result.stderr
    report = result.json()
    jsonschema.validate(report, report_schema())
    assert time.monotonic() - started < 120
    device = report["device"]
    rows = {r["service"]: r for r in device["correlation"]}
    # port open <-> telnetd in /etc/init.d/rcS <-> 5.6-1
    assert rows["telnet"]["status"] == "started by the firmware"
    assert rows["telnet"]["firmware"][0]["path"] == "/etc/init.d/rcS"
    assert rows["telnet"]["firmware"][0]["line"] == 5
    assert rows["mqtt"]["status"] == "not started by the firmware"
    assert rows["ssh"]["status"] == "started by the firmware, not seen on the device"
    by_check = {}
    for f in report["findings"]:
        by_check.setdefault(f["check"], []).append(f)
    correlation = {f["title"] for f in by_check["probe.service-correlation"]}
    assert "telnet started at boot is reachable on the device" in correlation
    assert "mqtt on the device is not started by the firmware" in correlation
    assert "services.telnet-at-boot" in by_check  # the firmware side of the same issue
    assert by_check["probe.default-credentials"][0]["evidence"]["path"] == f"tcp/{telnet.port}"
    verdicts = {v["id"]: v for v in report["provisions"]}
    assert verdicts["5.6-1"]["verdict"] == "FAIL"
    assert {"probe.service-correlation", "services.telnet-at-boot"} <= set(verdicts["5.6-1"]["checks"])
    assert verdicts["5.1-1"]["verdict"] == "FAIL"
    assert (out / "report.json").is_file()


def test_probe_command_json_report_and_attempt_log(cli, tmp_path, loopback_device):
    telnet, mqtt = loopback_device
    result = cli("probe", "127.0.0.1", "--ports", f"{telnet.port},{mqtt.port}", "--udp", "", "--format", "json",
                 "--budget", "30", timeout=120)
    assert result.code == 1, result.stderr
    report = result.json()
    jsonschema.validate(report, report_schema())
    assert report["target"]["kind"] == "device"
    services = {s["endpoint"]: s["service"] for s in report["device"]["services"]}
    assert services == {f"tcp/{telnet.port}": "telnet", f"tcp/{mqtt.port}": "mqtt"}
    logins = [a for a in report["device"]["attempts"] if a["action"] == "login"]
    assert {"service": f"tcp/{telnet.port}", "username": "admin", "password": "admin", "result": "success"}.items() <= \
        next(a for a in logins if a["service"] == f"tcp/{telnet.port}").items()
    assert all(a["at"] <= 30 + 5 for a in report["device"]["attempts"])
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    assert verdicts["5.1-1"] == "FAIL"
    assert verdicts["5.6-2"] == "INCONCLUSIVE"  # probes ran and found nothing: silence is not compliance


def test_no_open_service_gives_inconclusive_never_pass(cli):
    # Port 1 refuses: the host answered, the probes ran and saw no service.
    result = cli("probe", "127.0.0.1", "--ports", "1", "--udp", "", "--format", "json", timeout=60)
    assert result.code == 0, result.stderr
    verdicts = {v["id"]: v for v in result.json()["provisions"]}
    assert verdicts["5.1-1"]["verdict"] == "INCONCLUSIVE"
    assert all(v["verdict"] != "PASS" for v in verdicts.values())


@pytest.mark.parametrize("host, message", [
    ("224.0.0.251", "multicast addresses are never probed"),
    ("127.0.0.0/24", "is a network of 256 addresses"),
    ("203.0.113.255", "looks like a broadcast address"),
    ("0.0.0.0", "the unspecified address is not a device"),
])
def test_refused_targets(cli, host, message):
    result = cli("probe", host, timeout=60)
    assert result.code == 2
    assert result.stderr.startswith("iotcop: error:") and message in result.stderr
    assert result.stdout == ""


@pytest.mark.slow  # builds (or reuses) the demo image from Debian packages
def test_demo_vulnerable_image_correlated_with_its_services_on_loopback(cli, tmp_path, vulnerable_image):
    # The image's own services, started here from the Debian amd64 packages: telnetd (its rcS starts
    # `telnetd -l /bin/sh -p 23`) and lighttpd with the image's admin:admin Basic auth.
    telnet = daemons.start_telnetd(tmp_path / "telnet", "admin", "admin", delay=0)
    web = daemons.start_lighttpd(tmp_path / "web", hardened=False, password="admin")
    try:
        result = cli("scan", vulnerable_image.image, "--device", "127.0.0.1", "--device-ports",
                     f"{telnet.port},{web.port}", "--format", "json", "--quiet", timeout=900)
    finally:
        telnet.stop()
        web.stop()
    assert result.code == 1, result.stderr
    report = result.json()
    jsonschema.validate(report, report_schema())
    rows = {r["service"]: r for r in report["device"]["correlation"]}
    assert rows["telnet"]["status"] == "started by the firmware"
    assert "/etc/init.d/rcS" in {f["path"] for f in rows["telnet"]["firmware"]}
    assert rows["http"]["status"] == "started by the firmware"
    assert "/etc/init.d/S70lighttpd" in {f["path"] for f in rows["http"]["firmware"]}
    assert rows["ssh"]["status"] == "started by the firmware, not seen on the device"
    titles = {f["title"] for f in report["findings"] if f["check"] == "probe.service-correlation"}
    assert "telnet started at boot is reachable on the device" in titles
    checks_5_6_1 = next(v for v in report["provisions"] if v["id"] == "5.6-1")
    assert checks_5_6_1["verdict"] == "FAIL"
    assert {"services.telnet-at-boot", "probe.service-correlation"} <= set(checks_5_6_1["checks"])
