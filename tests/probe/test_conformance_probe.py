"""TS 103 701 test cases decided by the probe's evidence, on real daemons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402
from iotcop.conformance import view_for_scan  # noqa: E402
from iotcop.probe.engine import ProbeOptions, run_probe  # noqa: E402
from iotcop.probe.report import device_assessment  # noqa: E402
from test_functions import DECLARATION  # noqa: E402 - one product declaration for the probe's conformance tests


@pytest.mark.parametrize("delay, verdict", [(1, "PASS"), (0, "FAIL")])
def test_brute_force_protection_decides_5_1_5_1(tmp_path, delay, verdict):
    telnetd = daemons.start_telnetd(tmp_path, "admin", daemons.strong_password(), delay=delay)
    try:
        result = run_probe("127.0.0.1", ProbeOptions(budget=60, ports=str(telnetd.port), udp={}))
    finally:
        telnetd.stop()
    assessment = device_assessment("127.0.0.1", result)
    view = view_for_scan(assessment, result.runs)
    case = next(c for c in view.test_cases if c.id == "5.1-5-1")
    assert case.verdict == verdict, case
    assert case.coverage == "automated" and case.units[0].source == "probe"
    assert "decided by the probe evidence" in case.units[0].note




@pytest.mark.parametrize("declared, verdict", [(True, "PASS"), (False, "FAIL")])
def test_open_services_against_firmware_and_declaration_decide_5_6_1_1_and_5_6_5_1(tmp_path, declared, verdict):
    import json
    import subprocess

    from test_functions import make_firmware, start_web

    fw = make_firmware(tmp_path / "rootfs")
    (fw / "etc" / "init.d").mkdir(parents=True)
    (fw / "etc" / "init.d" / "rcS").write_text("#!/bin/sh\nmount -a\n/usr/sbin/lighttpd -f /etc/lighttpd.conf\n")
    (fw / "etc" / "init.d" / "rcS").chmod(0o755)
    (fw / "usr" / "sbin").mkdir(parents=True)  # the boot model counts a start only when its program is in the image
    (fw / "usr" / "sbin" / "lighttpd").write_bytes(Path("/bin/true").read_bytes())
    (fw / "usr" / "sbin" / "lighttpd").chmod(0o755)
    services = '  - {name: "http", protocol: tcp, port: 80, purpose: "local web interface"}' if declared else \
        '  - {name: "ssh", protocol: tcp, port: 22, purpose: "maintenance"}'
    decl = tmp_path / "decl.yaml"
    decl.write_text(DECLARATION.split("network_services:")[0] + "network_services:\n" + services + "\n")
    web = start_web(tmp_path / "web", fw / "www", protected=True)
    try:
        done = subprocess.run([str(Path(sys.executable).with_name("iotcop")), "scan", str(fw), "--device", "127.0.0.1",
                               "--device-ports", str(web.port), "--device-budget", "30", "--declaration", str(decl),
                               "--no-fetch", "--check", "declared", "--format", "json", "--quiet", "--view",
                               "ts103701"], capture_output=True, text=True, timeout=300)
    finally:
        web.stop()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    rows = {r["service"]: r for r in report["device"]["correlation"]}
    assert rows["http"]["status"] == "started by the firmware"
    cases = {c["id"]: c for c in report["ts103701"]["test_cases"]}
    for cid in ("5.6-1-1", "5.6-5-1"):
        assert cases[cid]["verdict"] == verdict, (cid, cases[cid])
        assert cases[cid]["units"][0]["source"].startswith(("probe", "firmware+probe"))


@pytest.mark.parametrize("hardened, verdict", [(True, "PASS"), (False, "FAIL")])
def test_access_without_credentials_decides_5_6_2_1(tmp_path, hardened, verdict):
    broker = daemons.start_mosquitto(tmp_path, hardened)
    try:
        result = run_probe("127.0.0.1", ProbeOptions(budget=30, ports=str(broker.port), udp={}))
    finally:
        broker.stop()
    view = view_for_scan(device_assessment("127.0.0.1", result), result.runs)
    case = next(c for c in view.test_cases if c.id == "5.6-2-1")
    assert case.verdict == verdict, case
    assert all(u.source == "probe" for u in case.units)
    if hardened:
        assert "refused it" in case.units[0].note
    else:  # anyone may publish the device's topics: 5.5-5 fails on the same evidence
        config = next(c for c in view.test_cases if c.id == "5.5-5-1")
        assert config.verdict == "FAIL" and config.units[0].source == "probe"
        functional = next(c for c in view.test_cases if c.id == "5.5-5-2")
        assert functional.verdict == "FAIL" and functional.units[1].verdict == "FAIL"


@pytest.mark.parametrize("model, verdict", [("CAM-100", "PASS"), ("CAM-200", "FAIL")])
def test_announced_model_against_the_declared_one_decides_5_3_16_1(tmp_path, model, verdict):
    import json

    avahi = daemons.start_avahi(tmp_path / "avahi", publish_services=True)  # TXT model=CAM-100
    try:
        root = tmp_path / "rootfs"
        (root / "etc").mkdir(parents=True)
        (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        decl = tmp_path / "decl.yaml"
        decl.write_text(DECLARATION.split("network_services:")[0].replace("CAM-100", model))
        done = daemons.in_netns(avahi, [str(Path(sys.executable).with_name("iotcop")), "scan", str(root), "--device",
                                        daemons.NETNS_LAN, "--device-ports", "1", "--device-budget", "20",
                                        "--declaration", str(decl), "--no-fetch", "--check", "declared", "--format",
                                        "json", "--quiet", "--view", "ts103701"], timeout=300)
    finally:
        avahi.stop()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    case = next(c for c in report["ts103701"]["test_cases"] if c["id"] == "5.3-16-1")
    assert case["verdict"] == verdict, case
    assert case["units"][0]["source"] == "probe"
    if verdict == "FAIL":
        [finding] = [f for f in report["findings"] if f["check"] == "probe.model-designation"]
        assert "'CAM-100'" in finding["evidence"]["detail"] and "'CAM-200'" in finding["evidence"]["detail"]
