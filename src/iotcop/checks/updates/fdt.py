"""A small flattened-device-tree reader (DTB, FIT images) for bootargs and signature nodes.

Only the structure block is walked; every offset is bounds-checked and a
malformed blob yields nothing rather than raising.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterator

MAGIC = b"\xd0\x0d\xfe\xed"
_BEGIN_NODE, _END_NODE, _PROP, _NOP, _END = 1, 2, 3, 4, 9
MAX_BLOBS = 16


@dataclass(frozen=True)
class FdtNode:
    path: str
    props: dict[str, bytes]

    def text(self, name: str) -> str | None:
        value = self.props.get(name)
        if value is None:
            return None
        return value.rstrip(b"\x00").replace(b"\x00", b" ").decode("utf-8", errors="replace")


def parse_fdt(data: bytes, offset: int = 0) -> list[FdtNode]:
    """Nodes of the device tree at `offset`, or [] when it is not a valid one."""
    try:
        return list(_walk(data, offset))
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        return []


def _walk(data: bytes, base: int) -> Iterator[FdtNode]:
    if data[base : base + 4] != MAGIC:
        return
    total, off_struct, off_strings, _rsv, version, _last, _cpu, size_strings, size_struct = struct.unpack_from(">9I", data, base + 4)
    if total > len(data) - base or version < 16 or off_struct >= total or off_strings >= total:
        return
    if version < 17:
        size_struct = total - off_struct
    pos, end = base + off_struct, base + min(total, off_struct + size_struct)
    strings = data[base + off_strings : base + off_strings + size_strings]
    stack: list[tuple[str, dict[str, bytes]]] = []
    while pos + 4 <= end:
        (token,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if token == _BEGIN_NODE:
            stop = data.index(b"\x00", pos, end)
            name = data[pos:stop].decode("utf-8", errors="replace")
            pos = (stop + 4) & ~3
            parent = stack[-1][0] if stack else ""
            path = "/" if not stack else (parent.rstrip("/") + "/" + name)
            stack.append((path, {}))
            if len(stack) > 64:
                return
        elif token == _PROP:
            length, nameoff = struct.unpack_from(">II", data, pos)
            pos += 8
            if not stack or pos + length > end:
                return
            stop = strings.index(b"\x00", nameoff)
            stack[-1][1][strings[nameoff:stop].decode("utf-8", errors="replace")] = bytes(data[pos : pos + length])
            pos = (pos + length + 3) & ~3
        elif token == _END_NODE:
            if not stack:
                return
            path, props = stack.pop()
            yield FdtNode(path, props)
        elif token == _NOP:
            continue
        elif token == _END:
            return
        else:
            return


def find_fdts(data: bytes) -> list[list[FdtNode]]:
    """Every valid device tree blob inside `data` (a DTB file, a FIT image, a U-Boot binary)."""
    found, start = [], 0
    while len(found) < MAX_BLOBS:
        at = data.find(MAGIC, start)
        if at < 0:
            break
        nodes = parse_fdt(data, at)
        if nodes:
            found.append(nodes)
        start = at + 4
    return found
