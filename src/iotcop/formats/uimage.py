"""Legacy U-Boot images (uImage): the 64-byte header, both CRCs, and multi-file images.

Header layout from U-Boot's include/image.h (struct legacy_img_hdr): all
fields big endian; the header CRC covers the header with its CRC field set
to zero, the data CRC covers the payload.  A multi-file image (type 4)
starts its payload with a zero-terminated list of sizes; each part is
padded to four bytes.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAGIC = 0x27051956
HEADER_SIZE = 64
HEADER = ">IIIIIIIBBBB32s"
OS = {0: "invalid", 1: "openbsd", 2: "netbsd", 3: "freebsd", 4: "4_4bsd", 5: "linux", 6: "svr4", 7: "esix",
      8: "solaris", 9: "irix", 10: "sco", 11: "dell", 12: "ncr", 13: "lynxos", 14: "vxworks", 15: "psos",
      16: "qnx", 17: "u-boot", 18: "rtems", 19: "artos", 20: "unity", 21: "integrity", 22: "ose", 23: "plan9",
      24: "openrtos", 25: "arm-trusted-firmware", 26: "tee", 27: "opensbi", 28: "efi"}
ARCH = {0: "invalid", 1: "alpha", 2: "arm", 3: "x86", 4: "ia64", 5: "mips", 6: "mips64", 7: "powerpc",
        8: "s390", 9: "sh", 10: "sparc", 11: "sparc64", 12: "m68k", 13: "nios", 14: "microblaze", 15: "nios2",
        16: "blackfin", 17: "avr32", 18: "st200", 19: "sandbox", 20: "nds32", 21: "openrisc", 22: "arm64",
        23: "arc", 24: "x86_64", 25: "xtensa", 26: "riscv"}
TYPE = {0: "invalid", 1: "standalone", 2: "kernel", 3: "ramdisk", 4: "multi", 5: "firmware", 6: "script",
        7: "filesystem", 8: "flat_dt", 9: "kwbimage", 10: "imximage", 11: "ubl", 12: "omapimage", 13: "aisimage",
        14: "kernel_noload"}
COMPRESSION = {0: "none", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}
MAX_PARTS = 64


class UImageError(ValueError):
    """Not a legacy uImage, or a damaged one."""


@dataclass
class UImage:
    header_crc: int
    header_crc_ok: bool
    timestamp: int
    size: int
    load: int
    entry: int
    data_crc: int
    data_crc_ok: bool | None  # None: the payload is truncated, so its CRC cannot be checked
    os: str
    arch: str
    type: str
    compression: str
    name: str
    available: int  # payload bytes present in the input
    parts: list[tuple[int, int]] = field(default_factory=list)  # (offset from image start, size)

    @property
    def end(self) -> int:
        return HEADER_SIZE + min(self.size, self.available)

    def summary(self) -> dict:
        return {
            "name": self.name, "os": self.os, "arch": self.arch, "type": self.type, "compression": self.compression,
            "load": hex(self.load), "entry": hex(self.entry), "size": self.size, "timestamp": self.timestamp,
            "header_crc_ok": self.header_crc_ok, "data_crc_ok": self.data_crc_ok,
            "truncated": self.available < self.size, "parts": [size for _, size in self.parts],
        }


def parse(data: bytes, *, strict: bool = True) -> UImage:
    """Parse a uImage at the start of `data`.

    Raises UImageError if it is not one; with strict=True (U-Boot's own rule) also when the header CRC fails.
    """
    if len(data) < HEADER_SIZE:
        raise UImageError("truncated uImage header")
    magic, hcrc, ts, size, load, ep, dcrc, os_, arch, itype, comp, name = struct.unpack_from(HEADER, data)
    if magic != MAGIC:
        raise UImageError("not a uImage (bad magic)")
    header = bytearray(data[:HEADER_SIZE])
    header[4:8] = b"\0\0\0\0"
    computed = zlib.crc32(header)
    available = max(0, min(size, len(data) - HEADER_SIZE))
    payload = data[HEADER_SIZE:HEADER_SIZE + available]
    image = UImage(
        header_crc=hcrc, header_crc_ok=computed == hcrc, timestamp=ts, size=size, load=load, entry=ep,
        data_crc=dcrc, data_crc_ok=(zlib.crc32(payload) == dcrc) if available == size else None,
        os=OS.get(os_, str(os_)), arch=ARCH.get(arch, str(arch)), type=TYPE.get(itype, str(itype)),
        compression=COMPRESSION.get(comp, str(comp)), name=name.split(b"\0", 1)[0].decode(errors="replace"),
        available=available,
    )
    if strict and not image.header_crc_ok:
        raise UImageError(f"uImage header CRC mismatch (stored {hcrc:#010x}, computed {computed:#010x})")
    image.parts = _parts(payload, size) if image.type == "multi" else [(HEADER_SIZE, available)]
    return image


def _parts(payload: bytes, size: int) -> list[tuple[int, int]]:
    sizes = []
    pos = 0
    while True:
        if pos + 4 > len(payload) or len(sizes) > MAX_PARTS:
            raise UImageError("multi-file uImage: size list is not terminated")
        (n,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        if n == 0:
            break
        sizes.append(n)
    parts = []
    for n in sizes:
        if pos + n > size:
            raise UImageError("multi-file uImage: a part runs past the image")
        parts.append((HEADER_SIZE + pos, min(n, max(0, len(payload) - pos))))
        pos += (n + 3) & ~3
    return parts
