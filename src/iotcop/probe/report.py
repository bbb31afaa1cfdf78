"""A device probe as an iotcop Assessment: probe-check runs -> verdicts, with the device report attached."""

from __future__ import annotations

from iotcop.assess import AssessmentInputs, build_assessment
from iotcop.model import Assessment, ExtractionReport, Target
from iotcop.probe.engine import ProbeResult
from iotcop.standards.catalogue import load_catalogue


def device_assessment(host: str, result: ProbeResult) -> Assessment:
    """Verdicts from the probe alone.  No firmware was read, so the extraction record is empty (0 files)."""
    return build_assessment(load_catalogue(), Target(kind="device", path=host),
                            ExtractionReport(status="complete", files=0), AssessmentInputs(runs=result.runs),
                            timings={"probe": result.report.seconds}, device=result.report)
