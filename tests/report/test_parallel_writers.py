"""Writers run side by side: the same files as one at a time, and a full disk is a one-line error (exit 2)."""

from __future__ import annotations

import json
import subprocess

import pytest

from iotcop.report.writers import OutputContext, write_outputs


@pytest.fixture(scope="module")
def small_scan(vulnerable_image, tmp_path_factory):
    from iotcop.scan import ScanOptions, scan

    return scan(vulnerable_image.image, ScanOptions(jobs=2))


def test_parallel_writers_write_what_one_process_writes(small_scan, tmp_path, monkeypatch):
    context = OutputContext(firmware=small_scan.firmware)
    parallel = write_outputs(small_scan.assessment, tmp_path / "parallel", context=context)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    serial = write_outputs(small_scan.assessment, tmp_path / "serial", context=context)
    assert [p.name for p in parallel] == [p.name for p in serial]
    assert len(parallel) >= 5
    for a, b in zip(parallel, serial):
        if a.name == "sbom.cdx.json":  # a fresh serial number per document
            da, db = json.loads(a.read_text()), json.loads(b.read_text())
            da.pop("serialNumber"), db.pop("serialNumber")
            assert da == db
        else:
            assert a.read_bytes() == b.read_bytes(), a.name
    assert json.loads((tmp_path / "parallel" / "report.json").read_text())["findings"]


def test_a_full_disk_is_a_one_line_error(vulnerable_image, tmp_path, cli):
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(tiny)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        result = cli("scan", vulnerable_image.image, "--out", tiny / "out", "-q")
        assert result.code == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("iotcop: error: no space left on the device holding")
        assert "Traceback" not in result.stderr
        leftovers = [p.name for p in (tiny / "out").iterdir() if p.name.startswith(".")]
        assert leftovers == []  # no half-written temporary files
    finally:
        subprocess.run(["umount", str(tiny)], check=False)
