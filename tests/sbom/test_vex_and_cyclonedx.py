"""VEX statements backed by the image, and the CycloneDX 1.6 SBOM validated by cyclonedx-python-lib."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from support import REPO

from iotcop.firmware.inventory import inventory_tree
from iotcop.vulns.vex import analyse


def _busybox_tree(rootfs: Path, dest: Path, *, version: bytes, drop_applet: bytes | None) -> Path:
    data = (rootfs / "bin" / "busybox").read_bytes()
    assert data.count(b"BusyBox v1.35.0") >= 1
    data = data.replace(b"BusyBox v1.35.0", b"BusyBox v" + version)
    if drop_applet:
        # Rename the applet in the name table (same length, order kept): the binary no longer has it.
        old = b"\x00" + drop_applet + b"\x00"
        assert old in data
        data = data.replace(old, b"\x00" + drop_applet[:-1] + b"x\x00")
    (dest / "bin").mkdir(parents=True)
    (dest / "bin" / "busybox").write_bytes(data)
    return dest


def _states(fw, cve: str) -> list:
    return [a for a in analyse(fw) if a.match.id == cve]


@pytest.mark.slow
def test_busybox_applet_not_compiled_in(vulnerable_image, tmp_path):
    # CVE-2021-28831: Buildroot patched gunzip in BusyBox 1.33.0 ("add upstream gunzip security fix").
    with_gunzip = inventory_tree(_busybox_tree(vulnerable_image.rootfs, tmp_path / "a", version=b"1.33.0",
                                               drop_applet=None))
    (hit,) = _states(with_gunzip, "CVE-2021-28831")
    assert hit.state == "in_triage"
    without = inventory_tree(_busybox_tree(vulnerable_image.rootfs, tmp_path / "b", version=b"1.33.0",
                                           drop_applet=b"gunzip"))
    (vex,) = _states(without, "CVE-2021-28831")
    assert vex.state == "not_affected" and vex.justification == "code_not_present"
    assert "gunzip" in vex.detail and "/bin/busybox" in vex.detail


@pytest.mark.slow
def test_library_present_but_not_linked(tmp_path):
    from iotcop.demo.builder import default_cache_dir, ensure_debian_packages

    pkgs = ensure_debian_packages(["libexpat1", "python3.11-minimal"], "mipsel", default_cache_dir())
    trees = {p.name: p.root for p in pkgs}
    lib = next((trees["libexpat1"] / "lib").rglob("libexpat.so.1.*"))
    root = tmp_path / "root"
    (root / "lib").mkdir(parents=True)
    shutil.copy2(lib, root / "lib" / lib.name)
    (root / "lib" / "libexpat.so.1").symlink_to(lib.name)
    fw = inventory_tree(root)
    results = [a for a in analyse(fw) if a.match.component.name == "expat"]
    assert results and all(a.state == "not_affected" and a.justification == "code_not_reachable" for a in results)
    # Once an ELF links against it, the same matches are open again.
    (root / "usr" / "bin").mkdir(parents=True)
    shutil.copy2(trees["python3.11-minimal"] / "usr" / "bin" / "python3.11", root / "usr" / "bin" / "python3.11")
    fw = inventory_tree(root)
    results = [a for a in analyse(fw) if a.match.component.name == "expat"]
    assert results and all(a.state == "in_triage" for a in results)


@pytest.mark.slow
def test_cyclonedx_sbom_validates_and_carries_vex(vulnerable_image, tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from iotcop.scan import ScanOptions, scan

    res = scan(vulnerable_image.image, ScanOptions(out_dir=tmp_path, only_checks=("vulns",),
                                                   outputs=("json", "cyclonedx")))
    text = (tmp_path / "sbom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    names = {c["name"] for c in bom["components"]}
    assert {"busybox", "openssl", "dropbear", "linux_kernel"} <= names
    busybox = next(c for c in bom["components"] if c["name"] == "busybox")
    assert busybox["purl"].startswith("pkg:deb/debian/busybox-static@") and busybox["cpe"].startswith("cpe:2.3:a:busybox:busybox:")
    assert busybox["hashes"][0]["alg"] == "SHA-256"
    assert {o["location"] for o in busybox["evidence"]["occurrences"]} == {"/var/lib/dpkg/status", "/bin/busybox"}
    vulns = bom["vulnerabilities"]
    assert vulns and all(v["analysis"]["state"] in ("in_triage", "not_affected") for v in vulns)
    refs = {c["bom-ref"] for c in bom["components"]}
    assert all(a["ref"] in refs for v in vulns for a in v["affects"])
    findings = [f for f in res.assessment.findings if f.check == "vulns.known-vulnerability"]
    details = [json.loads(f.evidence.detail) for f in findings]
    schema = json.loads((REPO / "src/iotcop/report/schema/report-1.schema.json").read_text())
    detail_schema = {**schema["$defs"]["vulnerabilityDetail"], "$defs": schema["$defs"]}
    for d in details:
        jsonschema.validate(d, detail_schema)
    # One finding per component and group lists every affected (in triage) vulnerability of the VEX once.
    listed = [(v["id"], d["component"]) for d in details if d["group"] != "known-exploited" for v in d["vulnerabilities"]]
    assert len(listed) == len(set(listed)) == sum(v["analysis"]["state"] != "not_affected" for v in vulns)
    assert len({(d["component"], d["version"], d["group"]) for d in details if d["group"] != "known-exploited"}) == \
        len([d for d in details if d["group"] != "known-exploited"])
    assert all(f.provisions == ["5.2-3", "5.3-8"] for f in findings)
    assert all(v["sources"] for d in details for v in d["vulnerabilities"])

