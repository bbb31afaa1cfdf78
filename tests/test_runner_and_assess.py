"""Check isolation (errors, crashes, timeouts) and the verdict rules."""

from __future__ import annotations

import os
import time

from iotcop.assess import AssessmentInputs, assess_provisions, roll_up
from iotcop.checks.base import Check, CheckDoc
from iotcop.checks.runner import run_checks
from iotcop.context import ScanContext
from iotcop.firmware.inventory import inventory_tree
from iotcop.model import CheckRun, ConditionFact, ExtractionReport, Severity
from iotcop.model import Evidence as Ev
from iotcop.model import VerdictValue as V
from iotcop.standards.catalogue import load_catalogue

DOC = CheckDoc(title="test", why="test", fix="test")


class Raises(Check):
    ID = "test.raises"
    PROVISIONS = ("5.13-1",)
    DOC = DOC

    def run(self, fw, ctx):
        raise RuntimeError("boom")
        yield


class Crashes(Check):
    ID = "test.crashes"
    PROVISIONS = ("5.6-6",)
    DOC = DOC

    def run(self, fw, ctx):
        os._exit(9)
        yield


class Sleeps(Check):
    ID = "test.sleeps"
    PROVISIONS = ("5.6-7",)
    TIMEOUT = 0.5
    DOC = DOC

    def run(self, fw, ctx):
        time.sleep(30)
        yield


class FindsOne(Check):
    ID = "test.finds-one"
    PROVISIONS = ("5.6-1",)
    SEVERITY = Severity.high
    DOC = DOC

    def run(self, fw, ctx):
        for entry in fw.glob("/etc/*"):
            yield self.finding(entry, line=1, excerpt="x")


class Proves(Check):
    ID = "test.proves"
    PROVISIONS = ("5.5-1",)
    DOC = DOC

    def run(self, fw, ctx):
        yield self.compliant("5.5-1", "strong crypto seen", Ev(path="/etc/x"))


def _fw(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "etc" / "x").write_text("x\n")
    return inventory_tree(tmp_path)


def test_errors_crashes_and_timeouts_are_isolated(tmp_path):
    fw = _fw(tmp_path)
    start = time.monotonic()
    runs = run_checks([Raises, Crashes, Sleeps, FindsOne, Proves], fw, ScanContext.default(), jobs=2)
    assert time.monotonic() - start < 20
    by = {r.check: r for r in runs}
    assert by["test.raises"].status == "error" and "RuntimeError: boom" in by["test.raises"].error
    assert by["test.crashes"].status == "error" and "exit code 9" in by["test.crashes"].error
    assert by["test.sleeps"].status == "timeout"
    assert by["test.finds-one"].status == "ran" and len(by["test.finds-one"].findings) == 1
    assert by["test.proves"].status == "ran" and by["test.proves"].compliance

    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=runs, extraction=ExtractionReport(status="complete"))).__iter__()}
    assert verdicts["5.13-1"].verdict == V.NOT_TESTED  # only its check errored
    assert verdicts["5.6-6"].verdict == V.NOT_TESTED
    assert verdicts["5.6-7"].verdict == V.NOT_TESTED
    assert verdicts["5.6-1"].verdict == V.FAIL
    assert verdicts["5.6-1"].findings == [runs[3].findings[0].id]
    assert verdicts["5.5-1"].verdict == V.PASS
    assert verdicts["5.2-1"].verdict == V.NOT_TESTED  # no check informs it
    assert "declaration" in verdicts["5.2-1"].note


def _run(check_id, provisions, status="ran", compliance=(), findings=(), conditions=()):
    return CheckRun(check=check_id, version="1", status=status, provisions=list(provisions),
                    compliance=list(compliance), findings=list(findings), conditions=list(conditions))


def test_silence_is_not_compliance():
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=[_run("a.b", ["5.6-1"])], extraction=ExtractionReport(status="complete")))}
    assert verdicts["5.6-1"].verdict == V.INCONCLUSIVE


def test_partial_extraction_never_passes(tmp_path):
    runs = run_checks([Proves], _fw(tmp_path), ScanContext.default())
    for status in ("partial", "failed"):
        verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
            runs=runs, extraction=ExtractionReport(status=status)))}
        assert verdicts["5.5-1"].verdict in (V.INCONCLUSIVE, V.NOT_TESTED)


def test_pass_needs_every_informing_check_to_complete(tmp_path):
    runs = run_checks([Proves], _fw(tmp_path), ScanContext.default()) + [_run("x.y", ["5.5-1"], status="timeout")]
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=runs, extraction=ExtractionReport(status="complete")))}
    assert verdicts["5.5-1"].verdict == V.INCONCLUSIVE


def test_condition_not_holding_makes_provision_not_applicable():
    fact = ConditionFact(condition=2, holds=False, source="test")
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=[_run("a.b", ["5.1-2"], conditions=[fact])], extraction=ExtractionReport(status="complete")))}
    assert verdicts["5.1-2"].verdict == V.NOT_APPLICABLE
    assert verdicts["5.1-2"].status == "M C2"


def test_guideline_roll_up_fails_on_a_mandatory_failure(tmp_path):
    catalogue = load_catalogue()
    runs = run_checks([FindsOne], _fw(tmp_path), ScanContext.default())
    verdicts = {v.id: v for v in assess_provisions(catalogue, AssessmentInputs(
        runs=runs, extraction=ExtractionReport(status="complete")))}
    g6 = next(g for g in catalogue.guidelines if "5.6-1" in g.provisions)
    rolled = roll_up(g6, catalogue, verdicts)
    assert rolled.verdict == V.FAIL and "5.6-1" in rolled.note


def test_possible_findings_do_not_fail_a_provision():
    from iotcop.model import Finding

    possible = Finding(check="a.b", severity=Severity.high, provisions=["5.3-8"], title="maybe",
                       evidence=Ev(path="/x"), confidence="possible").with_id()
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=[_run("a.b", ["5.3-8"], findings=[possible])], extraction=ExtractionReport(status="complete")))}
    assert verdicts["5.3-8"].verdict == V.INCONCLUSIVE
    assert verdicts["5.3-8"].findings == [possible.id]
    confirmed = possible.model_copy(update={"confidence": "likely"}).with_id()
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(
        runs=[_run("a.b", ["5.3-8"], findings=[possible, confirmed])], extraction=ExtractionReport(status="complete")))}
    assert verdicts["5.3-8"].verdict == V.FAIL
