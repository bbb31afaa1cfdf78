"""report.sarif: SARIF 2.1.0 that GitHub code scanning accepts.

rules     = the checks, tagged with the provisions they inform; a vulnerability finding gets the rule of its
            component at its version (`vulns.known-vulnerability/<component>@<version>`) and an actively
            exploited one the rule of its CVE (`vulns.known-exploited/<id>`), each with its own
            security-severity, helpUri and help.markdown;
results   = findings (kind "fail") and verified compliance (kind "pass", one per PASS provision, carrying its
            statement); a finding a baseline accepts carries an accepted external suppression;
locations = every result has one: the device path of the evidence as a relative URI under DEVICE_ROOT
            ("/" on the device), else the analysed image itself;
fingerprints = `iotcop/v1`, stable across scans and database updates (the baseline's fingerprint).
Every provision verdict is also listed in run.properties.provisions.  GitHub's documented limits (tags per
rule, results and rules per run, locations per result) are held to.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from iotcop.files import write_atomic
from iotcop.model import Assessment, Finding, Severity
from iotcop.report.findings import VulnDetail, detail_text, fingerprint, vulnerability_detail
from iotcop.report.view import catalogue, provision_rows, shown_assessment

FORMAT = "sarif"
DEFAULT = True

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://www.gov.uk/government/publications/code-of-practice-for-consumer-iot-security"
MAX_TAGS = 20  # GitHub code scanning keeps at most 20 tags per rule
MAX_RESULTS = 25_000  # and at most 25,000 results per run
_LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
# GitHub reads a rule's security-severity as a CVSS-like score: >9 critical, 7-8.9 high, 4-6.9 medium, <4 low.
_SECURITY_SEVERITY = {Severity.critical: "9.5", Severity.high: "8.0", Severity.medium: "5.5", Severity.low: "3.0",
                      Severity.info: "0.0"}
DECLARATION_RULE = "declaration.verified-claim"


def device_uri(path: str) -> str:
    """A device path ("/etc/shadow") as a URI relative to DEVICE_ROOT ("etc/shadow")."""
    return quote(path.lstrip("/"), safe="/-._~")


def _tags(provisions: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    cat = catalogue()
    guidelines = sorted({str(cat.provisions[p].guideline) for p in provisions
                         if p in cat.provisions and cat.provisions[p].guideline is not None}, key=int)
    tags = ["security", *extra] + [f"UK-CoP:{g}" for g in guidelines] + [f"EN303645:{p}" for p in provisions]
    return tags[:MAX_TAGS]


def _markdown_escape(text: str) -> str:
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", text)


def _check_rules(assessment: Assessment) -> list[dict]:
    from iotcop.checks.discovery import all_checks

    known = {c.ID: c for c in all_checks()}
    rules = []
    for summary in assessment.checks:
        cls = known.get(summary.id)
        provisions = list(cls.PROVISIONS) if cls else []
        rule: dict = {"id": summary.id, "name": summary.id.replace(".", "/")}
        severity = cls.SEVERITY if cls is not None else Severity.medium
        if cls is not None:
            doc = cls.DOC
            rule["shortDescription"] = {"text": doc.title}
            rule["fullDescription"] = {"text": doc.why or doc.title}
            md = [f"**{_markdown_escape(doc.title)}**", "", f"*Why it matters:* {_markdown_escape(doc.why)}", "",
                  f"*How to fix:* {_markdown_escape(doc.fix)}"]
            if provisions:
                md += ["", "ETSI EN 303 645 provisions: " + ", ".join(provisions)]
            if doc.limitations:
                md += ["", f"*Limitations:* {_markdown_escape(doc.limitations)}"]
            refs = [r for r in doc.references if r.startswith(("http://", "https://"))]
            if refs:
                md += ["", "References: " + ", ".join(f"<{r}>" for r in refs)]
            rule["help"] = {"text": doc.fix or doc.title, "markdown": "\n".join(md)}
            rule["helpUri"] = refs[0] if refs else INFORMATION_URI
        else:
            rule["shortDescription"] = {"text": summary.id}
            rule["help"] = {"text": summary.id, "markdown": f"`{summary.id}`"}
            rule["helpUri"] = INFORMATION_URI
        rule["defaultConfiguration"] = {"level": _LEVEL[severity]}
        rule["properties"] = {"tags": _tags(provisions), "provisions": provisions, "version": summary.version,
                              "security-severity": _SECURITY_SEVERITY[severity]}
        rules.append(rule)
    return rules


def _declaration_rule() -> dict:
    return {"id": DECLARATION_RULE, "name": "declaration/verified-claim",
            "shortDescription": {"text": "Manufacturer declaration claim verified by iotcop"},
            "fullDescription": {"text": "A claim of the manufacturer declaration that iotcop checked itself "
                                        "(a page fetched, a date or the conformance rows checked)."},
            "help": {"text": "Nothing to fix: the claim was verified.",
                     "markdown": "A manufacturer declaration claim that iotcop **verified itself**."},
            "helpUri": INFORMATION_URI,
            "defaultConfiguration": {"level": "none"},
            "properties": {"tags": ["security", "declaration"], "provisions": [], "security-severity": "0.0"}}


# --- vulnerability rules -------------------------------------------------------------


def _vuln_rule_id(vd: VulnDetail) -> str:
    if vd.group == "known-exploited":
        return f"vulns.known-exploited/{vd.vulnerabilities[0].id}"
    # Per version: two copies of a library at different versions have different vulnerabilities.
    return f"vulns.known-vulnerability/{vd.component}" + (f"@{vd.version}" if vd.version else "")


def _score(vulns) -> str:
    scores = [v.cvss for v in vulns if v.cvss is not None]
    if scores:
        return f"{max(scores):.1f}"
    worst = max((Severity(v.severity) for v in vulns), key=lambda s: s.rank)
    return _SECURITY_SEVERITY[worst]


def _vuln_table(vulns, limit: int = 200) -> list[str]:
    rows = ["| Vulnerability | CVSS | Severity | Actively exploited | EPSS | Fixed in | Description |",
            "|---|---|---|---|---|---|---|"]
    for v in vulns[:limit]:
        rows.append("| [{}]({}) | {} | {} | {} | {} | {} | {} |".format(
            v.id, v.url, f"{v.cvss:.1f}" if v.cvss is not None else "–", v.severity,
            "**yes (CISA KEV)**" if v.known_exploited else "no", f"{v.epss * 100:.1f}%" if v.epss is not None else "–",
            _markdown_escape(v.fixed) if v.fixed else "–",
            _markdown_escape(v.description or "").replace("\n", " ")))
    if len(vulns) > limit:
        rows.append(f"\n…and {len(vulns) - limit} more in report.json.")
    return rows


def _vuln_rules(findings: list[Finding], why: str, fix: str, provisions: list[str]) -> dict[str, dict]:
    """One rule per component (and per actively exploited CVE) over every finding that names it."""
    by_rule: dict[str, list[VulnDetail]] = {}
    for f in findings:
        vd = vulnerability_detail(f)
        if vd is not None:
            by_rule.setdefault(_vuln_rule_id(vd), []).append(vd)
    rules = {}
    for rule_id, details in by_rule.items():
        vulns = list({v.id: v for vd in details for v in vd.vulnerabilities}.values())
        vd = details[0]
        if vd.group == "known-exploited":
            v = vd.vulnerabilities[0]
            labels = ", ".join(dict.fromkeys(d.component_label for d in details))
            short = f"{v.id} in {labels} is actively exploited (CISA KEV)"
            uri = v.url
        else:
            kev = sum(1 for v in vulns if v.known_exploited)
            short = f"{vd.component_label}: {len(vulns)} known vulnerabilit{'y' if len(vulns) == 1 else 'ies'}" + (
                f", {kev} actively exploited" if kev else "")
            uri = vulns[0].url
        where = ", ".join(f"`{p}`" for p in list(dict.fromkeys(p for d in details for p in d.files))[:5])
        md = [f"**{_markdown_escape(short)}**", "", f"Found in {where}." if where else "",
              f"Package version: `{vd.package_version}`." if vd.package_version else "",
              f"purl: `{vd.purl}`" if vd.purl else "", "", *_vuln_table(vulns), "",
              f"*Why it matters:* {_markdown_escape(why)}", "", f"*How to fix:* {_markdown_escape(fix)}"]
        rules[rule_id] = {
            "id": rule_id,
            "name": rule_id.replace(".", "/"),
            "shortDescription": {"text": short[:1000]},
            "fullDescription": {"text": "; ".join(v.line(160) for v in vulns[:5])[:2000]},
            "help": {"text": f"{fix} Vulnerabilities: " + ", ".join(v.id for v in vulns[:50]),
                     "markdown": "\n".join(line for line in md if line is not None)},
            "helpUri": uri,
            "defaultConfiguration": {"level": "error" if float(_score(vulns)) >= 7 else "warning"},
            "properties": {"tags": _tags(provisions, ("vulnerability", "external/cwe/cwe-1395")),
                           "provisions": provisions, "security-severity": _score(vulns),
                           "component": vd.component, "version": vd.version},
        }
    return rules


# --- results ---------------------------------------------------------------------------


def _target_location(artifact_uri: str) -> dict:
    return {"physicalLocation": {"artifactLocation": {"uri": artifact_uri, "index": 0}}}


def _location(path: str, line: int | None, offset: int | None, excerpt: str | None) -> dict:
    physical: dict = {"artifactLocation": {"uri": device_uri(path), "uriBaseId": "DEVICE_ROOT"}}
    loc: dict = {"physicalLocation": physical}
    if line:
        physical["region"] = {"startLine": line, **({"snippet": {"text": excerpt}} if excerpt else {})}
    elif offset is not None:
        # GitHub wants a startLine in every region, and a byte offset in a binary has none: it stays a property.
        loc["properties"] = {"byteOffset": offset}
    return loc


def _finding_result(f: Finding, rule_id: str, rule_index: dict[str, int], artifact_uri: str,
                    accepted: dict[str, list[dict]]) -> dict:
    ev = f.evidence
    detail = detail_text(f, top=5, description_chars=160)
    vd = vulnerability_detail(f)
    text = detail if vd is not None else f.title + (f". {detail}" if detail else "")
    result: dict = {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "kind": "fail",
        "level": _LEVEL[f.severity],
        "message": {"text": text},
        "partialFingerprints": {"iotcop/v1": fingerprint(f)},
        "properties": {"provisions": list(f.provisions), "severity": f.severity.value, "confidence": f.confidence,
                       "findingId": f.id, "check": f.check, "tags": [f"EN303645:{p}" for p in f.provisions]},
    }
    locations = [_location(ev.path, ev.line, ev.offset, ev.excerpt)] if ev.path else []
    locations += [_location(r.path, r.line, r.offset, r.excerpt) for r in f.related if r.path]
    result["locations"] = locations[:1] or [_target_location(artifact_uri)]
    if len(locations) > 1:
        result["relatedLocations"] = [{"id": i, **loc} for i, loc in enumerate(locations[1:100], 1)]
    if ev.excerpt and not ev.line:
        result["properties"]["excerpt"] = ev.excerpt
    if vd is not None:
        result["properties"]["vulnerabilities"] = [v.id for v in vd.vulnerabilities]
        result["properties"]["knownExploited"] = vd.known_exploited
    if f.fix:
        result["properties"]["fix"] = f.fix
    if f.id in accepted:
        result["suppressions"] = [{"kind": "external", "status": "accepted", "justification":
                                   "; ".join(f"{e['reason']} (until {e['expires']}, {e['source']})"
                                             for e in accepted[f.id])}]
    return result


def build_sarif(assessment: Assessment) -> dict:
    shown = shown_assessment(assessment)
    target = shown.target
    artifact_uri = quote(Path(target.path).name or "image", safe="-._~")
    rules = _check_rules(shown)
    rule_index = {r["id"]: i for i, r in enumerate(rules)}
    vuln_findings = [f for f in shown.findings if vulnerability_detail(f) is not None]
    if vuln_findings:
        first = rules[rule_index[vuln_findings[0].check]] if vuln_findings[0].check in rule_index else None
        why = first["fullDescription"]["text"] if first else ""
        fix = first["help"]["text"] if first else ""
        provisions = first["properties"]["provisions"] if first else list(vuln_findings[0].provisions)
        for rule_id, rule in _vuln_rules(vuln_findings, why, fix, provisions).items():
            rule_index[rule_id] = len(rules)
            rules.append(rule)
    accepted = {a["finding"]: a["entries"] for a in (shown.triage or {}).get("accepted", [])}
    results = []
    for f in shown.findings[: MAX_RESULTS - len(shown.provisions)]:  # room for the pass results
        vd = vulnerability_detail(f)
        rule_id = _vuln_rule_id(vd) if vd is not None else f.check
        if rule_id not in rule_index:  # a finding of a check the report does not list (a hand-made report)
            rule_index[rule_id] = len(rules)
            rules.append({"id": rule_id, "shortDescription": {"text": f.check}, "helpUri": INFORMATION_URI,
                          "help": {"text": f.check, "markdown": f"`{f.check}`"},
                          "properties": {"tags": _tags(list(f.provisions)), "provisions": list(f.provisions),
                                         "security-severity": _SECURITY_SEVERITY[f.severity]}})
        results.append(_finding_result(f, rule_id, rule_index, artifact_uri, accepted))
    rows = provision_rows(shown)
    for row in rows:
        if row.verdict != "PASS":
            continue
        # A verified declaration claim can pass a provision no check informs (4-1: every row present).
        check = row.checks[0] if row.checks else DECLARATION_RULE
        if check not in rule_index:
            rule_index[check] = len(rules)
            rules.append(_declaration_rule() if check == DECLARATION_RULE else
                         {"id": check, "shortDescription": {"text": check}, "helpUri": INFORMATION_URI,
                          "help": {"text": check, "markdown": f"`{check}`"},
                          "properties": {"tags": ["security"], "provisions": [], "security-severity": "0.0"}})
        statements = [e.text for e in row.evidence if e.kind == "compliance"]
        results.append({
            "ruleId": check,
            "ruleIndex": rule_index[check],
            "kind": "pass",
            "level": "none",
            "message": {"text": f"{row.id} met: " + " ".join(statements)},
            "locations": [_target_location(artifact_uri)],
            "partialFingerprints": {"iotcop/v1": f"pass-{row.id}"},
            "properties": {"provisions": [row.id], "checks": row.checks},
        })
    artifact: dict = {"location": {"uri": artifact_uri}, "roles": ["analysisTarget"]}
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
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(target.path).name or "image").strip("-") or "image"
    run = {
        "tool": {"driver": {
            "name": "iotcop",
            "version": shown.tool.version,
            "semanticVersion": shown.tool.version,
            "informationUri": INFORMATION_URI,
            "rules": rules,
            "properties": {"catalogueVersion": shown.tool.catalogue_version,
                           "standard": f"{cat.standard} {cat.standard_version}"},
        }},
        # The category GitHub keeps apart: one per analysed image, so scans of two images do not replace each other.
        "automationDetails": {"id": f"iotcop/{slug}/",
                              "description": {"text": f"iotcop assessment of {Path(target.path).name or target.path}"}},
        "invocations": [invocation],
        "originalUriBaseIds": {"DEVICE_ROOT": {"uri": "file:///",
                                               "description": {"text": "The root of the device file system"}}},
        "artifacts": [artifact],
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "extraction": shown.extraction.status,
            "resultsOmitted": max(0, len(shown.findings) - (MAX_RESULTS - len(shown.provisions))),
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
