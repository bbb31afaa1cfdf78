"""SPDX 2.3 output, parsed and validated by the SPDX project's own library (spdx-tools on PyPI)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from iotcop.report.writers import writers
from iotcop.report.writers.spdx import build_document, render


def _validated(path: Path):
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document, spdx_version="SPDX-2.3")
    assert [m.validation_message for m in messages] == []
    return document


def _debian_upstream(version: str) -> str:
    # "1:1.35.0-4+deb12u1+b1" -> "1.35.0"
    return version.split(":", 1)[-1].rsplit("-", 1)[0]


def test_spdx_is_an_optional_writer():
    assert writers()["spdx"].DEFAULT is False and writers()["cyclonedx"].DEFAULT is True


@pytest.mark.slow
def test_scan_writes_spdx_with_the_same_components_as_cyclonedx(cli, vulnerable_image, tmp_path):
    res = cli("scan", vulnerable_image.image, "--out", tmp_path, "--output", "json,cyclonedx,spdx", "--check", "vulns",
              "--quiet")
    assert res.code in (0, 1), res.stderr
    document = _validated(tmp_path / "sbom.spdx.json")
    doc = json.loads((tmp_path / "sbom.spdx.json").read_text())
    bom = json.loads((tmp_path / "sbom.cdx.json").read_text())

    manifest = json.loads(vulnerable_image.manifest.read_text())
    busybox_deb = next(p for p in manifest["packages"] if p["name"] == "busybox-static")
    expected = _debian_upstream(busybox_deb["version"])
    busybox = next(p for p in document.packages if p.name == "busybox")
    assert busybox.version == expected
    refs = {(r.category.name, r.reference_type): r.locator for r in busybox.external_references}
    # The image's dpkg database names the Debian package and revision.
    assert refs[("PACKAGE_MANAGER", "purl")].startswith(f"pkg:deb/debian/busybox-static@1:{expected}-")
    assert refs[("SECURITY", "cpe23Type")].startswith(f"cpe:2.3:a:busybox:busybox:{expected}:")
    on_disk = hashlib.sha256((vulnerable_image.rootfs / "bin" / "busybox").read_bytes()).hexdigest()
    assert [c.value for c in busybox.checksums] == [on_disk]

    # One model feeds both files: the same name, version and purl for every component.
    spdx_set = {(p["name"], p.get("versionInfo"), next((r["referenceLocator"] for r in p.get("externalRefs", [])
                                                         if r["referenceType"] == "purl"), None))
                for p in doc["packages"][1:]}
    cdx_set = {(c["name"], c.get("version"), c.get("purl")) for c in bom["components"]}
    assert spdx_set == cdx_set and len(spdx_set) >= 4

    # The firmware is the described root and contains every component.
    root = doc["packages"][0]
    assert root["SPDXID"] == "SPDXRef-Firmware" and root["primaryPackagePurpose"] == "FIRMWARE"
    assert root["checksums"] == [{"algorithm": "SHA256", "checksumValue": manifest["sha256"]}]
    rels = {(r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"]) for r in doc["relationships"]}
    assert ("SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Firmware") in rels
    assert {p["SPDXID"] for p in doc["packages"][1:]} == {b for a, t, b in rels if a == "SPDXRef-Firmware" and t == "CONTAINS"}
    assert manifest["sha256"] in doc["documentNamespace"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["creationInfo"]["created"])


@pytest.mark.slow
def test_sbom_command_prints_spdx(cli, vulnerable_image, tmp_path):
    res = cli("sbom", vulnerable_image.image, "--format", "spdx")
    assert res.code == 0, res.stderr
    path = tmp_path / "printed.spdx.json"
    path.write_text(res.stdout)
    document = _validated(path)
    assert any(p.name == "busybox" for p in document.packages)
    assert json.loads(res.stdout)["spdxVersion"] == "SPDX-2.3"

    res = cli("sbom", vulnerable_image.image, "--format", "spdx", "--out", tmp_path / "out")
    assert res.code == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / "out" / "sbom.spdx.json")
    assert not (tmp_path / "out" / "sbom.cdx.json").exists()

    res = cli("sbom", vulnerable_image.image, "--format", "swid")
    assert res.code == 2 and "swid" in res.stderr


def test_rootfs_folder_gives_a_valid_deterministic_document(vulnerable_image, tmp_path):
    from iotcop.scan import ScanOptions, scan

    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(vulnerable_image.rootfs / "bin" / "busybox", root / "bin" / "busybox")
    first = scan(root, ScanOptions(out_dir=tmp_path / "a", only_checks=("vulns",), outputs=("spdx",)))
    document = _validated(tmp_path / "a" / "sbom.spdx.json")
    assert [p.name for p in document.packages] == [root.name, "busybox"]
    doc = json.loads((tmp_path / "a" / "sbom.spdx.json").read_text())
    assert doc["packages"][0]["primaryPackagePurpose"] == "OPERATING_SYSTEM" and "checksums" not in doc["packages"][0]
    # Same tree, same tool version: same namespace, whatever the time of the scan.
    later = first.assessment.model_copy(update={"generated_at": "2030-01-01T00:00:00+00:00"})
    assert json.loads(render(build_document(later)))["documentNamespace"] == doc["documentNamespace"]
    assert json.loads(render(build_document(later)))["creationInfo"]["created"] == "2030-01-01T00:00:00Z"
    other = first.assessment.model_copy(update={"components": []})
    assert build_document(other).creation_info.document_namespace != doc["documentNamespace"]


def test_validator_reports_a_broken_document(vulnerable_image, tmp_path):
    from iotcop.scan import ScanOptions, scan

    root = tmp_path / "root"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(vulnerable_image.rootfs / "bin" / "busybox", root / "bin" / "busybox")
    res = scan(root, ScanOptions(out_dir=tmp_path / "a", only_checks=("vulns",), outputs=("spdx",)))
    doc = json.loads(render(build_document(res.assessment)))
    doc["documentNamespace"] += "#fragment"
    doc["relationships"].append({"spdxElementId": "SPDXRef-Firmware", "relationshipType": "CONTAINS",
                                 "relatedSpdxElement": "SPDXRef-Package-missing"})
    path = tmp_path / "broken.spdx.json"
    path.write_text(json.dumps(doc))
    messages = [m.validation_message for m in validate_full_spdx_document(parse_file(str(path)))]
    assert any("fragment" in m or "#" in m for m in messages)
    assert any("SPDXRef-Package-missing" in m for m in messages)
