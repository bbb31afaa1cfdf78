"""Reading a SquashFS image: metadata blocks, inodes, directories, file data, xattrs.

All reads go through `Image.pread`, which refuses anything outside the image,
and every decompression is capped, so truncated or crafted images raise
SquashFSError instead of reading garbage, looping or exhausting memory.
Structure layouts follow the public squashfs_fs.h of each major version.
"""

from __future__ import annotations

import os
import struct
from collections import OrderedDict
from dataclasses import dataclass, field

from iotcop.formats.squashfs.compression import Decompressor
from iotcop.formats.squashfs.errors import SquashFSError
from iotcop.formats.squashfs.superblock import (
    METADATA_SIZE,
    NO_FRAGMENT,
    Superblock,
    parse_superblock,
)

DIR, FILE, SYMLINK, BLOCKDEV, CHARDEV, FIFO, SOCKET = "dir", "file", "symlink", "blockdev", "chardev", "fifo", "socket"
# v2-v4 inode type numbers (extended v4 types are basic + 7); v1 folds FIFO and socket into IPC type 0.
BASIC_TYPES = {1: DIR, 2: FILE, 3: SYMLINK, 4: BLOCKDEV, 5: CHARDEV, 6: FIFO, 7: SOCKET}
V1_TYPES = (DIR, FILE, SYMLINK, BLOCKDEV, CHARDEV)
MAX_NAME = 256
METADATA_CACHE = 512  # decompressed metadata blocks kept (4 MiB)
# Decompressed fragment blocks kept (32 MiB): files are written in directory order, which is not the order
# mksquashfs packed their tails in, so a small cache decompresses the same fragment block again and again.
FRAGMENT_CACHE_BYTES = 32 * 1024 * 1024


@dataclass
class Inode:
    kind: str
    mode: int
    mtime: int = 0
    number: int = 0
    uid: int = 0
    gid: int = 0
    nlink: int = 1
    # directories: where the listing is, relative to the directory table
    dir_block: int = 0
    dir_offset: int = 0
    dir_size: int = 0
    # regular files
    blocks_start: int = 0
    file_size: int = 0
    block_sizes: list[int] = field(default_factory=list)
    fragment: int = NO_FRAGMENT
    fragment_offset: int = 0
    # symlinks
    target: bytes = b""
    rdev: int = 0
    xattr: int = 0xFFFFFFFF


@dataclass
class Entry:
    name: bytes
    inode_ref: int  # (metadata block offset << 16) | offset inside the block
    kind: str


def _bits(data: bytes, big: bool, widths: tuple[int, ...]) -> list[int]:
    """Unpack C bitfields: LSB-first in little endian images, MSB-first in big endian ones."""
    total = sum(widths)
    nbytes = (total + 7) // 8
    if len(data) < nbytes:
        raise SquashFSError("truncated structure in metadata")
    value = int.from_bytes(data[:nbytes], "big" if big else "little")
    out = []
    if big:
        shift = nbytes * 8
        for w in widths:
            shift -= w
            out.append((value >> shift) & ((1 << w) - 1))
    else:
        shift = 0
        for w in widths:
            out.append((value >> shift) & ((1 << w) - 1))
            shift += w
    return out


class Image:
    """One SquashFS image inside a file, from `offset`; the file stays open until close()."""

    def __init__(self, path: str | os.PathLike, offset: int = 0):
        self.fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(self.fd).st_size - offset
            if size <= 0:
                raise SquashFSError("empty input")
            self.offset = offset
            head = os.pread(self.fd, 128, offset)
            self.sb: Superblock = parse_superblock(head, size)
            self.size = self.sb.bytes_used
            self.e = self.sb.endian
            self.big = self.sb.big_endian
            self.v = self.sb.major
            self.decompress = Decompressor(self.sb.compressor, self.sb.block_size, legacy=self.v < 4)
            self.meta_e = self._metadata_byte_order()
            self._meta: OrderedDict[int, tuple[bytes, int]] = OrderedDict()
            self._frag_cache: OrderedDict[int, bytes] = OrderedDict()
            self._fragments: list[tuple[int, int]] | None = None
            self._ids: list[int] | None = None
            self._legacy_ids: tuple[list[int], list[int]] | None = None
        except BaseException:
            os.close(self.fd)
            raise

    def _metadata_byte_order(self) -> str:
        """AVM's big-endian v4 images keep little-endian metadata block headers; probe the first one."""
        if not (self.v == 4 and self.big):
            return self.e
        (word,) = struct.unpack(">H", self.pread(self.sb.inode_table, 2))
        if 0 < word & 0x7FFF <= METADATA_SIZE:
            return ">"
        (word,) = struct.unpack("<H", self.pread(self.sb.inode_table, 2))
        if 0 < word & 0x7FFF <= METADATA_SIZE:
            self.sb.avm = True
            return "<"
        return ">"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Image:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raw and metadata reads -------------------------------------------------------------

    def pread(self, pos: int, length: int) -> bytes:
        if pos < 0 or length < 0 or pos + length > self.size:
            raise SquashFSError(f"read of {length} bytes at {pos} is outside the image ({self.size} bytes)")
        data = os.pread(self.fd, length, self.offset + pos)
        if len(data) != length:
            raise SquashFSError(f"truncated image: short read at {pos}")
        return data

    def metadata_block(self, pos: int) -> tuple[bytes, int]:
        """Decompressed metadata block at `pos` and the position of the next one."""
        hit = self._meta.get(pos)
        if hit is not None:
            self._meta.move_to_end(pos)
            return hit
        (header,) = struct.unpack(self.meta_e + "H", self.pread(pos, 2))
        start = pos + 2 + (1 if self.sb.check_data else 0)
        length = header & 0x7FFF
        if length == 0 or length > METADATA_SIZE + 256:
            raise SquashFSError(f"metadata block at {pos} has bad length {length}")
        raw = self.pread(start, length)
        data = raw if header & 0x8000 else self.decompress(raw, METADATA_SIZE)
        entry = (data, start + length)
        self._meta[pos] = entry
        if len(self._meta) > METADATA_CACHE:
            self._meta.popitem(last=False)
        return entry

    def cursor(self, table: int, block: int, offset: int) -> Cursor:
        return Cursor(self, table + block, offset)

    # -- tables ----------------------------------------------------------------------------

    def fragment(self, index: int) -> tuple[int, int]:
        if self._fragments is None:
            self._fragments = self._read_fragment_table()
        if not 0 <= index < len(self._fragments):
            raise SquashFSError(f"fragment index {index} out of range ({len(self._fragments)} fragments)")
        return self._fragments[index]

    def _read_fragment_table(self) -> list[tuple[int, int]]:
        count = self.sb.fragments
        if count == 0:
            return []
        entry_size = 8 if self.v == 2 else 16
        pointer_size = 4 if self.v == 2 else 8
        per_block = METADATA_SIZE // entry_size
        n_blocks = (count + per_block - 1) // per_block
        pointers = struct.unpack(f"{self.e}{n_blocks}{'I' if pointer_size == 4 else 'Q'}",
                                 self.pread(self.sb.fragment_table, n_blocks * pointer_size))
        out: list[tuple[int, int]] = []
        for pointer in pointers:
            data, _ = self.metadata_block(pointer)
            for i in range(0, len(data) - entry_size + 1, entry_size):
                if len(out) == count:
                    break
                if entry_size == 8:
                    start, size = struct.unpack_from(self.e + "II", data, i)
                else:
                    start, size = struct.unpack_from(self.e + "QI", data, i)
                out.append((start, size))
        if len(out) != count:
            raise SquashFSError(f"fragment table holds {len(out)} of {count} entries")
        return out

    def ids(self) -> list[int]:
        """v4 uid/gid table (empty for other versions and when unreadable)."""
        if self._ids is None:
            self._ids = []
            if self.v == 4 and 0 < self.sb.no_ids <= 65536:
                n_blocks = (self.sb.no_ids * 4 + METADATA_SIZE - 1) // METADATA_SIZE
                pointers = struct.unpack(f"{self.e}{n_blocks}Q", self.pread(self.sb.id_table, 8 * n_blocks))
                for pointer in pointers:
                    data, _ = self.metadata_block(pointer)
                    self._ids.extend(struct.unpack_from(f"{self.e}{len(data) // 4}I", data))
                self._ids = self._ids[: self.sb.no_ids]
        return self._ids

    def block_length(self, stored: int) -> tuple[int, bool]:
        """Bytes on disk and whether they are stored uncompressed; a length of 0 is a sparse block.

        v1 keeps 16-bit sizes with bit 15 as the 'uncompressed' flag, so a full 32 KiB block stored as is
        reads 0x8000: a size of 0 there means 32768, as squashfs_fs.h's SQUASHFS_COMPRESSED_SIZE says.
        """
        if self.v >= 2:
            return stored & 0xFFFFFF, bool(stored & (1 << 24))
        return (stored & 0x7FFF) or 0x8000, bool(stored & 0x8000)

    def block_data(self, pos: int, stored: int, expected: int, exact: bool = True) -> bytes:
        """One data block: `stored` is the on-disk size word (bit 24 set: stored uncompressed)."""
        length, uncompressed = self.block_length(stored)
        if length == 0:
            return bytes(expected)  # sparse block
        if length > self.sb.block_size + 4096:
            raise SquashFSError(f"data block at {pos} claims {length} bytes, block size is {self.sb.block_size}")
        raw = self.pread(pos, length)
        if uncompressed:
            return raw[:expected]
        return self.decompress(raw, self.sb.block_size, expected if exact else None)

    def fragment_data(self, index: int) -> bytes:
        hit = self._frag_cache.get(index)
        if hit is not None:
            self._frag_cache.move_to_end(index)
            return hit
        start, stored = self.fragment(index)
        data = self.block_data(start, stored, self.sb.block_size, exact=False)
        self._frag_cache[index] = data
        if len(self._frag_cache) > max(8, FRAGMENT_CACHE_BYTES // self.sb.block_size):
            self._frag_cache.popitem(last=False)
        return data

    # -- inodes ----------------------------------------------------------------------------

    def inode(self, ref: int) -> Inode:
        block, offset = ref >> 16, ref & 0xFFFF
        if offset >= METADATA_SIZE or self.sb.inode_table + block >= self.size:
            raise SquashFSError(f"inode reference {ref:#x} points outside the inode table")
        cur = self.cursor(self.sb.inode_table, block, offset)
        if self.v == 4:
            return self._inode_v4(cur)
        if self.v == 3:
            return self._inode_v3(cur)
        if self.v == 2:
            return self._inode_v2(cur)
        return self._inode_v1(cur)

    def _file_blocks(self, cur: Cursor, file_size: int, fragment: int, word: str = "I") -> list[int]:
        bs = self.sb.block_size
        count = file_size // bs if fragment != NO_FRAGMENT else (file_size + bs - 1) // bs
        if count * 4 > self.size * 8:
            raise SquashFSError(f"file of {file_size} bytes cannot fit in a {self.size} byte image")
        size = struct.calcsize(word)
        return list(struct.unpack(f"{self.e}{count}{word}", cur.read(count * size))) if count else []

    def _inode_v4(self, cur: Cursor) -> Inode:
        e = self.e
        itype, mode, uid, gid, mtime, number = struct.unpack(e + "HHHHII", cur.read(16))
        kind = BASIC_TYPES.get(itype if itype <= 7 else itype - 7)
        if kind is None:
            raise SquashFSError(f"unknown inode type {itype}")
        ids = self.ids()
        node = Inode(kind=kind, mode=mode, mtime=mtime, number=number,
                     uid=ids[uid] if uid < len(ids) else uid, gid=ids[gid] if gid < len(ids) else gid)
        if itype == 1:
            node.dir_block, node.nlink, node.dir_size, node.dir_offset, _parent = struct.unpack(e + "IIHHI", cur.read(16))
        elif itype == 8:
            node.nlink, node.dir_size, node.dir_block, _parent, _count, node.dir_offset, node.xattr = struct.unpack(
                e + "IIIIHHI", cur.read(24))
        elif itype == 2:
            node.blocks_start, node.fragment, node.fragment_offset, node.file_size = struct.unpack(e + "IIII", cur.read(16))
            node.block_sizes = self._file_blocks(cur, node.file_size, node.fragment)
        elif itype == 9:
            (node.blocks_start, node.file_size, _sparse, node.nlink, node.fragment, node.fragment_offset,
             node.xattr) = struct.unpack(e + "QQQIIII", cur.read(40))
            node.block_sizes = self._file_blocks(cur, node.file_size, node.fragment)
        elif itype in (3, 10):
            node.nlink, size = struct.unpack(e + "II", cur.read(8))
            node.target = self._target(cur, size)
            if itype == 10:
                (node.xattr,) = struct.unpack(e + "I", cur.read(4))
        elif itype in (4, 5, 11, 12):
            node.nlink, node.rdev = struct.unpack(e + "II", cur.read(8))
            if itype > 7:
                (node.xattr,) = struct.unpack(e + "I", cur.read(4))
        else:
            (node.nlink,) = struct.unpack(e + "I", cur.read(4))
            if itype > 7:
                (node.xattr,) = struct.unpack(e + "I", cur.read(4))
        return node

    def _target(self, cur: Cursor, size: int) -> bytes:
        if size > 4096:
            raise SquashFSError(f"symlink target of {size} bytes")
        return cur.read(size)

    def _inode_v3(self, cur: Cursor) -> Inode:
        e, big = self.e, self.big
        itype, mode, uid, gid, mtime, number = _bits(cur.peek(12), big, (4, 12, 8, 8, 32, 32))
        cur.skip(12)
        kind = {1: DIR, 2: FILE, 3: SYMLINK, 4: BLOCKDEV, 5: CHARDEV, 6: FIFO, 7: SOCKET, 8: DIR, 9: FILE}.get(itype)
        if kind is None:
            raise SquashFSError(f"unknown v3 inode type {itype}")
        node = Inode(kind=kind, mode=mode, mtime=mtime, number=number, uid=uid, gid=gid)
        if itype == 1:
            node.nlink, node.dir_size, node.dir_offset, node.dir_block, _parent = _bits(
                cur.read(16), big, (32, 19, 13, 32, 32))
        elif itype == 8:
            node.nlink, node.dir_size, node.dir_offset, node.dir_block, _count, _parent = _bits(
                cur.read(19), big, (32, 27, 13, 32, 16, 32))
        elif itype == 2:
            node.blocks_start, node.fragment, node.fragment_offset, node.file_size = struct.unpack(
                e + "QIII", cur.read(20))
            node.block_sizes = self._file_blocks(cur, node.file_size, node.fragment)
        elif itype == 9:
            node.nlink, node.blocks_start, node.fragment, node.fragment_offset, node.file_size = struct.unpack(
                e + "IQIIQ", cur.read(28))
            node.block_sizes = self._file_blocks(cur, node.file_size, node.fragment)
        elif itype == 3:
            node.nlink, size = struct.unpack(e + "IH", cur.read(6))
            node.target = self._target(cur, size)
        elif itype in (4, 5):
            node.nlink, node.rdev = struct.unpack(e + "IH", cur.read(6))
        return node

    def _inode_v2(self, cur: Cursor) -> Inode:
        e, big = self.e, self.big
        itype, mode, uid, gid = _bits(cur.peek(4), big, (4, 12, 8, 8))
        cur.skip(4)
        kind = {1: DIR, 2: FILE, 3: SYMLINK, 4: BLOCKDEV, 5: CHARDEV, 6: FIFO, 7: SOCKET, 8: DIR}.get(itype)
        if kind is None:
            raise SquashFSError(f"unknown v2 inode type {itype}")
        node = Inode(kind=kind, mode=mode, uid=uid, gid=gid)
        if itype == 1:
            node.dir_size, node.dir_offset, node.mtime, node.dir_block = _bits(cur.read(11), big, (19, 13, 32, 24))
        elif itype == 8:
            node.dir_size, node.dir_offset, node.mtime, node.dir_block, _count = _bits(
                cur.read(14), big, (27, 13, 32, 24, 16))
        elif itype == 2:
            node.mtime, node.blocks_start, node.fragment, node.fragment_offset, node.file_size = struct.unpack(
                e + "iIIII", cur.read(20))
            node.block_sizes = self._file_blocks(cur, node.file_size, node.fragment)
        elif itype == 3:
            (size,) = struct.unpack(e + "H", cur.read(2))
            node.target = self._target(cur, size)
        elif itype in (4, 5):
            (node.rdev,) = struct.unpack(e + "H", cur.read(2))
        return node

    def _inode_v1(self, cur: Cursor) -> Inode:
        """v1 packs the high bits of the uid index into the type: (type - 1) // 5 * 16 + uid.

        Type 0 is IPC (FIFO or socket), which keeps those high bits in its own offset field instead.
        A group index of 15 means "the same as the owner".
        """
        e, big = self.e, self.big
        itype, mode, uid, gid = _bits(cur.peek(3), big, (4, 12, 4, 4))
        if itype == 0:
            *_, ipc_type, high = _bits(cur.read(4), big, (4, 12, 4, 4, 4, 4))
            kind, uid_index = (SOCKET if ipc_type == 7 else FIFO), high * 16 + uid
        else:
            cur.skip(3)
            kind = V1_TYPES[(itype - 1) % 5]
            uid_index = (itype - 1) // 5 * 16 + uid
        uids, gids = self.legacy_ids()
        owner = uids[uid_index] if uid_index < len(uids) else uid_index
        group = owner if gid == 15 else gids[gid] if gid < len(gids) else gid
        node = Inode(kind=kind, mode=mode, uid=owner, gid=group, mtime=self.sb.mkfs_time)
        if kind == DIR:
            node.dir_size, node.dir_offset, node.mtime, node.dir_block = _bits(cur.read(11), big, (19, 13, 32, 24))
        elif kind == FILE:
            node.mtime, node.blocks_start, node.file_size = struct.unpack(e + "iII", cur.read(12))
            node.block_sizes = self._file_blocks(cur, node.file_size, NO_FRAGMENT, "H")
        elif kind == SYMLINK:
            (size,) = struct.unpack(e + "H", cur.read(2))
            node.target = self._target(cur, size)
        elif kind in (BLOCKDEV, CHARDEV):
            (node.rdev,) = struct.unpack(e + "H", cur.read(2))
        return node

    def legacy_ids(self) -> tuple[list[int], list[int]]:
        """v1 uid and gid tables: no_uids then no_guids 32-bit ids at the uid table offset."""
        if self._legacy_ids is None:
            self._legacy_ids = ([], [])
            n_uids, n_gids = self.sb.no_uids, self.sb.no_guids
            if n_uids + n_gids:
                ids = struct.unpack(f"{self.e}{n_uids + n_gids}I", self.pread(self.sb.uid_table, 4 * (n_uids + n_gids)))
                self._legacy_ids = (list(ids[:n_uids]), list(ids[n_uids:]))
        return self._legacy_ids

    # -- directories -----------------------------------------------------------------------

    def listing(self, node: Inode) -> list[Entry]:
        """The entries of a directory inode, each name checked."""
        size = node.dir_size
        if size > self.size:
            raise SquashFSError(f"directory listing of {size} bytes is larger than the image")
        # v3 and v4 count 3 extra bytes for '.' and '..'; older versions are read tolerantly.
        want = size - 3 if self.v >= 3 else size
        if want <= 0:
            return []
        if node.dir_offset >= METADATA_SIZE:
            raise SquashFSError(f"directory offset {node.dir_offset} outside a metadata block")
        cur = self.cursor(self.sb.directory_table, node.dir_block, node.dir_offset)
        data = cur.read(want, tolerant=self.v < 3)
        return list(self._parse_listing(data))

    def _parse_listing(self, data: bytes):
        e, big, pos = self.e, self.big, 0
        header_size = {4: 12, 3: 9}.get(self.v, 4)
        entry_size = {4: 8, 3: 5}.get(self.v, 3)
        while len(data) - pos >= header_size:
            if self.v == 4:
                count, start, _base = struct.unpack_from(e + "III", data, pos)
            elif self.v == 3:
                count, start, _base = _bits(data[pos:pos + 9], big, (8, 32, 32))
            else:
                count, start = _bits(data[pos:pos + 4], big, (8, 24))
            pos += header_size
            if count >= 256:
                raise SquashFSError(f"directory header claims {count + 1} entries (at most 256)")
            for _ in range(count + 1):
                if len(data) - pos < entry_size:
                    raise SquashFSError("directory listing ends inside an entry")
                if self.v == 4:
                    offset, _delta, itype, name_size = struct.unpack_from(e + "HhHH", data, pos)
                elif self.v == 3:
                    offset, itype, name_size, _delta = _bits(data[pos:pos + 5], big, (13, 3, 8, 16))
                else:
                    offset, itype, name_size = _bits(data[pos:pos + 3], big, (13, 3, 8))
                pos += entry_size
                name_size += 1
                if name_size > MAX_NAME or pos + name_size > len(data):
                    raise SquashFSError(f"directory entry name of {name_size} bytes overruns the listing")
                name = data[pos:pos + name_size]
                pos += name_size
                kind = BASIC_TYPES.get(itype if itype <= 7 else itype - 7, "unknown")
                yield Entry(name=name, inode_ref=(start << 16) | offset, kind=kind)

    # -- xattrs (v4) -----------------------------------------------------------------------

    def xattrs(self, index: int) -> dict[str, str]:
        """Extended attributes of one inode as {name: hex value}; empty when there are none."""
        if self.v != 4 or index == 0xFFFFFFFF or self.sb.xattr_table >= self.size or self.sb.flags & 0x200:
            return {}
        table_start, count = struct.unpack(self.e + "QI", self.pread(self.sb.xattr_table, 12))
        if index >= count or table_start >= self.size:
            raise SquashFSError(f"xattr index {index} out of range ({count})")
        pointer_pos = self.sb.xattr_table + 16 + 8 * (index * 16 // METADATA_SIZE)
        (pointer,) = struct.unpack(self.e + "Q", self.pread(pointer_pos, 8))
        data, _ = self.metadata_block(pointer)
        ref, n, _size = struct.unpack_from(self.e + "QII", data, (index * 16) % METADATA_SIZE)
        if n > 1024:
            raise SquashFSError(f"xattr entry claims {n} attributes")
        cur = self.cursor(table_start, ref >> 16, ref & 0xFFFF)
        out = {}
        for _ in range(n):
            xtype, name_size = struct.unpack(self.e + "HH", cur.read(4))
            name = cur.read(name_size).decode(errors="replace")
            prefix = {0: "user.", 1: "trusted.", 2: "security."}.get(xtype & 0xFF, "unknown.")
            (vsize,) = struct.unpack(self.e + "I", cur.read(4))
            value = cur.read(vsize)
            if xtype & 0x100 and vsize == 8:  # value stored out of line
                (vref,) = struct.unpack(self.e + "Q", value)
                vcur = self.cursor(table_start, vref >> 16, vref & 0xFFFF)
                (vsize,) = struct.unpack(self.e + "I", vcur.read(4))
                value = vcur.read(min(vsize, 65536))
            out[prefix + name] = value.hex()
        return out


class Cursor:
    """Sequential reads across metadata blocks, starting at a block position and an offset in it."""

    def __init__(self, image: Image, pos: int, offset: int):
        self.image = image
        self.pos = pos
        self.offset = offset

    def read(self, n: int, tolerant: bool = False) -> bytes:
        out = bytearray()
        # Each step either takes bytes or moves to a later block, so this ends.
        while len(out) < n:
            try:
                data, following = self.image.metadata_block(self.pos)
            except SquashFSError:
                if tolerant and out:
                    break
                raise
            if self.offset > len(data):
                raise SquashFSError(f"offset {self.offset} beyond a {len(data)} byte metadata block")
            take = data[self.offset:self.offset + n - len(out)]
            out += take
            self.offset += len(take)
            if len(out) < n:
                self.pos, self.offset = following, 0
        return bytes(out)

    def peek(self, n: int) -> bytes:
        saved = (self.pos, self.offset)
        data = self.read(n)
        self.pos, self.offset = saved
        return data

    def skip(self, n: int) -> None:
        self.read(n)


def open_image(path: str | os.PathLike, offset: int = 0) -> Image:
    return Image(path, offset)
