"""How our format readers plug into unblob: a SquashFS extractor with a fallback, and a report of the reader used.

SquashFS chunks go to Debian's `unsquashfs` first where it can read them
(standard v1-v4 little endian, zlib-compressed v1-v3); whenever it cannot
(big-endian v4, AVM, vendor magics, LZMA in v2/v3) or fails, our own reader
opens the chunk.  Legacy uImage, device trees and FIT images, TP-Link v1
and IMG0 (VxWorks) and AVM's fake-SquashFS wrapper get handlers here because
unblob has none.
Each chunk's extraction result carries a ReaderReport that names the
reader, which the extraction report shows.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

from unblob.file_utils import File, InvalidInputFormat
from unblob.models import (
    ExtractError,
    Extractor,
    ExtractResult,
    Handler,
    HandlerDoc,
    HandlerType,
    HexString,
    Reference,
    ValidChunk,
)
from unblob.report import ErrorReport, Report, Severity, register_report_type

from iotcop.formats import fdt, fit, tplink, uimage
from iotcop.formats.squashfs import READER_NAME, SquashFSError, extract, open_image
from iotcop.formats.squashfs.compression import _looks_zlib

UNSQUASHFS_TIMEOUT = 3600


class ReaderReport(Report):
    """Which reader opened a chunk, and what it recorded (device nodes, skipped links, xattrs)."""

    reader: str
    manifest: dict = {}


class ReaderFailedReport(ErrorReport):
    severity: Severity = Severity.ERROR
    reader: str
    message: str


register_report_type(ReaderReport)
register_report_type(ReaderFailedReport)


def _unsquashfs_reads(path: Path) -> tuple[str, bool]:
    """The image's label, and whether Debian's unsquashfs can be expected to read it."""
    try:
        with open_image(path) as image:
            sb = image.sb
            if sb.vendor or sb.big_endian and sb.major == 4:
                return sb.label, False
            if sb.major < 4:
                # v1-v3 only ever had zlib upstream; vendor LZMA needs our reader.
                (word,) = struct.unpack(sb.endian + "H", image.pread(sb.inode_table, 2))
                start = sb.inode_table + 2 + (1 if sb.check_data else 0)
                if not word & 0x8000 and not _looks_zlib(image.pread(start, 2)):
                    return sb.label, False
            return sb.label, True
    except SquashFSError:
        return "squashfs", True  # let unsquashfs have its say first; ours reports the error after


def _clear(outdir: Path) -> None:
    for entry in os.scandir(outdir):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


class SquashFSFallbackExtractor(Extractor):
    """unsquashfs where it works, our pure-Python reader where it does not."""

    def get_dependencies(self) -> list[str]:
        return []  # unsquashfs is used when present; the reader needs nothing

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult:
        label, try_unsquashfs = _unsquashfs_reads(inpath)
        notes: list[Report] = []
        if try_unsquashfs and shutil.which("unsquashfs"):
            proc = subprocess.run(
                ["unsquashfs", "-no-xattrs", "-f", "-d", str(outdir), str(inpath)],
                capture_output=True, timeout=UNSQUASHFS_TIMEOUT, check=False,
            )
            # Exit 2 is a non-fatal problem (device nodes cannot be created here): the tree is complete.
            if proc.returncode in (0, 2):
                return ExtractResult(reports=[ReaderReport(reader=f"{label} (unsquashfs)")])
            _clear(outdir)
            tail = proc.stderr.decode(errors="replace").strip().splitlines()
            notes.append(ReaderReport(reader="unsquashfs", manifest={
                "failed": tail[-1][:300] if tail else f"exit code {proc.returncode}"}))
        try:
            result = extract(inpath, outdir)
        except SquashFSError as exc:
            raise ExtractError(ReaderFailedReport(reader=READER_NAME, message=f"{label}: {exc}")) from None
        reports: list[Report] = [ReaderReport(reader=result.reader, manifest=result.manifest())]
        reports.extend(ReaderFailedReport(reader=READER_NAME, message=e) for e in result.errors[:20])
        return ExtractResult(reports=reports + notes)


# -- containers unblob has no handler for ---------------------------------------------------------------------

def _safe_name(text: str, default: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:64]
    return name or default


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class _ContainerExtractor(Extractor):
    def __init__(self, split):
        self.split = split  # bytes -> (reader label, summary, [(file name, bytes)])

    def extract(self, inpath: Path, outdir: Path) -> ExtractResult:
        data = inpath.read_bytes()
        try:
            reader, summary, files = self.split(data)
        except ValueError as exc:
            raise ExtractError(ReaderFailedReport(reader="iotcop container reader", message=str(exc))) from None
        for name, payload in files:
            _write(outdir / name, payload)
        return ExtractResult(reports=[ReaderReport(reader=reader, manifest=summary)])


def _split_uimage(data: bytes):
    image = uimage.parse(data)
    ext = {"none": "bin"}.get(image.compression, image.compression)
    files = [("uboot_header.bin", data[:uimage.HEADER_SIZE])]
    if len(image.parts) == 1:
        start, size = image.parts[0]
        files.append((f"uboot.{ext}", data[start:start + size]))
    else:
        files += [(f"uboot-{i}.{ext}", data[s:s + n]) for i, (s, n) in enumerate(image.parts)]
    return f"uimage_{image.type} (iotcop uimage reader)", image.summary(), files


def _split_fdt(data: bytes):
    root = fdt.parse(data, keep_values_up_to=4096)
    if fit.is_fit(root):
        files = [(_safe_name(name, f"image{i}"), payload) for i, (name, payload) in enumerate(fit.images(data))]
        return "fit (iotcop FIT reader)", fit.fit_summary(data), files
    name = _safe_name(root.string("model") or (root.strings("compatible") or [""])[0], "devicetree")
    size = fdt.total_size(data)
    return "dtb (iotcop FDT reader)", {"model": root.string("model"), "compatible": root.strings("compatible")}, [
        (f"{name}.dtb", data[:size])]


def _split_tplink(data: bytes):
    image = tplink.parse(data)
    names = {"header": "header.bin", "bootloader": "bootloader.bin", "kernel": "kernel.bin", "rootfs": "rootfs.bin"}
    files = [(names[k], data[o:o + n]) for k, (o, n) in image.parts.items()]
    return "tplink_v1 (iotcop TP-Link reader)", image.summary(), files


def _split_img0(data: bytes):
    image = tplink.parse_img0(data)
    files = [(name, data[start:end]) for name, start, end in image.files]
    return "tplink_img0 (iotcop TP-Link reader)", image.summary(), files


def _split_avm_fake(data: bytes):
    payload = data[AVM_FAKE_HEADER:]
    padded = payload + bytes(-len(payload) % AVM_FAKE_HEADER)  # AVM pads the image to 256-byte blocks
    return "avm_sqfs_fake (iotcop AVM reader)", {"payload": len(payload)}, [("image.ext2", padded)]


class UImageHandler(Handler):
    NAME = "uimage"
    PATTERNS = [HexString("27 05 19 56")]
    EXTRACTOR = _ContainerExtractor(_split_uimage)
    DOC = HandlerDoc(
        name="U-Boot legacy image (uImage)",
        description="A 64-byte big-endian header (magic 0x27051956, header and data CRC32, load and entry "
                    "address, OS, architecture, image type, compression, name) before one payload, or several "
                    "for a multi-file image whose size table follows the header.  Both CRCs must match.  The "
                    "header and each payload are written out, the payload named by its compression.",
        vendor="DENX (U-Boot)",
        references=[Reference("U-Boot include/image.h (legacy image header)",
                              "https://source.denx.de/u-boot/u-boot/-/blob/master/include/image.h")],
        limitations=["payloads are not decompressed here; the compression handlers open them"],
        handler_type=HandlerType.BOOTLOADER,
    )

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        file.seek(start_offset)
        header = file.read(uimage.HEADER_SIZE)
        try:
            image = uimage.parse(header)  # header CRC checked here
        except uimage.UImageError as exc:
            raise InvalidInputFormat(str(exc)) from None
        end = start_offset + uimage.HEADER_SIZE + image.size
        if end > file.size():
            raise InvalidInputFormat("uImage payload truncated")
        file.seek(start_offset)
        image = uimage.parse(file.read(end - start_offset))
        if not image.data_crc_ok:
            raise InvalidInputFormat("uImage data CRC mismatch")
        return ValidChunk(start_offset=start_offset, end_offset=end)


class FDTHandler(Handler):
    NAME = "fdt"
    PATTERNS = [HexString("d0 0d fe ed")]
    EXTRACTOR = _ContainerExtractor(_split_fdt)
    DOC = HandlerDoc(
        name="Flattened device tree and FIT image",
        description="A devicetree blob (magic 0xd00dfeed, big-endian header with the total size).  A FIT image "
                    "(a tree with /images) is split into its images, embedded or external (mkimage -E, "
                    "data-offset/data-position); a plain device tree is carved out as one .dtb file.",
        vendor=None,
        references=[Reference("Devicetree Specification, flattened format",
                              "https://devicetree-specification.readthedocs.io/"),
                    Reference("U-Boot doc/usage/fit/source_file_format.rst",
                              "https://docs.u-boot.org/en/latest/usage/fit/source_file_format.html")],
        limitations=["signatures in a FIT are reported by the secure-boot check, not verified here"],
        handler_type=HandlerType.BOOTLOADER,
    )
    MAX_SIZE = 256 * 1024 * 1024

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        file.seek(start_offset)
        try:
            size = fdt.total_size(file.read(fdt.HEADER_SIZE))
        except fdt.FDTError as exc:
            raise InvalidInputFormat(str(exc)) from None
        if size > self.MAX_SIZE or start_offset + size > file.size():
            raise InvalidInputFormat("device tree larger than the input")
        file.seek(start_offset)
        blob = file.read(size)
        try:
            root = fdt.parse(blob, keep_values_up_to=4096)
            end = start_offset + size
            if not fit.is_fit(root) and start_offset == 0 and end == file.size():
                return None  # the file is exactly one device tree: nothing to carve out of it
            if fit.is_fit(root):
                # External data (mkimage -E) follows the tree; the chunk covers it.
                end = min(end + _external_end(root, size), file.size())
        except fdt.FDTError as exc:
            raise InvalidInputFormat(str(exc)) from None
        return ValidChunk(start_offset=start_offset, end_offset=end)


def _external_end(root: fdt.Node, size: int) -> int:
    """How far past the tree external FIT image data reaches (0 when all data is embedded)."""
    reach = 0
    for image in root.child("images").children:
        length = image.u32("data-size")
        if length is None:
            continue
        if (offset := image.u32("data-offset")) is not None:
            reach = max(reach, ((size + 3) & ~3) + offset + length - size)
        elif (position := image.u32("data-position")) is not None:
            reach = max(reach, position + length - size)
    return reach


class TPLinkHandler(Handler):
    NAME = "tplink"
    PATTERNS = [HexString("01 00 00 00 54 50 2d 4c 49 4e 4b")]  # header version 1, "TP-LINK"
    EXTRACTOR = _ContainerExtractor(_split_tplink)
    DOC = HandlerDoc(
        name="TP-Link firmware, header version 1",
        description="The 512-byte header of TP-Link router firmware ('TP-LINK' vendor string, product id, MD5, "
                    "kernel and root filesystem offsets and lengths) is parsed and the image split into header, "
                    "bootloader, kernel and root filesystem.",
        vendor="TP-Link",
        references=[Reference("OpenWrt tools/firmware-utils src/tplink-safeloader.c and mktplinkfw.c",
                              "https://github.com/openwrt/firmware-utils")],
        limitations=["header version 2 and the safeloader format are left to unblob's other handlers"],
        handler_type=HandlerType.ARCHIVE,
    )

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        file.seek(start_offset)
        head = file.read(tplink.HEADER_SIZE + tplink.BOOT_SLOT + tplink.HEADER_SIZE)
        (length,) = struct.unpack_from(">I", head, 124) if len(head) >= 128 else (0,)
        if not 0 < length <= file.size() - start_offset:
            raise InvalidInputFormat("TP-Link firmware length does not fit")
        file.seek(start_offset)
        try:
            tplink.parse(file.read(length))
        except tplink.TPLinkError as exc:
            raise InvalidInputFormat(str(exc)) from None
        return ValidChunk(start_offset=start_offset, end_offset=start_offset + length)


class TPLinkIMG0Handler(Handler):
    """TP-Link VxWorks firmware (TL-WR702N): a 20-byte prefix, then an "IMG0" header."""

    NAME = "tplink_img0"
    PATTERNS = [HexString("49 4d 47 30")]  # "IMG0"
    PATTERN_MATCH_OFFSET = -tplink.IMG0_PREFIX
    EXTRACTOR = _ContainerExtractor(_split_img0)
    DOC = HandlerDoc(
        name="TP-Link VxWorks firmware (IMG0)",
        description="A 20-byte prefix and an 'IMG0' header before a table of named files, as shipped for "
                    "VxWorks-based TP-Link devices; each named file is written out.",
        vendor="TP-Link",
        references=[],
        limitations=["the VxWorks kernel itself is not unpacked further"],
        handler_type=HandlerType.ARCHIVE,
    )
    MAX_SIZE = 64 * 1024 * 1024

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        if start_offset < 0:
            raise InvalidInputFormat("IMG0 header too close to the start")
        file.seek(start_offset + tplink.IMG0_PREFIX)
        head = file.read(tplink.IMG0_HEADER.size)
        if len(head) < tplink.IMG0_HEADER.size:
            raise InvalidInputFormat("truncated IMG0 header")
        size = tplink.IMG0_HEADER.unpack(head)[1]
        end = start_offset + tplink.IMG0_PREFIX + size
        if size > self.MAX_SIZE or end > file.size():
            raise InvalidInputFormat("IMG0 size does not fit the input")
        file.seek(start_offset)
        try:
            tplink.parse_img0(file.read(end - start_offset))
        except tplink.TPLinkError as exc:
            raise InvalidInputFormat(str(exc)) from None
        return ValidChunk(start_offset=start_offset, end_offset=end)


AVM_FAKE_HEADER = 256


class AVMFakeSquashFSHandler(Handler):
    """AVM puts a SquashFS magic followed by zeros in front of a plain filesystem image."""

    NAME = "avm_sqfs_fake"
    PATTERNS = [HexString("73 71 73 68 " + "00 " * 60)]
    EXTRACTOR = _ContainerExtractor(_split_avm_fake)
    DOC = HandlerDoc(
        name="AVM fake SquashFS wrapper",
        description="AVM firmware puts a 256-byte block (a SquashFS magic followed by zeros) in front of a "
                    "plain filesystem image; the block is dropped and the image padded to 256 bytes.",
        vendor="AVM",
        references=[Reference("freetz-ng: AVM firmware layout", "https://github.com/Freetz-NG/freetz-ng")],
        limitations=["only the all-zero header form is recognised"],
        handler_type=HandlerType.FILESYSTEM,
    )

    def calculate_chunk(self, file: File, start_offset: int) -> ValidChunk | None:
        file.seek(start_offset)
        header = file.read(AVM_FAKE_HEADER)
        if len(header) < AVM_FAKE_HEADER or any(header[4:]) or file.size() - start_offset <= AVM_FAKE_HEADER:
            raise InvalidInputFormat("not an AVM fake SquashFS header")
        return ValidChunk(start_offset=start_offset, end_offset=file.size())


CONTAINER_HANDLERS = (UImageHandler, FDTHandler, TPLinkHandler, TPLinkIMG0Handler, AVMFakeSquashFSHandler)
