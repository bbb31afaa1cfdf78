"""The label level, from the assessment as the outputs show it (no PASS without evidence).

Each level is one sentence a shopper can read (LEVELS), and each needs the one below it:

0  not rated: the firmware was not analysed completely, or a serious problem was found (a critical finding,
   an actively exploited vulnerability, or a UK PSTI requirement that fails)
1  the firmware analysis found no serious problem
2  and the three UK PSTI requirements are met (checked, or declared by the manufacturer)
3  and every mandatory ETSI EN 303 645 provision is met, with no high or critical issue
4  and a live test of the device completed and found no issue

Only confirmed and likely findings count: a possible one (not yet reviewed) leaves its provision
INCONCLUSIVE, which already keeps a product below level 3 when the provision is mandatory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotcop.model import Assessment, Finding, Severity
from iotcop.report.findings import vulnerability_detail
from iotcop.report.view import catalogue, shown_assessment

MET = ("PASS", "DECLARED", "NOT_APPLICABLE")
TOP = 4
LEVELS = {
    0: "Not rated: a serious security problem was found, or the firmware could not be fully analysed",
    1: "The firmware analysis found no serious security problem",
    2: "Meets the three UK PSTI security requirements, with no serious problem found",
    3: "Meets every mandatory provision of ETSI EN 303 645, with no high or critical issue found",
    4: "Level 3, and a live test of the device found no issue",
}
MEANING = LEVELS  # the name older callers use


@dataclass
class Level:
    value: int
    reasons: list[str] = field(default_factory=list)  # why it is not higher

    @property
    def meaning(self) -> str:
        return LEVELS[self.value]


def _counted(f: Finding) -> bool:
    return f.confidence != "possible"


def serious_problems(a: Assessment) -> list[str]:
    out = []
    for f in a.findings:
        if not _counted(f):
            continue
        vd = vulnerability_detail(f)
        if vd is not None and vd.known_exploited:
            exploited = [v.id for v in vd.vulnerabilities if v.known_exploited]
            out.append(f"actively exploited vulnerability in {vd.component_label}: {', '.join(exploited[:3])}")
        elif f.severity == Severity.critical:
            out.append(f"critical: {f.title}")
    out += [f"UK PSTI requirement not met: {g.title}" for g in a.psti if g.verdict.value == "FAIL"]
    return list(dict.fromkeys(out))


def label_level(assessment: Assessment) -> Level:
    a = shown_assessment(assessment)
    cat = catalogue()
    reasons: list[str] = []
    if a.extraction.status != "complete":
        reasons.append(f"firmware extraction was {a.extraction.status}")
    if a.target.kind not in ("firmware", "rootfs"):
        reasons.append("no firmware was analysed")
    missing = [p for p in cat.provisions if p not in {v.id for v in a.provisions}]
    if missing:
        reasons.append(f"the report holds no verdict for {len(missing)} provision(s) of the catalogue")
    reasons += serious_problems(a)
    if reasons:
        return Level(0, reasons)
    unmet_psti = [f"UK PSTI requirement {g.title}: {g.verdict.value}" for g in a.psti if g.verdict.value not in MET]
    if len(a.psti) != 3:
        unmet_psti.append("the report does not hold the three PSTI requirements")
    if unmet_psti:
        return Level(1, unmet_psti)
    unmet = [f"{v.id} is {v.verdict.value}" for v in a.provisions
             if v.id in cat.provisions and cat.provisions[v.id].mandatory and v.verdict.value not in MET]
    serious = [f"{f.severity.value}: {f.title}" for f in a.findings
               if _counted(f) and f.severity in (Severity.high, Severity.critical)]
    if unmet or serious:
        return Level(2, unmet + serious)
    device = getattr(a, "device", None)
    if device is None:
        return Level(3, ["the live device was not probed"])
    if not getattr(device, "complete", False):
        return Level(3, ["the live probe did not complete"])
    probe_findings = [f.title for f in a.findings if f.check.startswith("probe.")]
    if probe_findings:
        return Level(3, probe_findings)
    return Level(4, [])
