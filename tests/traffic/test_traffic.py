"""Traffic captures as evidence, on real traffic between real Debian clients and servers (see netlab.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import netlab  # noqa: E402
from netlab import outage_capture  # noqa: E402

from iotcop.traffic.evidence import traffic_evidence  # noqa: E402

EXE = str(Path(sys.executable).with_name("iotcop"))


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


def verdicts(report: dict) -> dict[str, str]:
    return {v["id"]: v["verdict"] for v in report["provisions"]}


def traffic_json(*args: str) -> tuple[dict, subprocess.CompletedProcess]:
    done = run_cli("traffic", *args, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout), done


# -- what the capture shows ----------------------------------------------------------------------------

def test_insecure_capture_peers_protocols_and_cleartext(insecure_capture):
    reports, runs, warnings = traffic_evidence([insecure_capture])
    rep = reports[0]
    assert warnings == [] and rep.complete
    assert rep.device == netlab.DEVICE and rep.device_inferred
    cloud = next(p for p in rep.peers if p.address == netlab.CLOUD)
    assert {"update.vendor.example", "telemetry.vendor.example", "mqtt.vendor.example"} <= set(cloud.names)
    protocols = {s["endpoint"]: s["protocol"] for s in cloud.services}
    assert protocols["tcp/80"] == "http" and protocols["tcp/1883"] == "mqtt" and protocols["tcp/21"] == "ftp"
    assert protocols["udp/53"] == "dns" and protocols["udp/123"] == "ntp" and protocols["udp/5683"] == "coap"
    assert protocols["tcp/8443"] == "tls"
    assert any(s["protocol"] == "dhcp" for p in rep.peers for s in p.services)
    assert set(cloud.plaintext) >= {"HTTP", "MQTT", "FTP", "CoAP"}
    weak = next(t for t in cloud.tls if t.server.endswith(":8443"))
    assert weak.versions == ["TLS 1.0"] and weak.sni == "telemetry.vendor.example"
    assert weak.certificate["self_signed"] and weak.certificate["valid_at_capture"] is False
    assert weak.certificate["key_bits"] == 1024
    creds = {(c.protocol, c.kind) for c in rep.cleartext if c.kind != "personal"}
    assert {("MQTT", "credential"), ("FTP", "credential"), ("HTTP", "token")} <= creds
    # values are masked in the report: the password itself is never written
    dumped = rep.model_dump_json()
    assert insecure_capture.parent.joinpath("mosquitto.passwd").exists()
    assert "alice@example.org" not in dumped
    personal = {c.category for c in rep.cleartext if c.kind == "personal"}
    assert {"contact", "identity", "location"} <= personal
    assert {"temperature", "humidity"} <= set(rep.sensors)
    update = next(u for u in rep.updates if u.channel == "http")
    assert update.host == "update.vendor.example" and update.count >= 3 and update.downloads == 1
    assert update.interval_seconds is not None and 0.8 <= update.interval_seconds <= 2.5


def test_secure_capture_shows_tls_only(secure_capture):
    reports, _, _ = traffic_evidence([secure_capture])
    rep = reports[0]
    cloud = next(p for p in rep.peers if p.address == netlab.CLOUD)
    assert cloud.plaintext == []
    assert [c for c in rep.cleartext] == []
    assert {v for t in cloud.tls for v in t.versions} == {"TLS 1.3"}
    assert {t.sni for t in cloud.tls} >= {"update.vendor.example", "telemetry.vendor.example"}
    assert all(not t.weak for t in cloud.tls)


# -- verdicts: each provision the traffic decides, once FAIL and once PASS -------------------------------

FAIL_ON_INSECURE = ("5.5-1", "5.5-6", "5.5-7", "5.8-1", "5.8-2", "5.3-7")
PASS_ON_SECURE = ("5.5-1", "5.5-6", "5.5-7", "5.8-1", "5.8-2", "5.3-7", "5.3-5")


def test_insecure_capture_fails_its_provisions(insecure_capture):
    report, done = traffic_json(str(insecure_capture))
    v = verdicts(report)
    for pid in FAIL_ON_INSECURE:
        assert v[pid] == "FAIL", pid
    assert v["5.3-10"] == "INCONCLUSIVE"  # an image over HTTP may still be signed
    import jsonschema
    from iotcop.report.writers.json import report_schema

    jsonschema.validate(report, report_schema())
    assert done.returncode == 1
    assert report["target"]["kind"] == "capture"
    checks = {c["id"]: c for c in report["checks"]}
    assert checks["traffic.declared-endpoints"]["status"] == "skipped"


def test_secure_capture_passes_its_provisions(secure_capture):
    report, done = traffic_json(str(secure_capture))
    v = verdicts(report)
    for pid in PASS_ON_SECURE:
        assert v[pid] == "PASS", (pid, next(x["note"] for x in report["provisions"] if x["id"] == pid))
    assert not report["findings"]
    assert done.returncode == 0


DECLARATION = """schema: iotcop.declaration/1
product: {name: "VendorCam", type: "camera"}
manufacturer: {name: "Vendor Ltd", address: "1 Example Street, London"}
model_designation: "CAM-100"
firmware_version: "1.2.0"
personal_data: {processed: @PERSONAL@, categories: ["owner name and contact", "location"]}
telemetry: {collected: @TELEMETRY@, description: "temperature and humidity readings every minute"}
sensors: @SENSORS@
"""


def _declaration(tmp_path: Path, honest: bool) -> Path:
    text = (DECLARATION.replace("@PERSONAL@", "true" if honest else "false")
            .replace("@TELEMETRY@", "true" if honest else "false")
            .replace("@SENSORS@", '[{type: "temperature"}, {type: "humidity"}, {type: "location"}]' if honest
                     else "[]"))
    path = tmp_path / ("honest.yaml" if honest else "silent.yaml")
    path.write_text(text)
    return path


def test_traffic_against_a_declaration_that_hides_telemetry_fails(insecure_capture, tmp_path):
    report, _ = traffic_json(str(insecure_capture), "--declaration", str(_declaration(tmp_path, honest=False)))
    v = verdicts(report)
    assert v["6-5"] == "FAIL" and v["5.8-3"] == "FAIL" and v["6-4"] == "FAIL"
    titles = {f["title"] for f in report["findings"] if f["check"] == "traffic.declared-endpoints"}
    assert "Telemetry not declared" in titles and "Sensor readings sent that are not declared" in titles


def test_traffic_against_an_honest_declaration_passes(secure_capture, insecure_capture, tmp_path):
    # the secure device sends its readings inside TLS, so the sensor comparison needs the clear-text capture
    report, _ = traffic_json(str(insecure_capture), "--declaration", str(_declaration(tmp_path, honest=True)))
    v = verdicts(report)
    assert v["5.8-3"] == "PASS" and v["6-5"] == "PASS" and v["6-4"] == "PASS"


# -- reconnection after an outage (5.9-3) ----------------------------------------------------------------

def test_reconnection_with_backoff_passes(tmp_path):
    capture = outage_capture(tmp_path / "backoff", "backoff")
    report, _ = traffic_json(str(capture))
    history = [c for t in report["traffic"] for c in t["connections"] if c["endpoint"].endswith("tcp/443")]
    assert history and history[0]["reconnected"] and history[0]["backoff"] is True
    assert verdicts(report)["5.9-3"] == "PASS"
    view, _ = traffic_json(str(capture), "--view", "ts103701")
    assert cases(view)["5.9-3-1"]["verdict"] == cases(view)["5.9-3-2"]["verdict"] == "PASS"


def test_reconnection_storm_fails(tmp_path):
    capture = outage_capture(tmp_path / "hammer", "hammer")
    report, _ = traffic_json(str(capture))
    history = [c for t in report["traffic"] for c in t["connections"] if c["endpoint"].endswith("tcp/443")]
    assert history and history[0]["backoff"] is False and history[0]["outages"][0]["failed_attempts"] >= 8
    assert verdicts(report)["5.9-3"] == "FAIL"
    view, _ = traffic_json(str(capture), "--view", "ts103701")
    assert cases(view)["5.9-3-1"]["verdict"] == cases(view)["5.9-3-2"]["verdict"] == "FAIL"


# -- bad input ------------------------------------------------------------------------------------------

def test_truncated_capture_gives_partial_result_and_one_warning(insecure_capture, tmp_path):
    data = insecure_capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    report, done = traffic_json(str(cut))
    warnings = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("iotcop: warning:") and "cut short" in warnings[0]
    rep = report["traffic"][0]
    assert rep["complete"] is False and rep["packets"] > 50
    # what was seen before the cut still counts; nothing is proven from a partial capture
    assert verdicts(report)["5.3-7"] == "FAIL"  # the HTTP update checks come before the cut
    assert all(not r["id"].startswith("traffic.") or r["status"] == "ran" or r["status"] == "skipped"
               for r in report["checks"])


@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a pcap or pcapng capture"),
    (bytes.fromhex("d4c3b2a1") + b"\x02\x00", "not a readable packet capture"),
])
def test_not_a_capture_is_one_line_and_exit_2(tmp_path, content, words):
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    done = run_cli("traffic", str(bad))
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in done.stderr


def test_scan_refuses_a_bad_capture_before_extracting(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    bad = tmp_path / "bad.pcap"
    bad.write_text("not a capture")
    done = run_cli("scan", str(root), "--traffic", str(bad), "--quiet")
    assert done.returncode == 2 and "not a pcap or pcapng capture" in done.stderr


# -- with the firmware ----------------------------------------------------------------------------------

def test_scan_with_traffic_names_the_firmware_file_holding_the_password(insecure_capture, lab, tmp_path):
    root = tmp_path / "root"
    for d in ("etc", "usr/bin", "bin"):
        (root / d).mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "mqtt.conf").write_text(f"host=mqtt.vendor.example\nport=1883\nuser={lab.mqtt_user}\n"
                                            f"password={lab.mqtt_password}\n")
    (root / "usr" / "bin" / "cloudd").write_bytes(b"\x7fELF\x00\x00" + b"\x00" * 64 + b"update.vendor.example\x00")
    done = run_cli("scan", str(root), "--traffic", str(insecure_capture), "--check", "privacy", "--format", "json",
                   "--quiet")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    mqtt = next(f for f in report["findings"] if f["check"] == "traffic.cleartext-credentials"
                and "MQTT" in f["title"])
    assert mqtt["related"][0]["path"] == "/etc/mqtt.conf" and mqtt["related"][0]["line"] == 4
    assert lab.mqtt_password not in done.stdout  # masked in the excerpt too
    rows = {r.get("name"): r for r in report["traffic"][0]["correlation"] if r["kind"] == "endpoint"}
    assert rows["update.vendor.example"]["status"] == "in the firmware"
    assert rows["update.vendor.example"]["firmware"][0]["path"] == "/usr/bin/cloudd"
    assert rows["telemetry.vendor.example"]["status"] == "not in the firmware"


# -- TS 103 701 test cases decided by the traffic ------------------------------------------------------

TRAFFIC_DECIDED = ("5.1-3-1", "5.3-7-1", "5.5-1-1", "5.5-6-1", "5.5-7-1", "5.8-1-1", "5.8-2-1", "5.5-7-2", "5.8-1-2")


def cases(report: dict) -> dict[str, dict]:
    return {c["id"]: c for c in report["ts103701"]["test_cases"]}


def test_conformance_cases_pass_on_the_secure_capture(secure_capture):
    report, _ = traffic_json(str(secure_capture), "--view", "ts103701")
    got = cases(report)
    for cid in TRAFFIC_DECIDED + ("5.3-5-1",):
        assert got[cid]["verdict"] == "PASS", (cid, got[cid]["note"], [u["note"] for u in got[cid]["units"]])
        assert got[cid]["coverage"] == "automated"
    assert all(u["source"] == "traffic" for u in got["5.5-1-1"]["units"])
    assert "the claim (declaration): INCONCLUSIVE" in got["5.5-1-1"]["units"][0]["note"]


def test_conformance_cases_fail_on_the_insecure_capture(insecure_capture):
    report, _ = traffic_json(str(insecure_capture), "--view", "ts103701")
    got = cases(report)
    for cid in TRAFFIC_DECIDED:
        assert got[cid]["verdict"] == "FAIL", (cid, got[cid]["note"])
        failed = [u for u in got[cid]["units"] if u["verdict"] == "FAIL"]
        assert failed and all("traffic" in u["source"] for u in failed) and all(u["findings"] for u in failed)


def test_update_checking_claim_fails_even_when_the_traffic_shows_checks(secure_capture, tmp_path):
    decl = tmp_path / "updates.yaml"
    decl.write_text(DECLARATION.replace("@PERSONAL@", "true").replace("@TELEMETRY@", "true").replace("@SENSORS@", "[]")
                    + "ixit:\n  update_mechanisms:\n    - {name: ota, check_after_boot: false, check_interval_hours: 24}\n")
    report, _ = traffic_json(str(secure_capture), "--declaration", str(decl), "--view", "ts103701")
    unit = cases(report)["5.3-5-1"]["units"][0]
    assert unit["verdict"] == "FAIL" and unit["source"] == "declaration"
    assert "the traffic evidence alone would pass" in unit["note"]


def test_telemetry_cases_follow_the_declaration_against_the_traffic(insecure_capture, tmp_path):
    silent, _ = traffic_json(str(insecure_capture), "--declaration", str(_declaration(tmp_path, honest=False)),
                             "--view", "ts103701")
    assert cases(silent)["6-5-1"]["verdict"] == "FAIL" and cases(silent)["6-4-1"]["verdict"] == "FAIL"
    honest, _ = traffic_json(str(insecure_capture), "--declaration", str(_declaration(tmp_path, honest=True)),
                             "--view", "ts103701")
    assert cases(honest)["6-5-1"]["verdict"] == "PASS", cases(honest)["6-5-1"]
    assert cases(honest)["6-4-1"]["verdict"] == "PASS", cases(honest)["6-4-1"]
    units = {u["unit"]: u for u in cases(honest)["6-5-2"]["units"]}
    assert units["6-5-2a"]["verdict"] == units["6-5-2d"]["verdict"] == "PASS"
    assert units["6-5-2d"]["source"] == "traffic"
