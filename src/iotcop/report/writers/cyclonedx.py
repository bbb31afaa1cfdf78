"""sbom.cdx.json: CycloneDX 1.6 SBOM with VEX, built and serialised by cyclonedx-python-lib.

components       = every identified component: purl, CPE 2.3, SHA-256 of the file that proved it,
                   evidence (identity technique + occurrences with path and offset);
vulnerabilities  = every database match, with ratings, the record's source and a VEX analysis:
                   `not_affected` + justification where the image shows it (or a VEX statement the user gave,
                   named in the detail), else `in_triage`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import (
    AnalysisTechnique,
    ComponentEvidence,
    Identity,
    IdentityField,
    Method,
    Occurrence,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisState,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from iotcop import __version__
from iotcop.files import write_atomic
from iotcop.model import Assessment
from iotcop.triage.vex import SUPPRESSING

FORMAT = "cyclonedx"
DEFAULT = True
FILENAME = "sbom.cdx.json"

_TECHNIQUE = {"version string": AnalysisTechnique.BINARY_ANALYSIS, "file name": AnalysisTechnique.FILENAME}
_CONFIDENCE = {AnalysisTechnique.MANIFEST_ANALYSIS: Decimal("1"), AnalysisTechnique.BINARY_ANALYSIS: Decimal("0.8")}
_TYPES = {t.value: t for t in ComponentType}


def _ref(comp: dict) -> str:
    return f"component:{comp['name']}@{comp.get('version') or ''}"


def _purl(text: str | None) -> PackageURL | None:
    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _evidence(comp: dict) -> ComponentEvidence | None:
    methods, occurrences = [], []
    for n, ev in enumerate(comp.get("evidence") or [], 1):
        method_name = ev.get("method", "")
        technique = _TECHNIQUE.get(method_name, AnalysisTechnique.MANIFEST_ANALYSIS if "database" in method_name
                                   else AnalysisTechnique.OTHER)
        value = f"{ev.get('path')}: {ev['excerpt']}" if ev.get("excerpt") else None
        methods.append(Method(technique=technique, confidence=_CONFIDENCE.get(technique, Decimal("0.5")), value=value))
        # A bom-ref of its own keeps the evidence order (the library sorts occurrences by it).
        occurrences.append(Occurrence(bom_ref=f"{_ref(comp)}#occurrence-{n:03d}", location=ev.get("path") or "",
                                      line=ev["line"] if isinstance(ev.get("line"), int) else None,
                                      offset=ev["offset"] if isinstance(ev.get("offset"), int) else None))
    if not methods:
        return None
    identity = Identity(field=IdentityField.VERSION if comp.get("version") else IdentityField.NAME,
                        confidence=max(m.confidence for m in methods), methods=methods)
    return ComponentEvidence(identity=[identity], occurrences=occurrences)


def _component(comp: dict) -> Component:
    package = comp.get("package")
    properties = [Property(name="iotcop:package", value=f"{package['manager']}:{package['name']}={package['version']}")] \
        if package else []
    return Component(
        name=comp["name"], type=_TYPES.get(comp.get("type") or "application", ComponentType.APPLICATION),
        bom_ref=_ref(comp), version=comp.get("version") or None, cpe=comp.get("cpe") or None,
        purl=_purl(comp.get("purl")),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=comp["sha256"])] if comp.get("sha256") else None,
        evidence=_evidence(comp), properties=properties)


def _source(src) -> VulnerabilitySource:
    ref = src.ref or {}
    url = ref.get("url")
    if not url and ref.get("repo") and ref.get("commit") and ref.get("path"):
        url = f"https://github.com/{ref['repo']}/blob/{ref['commit']}/{ref['path']}"
    return VulnerabilitySource(name=src.name, url=XsUri(url) if url else None)


def _method(vector: str) -> VulnerabilityScoreSource:
    if vector.startswith("CVSS:3.1"):
        return VulnerabilityScoreSource.CVSS_V3_1
    if vector.startswith("CVSS:3"):
        return VulnerabilityScoreSource.CVSS_V3
    if vector.startswith("CVSS:4"):
        return VulnerabilityScoreSource.CVSS_V4
    if vector.startswith("AV:"):
        return VulnerabilityScoreSource.CVSS_V2
    return VulnerabilityScoreSource.OTHER


def _enum(kind, value):
    try:
        return kind(value) if value else None
    except ValueError:
        return None


def _vulnerability(analysis, components: dict[str, Component]) -> Vulnerability | None:
    m = analysis.match
    component = components.get(_ref({"name": m.component.name, "version": m.component.version}))
    if component is None:
        return None
    primary = m.sources[0]
    ratings = []
    if m.cvss_score is not None or m.severity:
        ratings.append(VulnerabilityRating(
            source=_source(primary), severity=_enum(VulnerabilitySeverity, m.severity) or VulnerabilitySeverity.UNKNOWN,
            score=Decimal(str(m.cvss_score)) if m.cvss_score is not None else None,
            method=_method(m.cvss_vector) if m.cvss_score is not None and m.cvss_vector else None,
            vector=m.cvss_vector if m.cvss_score is not None and m.cvss_vector else None))
    settled = analysis.state in SUPPRESSING
    properties = [Property(name="iotcop:source", value=f"{s.name}: {s.rule}" + (" (approximate)" if s.approximate else ""))
                  for s in m.sources]
    if m.known_exploited:
        properties.append(Property(name="iotcop:known-exploited", value="true"))
    if m.epss is not None:
        properties.append(Property(name="iotcop:epss", value=f"{m.epss:.5f}"))
    justification = _enum(ImpactAnalysisJustification, analysis.justification)
    return Vulnerability(
        bom_ref=f"vuln:{m.id}:{component.bom_ref.value}", id=m.id, source=_source(primary), ratings=ratings,
        description=m.description or m.title or None,
        recommendation=f"Update {m.component.name} to {m.fixed} or later" if m.fixed else None,
        affects=[BomTarget(ref=component.bom_ref.value, versions=[BomTargetVersionRange(
            version=m.component.version,
            status=ImpactAnalysisAffectedStatus.UNAFFECTED if settled else ImpactAnalysisAffectedStatus.AFFECTED)])],
        analysis=VulnerabilityAnalysis(state=_enum(ImpactAnalysisState, analysis.state) or ImpactAnalysisState.IN_TRIAGE,
                                       justification=justification, detail=analysis.detail or None),
        properties=properties)


def _timestamp(stamp: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def build_bom(assessment: Assessment, firmware=None, vex=()) -> Bom:
    components: dict[str, Component] = {}
    for comp in assessment.components:
        components.setdefault(_ref(comp), _component(comp))  # one entry per name and version
    target = assessment.target
    subject = Component(name=Path(target.path).name or target.path, type=ComponentType.FIRMWARE, bom_ref="firmware",
                        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=target.sha256)] if target.sha256 else None)
    bom = Bom(components=components.values())
    bom.metadata.timestamp = _timestamp(assessment.generated_at)
    bom.metadata.component = subject
    bom.metadata.tools.components.add(Component(type=ComponentType.APPLICATION, name="iotcop", version=__version__))
    bom.register_dependency(subject, components.values())
    for comp in components.values():
        bom.register_dependency(comp, [])
    if firmware is not None:
        from iotcop.vulns.vex import analyse_cached, with_statements

        for analysis in with_statements(analyse_cached(firmware), vex):
            vuln = _vulnerability(analysis, components)
            if vuln is not None:
                bom.vulnerabilities.add(vuln)
    return bom


def render(bom: Bom) -> str:
    return JsonV1Dot6(bom).output_as_string(indent=2) + "\n"


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / FILENAME
    bom = build_bom(assessment, getattr(context, "firmware", None), getattr(context, "vex", ()))
    write_atomic(path, render(bom))
    return [path]
