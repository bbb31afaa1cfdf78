"""Verdicts from a declaration on the real demo images: DECLARED, PASS when verified, FAIL by contradiction."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
import yaml
from decl_webserver import manufacturer_site

from iotcop.declaration import load_declaration
from iotcop.model import VerdictValue as V
from iotcop.scan import ScanOptions, scan
from iotcop.statement.build import StatementRefused, build_statement

pytestmark = pytest.mark.slow

END = dt.date.today() + dt.timedelta(days=3 * 365)
POLICY = """<html><body><h1>Security</h1><p>Report vulnerabilities to security@example.com.</p>
<p>We acknowledge every report within 3 working days.</p>
<p>Reporters receive a status update at least every 14 days until the fix ships.</p></body></html>"""


def declaration_text(base: str, *, end: dt.date = END, services=None, sensors=None, approach="user_defined") -> str:
    data = {
        "schema": "iotcop.declaration/1",
        "product": {"name": "IoTCop Demo Router", "type": "Wi-Fi router", "batch": "lot 2026-11"},
        "manufacturer": {"name": "Demo Devices Ltd", "address": "1 Test Street, London"},
        "model_designation": "ICD-1", "firmware_version": "1.1.0",
        "support": {"end_date": end.isoformat(), "published_url": f"{base}/support"},
        "vulnerability_disclosure": {"policy_url": f"{base}/vdp", "contact": "mailto:security@example.com",
                                     "acknowledgement_days": 5, "status_update_days": 30,
                                     "security_txt_url": f"{base}/.well-known/security.txt"},
        "password": {"approach": approach},
        "network_services": services if services is not None else [
            {"name": "ssh", "protocol": "tcp", "port": 22}, {"name": "http", "protocol": "tcp", "port": 80},
            {"name": "dns", "protocol": "udp", "port": 53}],
        "sensors": sensors if sensors is not None else [],
        "conformance": {"5.6-1": {"support": "Y", "detail": "Only the listed services run."},
                        "5.8-3": {"support": "Y", "detail": "The router has no sensors."},
                        "5.3-16": {"support": "Y", "detail": "Model on the label."}},
    }
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    with manufacturer_site(folder, POLICY, END) as (base, ca):
        yield base, ca


def decl_file(tmp_path, text, name="decl.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_declaration(path)


def verdicts(assessment):
    return {v.id: v for v in assessment.provisions}


@pytest.fixture(scope="module")
def clean_verified(clean_image, site, tmp_path_factory):
    base, ca = site
    decl = decl_file(tmp_path_factory.mktemp("decl"), declaration_text(base))
    result = scan(clean_image.image, ScanOptions(declaration=decl, verify_tls=ca, jobs=2))
    return decl, result.assessment


def test_verified_claims_pass_and_plain_claims_are_declared(clean_verified):
    _, a = clean_verified
    v = verdicts(a)
    assert v["5.2-1"].verdict == V.PASS, v["5.2-1"].note
    assert v["5.3-13"].verdict == V.PASS, v["5.3-13"].note
    assert any(e.path and e.path.endswith("/support") for e in v["5.3-13"].evidence)
    assert any("acknowledgement" in (e.detail or "") for e in v["5.2-1"].evidence)
    assert v["5.3-16"].verdict == V.DECLARED and "Model on the label" in v["5.3-16"].note
    assert v["5.8-3"].verdict == V.DECLARED  # the check ran, found no sensor driver: the claim stands
    assert v["5.1-2"].verdict == V.NOT_APPLICABLE  # user-defined passwords: nothing pre-installed
    assert {g.id: g.verdict for g in a.psti} == {"psti-1": V.DECLARED, "psti-2": V.PASS, "psti-3": V.PASS}
    assert a.declaration["sha256"] and a.claims


def test_no_provision_passes_without_evidence(clean_verified, vulnerable_contradicted):
    for a in (clean_verified[1], vulnerable_contradicted):
        for v in a.provisions:
            if v.verdict in (V.PASS, V.DECLARED):
                assert v.evidence, f"{v.id} is {v.verdict.value} without evidence"


def test_statement_from_verified_assessment(clean_verified):
    decl, a = clean_verified
    data = build_statement(a, decl, signatory="A. Smith, Head of Product Security", place="London", date=dt.date.today())
    assert data["standards_relied_on"][0]["reference"] == "ETSI EN 303 645 V2.1.1 (2020-06)"
    assert data["defined_support_period"]["end_date"] == END.isoformat()
    assert data["signatory"] == {"name": "A. Smith", "function": "Head of Product Security", "signature": None}
    assert data["product"]["batch"] == "lot 2026-11"
    assert data["manufacturers"] == [{"name": "Demo Devices Ltd", "address": "1 Test Street, London"}]
    with pytest.raises(StatementRefused) as info:
        build_statement(a, decl, signatory="A. Smith", place="", date=END + dt.timedelta(days=1))
    assert any("ended on" in r for r in info.value.reasons)
    assert "no signatory function" in info.value.reasons and "no place of issue" in info.value.reasons


def test_without_fetching_claims_stay_declared(clean_image, site, tmp_path):
    base, _ = site
    decl = decl_file(tmp_path, declaration_text(base))
    v = verdicts(scan(clean_image.rootfs, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment)
    assert v["5.2-1"].verdict == V.DECLARED and "fetching was turned off" in v["5.2-1"].note
    assert v["5.3-13"].verdict == V.DECLARED


def test_past_support_period_fails(clean_image, site, tmp_path):
    base, _ = site
    decl = decl_file(tmp_path, declaration_text(base, end=dt.date(2023, 12, 31)))
    a = scan(clean_image.rootfs, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment
    assert verdicts(a)["5.3-13"].verdict == V.FAIL
    assert any(f.check == "declaration.support-period" for f in a.findings)
    with pytest.raises(StatementRefused) as info:
        build_statement(a, decl, signatory="A. Smith, CTO", place="London")
    assert any(r.startswith("psti-3") for r in info.value.reasons)


@pytest.fixture(scope="module")
def vulnerable_contradicted(vulnerable_image, site, tmp_path_factory):
    base, _ = site
    decl = decl_file(tmp_path_factory.mktemp("vdecl"), declaration_text(base))
    return scan(vulnerable_image.image, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment


def test_undeclared_services_fail_with_both_sides(vulnerable_contradicted):
    a = vulnerable_contradicted
    hits = [f for f in a.findings if f.check == "declared.undeclared-service"]
    started = {(f.evidence.path, f.evidence.line) for f in hits}
    assert ("/etc/init.d/rcS", 9) in started  # telnetd -l /bin/sh
    assert {p for p, _ in started} >= {"/etc/inetd.conf"}  # telnet and ftp via inetd
    assert all(f.related and f.related[0].path.endswith("decl.yaml") and f.related[0].line for f in hits)
    assert not any("dropbear" in f.title or "lighttpd" in f.title for f in hits)  # declared ones are fine
    assert verdicts(a)["5.6-1"].verdict == V.FAIL


def test_declared_user_passwords_contradicted_by_stored_hashes(vulnerable_contradicted):
    hits = [f for f in vulnerable_contradicted.findings if f.check == "declared.password-approach"]
    users = {f.title.split("'")[1] for f in hits}
    assert {"root", "support", "admin"} <= users
    assert all(f.related[0].detail == "declared: passwords are defined by the user" for f in hits)


def test_undeclared_camera_driver_fails_5_8_3(clean_image, site, tmp_path):
    base, _ = site
    root = tmp_path / "rootfs"
    shutil.copytree(clean_image.rootfs, root, symlinks=True)
    module = root / "lib/modules/5.15.167/kernel/drivers/media/usb/uvc/uvcvideo.ko"
    module.parent.mkdir(parents=True)
    module.write_bytes(b"\x7fELF" + b"\x00" * 60)
    decl = decl_file(tmp_path, declaration_text(base))
    a = scan(root, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment
    [hit] = [f for f in a.findings if f.check == "declared.undeclared-sensor"]
    assert hit.evidence.path == "/lib/modules/5.15.167/kernel/drivers/media/usb/uvc/uvcvideo.ko"
    assert hit.related[0].excerpt == "no sensors"
    assert verdicts(a)["5.8-3"].verdict == V.FAIL
    declared_camera = decl_file(tmp_path, declaration_text(base, sensors=[{"type": "camera", "description": "1080p"}]), "d2.yaml")
    a = scan(root, ScanOptions(declaration=declared_camera, fetch=False, jobs=2)).assessment
    assert not [f for f in a.findings if f.check == "declared.undeclared-sensor"]
    assert verdicts(a)["5.8-3"].verdict == V.DECLARED


def test_without_declaration_declared_checks_do_not_run(clean_image):
    a = scan(clean_image.rootfs, ScanOptions(jobs=2)).assessment
    assert not [c for c in a.checks if c.id.startswith("declared.")]
    v = verdicts(a)
    assert v["5.8-3"].verdict == V.NOT_TESTED and v["5.2-1"].verdict == V.NOT_TESTED
    assert a.claims == [] and a.declaration is None
