"""Label level 4 reached honestly, and the label's QR code read back with a real decoder.

Level 4 is level 3 (every mandatory provision PASS, DECLARED or NOT_APPLICABLE; no high or critical
finding in the firmware) plus a live probe of the device that completed with no finding.  The demo
images cannot be level 3: even the clean one ships glibc and dnsmasq versions with critical and high
known vulnerabilities.  So the firmware here is a small root filesystem that starts one web server
(lighttpd, HTTPS with HTTP redirected to it), the device is a real lighttpd on loopback configured the
same way, and the declaration's pages are served by a local HTTPS server so they verify.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
import zxingcpp
from PIL import Image
from render_tools import pdf_text

from iotcop.checks.runner import run_check_inline
from iotcop.checks.surface.started_services import StartedServices
from iotcop.context import ScanContext
from iotcop.declaration import load_declaration
from iotcop.firmware.inventory import inventory_tree
from iotcop.label.make import build_label, render_pdf, render_png, render_svg
from iotcop.model import Assessment
from iotcop.report.view import catalogue

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "probe"))
sys.path.insert(0, str(TESTS / "declaration"))
import daemons  # noqa: E402
from decl_webserver import manufacturer_site  # noqa: E402

END = dt.date.today() + dt.timedelta(days=3 * 365)
REGISTRY = "https://registry.example.invalid/products"
POLICY = """<html><body><h1>Security</h1><p>Report vulnerabilities to security@example.com.</p>
<p>We acknowledge every report within 3 working days.</p>
<p>Reporters receive a status update at least every 14 days until the fix ships.</p></body></html>"""
LIGHTTPD_CONF = """server.modules = ( "mod_access", "mod_redirect", "mod_openssl" )
server.document-root = "/www"
server.port = 80
server.username = "www-data"
server.groupname = "www-data"
$SERVER["socket"] == ":443" {
  ssl.engine = "enable"
  ssl.pemfile = "/etc/lighttpd/server.pem"
}
$HTTP["scheme"] == "http" {
  url.redirect = ( "" => "https://${url.authority}${url.path}${qsa}" )
}
"""


def make_rootfs(root: Path) -> Path:
    """A router root filesystem whose only network service is lighttpd (HTTPS, HTTP redirected)."""
    files = {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::askfirst:/bin/login\n",
        "etc/init.d/rcS": "#!/bin/sh\nmount -a\n/usr/sbin/lighttpd -f /etc/lighttpd/lighttpd.conf\n",
        "etc/lighttpd/lighttpd.conf": LIGHTTPD_CONF,
        "www/index.html": "<html><body>Router</body></html>\n",
        "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/www:/bin/false\n",
        "etc/shadow": "root:!:19000:0:99999:7:::\nwww-data:*:19000:0:99999:7:::\n",  # no password set at the factory
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for d in ("bin", "sbin", "usr/sbin", "lib", "dev", "proc", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for prog in ("bin/busybox", "usr/sbin/lighttpd"):
        (root / prog).write_bytes(b"\x7fELF placeholder")
    return root


def declaration(base: str) -> dict:
    """Every provision answered Y: the manufacturer's conformance statement, so the mandatory ones are DECLARED
    unless iotcop verifies (PASS) or contradicts (FAIL) them."""
    return {
        "schema": "iotcop.declaration/1",
        "product": {"name": "IoTCop Demo Router", "type": "Wi-Fi router", "batch": "lot 2026-11"},
        "manufacturer": {"name": "Demo Devices Ltd", "address": "1 Test Street, London"},
        "model_designation": "ICD-1", "firmware_version": "1.1.0",
        "support": {"end_date": END.isoformat(), "published_url": f"{base}/support"},
        "vulnerability_disclosure": {"policy_url": f"{base}/vdp", "contact": "mailto:security@example.com",
                                     "acknowledgement_days": 5, "status_update_days": 30,
                                     "security_txt_url": f"{base}/.well-known/security.txt"},
        "password": {"approach": "user_defined"},
        "network_services": [{"name": "https", "protocol": "tcp", "port": 443, "purpose": "web administration"},
                             {"name": "http", "protocol": "tcp", "port": 80, "purpose": "redirect to HTTPS"}],
        "sensors": [],
        "conformance": {p: {"support": "Y", "detail": "Met as the product security documentation describes."}
                        for p in catalogue().provisions},
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    with manufacturer_site(folder, POLICY, END) as (base, ca):
        yield base, ca


@pytest.fixture
def firmware(tmp_path, site):
    base, ca = site
    decl = tmp_path / "decl.yaml"
    decl.write_text(yaml.safe_dump(declaration(base), sort_keys=False))
    return make_rootfs(tmp_path / "rootfs"), decl, ca


def scan_with_device(cli, firmware, out: Path, ports: list[int]) -> dict:
    rootfs, decl, ca = firmware
    res = cli("scan", rootfs, "--declaration", decl, "--ca-file", ca, "--device", "127.0.0.1",
              "--device-ports", ",".join(map(str, ports)), "--device-budget", "40", "--out", out, "--quiet",
              timeout=300)
    assert res.code in (0, 1), res.stderr  # never an internal error (3), whatever the outputs hold
    return json.loads((out / "report.json").read_text())


def make_label(cli, tmp_path, report_dir: Path, decl: Path) -> tuple[dict, Path]:
    keys = tmp_path / "keys"
    assert cli("keys", "init", "--dir", keys).code == 0
    out = tmp_path / "label"
    res = cli("label", "make", report_dir / "report.json", "--key", keys, "--declaration", decl,
              "--registry-url", REGISTRY, "--out", out)
    assert res.code == 0, res.stderr
    assert cli("label", "verify", out / "label.json", "--key", keys).code == 0
    return json.loads((out / "label.json").read_text())["label"], out


def decoded_qr(png: Path) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(Image.open(png)) if b.format == zxingcpp.BarcodeFormat.QRCode]


@pytest.mark.slow  # a real lighttpd probed over loopback and the declaration's pages fetched
def test_level_four_with_a_clean_live_probe(cli, tmp_path, firmware):
    web = daemons.start_lighttpd(tmp_path / "device", hardened=True, password=daemons.strong_password())
    try:
        report = scan_with_device(cli, firmware, tmp_path / "scan", [web.port, web.extra_ports["https"]])
    finally:
        web.stop()
    device = report["device"]
    assert device["complete"]
    assert {s["service"] for s in device["services"]} == {"http", "https"}
    assert {r["status"] for r in device["correlation"] if r["endpoint"]} == {"started by the firmware"}
    assert report["findings"] == []
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    assert verdicts["5.2-1"] == "PASS" and verdicts["5.3-13"] == "PASS" and verdicts["4-1"] == "PASS"
    assert verdicts["5.6-1"] == "PASS"  # every service open on the device is started by the firmware and declared
    # 4-1 passes from the verified conformance rows alone, with no informing check: SARIF names a rule for it
    sarif = json.loads((tmp_path / "scan" / "report.sarif").read_text())
    schema = json.loads((TESTS / "data" / "sarif-schema-2.1.0.json").read_text())
    assert not list(jsonschema.Draft4Validator(schema).iter_errors(sarif))
    run = sarif["runs"][0]
    [passed] = [r for r in run["results"] if r["properties"]["provisions"] == ["4-1"]]
    assert passed["kind"] == "pass" and passed["ruleId"] == "declaration.verified-claim"
    assert run["tool"]["driver"]["rules"][passed["ruleIndex"]]["id"] == "declaration.verified-claim"

    label, out = make_label(cli, tmp_path, tmp_path / "scan", firmware[1])
    assert label["level"] == 4 and label["level_limits"] == []
    assert label["level_meaning"] == "Level 3, and a live test of the device found no issue"
    assert decoded_qr(out / "label.png") == [label["registry_url"]]
    assert label["registry_url"] == f"{REGISTRY}/{label['product']['id']}"
    text = " ".join(pdf_text(out / "label.pdf").split())
    for words in ("IoTCop Demo Router ICD-1", "Level 4 of 4", f"Security updates until {END.isoformat()}",
                  "Security problems can be reported to security@example.com", "Unused services and ports are switched off"):
        assert words in text, words
    assert "mailto:" not in text


@pytest.mark.slow
def test_a_probe_finding_keeps_the_label_below_four(cli, tmp_path, firmware):
    # The same firmware and device, plus a telnet server the firmware does not start.  It is a finding
    # of the probe; being high and failing 5.6-1, it takes the label down to level 1, not just to 3.
    web = daemons.start_lighttpd(tmp_path / "device", hardened=True, password=daemons.strong_password())
    telnet = daemons.start_telnetd(tmp_path / "telnet", "admin", daemons.strong_password(), delay=0)
    try:
        report = scan_with_device(cli, firmware, tmp_path / "scan",
                                  [web.port, web.extra_ports["https"], telnet.port])
    finally:
        telnet.stop()
        web.stop()
    assert report["device"]["complete"]
    titles = {f["title"] for f in report["findings"] if f["check"].startswith("probe.")}
    assert "telnet on the device is not started by the firmware" in titles
    assert "telnet on the device is not declared" in titles
    assert not [f for f in report["findings"] if not f["check"].startswith("probe.")]  # the firmware side is clean

    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    assert verdicts["5.6-1"] == "FAIL"  # an undeclared service on the device fails a mandatory provision
    label, _ = make_label(cli, tmp_path, tmp_path / "scan", firmware[1])
    assert label["level"] == 2  # the PSTI requirements are still met; the failing mandatory provision stops it there
    assert "5.6-1 is FAIL" in label["level_limits"]


def test_started_services_leaves_out_the_declared_ones(tmp_path, site):
    """The boot-service inventory is for review; services the declaration lists are accounted for."""
    base, _ = site
    root = make_rootfs(tmp_path / "rootfs")
    (root / "etc/init.d/rcS").write_text((root / "etc/init.d/rcS").read_text() + "/usr/sbin/dropbear -p 22\n")
    (root / "usr/sbin/dropbear").write_bytes(b"\x7fELF placeholder")  # a start counts when its program ships

    def inventory(decl_data):
        fw = inventory_tree(root)
        ctx = ScanContext.default()
        if decl_data is not None:
            path = tmp_path / "decl.yaml"
            path.write_text(yaml.safe_dump(decl_data, sort_keys=False))
            ctx = ScanContext(profile=ctx.profile, declaration=load_declaration(path))
        result = run_check_inline(StartedServices, fw, ctx)
        assert result.status == "ran", result.error
        return result.findings

    [without] = inventory(None)
    assert without.title.startswith("Network services started at boot (2)") and without.confidence == "possible"
    [partly] = inventory(declaration(base))  # https and http declared; dropbear (ssh) is not
    assert partly.title.startswith("Network services started at boot (1)") and "dropbear" in partly.evidence.detail
    both = declaration(base)
    both["network_services"].append({"name": "ssh", "protocol": "tcp", "port": 22})
    assert inventory(both) == []


def test_label_qr_code_decodes_to_the_registry_page(tmp_path):
    from iotcop.model import ExtractionReport, Target, Tool, Verdict, VerdictValue

    cat = catalogue()
    report = Assessment(tool=Tool(version="0", catalogue_version=cat.version), generated_at="2026-01-01T00:00:00+00:00",
                        target=Target(kind="rootfs", path="/x", sha256="ab" * 32),
                        extraction=ExtractionReport(status="complete"), findings=[], components=[],
                        provisions=[Verdict(id=p, status="M", verdict=VerdictValue.NOT_TESTED) for p in cat.provisions])
    decl = {"product": {"name": "HomeRouter"}, "model_designation": "HR-100",
            "manufacturer": {"name": "Example Devices Ltd", "address": "x"}}
    for registry, expected in (("https://registry.example.invalid/p/{id}/label", "https://registry.example.invalid/p/{}/label"),
                               ("https://registry.example.invalid/p/", "https://registry.example.invalid/p/{}")):
        label = build_label(report, b"{}", decl, registry)
        assert label["registry_url"] == expected.format(label["product"]["id"])
        png = tmp_path / "label.png"
        png.write_bytes(render_png(render_pdf(render_svg(label, "0123456789abcdef"))))
        assert decoded_qr(png) == [label["registry_url"]]
    # no registry: no QR code on the label at all
    label = build_label(report, b"{}", decl, None)
    png.write_bytes(render_png(render_pdf(render_svg(label, "0123456789abcdef"))))
    assert label["registry_url"] is None and decoded_qr(png) == []
