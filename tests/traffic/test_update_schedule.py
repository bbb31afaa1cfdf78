"""5.3-5 from real traffic: a device that starts up and goes online without looking for updates, against one that
checks right after start-up (the secure capture of conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from netlab import device_step  # noqa: E402

EXE = str(Path(sys.executable).with_name("iotcop"))
DECLARATION = """schema: iotcop.declaration/1
product: {name: "VendorCam", type: "camera"}
manufacturer: {name: "Vendor Ltd", address: "1 Example Street, London"}
model_designation: "CAM-100"
firmware_version: "1.2.0"
ixit:
  update_mechanisms:
    - {name: "ota", initiation: automatic, check_after_boot: true, check_interval_hours: 24}
"""


@pytest.fixture(scope="module")
def silent_capture(lab) -> Path:
    """Start-up (DHCP, NTP), then 25 s of HTTPS to the telemetry service and no update check at all."""
    path = lab.tmp / "silent.pcap"
    with lab.capture(path):
        device_step(lab, "boot")
        device_step(lab, "reconnect", "backoff", "25")
    return path


def traffic(*args: str) -> dict:
    done = subprocess.run([EXE, "traffic", *args, "--format", "json"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def case(report: dict, cid: str) -> dict:
    return next(c for c in report["ts103701"]["test_cases"] if c["id"] == cid)


@pytest.fixture
def declaration(tmp_path) -> Path:
    path = tmp_path / "decl.yaml"
    path.write_text(DECLARATION)
    return path


def test_online_after_start_up_without_an_update_check_fails_5_3_5(silent_capture, declaration):
    report = traffic(str(silent_capture), "--update-window", "20", "--declaration", str(declaration), "--view", "ts103701")
    rep = report["traffic"][0]
    assert rep["joined_at"] is not None and rep["duration_seconds"] - rep["joined_at"] >= 20
    assert rep["updates"] == []
    finding = next(f for f in report["findings"] if f["title"] == "No update check after start-up")
    assert finding["provisions"] == ["5.3-5"] and "telemetry.vendor.example" in finding["evidence"]["detail"]
    assert {v["id"]: v["verdict"] for v in report["provisions"]}["5.3-5"] == "FAIL"
    unit = case(report, "5.3-5-1")["units"][0]
    # the declaration claims a check after start-up; the traffic decides
    assert unit["verdict"] == "FAIL" and unit["source"] == "traffic", unit
    assert "the claim (declaration): PASS" in unit["note"]


def test_a_capture_shorter_than_the_window_says_nothing_about_it(silent_capture, declaration):
    report = traffic(str(silent_capture), "--declaration", str(declaration), "--view", "ts103701")
    assert not [f for f in report["findings"] if f["title"] == "No update check after start-up"]
    unit = case(report, "5.3-5-1")["units"][0]
    assert unit["verdict"] == "PASS" and unit["source"] == "declaration"  # the claim stands, marked as such


def test_checks_right_after_start_up_pass_5_3_5_with_the_same_window(secure_capture, declaration):
    report = traffic(str(secure_capture), "--update-window", "20", "--declaration", str(declaration), "--view", "ts103701")
    rep = report["traffic"][0]
    assert rep["joined_at"] is not None
    first = min(u["first_at"] for u in rep["updates"])
    assert first - rep["joined_at"] < 20
    assert not [f for f in report["findings"] if f["title"] == "No update check after start-up"]
    unit = case(report, "5.3-5-1")["units"][0]
    assert unit["verdict"] == "PASS" and unit["source"] == "traffic", unit
