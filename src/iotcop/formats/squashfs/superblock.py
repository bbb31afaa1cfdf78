"""SquashFS superblocks, versions 1.x to 4.x, either byte order, and the vendor magics.

Format facts from the SquashFS documentation and the squashfs_fs.h headers
of each major release (v1/v2 share the first 63 bytes of the v3 layout; v4
is a new little-endian-by-default layout that some vendors wrote big endian).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from iotcop.formats.squashfs.errors import SquashFSError

# Magic as read from the file -> (vendor label, big endian)
MAGICS = {
    b"hsqs": ("", False), b"sqsh": ("", True),
    b"zlqs": ("nonstandard", False), b"sqlz": ("nonstandard", True),
    b"hsqt": ("ddwrt", False), b"tqsh": ("ddwrt", True),
    b"shsq": ("broadcom", False), b"qshs": ("broadcom", True),
}
V3_SIZE = 119
V2_SIZE = 63
V4_SIZE = 96
METADATA_SIZE = 8192
NO_FRAGMENT = 0xFFFFFFFF


@dataclass
class Superblock:
    major: int
    minor: int
    big_endian: bool
    vendor: str
    inodes: int
    bytes_used: int
    block_size: int
    block_log: int
    flags: int
    compressor: int  # v4 compressor id; 1 (zlib) for v1-v3, which may turn out to be LZMA
    fragments: int
    root_inode: int
    inode_table: int
    directory_table: int
    fragment_table: int
    id_table: int = 0  # v4
    xattr_table: int = 0xFFFFFFFFFFFFFFFF  # v4
    uid_table: int = 0  # v1-v3
    guid_table: int = 0
    no_uids: int = 0
    no_guids: int = 0
    no_ids: int = 0
    mkfs_time: int = 0
    avm: bool = False  # big-endian v4 with little-endian metadata headers, as AVM writes it

    @property
    def endian(self) -> str:
        return ">" if self.big_endian else "<"

    @property
    def label(self) -> str:
        """e.g. 'squashfs_v3_be' or 'squashfs_v4_be_avm'."""
        parts = [f"squashfs_v{self.major}", "be" if self.big_endian else "le"]
        if self.vendor:
            parts.append(self.vendor)
        if self.avm:
            parts.append("avm")
        return "_".join(parts)

    @property
    def check_data(self) -> bool:
        """v1-v3 'check' flag: a marker byte follows every metadata block header."""
        return self.major < 4 and bool(self.flags & 0x04)


def parse_superblock(data: bytes, size: int) -> Superblock:
    """Parse the superblock at the start of `data`; `size` is the length of the whole input."""
    if len(data) < V2_SIZE:
        raise SquashFSError(f"truncated superblock: {len(data)} bytes")
    magic = bytes(data[:4])
    if magic not in MAGICS:
        raise SquashFSError(f"not a SquashFS image (magic {magic!r})")
    vendor, big = MAGICS[magic]
    e = ">" if big else "<"
    major, minor = struct.unpack_from(e + "HH", data, 28)
    if major == 4:
        sb = _v4(data, e, big, vendor)
    elif major in (1, 2, 3):
        sb = _v1_to_v3(data, e, big, vendor, major, minor)
    else:
        raise SquashFSError(f"unsupported SquashFS version {major}.{minor}")
    _validate(sb, size)
    return sb


def _v4(data: bytes, e: str, big: bool, vendor: str) -> Superblock:
    if len(data) < V4_SIZE:
        raise SquashFSError(f"truncated v4 superblock: {len(data)} bytes")
    (inodes, mkfs_time, block_size, fragments, compressor, block_log, flags, no_ids, major, minor, root_inode,
     bytes_used, id_table, xattr_table, inode_table, directory_table, fragment_table,
     _lookup) = struct.unpack_from(e + "IIIIHHHHHHQQQQQQQQ", data, 4)
    return Superblock(
        major=major, minor=minor, big_endian=big, vendor=vendor, inodes=inodes, bytes_used=bytes_used,
        block_size=block_size, block_log=block_log, flags=flags, compressor=compressor, fragments=fragments,
        root_inode=root_inode, inode_table=inode_table, directory_table=directory_table,
        fragment_table=fragment_table, id_table=id_table, xattr_table=xattr_table, no_ids=no_ids,
        mkfs_time=mkfs_time,
    )


def _v1_to_v3(data: bytes, e: str, big: bool, vendor: str, major: int, minor: int) -> Superblock:
    (inodes, bytes_used_2, uid_2, guid_2, inode_2, dir_2) = struct.unpack_from(e + "IIIIII", data, 4)
    block_size_1, block_log, flags, no_uids, no_guids, mkfs_time = struct.unpack_from(e + "HHBBBI", data, 32)
    if major == 1:
        return Superblock(
            major=major, minor=minor, big_endian=big, vendor=vendor, inodes=inodes, bytes_used=bytes_used_2,
            block_size=block_size_1, block_log=block_log, flags=flags, compressor=1, fragments=0,
            root_inode=struct.unpack_from(e + "Q", data, 43)[0], inode_table=inode_2, directory_table=dir_2,
            fragment_table=0, uid_table=uid_2, guid_table=guid_2, no_uids=no_uids, no_guids=no_guids,
            mkfs_time=mkfs_time,
        )
    root_inode, block_size, fragments, frag_2 = struct.unpack_from(e + "QIII", data, 43)
    if major == 2:
        return Superblock(
            major=major, minor=minor, big_endian=big, vendor=vendor, inodes=inodes, bytes_used=bytes_used_2,
            block_size=block_size, block_log=block_log, flags=flags, compressor=1, fragments=fragments,
            root_inode=root_inode, inode_table=inode_2, directory_table=dir_2, fragment_table=frag_2,
            uid_table=uid_2, guid_table=guid_2, no_uids=no_uids, no_guids=no_guids, mkfs_time=mkfs_time,
        )
    if len(data) < V3_SIZE:
        raise SquashFSError(f"truncated v3 superblock: {len(data)} bytes")
    bytes_used, uid, guid, inode, directory, fragment, _lookup = struct.unpack_from(e + "qqqqqqq", data, 63)
    return Superblock(
        major=major, minor=minor, big_endian=big, vendor=vendor, inodes=inodes, bytes_used=bytes_used,
        block_size=block_size, block_log=block_log, flags=flags, compressor=1, fragments=fragments,
        root_inode=root_inode, inode_table=inode, directory_table=directory, fragment_table=fragment,
        uid_table=uid, guid_table=guid, no_uids=no_uids, no_guids=no_guids, mkfs_time=mkfs_time,
    )


def _validate(sb: Superblock, size: int) -> None:
    if not 4096 <= sb.block_size <= 1 << 20 and not (sb.major == 1 and 512 <= sb.block_size <= 1 << 16):
        raise SquashFSError(f"implausible block size {sb.block_size}")
    if sb.bytes_used > size:
        raise SquashFSError(f"truncated image: the superblock says {sb.bytes_used} bytes, only {size} present")
    for name in ("inode_table", "directory_table"):
        value = getattr(sb, name)
        if not 0 < value < sb.bytes_used:
            raise SquashFSError(f"{name.replace('_', ' ')} offset {value} outside the image ({sb.bytes_used} bytes)")
    if sb.inode_table > sb.directory_table:
        raise SquashFSError("inode table starts after the directory table")
    if sb.fragments and not 0 < sb.fragment_table < sb.bytes_used:
        raise SquashFSError(f"fragment table offset {sb.fragment_table} outside the image")
    if sb.fragments > sb.bytes_used // 8 or sb.inodes > sb.bytes_used:
        raise SquashFSError(f"implausible counts: {sb.inodes} inodes, {sb.fragments} fragments")
