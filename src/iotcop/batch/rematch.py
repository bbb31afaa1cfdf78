"""`iotcop rematch`: match stored components against a newer vulnerability database, without extracting.

The components come from report.json; matching is the vulnerability module's own
(iotcop.vulns.match.match_components), and findings are produced by the
vulns.known-vulnerability check itself, fed with the new matches.  What cannot be
redone without the files is the image-dependent VEX analysis (BusyBox applet table,
kernel configuration, unused libraries): a judgement recorded in the sbom.cdx.json
beside the report is carried over for the same vulnerability and component; a
match never judged before is reported as affected (in triage) until a rescan.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from iotcop.errors import InputError
from iotcop.files import write_atomic
from iotcop.report.writers.json import render

CHECK_ID = "vulns.known-vulnerability"


@dataclass
class RematchResult:
    report: str
    matched: list[str] = field(default_factory=list)  # titles of the vulnerability findings after rematching
    new: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    carried_judgements: int = 0
    written: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _components(items: list[dict]):
    from iotcop.sbom.identify import Component

    out = []
    for c in items:
        vendor = product = None
        cpe = c.get("cpe") or ""
        parts = cpe.split(":")
        if len(parts) > 5:
            vendor, product = parts[3].replace("\\", ""), parts[4].replace("\\", "")
        pkg = c.get("package") or {}
        out.append(Component(name=c["name"], version=c.get("version"), vendor=vendor, product=product,
                             type=c.get("type") or "application", purl=c.get("purl"), package=pkg.get("name"),
                             package_version=pkg.get("version"), manager=pkg.get("manager"),
                             evidence=list(c.get("evidence") or []), sha256=c.get("sha256")))
    return out


def _judgements(sbom_path: Path) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    try:
        doc = json.loads(sbom_path.read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for v in doc.get("vulnerabilities") or []:
        analysis = v.get("analysis") or {}
        for a in v.get("affects") or []:
            out[(v.get("id"), a.get("ref", "").removeprefix("component:"))] = (
                analysis.get("state", "in_triage"), analysis.get("justification"), analysis.get("detail"))
    return out


def rematch_report(path: Path, db_path: Path | None = None, write: bool = False) -> RematchResult:
    from iotcop.checks.vulns.known_vulnerabilities import KnownVulnerability
    from iotcop.model import VerdictValue
    from iotcop.report.load import read_report
    from iotcop.vulns.match import match_components
    from iotcop.vulns.vex import Analysis

    assessment, _ = read_report(path)
    matches = match_components(_components(assessment.components), db_path)
    judged = _judgements(path.parent / "sbom.cdx.json")
    result = RematchResult(report=str(path))
    analyses = []
    for m in matches:
        prior = judged.get((m.id, f"{m.component.name}@{m.component.version}"))
        if prior and prior[0] == "not_affected":
            result.carried_judgements += 1
            analyses.append(Analysis(m, "not_affected", prior[1], prior[2]))
        else:
            analyses.append(Analysis(m, "in_triage"))
    findings = sorted(KnownVulnerability().findings(analyses), key=lambda f: f.sort_key())
    old = {f.id: f for f in assessment.findings if f.check == CHECK_ID}
    new = {f.id: f for f in findings}
    result.matched = [f.title for f in findings]
    result.new = [new[i].title for i in new if i not in old]
    result.gone = [old[i].title for i in old if i not in new]
    if write and (result.new or result.gone):
        others = [f for f in assessment.findings if f.check != CHECK_ID]
        assessment.findings = sorted(others + findings, key=lambda f: f.sort_key())
        for summary in assessment.checks:
            if summary.id == CHECK_ID:
                summary.findings = len(findings)
        by_provision: dict[str, list[str]] = {}
        for f in assessment.findings:
            for p in f.provisions:
                by_provision.setdefault(p, []).append(f.id)
        for v in assessment.provisions:
            if v.id not in KnownVulnerability.PROVISIONS:
                continue
            v.findings = by_provision.get(v.id, [])
            if v.findings:
                v.verdict = VerdictValue.FAIL
            elif v.verdict == VerdictValue.FAIL:
                v.verdict = VerdictValue.INCONCLUSIVE
                v.note = "no finding remains after rematching; scan again for a full verdict"
        assessment.notes.append(f"vulnerability matching redone on the stored components ({len(result.new)} new, "
                                f"{len(result.gone)} no longer matched); VEX judgements carried over: "
                                f"{result.carried_judgements}")
        write_atomic(path, render(assessment))
        result.written = True
    return result


def rematch_paths(paths: list[Path], db_path: Path | None = None, write: bool = False) -> list[RematchResult]:
    reports: list[Path] = []
    for p in map(Path, paths):
        if p.is_file():
            reports.append(p)
        elif (p / "report.json").is_file():
            reports.append(p / "report.json")
        elif (p / "results").is_dir():
            reports.extend(sorted((p / "results").glob("*/report.json")))
        else:
            raise InputError(f"{p}: not a report.json, a result folder or a batch folder")
    if not reports:
        raise InputError("no reports found")
    if db_path is not None and not Path(db_path).is_file():
        raise InputError(f"{db_path}: no such vulnerability database")
    return [rematch_report(r, db_path, write) for r in reports]
