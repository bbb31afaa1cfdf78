"""The verdict rules for declaration claims, without firmware."""

from __future__ import annotations

from iotcop.assess import AssessmentInputs, assess_provisions
from iotcop.model import CheckRun, Claim, ConditionFact, Evidence, Finding, Severity
from iotcop.model import VerdictValue as V
from iotcop.standards.catalogue import load_catalogue


def verdicts(evidence):
    return {v.id: v for v in assess_provisions(load_catalogue(), evidence)}


def claim(pid, support="Y", verified=False):
    return Claim(provision=pid, support=support, detail="because", source="d.yaml:3", verified=verified,
                 evidence=[Evidence(path="d.yaml", line=3)])


def test_claim_rules():
    ev = AssessmentInputs()
    ev.add_declaration([claim("5.3-16"), claim("5.2-1", verified=True), claim("5.6-3", "N-A"),
                        ConditionFact(condition=2, holds=False, source="declaration")])
    v = verdicts(ev)
    assert v["5.3-16"].verdict == V.DECLARED and v["5.3-16"].evidence
    assert v["5.2-1"].verdict == V.PASS
    assert v["5.6-3"].verdict == V.NOT_APPLICABLE
    assert v["5.1-2"].verdict == V.NOT_APPLICABLE
    assert v["5.3-13"].verdict == V.NOT_TESTED  # nothing claimed


def test_findings_beat_claims_and_errors_make_claims_inconclusive():
    finding = Finding(check="declared.undeclared-service", severity=Severity.high, provisions=["5.6-1"], title="t",
                      evidence=Evidence(path="/etc/rcS")).with_id()
    run = CheckRun(check="declared.undeclared-service", version="1", status="ran", provisions=["5.6-1"], findings=[finding])
    errored = CheckRun(check="services.telnet-at-boot", version="1", status="error", provisions=["5.5-1"])
    ev = AssessmentInputs(runs=[run, errored])
    ev.add_declaration([claim("5.6-1", verified=True), claim("5.5-1")])
    v = verdicts(ev)
    assert v["5.6-1"].verdict == V.FAIL
    assert v["5.5-1"].verdict == V.INCONCLUSIVE and "did not" not in v["5.5-1"].note
    assert "not every informing check completed" in v["5.5-1"].note


def test_declaration_row_n_is_a_fail():
    ev = AssessmentInputs()
    ev.add_declaration([Finding(check="declaration.conformance", severity=Severity.medium, provisions=["5.3-16"],
                                title="declared not met", evidence=Evidence(path="d.yaml", line=9)).with_id(), claim("5.3-16", "N")])
    assert verdicts(ev)["5.3-16"].verdict == V.FAIL


def test_a_claim_does_not_weaken_what_the_checks_show():
    from iotcop.model import Compliance

    shown = CheckRun(check="credentials.first-use-password", version="1", status="ran", provisions=["5.1-1"],
                     compliance=[Compliance(check="credentials.first-use-password", provision="5.1-1",
                                            statement="the password is set at first use",
                                            evidence=[Evidence(path="/etc/init.d/firstboot", line=4)])])
    silent = CheckRun(check="credentials.empty-password", version="1", status="ran", provisions=["5.1-1"])
    ev = AssessmentInputs(runs=[shown, silent])
    ev.add_declaration([claim("5.1-1")])
    v = verdicts(ev)["5.1-1"]
    assert v.verdict == V.PASS and "also declared (d.yaml:3)" in v.note
    assert [e.path for e in v.evidence] == ["/etc/init.d/firstboot", "d.yaml"]
    ev = AssessmentInputs(runs=[silent])  # nothing shown: the claim alone stays DECLARED
    ev.add_declaration([claim("5.1-1")])
    assert verdicts(ev)["5.1-1"].verdict == V.DECLARED
