"""Booby-trapped archives and decompression bombs: nothing leaves the work directory, every trick is
reported, limits hold, and such an image never reaches PASS or a label level above 0."""

from __future__ import annotations

import os
import time
from pathlib import Path

import mutations
import pytest

from iotcop.firmware.extract import Limits, extract
from iotcop.firmware.inventory import build_firmware

SMALL = Limits(max_bytes=256 * 1024**2, max_files=20_000, max_depth=4, timeout=90, max_ratio=20,
               max_memory=2 * 1024**3)


def _snapshot(top: Path) -> set[str]:
    return {str(p) for p in top.rglob("*")}


def _extract_hostile(tmp_path: Path, kind: str):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("host file\n")
    image = tmp_path / f"hostile.{kind}"
    image.write_bytes(getattr(mutations, f"hostile_{kind}")(outside))
    work = tmp_path / "work"
    work.mkdir()
    before = _snapshot(tmp_path)
    extraction = extract(image, work, SMALL)
    written_outside = {p for p in _snapshot(tmp_path) - before if not p.startswith(str(work) + "/")}
    return extraction, work, outside, written_outside


@pytest.mark.slow
@pytest.mark.parametrize("kind,expected", [
    ("tar", {"path-traversal", "link-escape", "device", "fifo"}),
    ("cpio", {"path-traversal"}),
    ("zip", set()),
])
def test_traversal_and_link_tricks_stay_inside_and_are_reported(tmp_path, kind, expected):
    extraction, work, outside, written_outside = _extract_hostile(tmp_path, kind)
    assert written_outside == set()
    assert sorted(p.name for p in outside.iterdir()) == ["target"]
    assert (outside / "target").read_text() == "host file\n"
    report = extraction.report
    assert expected <= {n["kind"] for n in report.neutralised}, report.neutralised
    assert report.neutralised_count == len(report.neutralised)
    # the trap makes the extraction incomplete (or the extractor failed on it): never "complete"
    assert report.status == "partial", report.errors
    fw = build_firmware(work, extraction.roots, extraction.extract_dir, extraction.partitions)
    real_work = os.path.realpath(work)
    for entry in fw.entries:
        assert entry.kind in ("file", "dir", "symlink"), entry
        if entry.kind != "symlink":
            assert os.path.realpath(entry.host_path).startswith(real_work + "/")
        target = fw.get(entry.path)
        if target is not None and target.kind == "file":
            assert os.path.realpath(target.host_path).startswith(real_work + "/")
            assert fw.read_bytes(target) != b"host file\n"


@pytest.mark.slow
@pytest.mark.parametrize("bomb", ["gzip_bomb", "zip_bomb"])
def test_a_1_gib_bomb_is_stopped_by_the_ratio_bound(tmp_path, bomb):
    image = tmp_path / f"bomb.{bomb.split('_')[0]}"
    image.write_bytes(getattr(mutations, bomb)(1024**3))
    assert image.stat().st_size < 8 * 1024**2
    started = time.monotonic()
    extraction = extract(image, tmp_path / "work", SMALL)
    elapsed = time.monotonic() - started
    report = extraction.report
    assert report.status in ("partial", "failed"), report
    assert report.bytes < 200 * 1024**2  # the 64 MiB file bound, not 1 GiB
    assert elapsed < 60
    assert report.sandbox and report.sandbox["limits"]["file_bytes"] == 64 * 1024**2


@pytest.mark.slow
def test_a_booby_trapped_image_gets_no_pass_and_label_level_0(tmp_path):
    from iotcop.label.level import label_level
    from iotcop.scan import ScanOptions, scan

    outside = tmp_path / "outside"
    outside.mkdir()
    image = tmp_path / "hostile.tar"
    image.write_bytes(mutations.hostile_tar(outside))
    result = scan(image, ScanOptions(limits=SMALL, work_dir=tmp_path / "work"))
    a = result.assessment
    assert a.extraction.status == "partial"
    assert any(n["kind"] == "path-traversal" for n in a.extraction.neutralised)
    assert "PASS" not in {v.verdict.value for v in a.provisions}
    assert {g.verdict.value for g in a.psti} <= {"FAIL", "INCONCLUSIVE", "NOT_TESTED", "NOT_APPLICABLE"}
    level = label_level(a)
    assert level.value == 0 and any("partial" in r for r in level.reasons)
    assert sorted(p.name for p in outside.iterdir()) == []
