"""An ImageJob carrying a declaration as text: scanned with it (no fetching), named as the job says, never
answered from a whole-image result made without it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from batch_support import make_rootfs

from iotcop.batch.image import ImageJob, analyse

TEMPLATE = Path(__file__).resolve().parents[2] / "src/iotcop/declaration/template.yaml"


def _declaration_text() -> str:
    data = yaml.safe_load(TEMPLATE.read_text())
    data["firmware_version"] = "3.1.4"
    data["network_services"] = [{"name": "ssh", "protocol": "tcp", "port": 22}]
    return yaml.safe_dump(data, sort_keys=False)


def _report(result) -> dict:
    assert result.status == "done", result.error
    return json.loads(result.files["report.json"])


def test_declaration_text_is_scanned_with_and_whole_image_cache_is_kept_apart(tmp_path):
    root = make_rootfs(tmp_path / "fw", 7)  # starts telnetd from rcS
    cache = str(tmp_path / "cache")
    plain = ImageJob(path=str(root), sha256="0" * 64, formats=("json",), cache_dir=cache)
    first = _report(analyse(plain))
    assert first["declaration"] is None
    assert not [f for f in first["findings"] if f["check"].startswith("declared.")]

    text = _declaration_text()
    declared = ImageJob(path=str(root), sha256="0" * 64, formats=("json",), cache_dir=cache, declaration=text,
                        declaration_name="acme-decl.yaml")
    result = analyse(declared)
    assert result.reused == ""  # the stored result without a declaration is not reused
    report = _report(result)
    summary = report["declaration"]
    assert summary["file"] == "acme-decl.yaml" and summary["firmware_version"] == "3.1.4"
    assert summary["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    undeclared = [f for f in report["findings"] if f["check"] == "declared.undeclared-service"]
    assert undeclared and all(r["path"] == "acme-decl.yaml" for f in undeclared for r in f["related"])

    # The plain job still gets its own stored result afterwards.
    again = analyse(plain)
    assert again.reused == "image" and _report(again)["declaration"] is None


def test_an_invalid_declaration_fails_the_image_with_its_own_name(tmp_path):
    root = make_rootfs(tmp_path / "fw", 8)
    job = ImageJob(path=str(root), sha256="1" * 64, formats=("json",), cache_dir="",
                   declaration="schema: iotcop.declaration/1\nproduct: 3\n", declaration_name="../../bad.yaml")
    result = analyse(job)
    assert result.status == "failed" and not result.files
    assert result.error.startswith("bad.yaml:1: ") and "missing (required)" in result.error
    assert str(tmp_path) not in result.error and "iotcop-batch-" not in result.error
