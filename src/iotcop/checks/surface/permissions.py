"""SUID/SGID files and world-writable files and directories."""

from __future__ import annotations

import stat
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import SHELLS
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

# Set-user-ID programs that hand out a shell or run arbitrary code by design.
_DANGEROUS_SUID = frozenset({*SHELLS, "busybox", "python", "python3", "perl", "lua", "vi", "vim", "find", "env", "nmap", "tclsh", "awk"})
# Directories that are meant to be shared scratch space (sticky bit normally set).
_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock")


def _mode(entry: FileEntry) -> str:
    return stat.filemode((stat.S_IFDIR if entry.kind == "dir" else stat.S_IFREG) | entry.mode)


def _describe(entry: FileEntry) -> str:
    return f"{entry.path} ({_mode(entry)} {entry.uid}:{entry.gid})"


class FilePermissions(Check):
    ID = "surface.file-permissions"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="Risky file permissions",
        why=(
            "A set-user-ID root program runs with root's rights for any local user or injected command; a "
            "world-writable file or directory lets any process replace what others read or execute."
        ),
        fix=(
            "Remove the set-user-ID/set-group-ID bits from programs that do not need them (or use capabilities "
            "or a privileged helper with a narrow interface); make files writable only by their owner and set "
            "the sticky bit on shared directories."
        ),
        references=("CWE-732", "CWE-250"),
        limitations=(
            "Modes and owners are those the extractor wrote.  Some extractors lose bits: debugfs (ext2/3/4) "
            "applies the owner after the mode, which clears set-user-ID; unblob widens permissions it needs to "
            "read files.  File capabilities (security.capability extended attributes) are dropped by the "
            "extractors used, so they are not judged.  Symlinks and device nodes are not reported."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        suid, sgid, dangerous, ww_files, ww_dirs = [], [], [], [], []
        for entry in fw.entries:
            if entry.kind == "file":
                if entry.setuid:
                    suid.append(entry)
                    if entry.uid == 0 and (entry.name in _DANGEROUS_SUID or entry.world_writable):
                        dangerous.append(entry)
                elif entry.setgid:
                    sgid.append(entry)
                if entry.world_writable:
                    ww_files.append(entry)
            elif entry.kind == "dir" and entry.world_writable and not entry.mode & stat.S_ISVTX:
                ww_dirs.append(entry)
        if dangerous:
            yield self.finding(
                dangerous[0], title=f"Set-user-ID root program that runs anything ({len(dangerous)})",
                detail="set-user-ID root and a shell, interpreter, multi-call binary or writable by all: " + listing(map(_describe, dangerous)),
                severity=Severity.high,
            )
        rest = [e for e in suid if e not in dangerous]
        if rest:
            yield self.finding(
                rest[0], title=f"Set-user-ID programs ({len(rest)})",
                detail="review that each needs it: " + listing(map(_describe, rest)), severity=Severity.low,
            )
        if sgid:
            yield self.finding(
                sgid[0], title=f"Set-group-ID programs ({len(sgid)})",
                detail=listing(map(_describe, sgid)), severity=Severity.info,
            )
        if ww_files:
            yield self.finding(
                ww_files[0], title=f"World-writable files ({len(ww_files)})",
                detail="any process can change these: " + listing(map(_describe, ww_files)),
            )
        if ww_dirs:
            scratch = all(e.path in _SCRATCH for e in ww_dirs)
            yield self.finding(
                ww_dirs[0], title=f"World-writable directories without the sticky bit ({len(ww_dirs)})",
                detail="any process can delete or replace other users' files in: " + listing(map(_describe, ww_dirs)),
                severity=Severity.low if scratch else Severity.medium,
            )
