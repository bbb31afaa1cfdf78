"""The label level, from the assessment as the outputs show it (no PASS without evidence).

0  no claim: extraction partial or failed, a mandatory provision NOT_TESTED, or level 1 not reached
1  the three PSTI requirements are met (PASS or DECLARED; NOT_APPLICABLE when its condition is
   observed not to hold)
2  every mandatory provision is PASS or DECLARED (or NOT_APPLICABLE)
3  level 2, from a firmware analysis with no high or critical finding
4  level 3, and a live probe of the device that completed with no finding
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotcop.model import Assessment, Severity
from iotcop.report.view import catalogue, shown_assessment

MET = ("PASS", "DECLARED", "NOT_APPLICABLE")
MEANING = {
    0: "No security claim can be made from this assessment",
    1: "Meets the three UK PSTI security requirements",
    2: "Meets every mandatory provision of ETSI EN 303 645",
    3: "Level 2, and the firmware shows no high or critical issue",
    4: "Level 3, and a live test of the device found no issue",
}


@dataclass
class Level:
    value: int
    reasons: list[str] = field(default_factory=list)  # why it is not higher

    @property
    def meaning(self) -> str:
        return MEANING[self.value]


def label_level(assessment: Assessment) -> Level:
    a = shown_assessment(assessment)
    cat = catalogue()
    reasons: list[str] = []
    if a.extraction.status != "complete":
        reasons.append(f"firmware extraction was {a.extraction.status}")
    not_tested = [v.id for v in a.provisions
                  if v.verdict.value == "NOT_TESTED" and v.id in cat.provisions and cat.provisions[v.id].mandatory]
    if not_tested:
        reasons.append("mandatory provisions not tested: " + ", ".join(not_tested))
    if reasons:
        return Level(0, reasons)
    unmet_psti = [f"{g.id} {g.title} is {g.verdict.value}" for g in a.psti if g.verdict.value not in MET]
    if len(a.psti) != 3:
        unmet_psti.append("the report does not hold the three PSTI requirements")
    if unmet_psti:
        return Level(0, unmet_psti)
    unmet = [f"{v.id} is {v.verdict.value}" for v in a.provisions
             if v.id in cat.provisions and cat.provisions[v.id].mandatory and v.verdict.value not in MET]
    if unmet:
        return Level(1, unmet)
    if a.target.kind not in ("firmware", "rootfs"):
        return Level(2, ["no firmware was analysed"])
    serious = [f"{f.severity.value}: {f.title}" for f in a.findings
               if f.severity in (Severity.high, Severity.critical)]
    if serious:
        return Level(2, serious)
    device = getattr(a, "device", None)
    if device is None:
        return Level(3, ["the live device was not probed"])
    probe_findings = [f.title for f in a.findings if f.check.startswith("probe.")]
    if not getattr(device, "complete", False):
        return Level(3, ["the live probe did not complete"])
    if probe_findings:
        return Level(3, probe_findings)
    return Level(4, [])
