"""Extraction stays inside its work directory and never reads host files through image links."""

from __future__ import annotations

import os
from pathlib import Path

from support import corpus_file, run_cli

from iotcop.firmware.extract import Limits, extract
from iotcop.firmware.inventory import build_firmware


def _snapshot(top: Path) -> set[str]:
    return {str(p) for p in top.rglob("*")}


def test_traversal_tar_writes_nothing_outside_the_work_dir(tmp_path):
    tar = corpus_file("binwalk", "py_dirtraversal.tar")
    outside = tmp_path / "outside"
    work = outside / "work"
    work.mkdir(parents=True)
    private_tmp = tmp_path / "tmp"  # the scan's own temporary folder, so other tests' files do not count
    private_tmp.mkdir()
    before = _snapshot(tmp_path)
    result = run_cli("scan", tar, "--work-dir", work, "--keep-work", "--format", "json", "--quiet",
                     env={"TMPDIR": str(private_tmp)})
    assert result.code in (0, 1), result.stderr
    after = _snapshot(tmp_path)
    new = {p for p in after - before if not p.startswith(str(work) + "/")}
    assert new == set(), new


def test_links_in_the_image_resolve_inside_the_image(tmp_path):
    tar = corpus_file("binwalk", "py_dirtraversal.tar")
    extraction = extract(tar, tmp_path, Limits(timeout=120))
    fw = build_firmware(tmp_path, extraction.roots, extraction.extract_dir)
    work = tmp_path.resolve()
    for entry in fw.entries:
        assert entry.host_path.resolve(strict=False).is_relative_to(work) or entry.kind == "symlink"
        if entry.kind == "file":
            assert Path(os.path.realpath(entry.host_path)).is_relative_to(work)
    # `bar -> /etc/passwd` must not read this machine's /etc/passwd
    for entry in fw.entries:
        if entry.kind == "symlink" and entry.link_target in ("/etc/passwd", "/etc/shadow"):
            assert fw.get(entry.path) is None or fw.get(entry.path).host_path.resolve().is_relative_to(work)


def test_output_byte_limit_stops_extraction(tmp_path):
    image = corpus_file("fwanalyzer", "test.img")  # a 10 MB ext2 image with 6,975,115 bytes of files
    extraction = extract(image, tmp_path, Limits(max_bytes=1_000_000, timeout=120))
    assert extraction.report.status == "partial"
    # Either the watchdog or the per-file size limit of the sandbox stops it; both leave less than the whole.
    assert extraction.report.errors
    assert extraction.report.bytes < 6_975_115


def test_time_limit_stops_extraction(tmp_path):
    image = corpus_file("fwanalyzer", "test.img")
    extraction = extract(image, tmp_path, Limits(timeout=0.3))
    assert extraction.report.status in ("partial", "failed")
    assert any("time limit" in e for e in extraction.report.errors)


def test_truncated_image_is_never_complete(tmp_path, cli):
    image = corpus_file("fact_extractor", "squashFS__xz.sqfs")
    cut = tmp_path / "cut.bin"
    data = image.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    result = cli("scan", cut, "--out", out)
    assert result.code in (0, 1, 2) and "Traceback" not in result.stderr
    import json

    report = json.loads((out / "report.json").read_text())
    assert report["extraction"]["status"] in ("partial", "failed")
    assert "PASS" not in {v["verdict"] for v in report["provisions"]}
