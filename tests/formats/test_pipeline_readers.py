"""SquashFS samples through the real extraction pipeline (unblob in its child process) and the CLI:
the report names the reader that opened each chunk."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import corpus_file

from iotcop.firmware.extract import extract

EXPECTED = {"testfile1", "testfile2", "generic folder/test file 3_.txt"}
# Which reader must open each sample: unsquashfs where it can, ours where it cannot.
READERS = {
    "avm_be.sqfs4": "squashfs_v4_be_avm (iotcop squashfs reader, xz)",
    "lzma_be.sqfs2": "squashfs_v2_be (iotcop squashfs reader, lzma)",
    "lzma_le.sqfs2": "squashfs_v2_le (iotcop squashfs reader, lzma)",
    "lzma1_be.sqfs3": "squashfs_v3_be (iotcop squashfs reader, lzma)",
    "lzma1_le.sqfs3": "squashfs_v3_le (iotcop squashfs reader, lzma)",
    "zlib_be.sqfs3": "squashfs_v3_be (unsquashfs)",
    "zlib_le.sqfs3": "squashfs_v3_le (unsquashfs)",
    "xz.sqfs": "squashfs_v4_le (unsquashfs)",
    "avm_le.sqfs4": "squashfs_v4_le (unsquashfs)",
    "gzip.sqfs": "squashfs_v4_le (unsquashfs)",
    "lz4.sqfs": "squashfs_v4_le (unsquashfs)",
    "lzma.sqfs": "squashfs_v4_le (unsquashfs)",
    "lzo.sqfs": "squashfs_v4_le (unsquashfs)",
    "zstd.sqfs": "squashfs_v4_le (unsquashfs)",
}
FAST = {"avm_be.sqfs4", "lzma1_be.sqfs3"}  # each pipeline run starts unblob (~6 s); the rest run in CI


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.corpus
@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in READERS])
def test_pipeline_names_the_reader(name, tmp_path):
    source = corpus_file("fact_extractor", f"squashFS__{name}")
    result = extract(source, tmp_path)
    readers = [r for r in result.report.readers if r["depth"] == 0]
    assert [r["reader"] for r in readers] == [READERS[name]]
    chunk_dir = tmp_path / "extract" / f"squashFS__{name}_extract"
    extracted = [d for d in chunk_dir.iterdir() if d.name.endswith("_extract")] if chunk_dir.is_dir() else []
    roots = extracted or [tmp_path / "extract" / f"squashFS__{name}_extract"]
    assert _files(roots[0]) == EXPECTED
    # Three loose files and no root filesystem: partial, and the report says why.
    assert result.report.status == "partial"
    assert any("no root filesystem" in e for e in result.report.errors)
    assert not any("extractor failed" in e for e in result.report.errors)


@pytest.mark.corpus
def test_pipeline_refuses_the_empty_sample(tmp_path):
    """fact_extractor expects every unpacker to fail on 'empty'; here the input check says why."""
    from iotcop.errors import InputError

    with pytest.raises(InputError, match="the file is empty"):
        extract(corpus_file("fact_extractor", "squashFS__empty"), tmp_path)


@pytest.mark.corpus
@pytest.mark.slow
def test_cli_scan_reports_our_reader(cli):
    source = corpus_file("fact_extractor", "squashFS__lzma_be.sqfs2")
    res = cli("scan", source, "--format", "json", "--quiet")
    assert res.code in (0, 1), res.stderr
    extraction = res.json()["extraction"]
    assert extraction["files"] >= 3
    assert [r["reader"] for r in extraction["readers"]] == ["squashfs_v2_be (iotcop squashfs reader, lzma)"]
    assert extraction["status"] == "partial"


@pytest.mark.corpus
@pytest.mark.slow
def test_pipeline_directory_loop_is_a_clear_error(tmp_path):
    """unsquashfs refuses the looping image; our reader then extracts what it can and names the loop."""
    from test_squashfs_reader import _v4_loop_image

    image = _v4_loop_image(tmp_path, "root")
    result = extract(image, tmp_path / "work")
    assert [r["reader"] for r in result.report.readers] == ["squashfs_v4_le (iotcop squashfs reader, gzip)"]
    assert ("reader failed: iotcop squashfs reader: /generic folder: directory loop: this directory was already "
            "listed") in result.report.errors
    assert result.report.status == "partial"
