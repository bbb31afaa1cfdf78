"""Decision rules of TS 103 701 test units over declarations, check runs and device observations."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotcop.conformance import Context, conformance_view
from iotcop.declaration import load_declaration
from iotcop.declaration.paths import values_at
from iotcop.model import (
    CheckRun,
    Compliance,
    DeviceReport,
    Evidence,
    ExtractionReport,
    Finding,
    ServiceObservation,
    Severity,
    Verdict,
    VerdictValue,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def clean_decl():
    return load_declaration(DATA / "clean-declaration.yaml")


@pytest.fixture(scope="module")
def vulnerable_decl():
    return load_declaration(DATA / "vulnerable-declaration.yaml")


def unit_result(view, unit_id):
    case = next(c for c in view.test_cases if unit_id.startswith(c.id) and len(unit_id) == len(c.id) + 1)
    return next(u for u in case.units if u.unit == unit_id)


def case_result(view, case_id):
    return next(c for c in view.test_cases if c.id == case_id)


def finding(check, provisions, title="problem", confidence="confirmed"):
    return Finding(check=check, severity=Severity.high, provisions=provisions, title=title,
                   evidence=Evidence(path="/etc/x", line=3), confidence=confidence).with_id()


def run(check, provisions, findings=(), compliance=(), status="ran"):
    return CheckRun(check=check, version="1", status=status, provisions=provisions, findings=list(findings),
                    compliance=list(compliance))


def test_without_anything_every_case_is_inconclusive():
    view = conformance_view(Context())
    assert view.counts == {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 109, "N/A": 0}
    u = unit_result(view, "5.1-3-1a")
    assert u.verdict == "INCONCLUSIVE" and "no manufacturer declaration" in u.note


def test_declared_crypto_is_judged(clean_decl, vulnerable_decl):
    clean = conformance_view(Context(declaration=clean_decl))
    vuln = conformance_view(Context(declaration=vulnerable_decl))
    assert unit_result(clean, "5.1-3-1c").verdict == "PASS"
    assert "yescrypt" in unit_result(clean, "5.1-3-1c").note
    bad = unit_result(vuln, "5.1-3-1d")
    assert bad.verdict == "FAIL" and "MD5" in bad.note and "HTTP Basic" in bad.note
    assert bad.evidence[0].path.endswith("vulnerable-declaration.yaml") and bad.evidence[0].line > 0
    assert unit_result(vuln, "5.3-9-1a").verdict == "FAIL"  # an MD5 checksum is no authenticity check
    assert unit_result(clean, "5.3-9-1a").verdict == "PASS"
    assert unit_result(clean, "5.3-10-1b").verdict == "PASS"  # trust anchor declared
    assert unit_result(vuln, "5.4-4-1a").verdict == "FAIL"  # a shared cloud key is declared


def test_confirmations_and_documented_fields(clean_decl):
    view = conformance_view(Context(declaration=clean_decl))
    assert unit_result(view, "5.2-2-1b").verdict == "PASS"
    assert unit_result(view, "5.3-12-1a").verdict == "PASS"
    # the clean declaration documents no secure boot: not declared is INCONCLUSIVE, the ICS row N makes the case FAIL
    assert unit_result(view, "5.7-1-1a").verdict == "INCONCLUSIVE"
    case = case_result(view, "5.7-1-1")
    assert case.verdict == "FAIL" and "ICS declares 5.7-1 not met" in case.note
    # sensors: [] documents "none at all"
    assert unit_result(view, "5.8-3-1a").verdict == "PASS"


def test_confirmation_answered_false_fails(tmp_path):
    text = (DATA / "clean-declaration.yaml").read_text().replace("    secure_development: true", "    secure_development: false")
    path = tmp_path / "d.yaml"
    path.write_text(text)
    view = conformance_view(Context(declaration=load_declaration(path)))
    assert unit_result(view, "5.6-9-1b").verdict == "FAIL"


def test_checks_decide_functional_units():
    complete = ExtractionReport(status="complete")
    runs = {"credentials.default-password": run("credentials.default-password", ["5.1-1"], [finding("credentials.default-password", ["5.1-1"], "root:admin")]),
            "crypto.private-key": run("crypto.private-key", ["5.4-3", "5.4-4"]),
            "secrets.cloud-token": run("secrets.cloud-token", ["5.4-3"]),
            "updates.secure-boot": run("updates.secure-boot", ["5.7-1"], compliance=[Compliance(
                check="updates.secure-boot", provision="5.7-1", statement="U-Boot requires a signed FIT",
                evidence=[Evidence(path="/boot/u-boot.dtb")])])}
    view = conformance_view(Context(runs=runs, extraction=complete))
    u = unit_result(view, "5.1-1-2c")
    assert u.verdict == "FAIL" and u.findings and "root:admin" in u.note and u.source == "firmware+probe"
    assert unit_result(view, "5.4-3-2a").verdict == "INCONCLUSIVE"  # ran, found nothing: not compliance
    passed = unit_result(view, "5.7-1-2a")
    assert passed.verdict == "PASS" and passed.evidence[0].path == "/boot/u-boot.dtb"
    assert case_result(view, "5.7-1-2").verdict == "PASS"
    # partial extraction: positive evidence is not enough
    partial = conformance_view(Context(runs=runs, extraction=ExtractionReport(status="partial")))
    assert unit_result(partial, "5.7-1-2a").verdict == "INCONCLUSIVE"
    assert "extraction was partial" in unit_result(partial, "5.7-1-2a").note


def test_possible_findings_leave_the_unit_open():
    runs = {"crypto.private-key": run("crypto.private-key", ["5.4-3"], [finding("crypto.private-key", ["5.4-3"], confidence="possible")])}
    view = conformance_view(Context(runs=runs, extraction=ExtractionReport(status="complete")))
    u = unit_result(view, "5.4-3-2a")
    assert u.verdict == "INCONCLUSIVE" and "possible finding" in u.note


def test_firmware_contradiction_fails_a_conceptual_unit(clean_decl):
    runs = {"hardening.binaries": run("hardening.binaries", ["5.6-8"], [finding("hardening.binaries", ["5.6-8"], "no stack canaries")])}
    view = conformance_view(Context(declaration=clean_decl, runs=runs, extraction=ExtractionReport(status="complete")))
    u = unit_result(view, "5.6-8-1a")
    assert u.verdict == "FAIL" and "contradicted by" in u.note and "no stack canaries" in u.note
    assert unit_result(view, "5.6-8-1b").verdict == "PASS"


def test_not_applicable_provision_makes_the_case_na(clean_decl):
    verdicts = {"5.1-2": Verdict(id="5.1-2", status="M C2", verdict=VerdictValue.NOT_APPLICABLE, note="condition 2 does not hold")}
    view = conformance_view(Context(declaration=clean_decl, verdicts=verdicts))
    assert case_result(view, "5.1-2-1").verdict == "N/A"
    assert case_result(view, "5.1-2-2").verdict == "N/A"


def _device(*services, complete=True):
    return DeviceReport(address="127.0.0.1", budget_seconds=10, seconds=1, ports_scanned=100, complete=complete,
                        services=[ServiceObservation(endpoint=e, service=s) for e, s in services])


def test_completeness_passes_only_on_a_completed_device_probe(clean_decl):
    seen = _device(("tcp/22", "ssh"), ("tcp/80", "http"), ("udp/53", "dns"))
    view = conformance_view(Context(declaration=clean_decl, device=seen))
    u = unit_result(view, "5.6-1-2b")
    assert u.verdict == "PASS" and "every network service observed is declared" in u.note
    partial = conformance_view(Context(declaration=clean_decl, device=_device(("tcp/22", "ssh"), complete=False)))
    assert unit_result(partial, "5.6-1-2b").verdict == "INCONCLUSIVE"
    extra = conformance_view(Context(declaration=clean_decl, device=_device(("tcp/22", "ssh"), ("tcp/23", "telnet"))))
    bad = unit_result(extra, "5.6-1-2b")
    assert bad.verdict == "FAIL" and "tcp/23 telnet" in bad.note
    # telnet is declared disabled in ixit.interfaces, and seen running
    assert unit_result(extra, "5.6-1-2a").verdict == "FAIL"
    # telnet is a password login the AuthMech table does not list
    assert unit_result(extra, "5.1-1-2a").verdict == "FAIL"
    assert unit_result(extra, "5.13-1-2b").verdict == "FAIL"  # an undeclared command-line interface


def test_probe_units_say_a_device_is_needed(clean_decl):
    view = conformance_view(Context(declaration=clean_decl, extraction=ExtractionReport(status="complete")))
    u = unit_result(view, "5.1-5-2b")
    assert u.verdict == "INCONCLUSIVE" and "scan --device" in u.note


def test_same_as_takes_the_referenced_verdict():
    runs = {"comms.weak-tls": run("comms.weak-tls", ["5.5-1"], [finding("comms.weak-tls", ["5.5-1"], "TLS 1.0 enabled")])}
    view = conformance_view(Context(runs=runs, extraction=ExtractionReport(status="complete")))
    assert case_result(view, "5.5-1-2").verdict == "FAIL"
    ref = unit_result(view, "5.5-6-2a")
    assert ref.verdict == "FAIL" and "as test case 5.5-1-2" in ref.note


def test_manual_units_never_pass(clean_decl):
    view = conformance_view(Context(declaration=clean_decl, device=_device(("tcp/22", "ssh"))))
    manual = [u for c in view.test_cases for u in c.units if u.source == "manual"]
    assert manual and all(u.verdict in ("INCONCLUSIVE", "FAIL", "N/A") for u in manual)
    assert all(c.verdict != "PASS" for c in view.test_cases if c.coverage == "manual")


def test_lookup_walks_lists():
    data = {"a": {"b": [{"c": 1}, {"d": 2}]}, "e": []}
    assert values_at(data, "a.b[].c") == [1, None]
    assert values_at(data, "x.y") is None
    assert values_at(data, "e") == [[]]
    assert values_at(data, "e[].f") == []
