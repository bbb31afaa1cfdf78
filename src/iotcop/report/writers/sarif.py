"""report.sarif: SARIF 2.1.0 for code-scanning tools.

rules    = the checks, tagged with the provisions they inform;
results  = findings (kind "fail") and verified compliance (kind "pass", one per
           PASS provision, carrying its statement);
locations = the device path of the evidence as a relative artifact URI under
            the uriBaseId DEVICE_ROOT ("/" on the device).
Every provision verdict is also listed in run.properties.provisions.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from iotcop.files import write_atomic
from iotcop.model import Assessment, Finding, Severity
from iotcop.report.view import catalogue, provision_rows, shown_assessment

FORMAT = "sarif"
DEFAULT = True

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
_SECURITY_SEVERITY = {Severity.critical: "9.5", Severity.high: "8.0", Severity.medium: "5.5", Severity.low: "3.0",
                      Severity.info: "0.0"}


def device_uri(path: str) -> str:
    """A device path ("/etc/shadow") as a URI relative to DEVICE_ROOT ("etc/shadow")."""
    return quote(path.lstrip("/"), safe="/-._~")


def _rules(assessment: Assessment) -> list[dict]:
    from iotcop.checks.discovery import all_checks

    cat = catalogue()
    known = {c.ID: c for c in all_checks()}
    rules = []
    for summary in assessment.checks:
        cls = known.get(summary.id)
        provisions = list(cls.PROVISIONS) if cls else []
        rule: dict = {"id": summary.id, "name": summary.id.replace(".", "/")}
        if cls is not None:
            doc = cls.DOC
            rule["shortDescription"] = {"text": doc.title}
            rule["fullDescription"] = {"text": doc.why or doc.title}
            rule["help"] = {"text": doc.fix or doc.title}
            rule["defaultConfiguration"] = {"level": _LEVEL[cls.SEVERITY]}
            if doc.references and doc.references[0].startswith(("http://", "https://")):
                rule["helpUri"] = doc.references[0]
        else:
            rule["shortDescription"] = {"text": summary.id}
        tags = ["security"] + [f"EN303645:{p}" for p in provisions]
        guidelines = sorted({str(cat.provisions[p].guideline) for p in provisions
                             if p in cat.provisions and cat.provisions[p].guideline is not None}, key=int)
        tags += [f"UK-CoP:{g}" for g in guidelines]
        rule["properties"] = {"tags": tags, "provisions": provisions, "version": summary.version}
        if cls is not None:
            rule["properties"]["security-severity"] = _SECURITY_SEVERITY[cls.SEVERITY]
        rules.append(rule)
    return rules


DECLARATION_RULE = "declaration.verified-claim"


def _declaration_rule() -> dict:
    return {"id": DECLARATION_RULE, "name": "declaration/verified-claim",
            "shortDescription": {"text": "Manufacturer declaration claim verified by iotcop"},
            "fullDescription": {"text": "A claim of the manufacturer declaration that iotcop checked itself "
                                        "(a page fetched, a date or the conformance rows checked)."},
            "defaultConfiguration": {"level": "none"},
            "properties": {"tags": ["security", "declaration"], "provisions": []}}


def _location(path: str | None, line: int | None, offset: int | None, excerpt: str | None,
              detail: str | None) -> dict | None:
    if not path:
        return None
    physical: dict = {"artifactLocation": {"uri": device_uri(path), "uriBaseId": "DEVICE_ROOT"}}
    region: dict = {}
    if line:
        region["startLine"] = line
    elif offset is not None:
        region["byteOffset"] = offset
    if region and excerpt:  # a region needs a start; an excerpt alone goes into the message
        region["snippet"] = {"text": excerpt}
    if region:
        physical["region"] = region
    loc: dict = {"physicalLocation": physical}
    if detail:
        loc["message"] = {"text": detail}
    return loc


def _finding_result(f: Finding, rule_index: dict[str, int]) -> dict:
    ev = f.evidence
    text = f.title + (f". {ev.detail}" if ev.detail else "")
    result: dict = {
        "ruleId": f.check,
        "kind": "fail",
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "partialFingerprints": {"iotcopFindingId/v1": f.id},
        "properties": {"provisions": list(f.provisions), "severity": f.severity.value,
                       "tags": [f"EN303645:{p}" for p in f.provisions]},
    }
    if f.check in rule_index:
        result["ruleIndex"] = rule_index[f.check]
    loc = _location(ev.path, ev.line, ev.offset, ev.excerpt, None)
    if loc is not None:
        result["locations"] = [loc]
    if ev.excerpt and not (ev.line or ev.offset is not None):
        result["properties"]["excerpt"] = ev.excerpt
    if f.fix:
        result["properties"]["fix"] = f.fix
    return result


def build_sarif(assessment: Assessment) -> dict:
    shown = shown_assessment(assessment)
    rules = _rules(shown)
    rule_index = {r["id"]: i for i, r in enumerate(rules)}
    results = [_finding_result(f, rule_index) for f in shown.findings]
    rows = provision_rows(shown)
    for row in rows:
        if row.verdict != "PASS":
            continue
        # A verified declaration claim can pass a provision no check informs (4-1: every row present).
        check = row.checks[0] if row.checks else DECLARATION_RULE
        if check == DECLARATION_RULE and check not in rule_index:
            rule_index[check] = len(rules)
            rules.append(_declaration_rule())
        statements = [e.text for e in row.evidence if e.kind == "compliance"]
        result = {
            "ruleId": check,
            "kind": "pass",
            "level": "none",
            "message": {"text": f"{row.id} met: " + " ".join(statements)},
            "properties": {"provisions": [row.id], "checks": row.checks},
        }
        if check in rule_index:
            result["ruleIndex"] = rule_index[check]
        results.append(result)
    target = shown.target
    artifact: dict = {"location": {"uri": Path(target.path).name or target.path}, "roles": ["analysisTarget"]}
    if target.sha256:
        artifact["hashes"] = {"sha-256": target.sha256}
    if target.size is not None:
        artifact["length"] = target.size
    cat = catalogue()
    invocation = {
        "executionSuccessful": shown.extraction.status != "failed",
        "endTimeUtc": _utc(shown.generated_at),
        "toolExecutionNotifications": [{"level": "warning", "message": {"text": e}} for e in shown.extraction.errors]
        + [{"level": "error", "message": {"text": f"{c.id}: {c.status}: {c.error or ''}".rstrip(": ")}}
           for c in shown.checks if c.status != "ran"],
    }
    run = {
        "tool": {"driver": {
            "name": "iotcop",
            "version": shown.tool.version,
            "semanticVersion": shown.tool.version,
            "informationUri": "https://www.gov.uk/government/publications/code-of-practice-for-consumer-iot-security",
            "rules": rules,
            "properties": {"catalogueVersion": shown.tool.catalogue_version,
                           "standard": f"{cat.standard} {cat.standard_version}"},
        }},
        "invocations": [invocation],
        "originalUriBaseIds": {"DEVICE_ROOT": {"uri": "file:///",
                                               "description": {"text": "The root of the device file system"}}},
        "artifacts": [artifact],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "extraction": shown.extraction.status,
            "provisions": [{"id": r.id, "verdict": r.verdict, "status": r.status, "note": r.note} for r in rows],
            "guidelines": [{"id": g.id, "title": g.title, "verdict": g.verdict.value} for g in shown.guidelines],
            "psti": [{"id": g.id, "title": g.title, "verdict": g.verdict.value} for g in shown.psti],
        },
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def _utc(stamp: str) -> str:
    return stamp.replace("+00:00", "Z")


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / "report.sarif"
    write_atomic(path, json.dumps(build_sarif(assessment), indent=2, ensure_ascii=False) + "\n")
    return [path]
