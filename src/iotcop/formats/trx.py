"""Broadcom/Netgear TRX containers: header, CRC and partitions.

Layout from OpenWrt's trx tools: magic "HDR0", total length, CRC32 over
everything from the flags field (offset 12) to the end, flags, version,
then three (v1) or four (v2) partition offsets from the start of the header.
The CRC is the JAMCRC variant (CRC-32 without the final inversion).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"HDR0"


class TRXError(ValueError):
    """Not a TRX header, or a damaged one."""


@dataclass
class TRX:
    length: int
    crc: int
    crc_ok: bool
    flags: int
    version: int
    partitions: list[tuple[int, int]]  # (offset, size)

    def summary(self) -> dict:
        return {"length": self.length, "version": self.version, "flags": self.flags, "crc_ok": self.crc_ok,
                "partitions": [{"offset": o, "size": s} for o, s in self.partitions]}


def parse(data: bytes) -> TRX:
    if len(data) < 28 or data[:4] != MAGIC:
        raise TRXError("not a TRX image (bad magic)")
    length, crc, flags, version = struct.unpack_from("<IIHH", data, 4)
    if version not in (1, 2):
        raise TRXError(f"unknown TRX version {version}")
    count = 3 if version == 1 else 4
    header_size = 16 + 4 * count
    if length < header_size or length > len(data):
        raise TRXError(f"TRX length {length} does not fit the {len(data)} byte input")
    computed = zlib.crc32(data[12:length]) ^ 0xFFFFFFFF
    offsets = sorted(o for o in struct.unpack_from(f"<{count}I", data, 16) if 0 < o < length)
    bounds = offsets + [length]
    partitions = [(start, end - start) for start, end in zip(bounds, bounds[1:])]
    return TRX(length=length, crc=crc, crc_ok=computed == crc, flags=flags, version=version, partitions=partitions)
