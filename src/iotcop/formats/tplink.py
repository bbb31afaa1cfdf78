"""TP-Link firmware headers (version 1): bootloader, kernel and root filesystem locations.

Layout from OpenWrt's mktplinkfw (struct fw_header, big endian, 512 bytes).
Images that carry a bootloader put it right after a first header, in a
128 KiB slot, followed by a second header whose offsets the kernel and
root filesystem are relative to.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_SIZE = 0x200
VERSION_1 = 0x01000000
BOOT_SLOT = 0x20000
FIELDS = ">I24s36sIII16sI16sIIIIIIIIII"


class TPLinkError(ValueError):
    """Not a TP-Link v1 firmware header, or one whose offsets do not fit."""


@dataclass
class TPLinkImage:
    vendor: str
    version: str
    hw_id: int
    hw_rev: int
    length: int
    parts: dict[str, tuple[int, int]]  # name -> (offset, size), "header" included

    def summary(self) -> dict:
        return {"vendor": self.vendor, "firmware_version": self.version, "hw_id": hex(self.hw_id),
                "hw_rev": self.hw_rev, "length": self.length,
                "parts": {k: {"offset": o, "size": s} for k, (o, s) in self.parts.items()}}


def _header(data: bytes, at: int) -> tuple:
    if at + HEADER_SIZE > len(data):
        raise TPLinkError("truncated TP-Link header")
    fields = struct.unpack_from(FIELDS, data, at)
    if fields[0] != VERSION_1:
        raise TPLinkError("not a TP-Link v1 header")
    return fields


def parse(data: bytes) -> TPLinkImage:
    (_v, vendor, version, hw_id, hw_rev, _u1, _md5a, _u2, _md5b, _u3, _kla, _kep, length, kernel_ofs, kernel_len,
     rootfs_ofs, rootfs_len, boot_ofs, boot_len) = _header(data, 0)
    if not 0 < length <= len(data):
        raise TPLinkError(f"firmware length {length} does not fit the {len(data)} byte input")
    parts = {"header": (0, HEADER_SIZE)}
    base = 0
    if boot_len:
        if boot_ofs != 0 or boot_len > BOOT_SLOT:
            raise TPLinkError("unexpected bootloader position")
        parts["bootloader"] = (HEADER_SIZE, boot_len)
        base = HEADER_SIZE + BOOT_SLOT
        _header(data, base)  # the firmware proper starts with its own header
    for name, ofs, size in (("kernel", kernel_ofs, kernel_len), ("rootfs", rootfs_ofs, rootfs_len)):
        if size:
            start = base + ofs
            if start < HEADER_SIZE or start + size > length:
                raise TPLinkError(f"{name} at {start}+{size} lies outside the firmware")
            parts[name] = (start, size)
    return TPLinkImage(vendor=vendor.split(b"\0", 1)[0].decode(errors="replace"),
                       version=version.split(b"\0", 1)[0].decode(errors="replace"), hw_id=hw_id, hw_rev=hw_rev,
                       length=length, parts=parts)
