"""sbom.cdx.json: CycloneDX 1.6 SBOM with VEX.

components       = every identified component: purl, CPE 2.3, SHA-256 of the file that proved it,
                   evidence (identity technique + occurrences with path and offset);
vulnerabilities  = every database match, with ratings, the record's source and a VEX analysis:
                   `not_affected` + justification where the image shows it, else `in_triage`.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from iotcop import __version__
from iotcop.files import write_atomic
from iotcop.model import Assessment

FORMAT = "cyclonedx"
DEFAULT = True
FILENAME = "sbom.cdx.json"

_TECHNIQUE = {"version string": "binary-analysis", "file name": "filename"}


def _ref(comp: dict) -> str:
    return f"component:{comp['name']}@{comp.get('version') or ''}"


def _component(comp: dict) -> dict:
    out: dict = {"type": comp.get("type") or "application", "bom-ref": _ref(comp), "name": comp["name"]}
    if comp.get("version"):
        out["version"] = comp["version"]
    if comp.get("cpe"):
        out["cpe"] = comp["cpe"]
    if comp.get("purl"):
        out["purl"] = comp["purl"]
    if comp.get("sha256"):
        out["hashes"] = [{"alg": "SHA-256", "content": comp["sha256"]}]
    evidence = comp.get("evidence") or []
    methods = []
    occurrences = []
    for ev in evidence:
        technique = _TECHNIQUE.get(ev.get("method", ""), "manifest-analysis" if "database" in ev.get("method", "") else "other")
        confidence = 1.0 if technique == "manifest-analysis" else 0.8 if technique == "binary-analysis" else 0.5
        method = {"technique": technique, "confidence": confidence}
        if ev.get("excerpt"):
            method["value"] = f"{ev.get('path')}: {ev['excerpt']}"
        methods.append(method)
        occ: dict = {"location": ev.get("path") or ""}
        if isinstance(ev.get("line"), int):
            occ["line"] = ev["line"]
        if isinstance(ev.get("offset"), int):
            occ["offset"] = ev["offset"]
        occurrences.append(occ)
    if methods:
        out["evidence"] = {
            "identity": [{"field": "version" if comp.get("version") else "name",
                          "confidence": max(m["confidence"] for m in methods), "methods": methods}],
            "occurrences": occurrences,
        }
    package = comp.get("package")
    if package:
        out["properties"] = [{"name": "iotcop:package", "value": f"{package['manager']}:{package['name']}={package['version']}"}]
    return out


def _source(src) -> dict:
    ref = src.ref or {}
    if ref.get("url"):
        return {"name": src.name, "url": ref["url"]}
    if ref.get("repo") and ref.get("commit") and ref.get("path"):
        return {"name": src.name, "url": f"https://github.com/{ref['repo']}/blob/{ref['commit']}/{ref['path']}"}
    return {"name": src.name}


def _vulnerability(analysis, refs: dict[str, str]) -> dict | None:
    m = analysis.match
    ref = refs.get(_ref({"name": m.component.name, "version": m.component.version}))
    if ref is None:
        return None
    primary = m.sources[0]
    out: dict = {"bom-ref": f"vuln:{m.id}:{ref}", "id": m.id, "source": _source(primary)}
    if m.cvss_score is not None or m.severity:
        rating: dict = {"source": _source(primary), "severity": m.severity or "unknown"}
        if m.cvss_score is not None:
            rating["score"] = m.cvss_score
            if m.cvss_vector:
                rating["vector"] = m.cvss_vector
                rating["method"] = "CVSSv31" if m.cvss_vector.startswith("CVSS:3.1") else \
                    "CVSSv3" if m.cvss_vector.startswith("CVSS:3") else "CVSSv4" if m.cvss_vector.startswith("CVSS:4") else "other"
        out["ratings"] = [rating]
    if m.description or m.title:
        out["description"] = m.description or m.title
    out["affects"] = [{"ref": ref, "versions": [{"version": m.component.version, "status": "affected"
                                                 if analysis.state != "not_affected" else "unaffected"}]}]
    analysis_out: dict = {"state": analysis.state}
    if analysis.justification:
        analysis_out["justification"] = analysis.justification
    if analysis.detail:
        analysis_out["detail"] = analysis.detail
    out["analysis"] = analysis_out
    props = [{"name": "iotcop:source", "value": f"{s.name}: {s.rule}" + (" (approximate)" if s.approximate else "")}
             for s in m.sources]
    if m.known_exploited:
        props.append({"name": "iotcop:known-exploited", "value": "true"})
    if m.epss is not None:
        props.append({"name": "iotcop:epss", "value": f"{m.epss:.5f}"})
    if m.fixed:
        out["recommendation"] = f"Update {m.component.name} to {m.fixed} or later"
    out["properties"] = props
    return out


def build_bom(assessment: Assessment, firmware=None) -> dict:
    components = [_component(c) for c in assessment.components]
    refs = {c["bom-ref"]: c["bom-ref"] for c in components}
    target = assessment.target
    subject: dict = {"type": "firmware", "bom-ref": "firmware", "name": Path(target.path).name or target.path}
    if target.sha256:
        subject["hashes"] = [{"alg": "SHA-256", "content": target.sha256}]
    bom: dict = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": assessment.generated_at,
            "tools": {"components": [{"type": "application", "name": "iotcop", "version": __version__}]},
            "component": subject,
        },
        "components": components,
        "dependencies": [{"ref": "firmware", "dependsOn": sorted(refs)}] + [{"ref": r} for r in sorted(refs)],
    }
    if firmware is not None:
        from iotcop.vulns.vex import analyse_cached

        vulns = [v for v in (_vulnerability(a, refs) for a in analyse_cached(firmware)) if v]
        bom["vulnerabilities"] = vulns
    return bom


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / FILENAME
    bom = build_bom(assessment, getattr(context, "firmware", None))
    write_atomic(path, json.dumps(bom, indent=2, ensure_ascii=False) + "\n")
    return [path]
