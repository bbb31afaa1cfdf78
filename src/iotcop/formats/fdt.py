"""A small, bounded reader for flattened device trees (DTB, and FIT images, which are DTBs).

Layout from the Devicetree Specification, chapter 5: a 40-byte big-endian
header, a structure block of tokens (BEGIN_NODE, END_NODE, PROP, NOP, END)
and a strings block with the property names.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = 0xD00DFEED
HEADER = ">IIIIIIIIII"
HEADER_SIZE = 40
BEGIN_NODE, END_NODE, PROP, NOP, END = 1, 2, 3, 4, 9
MAX_DEPTH = 64
MAX_NODES = 100_000


class FDTError(ValueError):
    """The blob is not a well-formed flattened device tree."""


@dataclass
class Node:
    name: str
    props: dict[str, bytes] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    # Where each property value lies in the blob, so large payloads can be copied without parsing again.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def string(self, prop: str, default: str = "") -> str:
        value = self.props.get(prop)
        if value is None:
            return default
        return value.split(b"\0", 1)[0].decode(errors="replace")

    def strings(self, prop: str) -> list[str]:
        value = self.props.get(prop)
        if not value:
            return []
        return [s.decode(errors="replace") for s in value.rstrip(b"\0").split(b"\0")]

    def u32(self, prop: str) -> int | None:
        value = self.props.get(prop)
        if value is None or len(value) < 4:
            return None
        return struct.unpack_from(">I", value)[0]


def total_size(data: bytes) -> int:
    """The blob's declared size, after checking the header; raises FDTError."""
    if len(data) < HEADER_SIZE:
        raise FDTError("truncated device tree header")
    magic, size, off_struct, off_strings, _rsv, version, _last, _boot, size_strings, size_struct = struct.unpack_from(
        HEADER, data)
    if magic != MAGIC:
        raise FDTError("not a device tree (bad magic)")
    if size < HEADER_SIZE or not 16 <= version <= 64:
        raise FDTError(f"implausible device tree header (size {size}, version {version})")
    for start, length in ((off_struct, size_struct), (off_strings, size_strings)):
        if start < HEADER_SIZE or start + length > size:
            raise FDTError("device tree block outside the blob")
    return size


def parse(data: bytes, *, keep_values_up_to: int = 1 << 16) -> Node:
    """Parse a DTB; property values larger than `keep_values_up_to` are kept only as spans."""
    size = total_size(data)
    if size > len(data):
        raise FDTError(f"truncated device tree: header says {size} bytes, {len(data)} present")
    _m, _s, off_struct, off_strings, _r, _v, _l, _b, size_strings, size_struct = struct.unpack_from(HEADER, data)
    strings = data[off_strings:off_strings + size_strings]
    pos, end = off_struct, off_struct + size_struct
    stack: list[Node] = []
    root: Node | None = None
    nodes = 0
    while pos + 4 <= end:
        (token,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if token == BEGIN_NODE:
            nul = data.find(b"\0", pos, end)
            if nul < 0:
                raise FDTError("unterminated node name")
            node = Node(data[pos:nul].decode(errors="replace"))
            pos = (nul + 4) & ~3
            nodes += 1
            if nodes > MAX_NODES or len(stack) >= MAX_DEPTH:
                raise FDTError("device tree too large or too deep")
            if stack:
                stack[-1].children.append(node)
            elif root is None:
                root = node
            else:
                raise FDTError("more than one root node")
            stack.append(node)
        elif token == END_NODE:
            if not stack:
                raise FDTError("unbalanced END_NODE")
            stack.pop()
        elif token == PROP:
            if pos + 8 > end or not stack:
                raise FDTError("property outside a node")
            length, name_off = struct.unpack_from(">II", data, pos)
            pos += 8
            if pos + length > end or name_off >= len(strings):
                raise FDTError("property runs past the structure block")
            nul = strings.find(b"\0", name_off)
            name = strings[name_off:nul if nul >= 0 else len(strings)].decode(errors="replace")
            stack[-1].spans[name] = (pos, length)
            stack[-1].props[name] = data[pos:pos + length] if length <= keep_values_up_to else b""
            pos = (pos + length + 3) & ~3
        elif token == NOP:
            continue
        elif token == END:
            break
        else:
            raise FDTError(f"unknown token {token:#x} at {pos - 4}")
    if root is None or stack:
        raise FDTError("device tree structure is incomplete")
    return root
