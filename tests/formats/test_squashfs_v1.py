"""SquashFS 1.x: no v1 sample exists in the corpus and no current mksquashfs writes the format, so the tests
build small v1 images byte by byte from the published 1.x layout and read them with our reader and with
Debian's unsquashfs, which still reads 1.x.

The 1.x layout: a 51-byte superblock (magic, inode count, bytes used, uid/gid table, inode and directory
table offsets as 32-bit words, version 1.0, a 16-bit block size and its log, flags, uid and gid counts,
creation time, 64-bit root inode reference). Metadata blocks are 8 KiB with a 16-bit header whose bit 15
marks an uncompressed block. Inodes are C bitfields (type:4 mode:12 uid:4 guid:4, then per type); a type
above 5 carries high bits of the uid index, type 0 is a FIFO or socket. Files list one 16-bit size per
data block (bit 15: stored uncompressed) and have no fragments. Directories use the 2.x listing layout.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from iotcop.formats.squashfs import SquashFSError, extract, open_image

BLOCK_SIZE = 32768
BLOCK_LOG = 15
DATA_START = 64


def pack_bits(fields: list[tuple[int, int]], big: bool) -> bytes:
    """C bitfields in declaration order: from the lowest bit (little endian) or the highest (big endian)."""
    total = sum(width for _, width in fields)
    value, shift = 0, 0
    for number, width in fields:
        assert 0 <= number < 1 << width, (number, width)
        value |= number << (total - shift - width if big else shift)
        shift += width
    return value.to_bytes(total // 8, "big" if big else "little")


@dataclass
class Node:
    name: str
    kind: str  # dir, file, symlink, chardev, fifo, socket
    mode: int = 0o644
    uid_index: int = 0
    gid_index: int = 15  # 15: same as the owner
    data: bytes = b""
    target: str = ""
    rdev: int = 0
    mtime: int = 1_100_000_000
    children: list[Node] = field(default_factory=list)
    uncompressed_blocks: bool = False


def build_v1(root: Node, uids: list[int], gids: list[int], *, big: bool = False, compress_metadata: bool = True,
             mkfs_time: int = 1_000_000_000) -> bytes:
    e = ">" if big else "<"
    # Data blocks first, right after the superblock.
    data = bytearray(DATA_START)
    placed: dict[int, tuple[int, list[int]]] = {}

    def place(node: Node) -> None:
        if node.kind == "file":
            start, sizes = len(data), []
            for i in range(0, len(node.data), BLOCK_SIZE):
                chunk = node.data[i:i + BLOCK_SIZE]
                packed = zlib.compress(chunk, 9)
                if node.uncompressed_blocks or len(packed) >= len(chunk):
                    data.extend(chunk)
                    sizes.append(len(chunk) | 0x8000)
                else:
                    data.extend(packed)
                    sizes.append(len(packed))
            placed[id(node)] = (start, sizes)
        for child in node.children:
            place(child)

    place(root)

    def inode_size(node: Node) -> int:
        return {"dir": 14, "file": 15 + 2 * len(placed.get(id(node), (0, []))[1]), "symlink": 5 + len(node.target),
                "chardev": 5, "fifo": 4, "socket": 4}[node.kind]

    # Inode offsets (one metadata block), children before their directory.
    order: list[Node] = []

    def walk(node: Node) -> None:
        for child in node.children:
            walk(child) if child.kind == "dir" else order.append(child)
        order.append(node)

    walk(root)
    offsets, pos = {}, 0
    for node in order:
        offsets[id(node)] = pos
        pos += inode_size(node)
    assert pos <= 8192

    # Directory listings, one after the other in one metadata block.
    listings = bytearray()
    dir_pos: dict[int, tuple[int, int]] = {}
    for node in order:
        if node.kind != "dir":
            continue
        start = len(listings)
        if node.children:
            listings += pack_bits([(len(node.children) - 1, 8), (0, 24)], big)  # all inodes in block 0
            for child in node.children:
                type_code = {"dir": 1, "file": 2, "symlink": 3, "chardev": 5, "fifo": 6, "socket": 7}[child.kind]
                name = child.name.encode()
                listings += pack_bits([(offsets[id(child)], 13), (type_code, 3), (len(name) - 1, 8)], big)
                listings += name
        dir_pos[id(node)] = (start, len(listings) - start)

    inodes = bytearray()
    for node in order:
        high, low = divmod(node.uid_index, 16)
        base_type = {"dir": 1, "file": 2, "symlink": 3, "chardev": 5}.get(node.kind, 0)
        if base_type:
            inodes += pack_bits([(base_type + high * 5, 4), (node.mode, 12), (low, 4), (node.gid_index, 4)], big)
        else:  # IPC: 7 is a socket, anything else a FIFO
            ipc = 7 if node.kind == "socket" else 6
            inodes += pack_bits([(0, 4), (node.mode, 12), (low, 4), (node.gid_index, 4), (ipc, 4), (high, 4)], big)
        if node.kind == "dir":
            start, size = dir_pos[id(node)]
            inodes += pack_bits([(size, 19), (start, 13)], big) + struct.pack(e + "i", node.mtime)
            inodes += (0).to_bytes(3, "big")  # listing in the table's first block
        elif node.kind == "file":
            blocks_start, sizes = placed[id(node)]
            inodes += struct.pack(e + "iII", node.mtime, blocks_start, len(node.data))
            inodes += struct.pack(f"{e}{len(sizes)}H", *sizes)
        elif node.kind == "symlink":
            inodes += struct.pack(e + "H", len(node.target)) + node.target.encode()
        elif node.kind == "chardev":
            inodes += struct.pack(e + "H", node.rdev)
        assert len(inodes) == offsets[id(node)] + inode_size(node)

    def metadata(block: bytes) -> bytes:
        packed = zlib.compress(block, 9) if compress_metadata else b""
        if packed and len(packed) < len(block):
            return struct.pack(e + "H", len(packed)) + packed
        return struct.pack(e + "H", len(block) | 0x8000) + block

    inode_table = len(data)
    data += metadata(bytes(inodes))
    directory_table = len(data)
    data += metadata(bytes(listings))
    uid_table = len(data)
    data += struct.pack(f"{e}{len(uids) + len(gids)}I", *uids, *gids)
    root_ref = offsets[id(root)]  # block 0 << 16 | offset
    superblock = (b"sqsh" if big else b"hsqs") + struct.pack(
        e + "IIIIIIHHHHBBBIQ", len(order), len(data), uid_table, uid_table + 4 * len(uids), inode_table,
        directory_table, 1, 0, BLOCK_SIZE, BLOCK_LOG, 0, len(uids), len(gids), mkfs_time, root_ref)
    assert len(superblock) == 51
    data[:51] = superblock
    return bytes(data)


def sample_tree() -> tuple[Node, list[int], list[int]]:
    rng = random.Random(1)
    big_file = bytes(rng.getrandbits(8) for _ in range(40_000)) + b"tail" * 5000  # two blocks
    root = Node("", "dir", mode=0o755, children=[
        Node("hello.txt", "file", data=b"hello, v1\n"),
        Node("big.bin", "file", mode=0o755, data=big_file),
        Node("raw.bin", "file", data=b"stored as is " * 300, uncompressed_blocks=True),
        Node("empty", "file"),
        Node("link", "symlink", mode=0o777, target="etc/passwd"),
        Node("etc", "dir", mode=0o755, children=[
            Node("passwd", "file", data=b"root:x:0:0:root:/root:/bin/sh\n", uid_index=17, gid_index=1),
            Node("console", "chardev", mode=0o600, rdev=(5 << 8) | 1),
            Node("initctl", "fifo", mode=0o600, uid_index=16),
            Node("log", "socket", mode=0o666),
        ]),
    ])
    uids = [0] + [1000 + i for i in range(1, 18)]  # index 17 -> uid 1017, needs the high bits
    gids = [0, 50]
    return root, uids, gids


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.is_symlink()}


EXPECTED_FILES = {"hello.txt", "big.bin", "raw.bin", "empty", "etc/passwd"}


@pytest.mark.parametrize("big", [False, True], ids=["le", "be"])
def test_v1_image_file_list_and_contents(tmp_path, big):
    root, uids, gids = sample_tree()
    image = tmp_path / "v1.sqfs"
    image.write_bytes(build_v1(root, uids, gids, big=big))
    result = extract(image, tmp_path / "out")
    assert result.errors == []
    assert result.label == ("squashfs_v1_be" if big else "squashfs_v1_le") and result.compression == "gzip"
    out = files(tmp_path / "out")
    assert set(out) == EXPECTED_FILES
    by_name = {n.name: n for n in root.children + root.children[-1].children}
    for path, content in out.items():
        assert content == by_name[path.rsplit("/", 1)[-1]].data, path
    assert os.readlink(tmp_path / "out" / "link") == "etc/passwd"
    assert os.stat(tmp_path / "out" / "big.bin").st_mode & 0o777 == 0o755
    assert os.stat(tmp_path / "out" / "hello.txt").st_mtime == 1_100_000_000
    specials = {s["path"]: s for s in result.special}
    assert specials["/etc/console"] == {"path": "/etc/console", "type": "chardev", "mode": "0o600", "uid": 0,
                                        "gid": 0, "major": 5, "minor": 1}
    assert specials["/etc/initctl"]["type"] == "fifo" and specials["/etc/initctl"]["uid"] == 1016
    assert specials["/etc/log"]["type"] == "socket"
    with open_image(image) as img:
        ref = img.listing(img.inode(img.sb.root_inode))
        etc = next(e for e in ref if e.name == b"etc")
        passwd = next(e for e in img.listing(img.inode(etc.inode_ref)) if e.name == b"passwd")
        node = img.inode(passwd.inode_ref)
        assert (node.uid, node.gid) == (1017, 50)  # uid index 17 lives partly in the type field


def test_v1_uncompressed_metadata(tmp_path):
    root, uids, gids = sample_tree()
    image = tmp_path / "v1.sqfs"
    image.write_bytes(build_v1(root, uids, gids, compress_metadata=False))
    result = extract(image, tmp_path / "out")
    assert result.errors == [] and set(files(tmp_path / "out")) == EXPECTED_FILES


@pytest.mark.skipif(shutil.which("unsquashfs") is None, reason="squashfs-tools not installed")
def test_v1_image_matches_unsquashfs(tmp_path):
    """An independent reader of the 1.x layout agrees with ours on every file, so the built image is real v1."""
    root, uids, gids = sample_tree()
    image = tmp_path / "v1.sqfs"
    image.write_bytes(build_v1(root, uids, gids))
    listing = subprocess.run(["unsquashfs", "-s", str(image)], capture_output=True, text=True)
    assert "little endian SQUASHFS 1:0 superblock" in listing.stdout, listing.stdout + listing.stderr
    theirs = tmp_path / "theirs"
    proc = subprocess.run(["unsquashfs", "-no-xattrs", "-d", str(theirs), str(image)], capture_output=True,
                          text=True)
    assert proc.returncode in (0, 2), proc.stderr  # 2: device nodes cannot be created here
    extract(image, tmp_path / "ours")
    assert files(tmp_path / "ours") == files(theirs)
    assert os.readlink(theirs / "link") == os.readlink(tmp_path / "ours" / "link")


def test_v1_damage_is_a_clear_error(tmp_path):
    root, uids, gids = sample_tree()
    data = bytearray(build_v1(root, uids, gids))
    image = tmp_path / "v1.sqfs"
    image.write_bytes(bytes(data[:-40]))  # uid table and the end of the directory table cut off
    with pytest.raises(SquashFSError, match="truncated image"):
        extract(image, tmp_path / "a")
    struct.pack_into("<I", data, 20, len(data) + 10)  # inode table beyond the image
    image.write_bytes(bytes(data))
    with pytest.raises(SquashFSError, match="inode table offset"):
        extract(image, tmp_path / "b")
