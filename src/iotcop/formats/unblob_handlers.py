"""How our format readers plug into unblob: a SquashFS extractor with a fallback, and a report of the reader used.

SquashFS chunks go to Debian's `unsquashfs` first where it can read them
(standard v1-v4 little endian, zlib-compressed v1-v3); whenever it cannot
(big-endian v4, AVM, vendor magics, LZMA in v2/v3) or fails, our own reader
opens the chunk.  Each chunk's extraction result carries a ReaderReport that
names the reader, which the extraction report shows.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

from unblob.models import ExtractError, Extractor, ExtractResult
from unblob.report import ErrorReport, Report, Severity, register_report_type

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
