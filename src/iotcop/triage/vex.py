"""CycloneDX VEX input: what the manufacturer states about a vulnerability in a component.

A statement whose state is `not_affected`, `false_positive` or `resolved` (with or without pedigree)
removes that vulnerability from that component's findings, exactly as the image's own evidence does;
`exploitable` and `in_triage` change nothing.  The file is checked against the CycloneDX JSON schema of
the version it declares (cyclonedx-python-lib's validator), then read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from packageurl import PackageURL

from iotcop.errors import InputError

SUPPRESSING = frozenset({"not_affected", "false_positive", "resolved", "resolved_with_pedigree"})
MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class VexStatement:
    vulnerability: str
    state: str
    source: str  # "vex.json: CVE-2023-4911"
    names: frozenset[str] = frozenset()  # component or package names it applies to; empty: any component
    versions: frozenset[str] = frozenset()  # versions it applies to; empty: any version
    justification: str | None = None
    detail: str | None = None

    @property
    def suppresses(self) -> bool:
        return self.state in SUPPRESSING

    def applies(self, vulnerability_ids: set[str], names: set[str], versions: set[str]) -> bool:
        if self.vulnerability not in vulnerability_ids:
            return False
        if self.names and not (self.names & names):
            return False
        return not self.versions or bool(self.versions & versions)

    def sentence(self) -> str:
        text = f"VEX {self.state}" + (f" ({self.justification})" if self.justification else "")
        return text + (f": {self.detail}" if self.detail else "") + f" [{self.source}]"


@dataclass(frozen=True)
class VexDocument:
    path: str
    sha256: str
    statements: tuple[VexStatement, ...]


def _schema_version(bom: dict):
    from cyclonedx.schema import SchemaVersion

    spec = str(bom.get("specVersion") or "")
    for version in SchemaVersion:
        if version.to_version() == spec:
            return version
    raise ValueError(f"unknown CycloneDX specVersion {spec!r}")


def _validate(text: str, bom: dict, path: Path) -> None:
    from cyclonedx.validation.json import JsonStrictValidator

    try:
        version = _schema_version(bom)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    error = JsonStrictValidator(version).validate_str(text)
    if error is not None:
        first = str(error.data.message if hasattr(error.data, "message") else error).splitlines()[0]
        raise InputError(f"{path}: not a valid CycloneDX {version.to_version()} document ({first[:200]})")


def _target(ref: str, components: dict[str, dict]) -> tuple[set[str], set[str]]:
    """Names and versions a VEX `affects` reference means: a bom-ref of the file, a purl or iotcop's own ref."""
    comp = components.get(ref)
    if comp is not None:
        names, versions = {str(comp.get("name"))}, {str(comp["version"])} if comp.get("version") else set()
        if comp.get("purl"):
            n, v = _purl_parts(comp["purl"])
            names |= n
            versions |= v
        return names, versions
    if ref.startswith("pkg:"):
        return _purl_parts(ref)
    if ref.startswith("component:") and "@" in ref:  # iotcop's sbom.cdx.json bom-refs
        name, _, version = ref[len("component:"):].rpartition("@")
        return {name}, {version} if version else set()
    raise ValueError(f"affects.ref {ref!r} names no component of the file, no purl and no iotcop component")


def _purl_parts(text: str) -> tuple[set[str], set[str]]:
    try:
        purl = PackageURL.from_string(text)
    except ValueError as exc:
        raise ValueError(f"bad purl {text!r}: {exc}") from None
    return {purl.name}, {purl.version} if purl.version else set()


def load_vex(path: Path) -> VexDocument:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"{path}: larger than {MAX_BYTES >> 20} MiB; not a VEX document")
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the VEX document ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
        bom = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not a CycloneDX JSON document ({exc})") from None
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        raise InputError(f"{path}: not a CycloneDX JSON document (no \"bomFormat\": \"CycloneDX\")")
    _validate(text, bom, path)
    components = {}
    stack = list(bom.get("components") or [])
    if isinstance((bom.get("metadata") or {}).get("component"), dict):
        stack.append(bom["metadata"]["component"])
    while stack:
        comp = stack.pop()
        if comp.get("bom-ref"):
            components[comp["bom-ref"]] = comp
        stack.extend(comp.get("components") or [])
    statements = []
    for vuln in bom.get("vulnerabilities") or []:
        analysis = vuln.get("analysis") or {}
        if not vuln.get("id") or not analysis.get("state"):
            continue  # a vulnerability without an analysis states nothing
        names: set[str] = set()
        versions: set[str] = set()
        try:
            for affected in vuln.get("affects") or []:
                n, v = _target(str(affected.get("ref")), components)
                names |= n
                versions |= v
        except ValueError as exc:
            raise InputError(f"{path}: {vuln['id']}: {exc}") from None
        ids = [vuln["id"]] + [r.get("id") for r in vuln.get("references") or [] if r.get("id")]
        for vid in dict.fromkeys(ids):
            statements.append(VexStatement(
                vulnerability=vid, state=analysis["state"], source=f"{path.name}: {vuln['id']}",
                names=frozenset(names), versions=frozenset(versions),
                justification=analysis.get("justification"), detail=analysis.get("detail")))
    return VexDocument(path=str(path), sha256=hashlib.sha256(raw).hexdigest(), statements=tuple(statements))
