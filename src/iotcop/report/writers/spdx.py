"""sbom.spdx.json: SPDX 2.3 JSON, written on request (`scan --output spdx`, `sbom --format spdx`), built as an
spdx-tools document and written (and validated) by its JSON writer.

The same components as sbom.cdx.json (assessment.components): one package per component with its version,
the SHA-256 of the file that proved it, purl (PACKAGE-MANAGER) and CPE 2.3 (SECURITY) references and the
evidence as a comment, inside a root package for the firmware (DOCUMENT DESCRIBES firmware, firmware
CONTAINS each component). Licences are NOASSERTION: identification does not read them. Vulnerabilities and
VEX stay in the CycloneDX file; SPDX 2.3 has no place for them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from pathlib import Path

from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    Checksum,
    ChecksumAlgorithm,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from iotcop import __version__
from iotcop.files import write_atomic
from iotcop.model import Assessment

FORMAT = "spdx"
DEFAULT = False
FILENAME = "sbom.spdx.json"
NAMESPACE_BASE = "https://iotcop.invalid/spdxdocs"  # not resolvable on purpose: a namespace is a name only
ROOT_ID = "SPDXRef-Firmware"

_PURPOSE = {"application": PackagePurpose.APPLICATION, "library": PackagePurpose.LIBRARY,
            "operating-system": PackagePurpose.OPERATING_SYSTEM, "firmware": PackagePurpose.FIRMWARE,
            "framework": PackagePurpose.FRAMEWORK}


def _spdx_id(name: str, version: str | None, taken: set[str]) -> str:
    base = "SPDXRef-Package-" + re.sub(r"[^A-Za-z0-9.\-]+", "-", f"{name}-{version}" if version else name).strip("-")
    spdx_id, n = base, 1
    while spdx_id in taken:
        n += 1
        spdx_id = f"{base}-{n}"
    taken.add(spdx_id)
    return spdx_id


def _created(generated_at: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(generated_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)  # SPDX writes it as UTC "Z"


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


def _package(comp: dict, spdx_id: str) -> Package:
    refs = []
    if comp.get("purl"):
        refs.append(ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", comp["purl"]))
    if comp.get("cpe"):
        refs.append(ExternalPackageRef(ExternalPackageRefCategory.SECURITY, "cpe23Type", comp["cpe"]))
    return Package(
        spdx_id=spdx_id, name=comp["name"], version=comp.get("version") or None,
        download_location=SpdxNoAssertion(), files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, comp["sha256"])] if comp.get("sha256") else [],
        external_references=refs,
        primary_package_purpose=_PURPOSE.get(comp.get("type") or "", PackagePurpose.OTHER),
        license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(), copyright_text=SpdxNoAssertion(),
        comment=_evidence_comment(comp))


def _image_digest(assessment: Assessment) -> str:
    if assessment.target.sha256:
        return assessment.target.sha256
    # A folder has no single hash: name it by what was found in it, so the same tree gives the same name.
    keys = sorted(f"{c['name']}@{c.get('version') or ''}:{c.get('sha256') or ''}" for c in assessment.components)
    return hashlib.sha256("\n".join([assessment.target.path, *keys]).encode()).hexdigest()


def build_document(assessment: Assessment) -> Document:
    target = assessment.target
    name = Path(target.path).name or target.path
    digest = _image_digest(assessment)
    root = Package(
        spdx_id=ROOT_ID, name=name, download_location=SpdxNoAssertion(), files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, target.sha256)] if target.sha256 else [],
        primary_package_purpose=PackagePurpose.FIRMWARE if target.kind == "firmware" else PackagePurpose.OPERATING_SYSTEM,
        license_concluded=SpdxNoAssertion(), license_declared=SpdxNoAssertion(), copyright_text=SpdxNoAssertion())
    taken = {ROOT_ID}
    packages = [root]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, ROOT_ID)]
    for comp in assessment.components:
        pkg = _package(comp, _spdx_id(comp["name"], comp.get("version"), taken))
        packages.append(pkg)
        relationships.append(Relationship(ROOT_ID, RelationshipType.CONTAINS, pkg.spdx_id))
    slug = re.sub(r"[^A-Za-z0-9.\-_]+", "-", name).strip("-") or "firmware"
    info = CreationInfo(spdx_version="SPDX-2.3", spdx_id="SPDXRef-DOCUMENT", name=f"{name} (iotcop {__version__})",
                        document_namespace=f"{NAMESPACE_BASE}/{slug}-{digest}-iotcop-{__version__}",
                        creators=[Actor(ActorType.TOOL, f"iotcop-{__version__}")],
                        created=_created(assessment.generated_at))
    return Document(creation_info=info, packages=packages, relationships=relationships)


def render(document: Document) -> str:
    """The document as SPDX 2.3 JSON; spdx-tools validates it first and refuses an invalid one."""
    buf = io.StringIO()
    write_document_to_stream(document, buf, validate=True)
    return buf.getvalue() + "\n"


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    path = out_dir / FILENAME
    write_atomic(path, render(build_document(assessment)))
    return [path]
