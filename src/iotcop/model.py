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
    source: Literal["firmware", "device", "traffic"] = "firmware"  # device: a live probe; traffic: a capture


class Target(BaseModel):
    kind: Literal["firmware", "rootfs", "device", "capture"]
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
    outage: dict | None = None  # the resilience step (probe --outage): what was done and what answered when


class TlsObservation(BaseModel):
    """TLS handshakes with one server endpoint (and one SNI), as seen in a capture."""

    server: str  # "203.0.113.5:443"
    sni: str | None = None
    client: str = ""
    sessions: int = 0
    versions: list[str] = Field(default_factory=list)  # negotiated: TLS 1.2, TLS 1.3 ...
    offered_versions: list[str] = Field(default_factory=list)
    cipher_suites: list[str] = Field(default_factory=list)  # negotiated, IANA names
    weak: list[str] = Field(default_factory=list)  # why the negotiated parameters are weak
    certificate: dict | None = None  # subject, issuer, sans, not_before, not_after, self_signed, valid_at_capture, matches_sni
    alerts: list[str] = Field(default_factory=list)


class PeerObservation(BaseModel):
    """Everything the capture shows between the device and one other address."""

    address: str
    names: list[str] = Field(default_factory=list)  # from DNS answers, TLS SNI and HTTP Host
    packets: int = 0
    bytes: int = 0
    first_seen: float = 0.0  # seconds since the capture's first packet
    last_seen: float = 0.0
    services: list[dict] = Field(default_factory=list)  # {endpoint, protocol, direction, connections}
    plaintext: list[str] = Field(default_factory=list)  # clear-text protocols seen with this peer
    tls: list[TlsObservation] = Field(default_factory=list)


class CleartextItem(BaseModel):
    """A credential, token or personal datum readable by anyone on the path (value masked)."""

    kind: Literal["credential", "token", "personal"]
    protocol: str
    endpoint: str  # the server side, "203.0.113.5:tcp/1883"
    direction: Literal["from device", "to device", "between others"]
    field: str
    masked: str
    category: str = ""  # personal data category
    at: float = 0.0
    count: int = 1
    firmware: list[Evidence] = Field(default_factory=list)  # where the same value is in the firmware


class UpdateCheck(BaseModel):
    """Requests that look for or fetch an update, grouped by server and channel."""

    server: str
    host: str
    channel: str  # http, https (TLS 1.3), dns only ...
    requests: list[str] = Field(default_factory=list)  # URLs (or SNI) seen, a few
    count: int = 0
    first_at: float = 0.0
    interval_seconds: float | None = None  # median time between checks
    downloads: int = 0  # responses that carried an image
    certificate_valid: bool | None = None


class ConnectionHistory(BaseModel):
    """Connection attempts from the device to one service over the capture: outages and reconnection."""

    endpoint: str
    attempts: int = 0
    failures: int = 0
    outages: list[dict] = Field(default_factory=list)  # {start, end, seconds, failed_attempts, intervals}
    reconnected: bool = False
    backoff: bool | None = None


class TrafficReport(BaseModel):
    """What one packet capture shows (iotcop traffic, or scan --traffic)."""

    capture: str
    sha256: str | None = None
    size: int = 0
    format: str = ""
    dissector: str = ""
    packets: int = 0
    wire_bytes: int = 0
    duration_seconds: float = 0.0
    analysis_seconds: float = 0.0
    device: str | None = None  # the device's address, given or inferred
    device_inferred: bool = False
    complete: bool = True
    partial_reason: str | None = None
    peers: list[PeerObservation] = Field(default_factory=list)
    cleartext: list[CleartextItem] = Field(default_factory=list)
    updates: list[UpdateCheck] = Field(default_factory=list)
    connections: list[ConnectionHistory] = Field(default_factory=list)
    dns: list[dict] = Field(default_factory=list)  # {name, addresses, failures}
    joined_at: float | None = None  # seconds into the capture when the device asked DHCP for an address (start-up)
    sensors: list[str] = Field(default_factory=list)  # sensor readings seen in telemetry keys
    correlation: list[dict] = Field(default_factory=list)  # with the firmware and the probe
    truncated: list[str] = Field(default_factory=list)  # lists cut to their limit


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
    triage: dict | None = None  # baseline and VEX input: accepted findings, expired entries (iotcop.triage)
    claims: list[Claim] = Field(default_factory=list)  # from the manufacturer declaration, when given
    declaration: dict | None = None  # summary of the declaration: file, sha256, product, support period ...
    device: DeviceReport | None = None  # present when a live device was probed
    traffic: list[TrafficReport] | None = None  # packet captures of the device (--traffic)
    ts103701: ConformanceView | None = None  # with scan --view ts103701
    boot: dict | None = None  # what the image starts at boot (iotcop.boot.BootModel.report_view())

    model_config = ConfigDict(populate_by_name=True)

    def to_json_dict(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)
