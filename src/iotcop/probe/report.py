"""A device probe as an iotcop Assessment: probe-check runs -> verdicts, with the device report attached."""

from __future__ import annotations

import datetime as dt

from iotcop import __version__
from iotcop.assess import Evidence, assess_provisions, roll_up
from iotcop.model import Assessment, CheckRun, CheckSummary, ExtractionReport, Target, Tool
from iotcop.probe.engine import ProbeResult
from iotcop.standards.catalogue import load_catalogue


def summaries(runs: list[CheckRun]) -> list[CheckSummary]:
    return [CheckSummary(id=r.check, version=r.version, status=r.status, findings=len(r.findings), seconds=r.seconds,
                         error=r.error) for r in runs]


def device_assessment(host: str, result: ProbeResult) -> Assessment:
    """Verdicts from the probe alone.  No firmware was read, so the extraction record is empty (0 files)."""
    catalogue = load_catalogue()
    evidence = Evidence(runs=result.runs)
    verdicts = assess_provisions(catalogue, evidence)
    by_id = {v.id: v for v in verdicts}
    findings = sorted({f.id: f for f in evidence.findings}.values(), key=lambda f: f.sort_key())
    return Assessment(
        tool=Tool(version=__version__, catalogue_version=catalogue.version),
        generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        target=Target(kind="device", path=host),
        extraction=ExtractionReport(status="complete", files=0),
        findings=findings,
        provisions=verdicts,
        guidelines=[roll_up(g, catalogue, by_id) for g in catalogue.guidelines],
        psti=[roll_up(g, catalogue, by_id) for g in catalogue.psti],
        checks=summaries(result.runs),
        timings={"probe": result.report.seconds},
        device=result.report,
    )
