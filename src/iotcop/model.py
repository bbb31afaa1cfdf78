"""The one result model every part of iotcop reads and writes.

Evidence flows one way: extraction and checks produce Findings and Compliance
records; the assessment turns them into Verdicts; every output renders an
Assessment.  Nothing here knows how it is rendered.
"""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Severity(str, Enum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.critical: 4,
    Severity.high: 3,
    Severity.medium: 2,
    Severity.low: 1,
    Severity.info: 0,
}


class VerdictValue(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NOT_TESTED = "NOT_TESTED"
    DECLARED = "DECLARED"
    INCONCLUSIVE = "INCONCLUSIVE"


class Evidence(BaseModel):
    """Where something was seen.  `path` is the path as seen on the device."""

    model_config = ConfigDict(frozen=True)

    path: str | None = None
    line: int | None = None
    offset: int | None = None
    excerpt: str | None = None
    detail: str | None = None


class Finding(BaseModel):
    """Counter-evidence against one or more provisions."""

    id: str = ""
    check: str
    severity: Severity
    provisions: list[str]
    title: str
    evidence: Evidence
    why: str = ""
    fix: str = ""
    related: list[Evidence] = Field(default_factory=list)  # the other side, e.g. the declaration line contradicted
    # "confirmed"/"likely" findings make a provision FAIL; "possible" ones (e.g. a version match that a
    # distribution's backported fix may void) only make it INCONCLUSIVE until someone reviews them.
    confidence: Literal["confirmed", "likely", "possible"] = "confirmed"

    def with_id(self) -> Finding:
        key = "\x00".join(
            str(x)
            for x in (
                self.check,
                self.title,
                self.evidence.path,
                self.evidence.line,
                self.evidence.offset,
                self.evidence.detail,
            )
        )
        return self.model_copy(update={"id": hashlib.sha256(key.encode()).hexdigest()[:16]})

    def sort_key(self) -> tuple:
        ev = self.evidence
        return (-self.severity.rank, self.check, ev.path or "", ev.line or 0, ev.offset or 0, self.title, ev.detail or "")


class Compliance(BaseModel):
    """Positive evidence that a provision is met (never inferred from silence)."""

    check: str
    provision: str
    statement: str
    evidence: list[Evidence] = Field(default_factory=list)


class ConditionFact(BaseModel):
    """An observed truth value of an EN 303 645 Annex B condition."""

    condition: int
    holds: bool
    source: str
    evidence: Evidence | None = None


CheckStatus = Literal["ran", "error", "timeout", "skipped"]


class CheckRun(BaseModel):
    """What happened when one check ran: its status, output and cost."""

    check: str
    version: str
    status: CheckStatus
    provisions: list[str]
    findings: list[Finding] = Field(default_factory=list)
    compliance: list[Compliance] = Field(default_factory=list)
    conditions: list[ConditionFact] = Field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    source: Literal["firmware", "device"] = "firmware"  # device: a live probe of the device


class Target(BaseModel):
    kind: Literal["firmware", "rootfs", "device"]
    path: str
    sha256: str | None = None
    size: int | None = None


class ExtractionReport(BaseModel):
    status: Literal["complete", "partial", "failed"]
    files: int = 0
    bytes: int = 0
    unknown_ratio: float = 0.0
    roots: list[str] = Field(default_factory=list)
    partitions: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    readers: list[dict] = Field(default_factory=list)
    seconds: float = 0.0
    # Entries a hostile image planted and extraction removed or refused: {path, kind, detail, action}
    # with kind path-traversal, symlink-escape, hardlink-escape, link-escape, device, fifo, socket, special-file.
    neutralised: list[dict] = Field(default_factory=list)
    neutralised_count: int = 0  # exact, even when the list is cut short
    # False when some file modes in the inventory are the extractor's, not the image's (checks on modes
    # then cannot be trusted); None when not known (a directory given as input keeps its own modes).
    modes_from_image: bool | None = None
    sandbox: dict | None = None  # {"landlock": bool, "limits": {...}} of the extraction child


class Claim(BaseModel):
    """What the manufacturer's declaration says about one provision (an Annex B row), and what was verified."""

    provision: str
    support: Literal["Y", "N", "N-A"] | None = None  # None: nothing claimed, only a verification attempt
    detail: str = ""
    source: str = "declaration"  # where it is declared: "decl.yaml:41"
    verified: bool = False  # True only when iotcop itself observed it (a page fetched, a date checked)
    note: str = ""  # how it was verified, or why it could not be
    evidence: list[Evidence] = Field(default_factory=list)


class Verdict(BaseModel):
    id: str
    status: str
    verdict: VerdictValue
    findings: list[str] = Field(default_factory=list)
    checks: list[str] = Field(default_factory=list)
    note: str = ""
    evidence: list[Evidence] = Field(default_factory=list)  # what a PASS or DECLARED rests on


class GroupVerdict(BaseModel):
    """A roll-up of provision verdicts (a UK CoP guideline, a PSTI requirement)."""

    id: str
    title: str
    verdict: VerdictValue
    provisions: list[str]
    note: str = ""


class Tool(BaseModel):
    name: str = "iotcop"
    version: str
    catalogue_version: str


class CheckSummary(BaseModel):
    id: str
    version: str
    status: CheckStatus
    findings: int
    seconds: float
    error: str | None = None


class ProbeAttempt(BaseModel):
    """One network action of a live probe (every login try is one)."""

    service: str  # "tcp/23"
    action: str  # connect, login, request, query
    result: str  # open, closed, success, failure, refused, error, timeout ...
    username: str | None = None
    password: str | None = None
    detail: str = ""
    at: float = 0.0  # seconds since the probe started
    seconds: float = 0.0


class ServiceObservation(BaseModel):
    """A service seen on the device, with what was learnt about it."""

    endpoint: str  # "tcp/22", "udp/161"
    service: str  # ssh, telnet, http, https, ftp, mqtt, rtsp, snmp, ssdp, mdns, coap, unknown
    banner: str = ""
    facts: dict = Field(default_factory=dict)


class DeviceReport(BaseModel):
    """What a live probe of one address saw and did."""

    address: str
    budget_seconds: float
    seconds: float
    ports_scanned: int
    complete: bool = True  # False when the time budget stopped the probe early
    services: list[ServiceObservation] = Field(default_factory=list)
    attempts: list[ProbeAttempt] = Field(default_factory=list)
    correlation: list[dict] = Field(default_factory=list)  # firmware boot command <-> open endpoint


class TestUnitResult(BaseModel):
    """One lettered test unit of an ETSI TS 103 701 test case, as iotcop decided it."""

    unit: str  # "5.1-1-2a"
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE", "N/A"]
    source: str  # what decided it: firmware, probe, web, declaration, manual, or several joined by "+"
    note: str = ""
    checks: list[str] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)  # finding ids
    evidence: list[Evidence] = Field(default_factory=list)


class TestCaseResult(BaseModel):
    """One ETSI TS 103 701 test case: the verdict over its test units."""

    id: str  # "5.1-1-2"
    provision: str
    kind: Literal["conceptual", "functional", "combined"]
    coverage: Literal["automated", "declaration", "manual"]
    network: bool = False
    verdict: Literal["PASS", "FAIL", "INCONCLUSIVE", "N/A"]
    note: str = ""
    units: list[TestUnitResult] = Field(default_factory=list)


class ConformanceView(BaseModel):
    """The assessment seen as ETSI TS 103 701 test cases (scan --view ts103701)."""

    standard: str = "ETSI TS 103 701 V1.1.1"
    declaration: bool = False  # whether a manufacturer declaration was given
    device: bool = False  # whether a live device was probed
    counts: dict[str, int] = Field(default_factory=dict)
    test_cases: list[TestCaseResult] = Field(default_factory=list)


class Assessment(BaseModel):
    """Everything a report, label or statement is rendered from."""

    schema_: str = Field("iotcop.report/1", alias="schema")
    tool: Tool
    generated_at: str
    target: Target
    extraction: ExtractionReport
    findings: list[Finding]
    provisions: list[Verdict]
    guidelines: list[GroupVerdict] = Field(default_factory=list)
    psti: list[GroupVerdict] = Field(default_factory=list)
    checks: list[CheckSummary] = Field(default_factory=list)
    components: list[dict] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    profile: str | None = None  # scan profile that ran (label, standard, deep); None in reports made before profiles
    notes: list[str] = Field(default_factory=list)  # warnings about the scan itself (a stale vulnerability database)
    claims: list[Claim] = Field(default_factory=list)  # from the manufacturer declaration, when given
    declaration: dict | None = None  # summary of the declaration: file, sha256, product, support period ...
    device: DeviceReport | None = None  # present when a live device was probed
    ts103701: ConformanceView | None = None  # with scan --view ts103701
    boot: dict | None = None  # what the image starts at boot (iotcop.boot.BootModel.report_view())

    model_config = ConfigDict(populate_by_name=True)

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)
