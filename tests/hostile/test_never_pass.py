"""An extraction that is partial or failed never yields PASS, and the label is then level 0."""

from __future__ import annotations

import pytest

from iotcop.assess import AssessmentInputs, assess_provisions, roll_up
from iotcop.label.level import label_level
from iotcop.model import (
    Assessment,
    CheckRun,
    Compliance,
    ExtractionReport,
    Target,
    Tool,
    VerdictValue,
)
from iotcop.model import Evidence
from iotcop.standards.catalogue import load_catalogue


def _proof_for_every_provision(catalogue) -> list[CheckRun]:
    return [CheckRun(check="test.proof", version="1", status="ran", provisions=[p],
                     compliance=[Compliance(check="test.proof", provision=p, statement="shown",
                                            evidence=[Evidence(path="/etc/x", excerpt="ok")])])
            for p in catalogue.provisions]


@pytest.mark.parametrize("status", ["complete", "partial", "failed"])
def test_positive_evidence_passes_only_after_a_complete_extraction(status):
    catalogue = load_catalogue()
    extraction = ExtractionReport(status=status, files=10)
    verdicts = assess_provisions(catalogue, AssessmentInputs(runs=_proof_for_every_provision(catalogue),
                                                     extraction=extraction))
    values = {v.verdict for v in verdicts}
    if status == "complete":
        assert values == {VerdictValue.PASS}
        return
    assert VerdictValue.PASS not in values
    assert values <= {VerdictValue.INCONCLUSIVE, VerdictValue.NOT_TESTED}
    by_id = {v.id: v for v in verdicts}
    assessment = Assessment(
        tool=Tool(version="0", catalogue_version=catalogue.version), generated_at="2025-01-01T00:00:00+00:00",
        target=Target(kind="firmware", path="fw.bin"), extraction=extraction, findings=[], provisions=verdicts,
        guidelines=[roll_up(g, catalogue, by_id) for g in catalogue.guidelines],
        psti=[roll_up(g, catalogue, by_id) for g in catalogue.psti], checks=[], components=[])
    level = label_level(assessment)
    assert level.value == 0
    assert f"firmware extraction was {status}" in level.reasons
