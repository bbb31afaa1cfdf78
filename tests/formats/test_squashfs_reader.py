"""The pure-Python SquashFS reader on every SquashFS sample of the fact_extractor corpus, against
unsquashfs, and on malformed images made by mutating those samples."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import struct
import subprocess
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from support import corpus_file

from iotcop.formats.squashfs import SquashFSError, extract, open_image

# fact_extractor's standard unpack set: every SquashFS sample holds exactly these three files.
EXPECTED = {"testfile1", "testfile2", "generic folder/test file 3_.txt"}

SAMPLES = {
    # sample: (format label, compression the reader reports)
    "avm_be.sqfs4": ("squashfs_v4_be_avm", "xz"),
    "avm_le.sqfs4": ("squashfs_v4_le", "xz"),
    "gzip.sqfs": ("squashfs_v4_le", "gzip"),
    "lz4.sqfs": ("squashfs_v4_le", "lz4"),
    "lzma.sqfs": ("squashfs_v4_le", "lzma"),
    "lzma1_be.sqfs3": ("squashfs_v3_be", "lzma"),
    "lzma1_le.sqfs3": ("squashfs_v3_le", "lzma"),
    "lzma_be.sqfs2": ("squashfs_v2_be", "lzma"),
    "lzma_le.sqfs2": ("squashfs_v2_le", "lzma"),
    "lzo.sqfs": ("squashfs_v4_le", "lzo"),
    "xz.sqfs": ("squashfs_v4_le", "xz"),
    "zlib_be.sqfs3": ("squashfs_v3_be", "gzip"),
    "zlib_le.sqfs3": ("squashfs_v3_le", "gzip"),
    "zstd.sqfs": ("squashfs_v4_le", "zstd"),
}
STANDARD_V4 = ["avm_le.sqfs4", "gzip.sqfs", "lz4.sqfs", "lzma.sqfs", "lzo.sqfs", "xz.sqfs", "zstd.sqfs"]


def sample(name: str) -> Path:
    return corpus_file("fact_extractor", f"squashFS__{name}")


@pytest.fixture(scope="module")
def reference_contents() -> dict[str, bytes]:
    """The same three files as shipped inside the TRX sample's zip (fact_extractor's get_files_test)."""
    data = corpus_file("fact_extractor", "trx__trx.img").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data[0x1C:])) as z:
        return {n.removeprefix("get_files_test/"): z.read(n) for n in z.namelist() if not n.endswith("/")}


def tree(root: Path) -> dict[str, bytes]:
    """Regular files (symlinks not followed) and their contents."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not p.is_symlink()}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_corpus_sample_extracts_expected_files(name, tmp_path, reference_contents):
    label, compression = SAMPLES[name]
    result = extract(sample(name), tmp_path / "out", manifest=tmp_path / "manifest.json")
    files = tree(tmp_path / "out")
    assert set(files) == EXPECTED
    assert files == reference_contents
    assert result.label == label
    assert result.compression == compression
    assert result.reader == f"{label} (iotcop squashfs reader, {compression})"
    assert result.errors == [] and result.files == 3 and result.dirs == 1
    assert (tmp_path / "manifest.json").read_text().startswith("{")


@pytest.mark.corpus
def test_empty_sample_is_a_clear_error(tmp_path):
    with pytest.raises(SquashFSError, match="empty input"):
        extract(sample("empty"), tmp_path / "out")


@pytest.mark.corpus
@pytest.mark.parametrize("name", STANDARD_V4)
def test_same_output_as_unsquashfs(name, tmp_path):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    extract(sample(name), ours)
    subprocess.run(["unsquashfs", "-no-xattrs", "-d", str(theirs), str(sample(name))], check=True,
                   capture_output=True)
    assert tree(ours) == tree(theirs)
    modes = lambda root: {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in root.rglob("*")}
    assert modes(ours) == modes(theirs)


def test_built_image_matches_unsquashfs_with_links_devices_and_fragments(tmp_path):
    """A v4 image with sparse and multi-block files, fragments, hard links, symlinks and a device node."""
    src = tmp_path / "src"
    (src / "etc" / "init.d").mkdir(parents=True)
    (src / "bin").mkdir()
    rng = random.Random(7)
    (src / "bin" / "big").write_bytes(bytes(rng.getrandbits(8) for _ in range(300_000)))
    (src / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    with open(src / "sparse", "wb") as fh:
        fh.seek(500_000)
        fh.write(b"end")
    os.link(src / "etc" / "passwd", src / "etc" / "passwd.hard")
    os.symlink("/bin/big", src / "abs-link")
    os.symlink("../bin/big", src / "etc" / "rel-link")
    os.symlink("../../../outside", src / "etc" / "escape")
    image = tmp_path / "img.sqfs"
    pseudo = "dev/console c 600 0 0 5 1\ndev d 755 0 0\n"
    (tmp_path / "pseudo").write_text(pseudo)
    subprocess.run(["mksquashfs", str(src), str(image), "-comp", "xz", "-b", "131072", "-noappend", "-quiet",
                    "-pf", str(tmp_path / "pseudo")], check=True, capture_output=True)
    ours = tmp_path / "ours"
    result = extract(image, ours)
    assert result.errors == []
    assert (ours / "bin" / "big").read_bytes() == (src / "bin" / "big").read_bytes()
    assert (ours / "sparse").read_bytes() == (src / "sparse").read_bytes()
    assert os.readlink(ours / "abs-link") == "bin/big"  # rewritten to stay inside
    assert os.readlink(ours / "etc" / "rel-link") == "../bin/big"
    assert not os.path.lexists(ours / "etc" / "escape")
    assert {"path": "/etc/escape", "type": "symlink", "target": "../../../outside",
            "reason": "target outside the image"} in result.skipped
    assert result.special == [{"path": "/dev/console", "type": "chardev", "mode": "0o600", "uid": 0, "gid": 0,
                               "major": 5, "minor": 1}]
    assert not os.path.lexists(ours / "dev" / "console")
    assert os.stat(ours / "etc" / "passwd").st_ino == os.stat(ours / "etc" / "passwd.hard").st_ino
    theirs = tmp_path / "theirs"
    subprocess.run(["unsquashfs", "-no-xattrs", "-d", str(theirs), str(image)], capture_output=True)
    theirs_files = {k: v for k, v in tree(theirs).items() if not k.startswith("dev/")}
    assert tree(ours) == theirs_files


# -- malformed images -------------------------------------------------------------------------

def _bounded(fn) -> tuple[object, float, int]:
    """Run fn; return its result or exception, the seconds taken and the peak of Python allocations."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = fn()
    except Exception as exc:  # noqa: BLE001 - the test inspects the type
        outcome = exc
    seconds = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return outcome, seconds, peak


def _v4_loop_image(tmp_path: Path, target: str) -> Path:
    """gzip.sqfs with a directory entry pointing back up: 'generic folder' -> root, or its file -> itself."""
    data = bytearray(sample("gzip.sqfs").read_bytes())
    with open_image(sample("gzip.sqfs")) as image:
        sb = image.sb
        listing, _ = image.metadata_block(sb.directory_table)
        entries = image.listing(image.inode(sb.root_inode))
    generic = next(e for e in entries if e.name == b"generic folder")
    patched = bytearray(listing)
    if target == "root":
        entry_at, ref = patched.index(b"generic folder") - 8, sb.root_inode
    else:
        entry_at, ref = patched.index(b"test file 3_.txt") - 8, generic.inode_ref
    count, start, _base = struct.unpack_from("<III", patched, 0)
    assert start == ref >> 16  # one inode block in this small image: only the entry's offset changes
    struct.pack_into("<H", patched, entry_at, ref & 0xFFFF)
    # Append the listing as an uncompressed metadata block and point the superblock at it.
    appended = sb.bytes_used
    block = struct.pack("<H", 0x8000 | len(patched)) + bytes(patched)
    data[appended:appended + len(block)] = block
    struct.pack_into("<Q", data, 40, appended + len(block))  # bytes_used
    struct.pack_into("<Q", data, 72, appended)  # directory table
    out = tmp_path / f"loop-{target}.sqfs"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("target", ["root", "self"])
def test_directory_loop_is_reported_not_followed(tmp_path, target):
    image = _v4_loop_image(tmp_path, target)
    outcome, seconds, peak = _bounded(lambda: extract(image, tmp_path / "out", strict=True))
    assert isinstance(outcome, SquashFSError)
    assert "directory loop" in str(outcome)
    assert seconds < 5 and peak < 64 * 1024**2
    # Lenient mode keeps going and lists the loop among its errors.
    result = extract(image, tmp_path / "out2")
    assert any("directory loop" in e for e in result.errors)


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "cut", "message"), [
    ("gzip.sqfs", 60, "truncated"),
    ("gzip.sqfs", 300, "truncated image: the superblock says 401 bytes, only 300 present"),
    ("zlib_be.sqfs3", 100, "truncated v3 superblock"),
    ("lzma_le.sqfs2", 200, "truncated image"),
])
def test_truncated_images(tmp_path, name, cut, message):
    image = tmp_path / "cut.sqfs"
    image.write_bytes(sample(name).read_bytes()[:cut])
    outcome, seconds, peak = _bounded(lambda: extract(image, tmp_path / "out"))
    assert isinstance(outcome, SquashFSError) and message in str(outcome)
    assert seconds < 5 and peak < 64 * 1024**2


@pytest.mark.corpus
@pytest.mark.parametrize(("field", "offset", "fmt", "value", "message"), [
    ("inode table", 64, "<Q", 1 << 40, "inode table offset"),
    ("directory table", 72, "<Q", 3, "inode table starts after the directory table"),
    ("root inode", 32, "<Q", 0x7FFF0000 << 16, "points outside the inode table"),
    ("block size", 12, "<I", 1 << 30, "implausible block size"),
    ("fragment table", 80, "<Q", 1 << 50, "fragment table offset"),
])
def test_bad_superblock_offsets(tmp_path, field, offset, fmt, value, message):
    data = bytearray(sample("gzip.sqfs").read_bytes())
    struct.pack_into(fmt, data, offset, value)
    image = tmp_path / "bad.sqfs"
    image.write_bytes(bytes(data))
    outcome, seconds, peak = _bounded(lambda: extract(image, tmp_path / "out"))
    assert isinstance(outcome, SquashFSError), field
    assert message in str(outcome)
    assert seconds < 5 and peak < 64 * 1024**2


@pytest.mark.corpus
def test_bad_fragment_offset_fails_only_that_file(tmp_path):
    """A file whose fragment offset points past its fragment: the error names it, the other files come out."""
    data = bytearray(sample("zlib_le.sqfs3").read_bytes())
    with open_image(sample("zlib_le.sqfs3")) as image:
        sb = image.sb
        inodes, _ = image.metadata_block(sb.inode_table)
        directory, _ = image.metadata_block(sb.directory_table)
        entries = image.listing(image.inode(sb.root_inode))
    victim = next(e for e in entries if e.name == b"testfile2")
    patched = bytearray(inodes)
    # A v3 regular file inode: 12 byte header, 64-bit data start, fragment index, offset in the fragment.
    struct.pack_into("<I", patched, (victim.inode_ref & 0xFFFF) + 24, 60000)
    # Append the changed inode table and a copy of the directory table (refs into both are relative).
    start = sb.bytes_used
    inode_block = struct.pack("<H", 0x8000 | len(patched)) + bytes(patched)
    dir_block = struct.pack("<H", 0x8000 | len(directory)) + bytes(directory)
    data[start:] = inode_block + dir_block
    struct.pack_into("<qqq", data, 87, start, start + len(inode_block), sb.fragment_table)
    struct.pack_into("<q", data, 63, len(data))
    bad = tmp_path / "bad.sqfs3"
    bad.write_bytes(bytes(data))
    outcome, seconds, peak = _bounded(lambda: extract(bad, tmp_path / "out"))
    assert not isinstance(outcome, Exception), outcome
    assert outcome.errors == ["/testfile2: fragment 0 too short for the file's tail"]
    assert set(tree(tmp_path / "out")) == EXPECTED - {"testfile2"}
    assert seconds < 5 and peak < 64 * 1024**2
    with pytest.raises(SquashFSError, match="/testfile2: fragment 0 too short"):
        extract(bad, tmp_path / "strict", strict=True)


@pytest.mark.corpus
def test_random_mutations_never_hang_or_crash(tmp_path):
    """Byte-level damage to every sample: each run ends quickly with a result or a SquashFSError."""
    rng = random.Random(1234)
    worst = 0.0
    peak_max = 0
    for name in sorted(SAMPLES):
        original = sample(name).read_bytes()
        for i in range(25):
            data = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(0, 500)
                data[at] = rng.randrange(256)
            image = tmp_path / f"m-{name}-{i}"
            image.write_bytes(bytes(data))
            out = tmp_path / f"o-{name}-{i}"
            outcome, seconds, peak = _bounded(lambda: extract(image, out))
            assert not isinstance(outcome, Exception) or isinstance(outcome, SquashFSError), (
                f"{name} #{i}: {type(outcome).__name__}: {outcome}")
            worst, peak_max = max(worst, seconds), max(peak_max, peak)
            shutil.rmtree(out, ignore_errors=True)
    assert worst < 5
    assert peak_max < 128 * 1024**2


def test_digest_stable_across_runs(tmp_path):
    """Same image, same output: nothing in the reader depends on order of dict iteration or time."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(50):
        (src / f"f{i:02d}").write_bytes(os.urandom(100 * i))
    image = tmp_path / "img"
    subprocess.run(["mksquashfs", str(src), str(image), "-comp", "gzip", "-noappend", "-quiet"], check=True)
    digests = []
    for run in range(2):
        out = tmp_path / f"o{run}"
        extract(image, out)
        digests.append(hashlib.sha256(repr(sorted(tree(out).items())).encode()).hexdigest())
    assert digests[0] == digests[1]


def test_file_ending_in_sparse_blocks_keeps_its_size(tmp_path):
    """Trailing all-zero blocks are stored as holes: the file must still end at its full size."""
    src = tmp_path / "src"
    src.mkdir()
    content = b"head" * 1000 + bytes(3 * 131072 - 4000)  # the last two blocks are all zeros
    (src / "holey").write_bytes(content)
    (src / "tail-in-hole").write_bytes(b"x" + bytes(131072 + 100))  # last block zero, not a full block
    image = tmp_path / "img.sqfs"
    subprocess.run(["mksquashfs", str(src), str(image), "-noappend", "-quiet", "-no-fragments"], check=True,
                   capture_output=True)
    with open_image(image) as img:
        entries = {e.name: img.inode(e.inode_ref) for e in img.listing(img.inode(img.sb.root_inode))}
        assert [img.block_length(s)[0] for s in entries[b"holey"].block_sizes][1:] == [0, 0]
    result = extract(image, tmp_path / "out")
    assert result.errors == []
    assert (tmp_path / "out" / "holey").read_bytes() == content
    assert (tmp_path / "out" / "tail-in-hole").read_bytes() == b"x" + bytes(131072 + 100)
