"""TP-Link firmware: version 1 headers (bootloader, kernel, root filesystem) and VxWorks IMG0 containers.

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


# -- VxWorks "IMG0" containers (TL-WR702N) ----------------------------------------------------------------
#
# Layout as fact_extractor's TP-WR702N unpacker documents it: a 4-byte word and a 16-byte MD5, then an
# "IMG0" header (magic, 32-bit size of everything after the 20-byte prefix, device id, language code; big
# endian).  The LZMA bootloader starts at a fixed offset; a second IMG0 header follows it, 128 bytes after
# which the LZMA VxWorks system starts.  The system's own filesystem starts at a run of "ow" bytes.
# File boundaries match fact_extractor's so results compare byte for byte; its container header file
# stops one byte short of the MD5, which is why the summary carries the whole MD5 as well.

IMG0_MAGIC = b"IMG0"
IMG0_PREFIX = 20  # 4-byte word + MD5
IMG0_HEADER = struct.Struct(">4sI2s2s")
WR702N_BOOTLOADER = 26820
WR702N_SYSTEM_AFTER_HEADER = 128
OWFS_MARKER = b"ow" * 16
MIN_LEFTOVER = 10  # smaller unclaimed gaps are not written out
LANGUAGES = {b"\x00\x01": "Chinese", b"\x11\x01": "English"}


@dataclass
class IMG0Header:
    offset: int
    size: int
    device_id: str
    language: str


@dataclass
class IMG0Image:
    md5: str
    outer: IMG0Header
    inner: IMG0Header
    files: list[tuple[str, int, int]]  # (file name, start, end)

    def summary(self) -> dict:
        def header(h: IMG0Header) -> dict:
            return {"offset": h.offset, "size": h.size, "device_id": h.device_id, "language": h.language}

        return {"md5": self.md5, "img0": header(self.outer), "sub_header": header(self.inner),
                "files": {name: {"offset": start, "size": end - start} for name, start, end in self.files}}


def _img0_header(data: bytes, at: int) -> IMG0Header:
    if at + IMG0_HEADER.size > len(data):
        raise TPLinkError("truncated IMG0 header")
    magic, size, device, language = IMG0_HEADER.unpack_from(data, at)
    if magic != IMG0_MAGIC:
        raise TPLinkError(f"no IMG0 header at {at}")
    if not 0 < size <= len(data) - at:
        raise TPLinkError(f"IMG0 header at {at} claims {size} bytes, {len(data) - at} present")
    return IMG0Header(offset=at, size=size, device_id=f"0x{device.hex()}",
                      language=LANGUAGES.get(language, f"unknown (0x{language.hex()})"))


def _lzma_header_at(data: bytes, at: int, what: str) -> None:
    """An "lzma alone" header: a valid properties byte and a power-of-two dictionary."""
    if at + 13 > len(data):
        raise TPLinkError(f"{what} at {at} lies outside the image")
    props, dictionary = struct.unpack_from("<BI", data, at)
    if props >= 9 * 5 * 5 or dictionary < 4096 or dictionary & (dictionary - 1):
        raise TPLinkError(f"{what} at {at} does not start with an LZMA header")


def parse_img0(data: bytes) -> IMG0Image:
    """Split a TL-WR702N style IMG0 container into the parts fact_extractor names."""
    outer = _img0_header(data, IMG0_PREFIX)
    end = IMG0_PREFIX + outer.size
    if end != len(data):
        raise TPLinkError(f"IMG0 size {outer.size} does not match the {len(data)} byte input")
    inner_at = data.find(IMG0_MAGIC, IMG0_PREFIX + IMG0_HEADER.size)
    if inner_at < 0:
        raise TPLinkError("no second IMG0 header (the system image) found")
    inner = _img0_header(data, inner_at)
    if inner_at + inner.size != end:
        raise TPLinkError("the second IMG0 header does not reach the end of the image")
    if not IMG0_PREFIX + IMG0_HEADER.size <= WR702N_BOOTLOADER < inner_at - 1:
        raise TPLinkError("the system image starts before the bootloader")
    _lzma_header_at(data, WR702N_BOOTLOADER, "bootloader")
    system = inner_at + WR702N_SYSTEM_AFTER_HEADER
    _lzma_header_at(data, system, "system image")
    files = [("container_header.hdr", 0, IMG0_PREFIX - 1), ("img0.hdr", IMG0_PREFIX, IMG0_PREFIX + IMG0_HEADER.size),
             ("bootloader.7z", WR702N_BOOTLOADER, inner_at - 1), ("main.img", system, end)]
    owfs = data.find(OWFS_MARKER, system)
    if owfs > system:
        files += [("main.7z", system, owfs), ("main.owfs", owfs, end)]
    files += [(f"{start}_unknown.bin", start, stop) for start, stop in _gaps(files, end)
              if stop - start >= MIN_LEFTOVER]
    return IMG0Image(md5=data[4:IMG0_PREFIX].hex(), outer=outer, inner=inner, files=files)


def _gaps(files: list[tuple[str, int, int]], end: int) -> list[tuple[int, int]]:
    """Byte ranges no named part covers."""
    gaps, pos = [], 0
    for start, stop in sorted((s, e) for _, s, e in files):
        if start > pos:
            gaps.append((pos, start))
        pos = max(pos, stop)
    if pos < end:
        gaps.append((pos, end))
    return gaps
