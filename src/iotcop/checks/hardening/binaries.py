"""Exploit mitigations of the ELF programs and libraries, judged per architecture and per libc.

Reads only the ElfInfo the inventory computed; one finding per weakness class
with the list of binaries.

Rules:
* Executables are ELF files with a program interpreter, or static EXEC/DYN
  files not named like a library.  Shared libraries (lib*.so*, ld-*.so*) and
  objects (REL, kernel modules) are judged for RELRO and RPATH only.
* NX: a PT_GNU_STACK segment without PF_X.  On MIPS the toolchain marks the
  stack executable by default (the FPU-emulation trampolines of older
  kernels); the kernel decides there (since Linux 4.8 it keeps the stack
  non-executable unless the hardware needs it), so MIPS binaries are not
  judged on NX.
* PIE: ET_DYN executables.  Static EXEC binaries are reported with the rest.
* RELRO: partial or none (full needs BIND_NOW).
* Stack canary: __stack_chk_fail imported or in the symbol table.
* FORTIFY: only judged when the firmware's own C library exports __*_chk
  functions (glibc does, musl and uClibc do not); then a dynamically linked
  executable that imports none of them was built without _FORTIFY_SOURCE or
  calls nothing it covers.
* RPATH/RUNPATH: reported when an entry is relative or empty, or when it lies
  in a place others can write on the device (/tmp, /var, removable media under
  /mnt and /media, data partitions such as /overlay, /data, /jffs ...), after
  following the image's own symlinks (/home -> /var/home), or under a folder
  the image ships world-writable.  Other absolute folders that the image does
  not hold are the build machine's (/home/<developer>/..., /opt/buildroot/...):
  the loader finds nothing there, and creating them needs root.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

_LIBRARY = re.compile(r"^(?:lib.*\.so(?:\.[\w.]+)?|ld(?:-.*)?\.so(?:\.[\w.]+)?|.*\.so(?:\.\d+)*)$")
_LIBC = re.compile(r"^(?:libc\.so(?:\.\d+)?|libc-[\d.]+\.so|ld-musl-.*\.so\.1|libuClibc-.*\.so|libc\.so\.0)$")
# Top-level folders that hold RAM disks, removable media or data partitions on embedded Linux.  /home is not
# among them: on these images it is absent or root's, and a /home that is writable shows as a symlink into
# one of these or as a world-writable folder.
_WRITABLE_TOPS = frozenset({"tmp", "var", "mnt", "overlay", "data", "media", "run", "userdata", "jffs", "config"})
_WRITABLE_PREFIXES = ("/dev/shm",)
NO_NX_ARCHES = frozenset({"MIPS"})


def is_executable(entry: FileEntry) -> bool:
    elf = entry.elf
    if elf is None or elf.elf_type not in ("EXEC", "DYN"):
        return False
    if _LIBRARY.match(entry.name):
        return False
    return elf.interpreter is not None or elf.elf_type == "EXEC" or elf.pie


def _libc_fortify(fw: Firmware) -> tuple[bool | None, str | None]:
    libcs = sorted((e for e in fw.elf_files() if _LIBC.match(e.name) and e.elf.elf_type == "DYN"), key=lambda e: e.path)
    for entry in libcs:
        data = fw.read_bytes(entry) or b""
        if b"\x00__memcpy_chk\x00" in data or b"\x00__sprintf_chk\x00" in data or b"\x00__strcpy_chk\x00" in data:
            return True, entry.path
    return (False, libcs[0].path) if libcs else (None, None)


LIBC_FORTIFY = DerivedFact("hardening.libc-fortify", _libc_fortify)


def libc_has_fortify(fw: Firmware) -> tuple[bool | None, str | None]:
    """(libc exports __*_chk, path of the libc judged); (None, None) when no libc is found."""
    return LIBC_FORTIFY.of(fw)


def _in_writable_place(path: str) -> bool:
    parts = posixpath.normpath(path).split("/")
    return (len(parts) > 1 and parts[1] in _WRITABLE_TOPS) or any(path == p or path.startswith(p + "/") for p in _WRITABLE_PREFIXES)


def _symlinks(fw: Firmware) -> dict[str, str]:
    return fw.cached("hardening.symlinks", lambda fw: {e.path: e.link_target for e in fw.entries
                                                       if e.kind == "symlink" and e.link_target})


def _resolved(fw: Firmware, path: str) -> str:
    """`path` with the image's symlinks on the way followed inside the image (never on the host)."""
    links = _symlinks(fw)
    done, rest, hops = "/", [p for p in posixpath.normpath(path).split("/") if p], 0
    while rest and hops < 32:
        candidate = posixpath.join(done, rest.pop(0))
        target = links.get(candidate)
        if target is not None:
            hops += 1
            joined = target if target.startswith("/") else posixpath.join(done, target)
            rest = [p for p in posixpath.normpath(joined).split("/") if p] + rest
            done = "/"
            continue
        done = candidate
    return posixpath.normpath(posixpath.join(done, *rest)) if rest else done


def _world_writable_ancestor(fw: Firmware, path: str) -> bool:
    while path not in ("/", ""):
        entry = fw.get(path)
        if entry is not None:
            return entry.kind == "dir" and entry.world_writable
        path = posixpath.dirname(path)
    return False


def bad_search_path(path: str, fw: Firmware | None = None) -> bool:
    """A library search path entry others could fill: relative or empty, or in a place writable on the device."""
    if not path or not path.startswith(("/", "$ORIGIN", "${ORIGIN}")):
        return True
    if not path.startswith("/"):
        return False
    if _in_writable_place(path):
        return True
    if fw is None:
        return False
    resolved = _resolved(fw, path)
    return _in_writable_place(resolved) or _world_writable_ancestor(fw, resolved)


class BinaryHardening(Check):
    ID = "hardening.binaries"
    VERSION = "1.1.1"
    SEVERITY = Severity.low
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (LIBC_FORTIFY,)
    DOC = CheckDoc(
        title="Programs built without exploit mitigations",
        why=(
            "NX, PIE with ASLR, RELRO, stack canaries and FORTIFY_SOURCE turn many memory-corruption bugs from "
            "code execution into a crash; a program without them is the easiest target on the device.  A "
            "library search path in a writable place lets anyone who can write there run code in the program."
        ),
        fix=(
            "Build with -fstack-protector-strong -D_FORTIFY_SOURCE=2 -O2 -fPIE -pie -Wl,-z,relro,-z,now and a "
            "non-executable stack; do not set RPATH/RUNPATH to relative or writable folders."
        ),
        references=("CWE-693", "CWE-426"),
        limitations=(
            "Facts come from program headers, the dynamic section and dynamic symbols: a program with no "
            "function that needs a canary, or no call FORTIFY covers, is reported without it, so those two "
            "classes are 'possible' findings (the provision stays INCONCLUSIVE, not FAIL).  NX is not judged "
            "on MIPS (the toolchain default is an executable stack; the kernel decides).  FORTIFY is judged only "
            "when the image's own libc exports __*_chk functions.  Canaries of stripped static programs cannot be "
            "seen and are not judged.  Clang CFI and SafeStack are not judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        no_nx, no_pie, no_relro, partial_relro, no_canary, no_fortify, bad_paths = [], [], [], [], [], [], []
        fortify_libc, libc_path = libc_has_fortify(fw)
        executables = 0
        for entry in fw.elf_files():
            elf = entry.elf
            if elf.elf_type not in ("EXEC", "DYN"):
                continue
            for p in elf.rpath + elf.runpath:
                if bad_search_path(p, fw):
                    bad_paths.append(f"{entry.path} ({'RPATH' if p in elf.rpath else 'RUNPATH'} {p or '(empty)'})")
            if not is_executable(entry):
                continue
            executables += 1
            if elf.nx is False and elf.arch not in NO_NX_ARCHES:
                no_nx.append(entry.path)
            if elf.elf_type == "EXEC":
                no_pie.append(entry.path)
            if elf.relro == "none" and not elf.static:
                no_relro.append(entry.path)
            elif elf.relro == "partial" and not elf.static:
                partial_relro.append(entry.path)
            if not elf.canary and not (elf.static and elf.stripped):
                no_canary.append(entry.path)
            if fortify_libc and not elf.static and not elf.fortify:
                no_fortify.append(entry.path)
        # A program with no array on its stack, or no call FORTIFY covers, legitimately lacks the marker: "possible".
        classes = (
            (no_nx, "Executables with an executable stack (no NX)", Severity.medium, "PT_GNU_STACK is executable or missing", "confirmed"),
            (no_pie, "Executables without PIE", Severity.low, "loaded at a fixed address, so ASLR does not move their code", "confirmed"),
            (no_relro, "Executables without RELRO", Severity.low, "the GOT stays writable for the whole run", "confirmed"),
            (partial_relro, "Executables with partial RELRO only", Severity.info, "built without -z now: the lazily bound GOT stays writable", "confirmed"),
            (no_canary, "Executables without stack canaries", Severity.low, "no __stack_chk_fail reference", "possible"),
            (no_fortify, "Executables without FORTIFY_SOURCE", Severity.info, f"{libc_path} exports __*_chk functions, these programs import none", "possible"),
            (bad_paths, "Library search path in a relative or writable folder", Severity.medium, "RPATH/RUNPATH entries that others could fill with libraries", "confirmed"),
        )
        for items, title, severity, why, confidence in classes:
            if items:
                share = f" of {executables} executables" if items is not bad_paths else ""
                yield self.finding(
                    sorted(items)[0].split(" (")[0], title=f"{title} ({len(items)}{share})", severity=severity,
                    detail=f"{why}: {listing(items)}", confidence=confidence,
                )
