"""sbom.spdx.json: SPDX 2.3 JSON, written on request (`scan --output spdx`, `sbom --format spdx`).

The same components as sbom.cdx.json (assessment.components): one package per component with its version,
the SHA-256 of the file that proved it, purl (PACKAGE-MANAGER) and CPE 2.3 (SECURITY) references and the
evidence as a comment, inside a root package for the firmware (DOCUMENT DESCRIBES firmware, firmware
CONTAINS each component). Licences are NOASSERTION: identification does not read them. Vulnerabilities and
VEX stay in the CycloneDX file; SPDX 2.3 has no place for them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

from iotcop import __version__
from iotcop.files import write_atomic
from iotcop.model import Assessment

FORMAT = "spdx"
DEFAULT = False
FILENAME = "sbom.spdx.json"
NAMESPACE_BASE = "https://iotcop.invalid/spdxdocs"  # not resolvable on purpose: a namespace is a name only
ROOT_ID = "SPDXRef-Firmware"

_PURPOSE = {"application": "APPLICATION", "library": "LIBRARY", "operating-system": "OPERATING_SYSTEM",
            "firmware": "FIRMWARE", "framework": "FRAMEWORK"}


def _spdx_id(name: str, version: str | None, taken: set[str]) -> str:
    base = "SPDXRef-Package-" + re.sub(r"[^A-Za-z0-9.\-]+", "-", f"{name}-{version}" if version else name).strip("-")
    spdx_id, n = base, 1
    while spdx_id in taken:
        n += 1
        spdx_id = f"{base}-{n}"
    taken.add(spdx_id)
    return spdx_id


def _created(generated_at: str) -> str:
    when = dt.datetime.fromisoformat(generated_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _evidence_comment(comp: dict) -> str | None:
    parts = []
    for ev in comp.get("evidence") or []:
        where = ev.get("path") or "?"
        if isinstance(ev.get("line"), int):
            where += f" line {ev['line']}"
        elif isinstance(ev.get("offset"), int):
            where += f" offset {ev['offset']}"
        text = f"{ev.get('method') or 'found'} in {where}"
        if ev.get("excerpt"):
            text += f": {ev['excerpt']}"
        parts.append(text)
    package = comp.get("package")
    if package:
        parts.append(f"package {package['manager']}:{package['name']}={package['version']}")
    return "; ".join(parts) or None


def _package(comp: dict, spdx_id: str) -> dict:
    out: dict = {"SPDXID": spdx_id, "name": comp["name"]}
    if comp.get("version"):
        out["versionInfo"] = comp["version"]
    out["downloadLocation"] = "NOASSERTION"
    out["filesAnalyzed"] = False
    if comp.get("sha256"):
        out["checksums"] = [{"algorithm": "SHA256", "checksumValue": comp["sha256"]}]
    refs = []
    if comp.get("purl"):
        refs.append({"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": comp["purl"]})
    if comp.get("cpe"):
        refs.append({"referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": comp["cpe"]})
    if refs:
        out["externalRefs"] = refs
    out["primaryPackagePurpose"] = _PURPOSE.get(comp.get("type") or "", "OTHER")
    out["licenseConcluded"] = "NOASSERTION"
    out["licenseDeclared"] = "NOASSERTION"
    out["copyrightText"] = "NOASSERTION"
    comment = _evidence_comment(comp)
    if comment:
        out["comment"] = comment
    return out


def _image_digest(assessment: Assessment) -> str:
    if assessment.target.sha256:
        return assessment.target.sha256
    # A folder has no single hash: name it by what was found in it, so the same tree gives the same name.
    keys = sorted(f"{c['name']}@{c.get('version') or ''}:{c.get('sha256') or ''}" for c in assessment.components)
    return hashlib.sha256("\n".join([assessment.target.path, *keys]).encode()).hexdigest()


def build_document(assessment: Assessment) -> dict:
    target = assessment.target
    name = Path(target.path).name or target.path
    digest = _image_digest(assessment)
    root: dict = {"SPDXID": ROOT_ID, "name": name, "downloadLocation": "NOASSERTION", "filesAnalyzed": False}
    if target.sha256:
        root["checksums"] = [{"algorithm": "SHA256", "checksumValue": target.sha256}]
    root.update({"primaryPackagePurpose": "FIRMWARE" if target.kind == "firmware" else "OPERATING_SYSTEM",
                 "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION"})
    taken = {ROOT_ID}
    packages = [root]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": ROOT_ID}]
    for comp in assessment.components:
        pkg = _package(comp, _spdx_id(comp["name"], comp.get("version"), taken))
        packages.append(pkg)
        relationships.append({"spdxElementId": ROOT_ID, "relationshipType": "CONTAINS",
                              "relatedSpdxElement": pkg["SPDXID"]})
    slug = re.sub(r"[^A-Za-z0-9.\-_]+", "-", name).strip("-") or "firmware"
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name} (iotcop {__version__})",
        "documentNamespace": f"{NAMESPACE_BASE}/{slug}-{digest}-iotcop-{__version__}",
        "creationInfo": {"created": _created(assessment.generated_at), "creators": [f"Tool: iotcop-{__version__}"]},
        "packages": packages,
        "relationships": relationships,
    }


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / FILENAME
    write_atomic(path, json.dumps(build_document(assessment), indent=2, ensure_ascii=False) + "\n")
    return [path]
