"""Debug tools shipped in or started by the firmware: adbd, gdbserver, strace, tcpdump, netcat shells."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, stored_text
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

# Started at boot, these give a remote debugger or shell: high.
DEBUG_SERVERS = {"adbd": "Android debug bridge daemon", "gdbserver": "GDB remote debugging server", "frida-server": "Frida instrumentation server"}
# Started at boot, these trace or capture: medium.
TRACERS = {"strace": "system call tracer", "ltrace": "library call tracer", "tcpdump": "packet capture"}
SHIPPED = frozenset({*DEBUG_SERVERS, *TRACERS, "gdb"})
NETCATS = frozenset({"nc", "netcat", "ncat", "nc.traditional", "nc.openbsd"})
# `nc ... -e /bin/sh` or `-c sh`: hands a shell to whoever connects.
_NC_EXEC = re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?(?:busybox\s+)?(?:nc|netcat|ncat|nc\.traditional)\b[^\n;|&]*?\s-(?:[a-zA-Z]*e|c)\s+\S+")
# Cheap whole-file test before the line-by-line pass.
_NC_EXEC_ANYWHERE = re.compile(r"(?:nc|netcat|ncat|nc\.traditional)\b[^\n]*?\s-(?:[a-zA-Z]*e|c)\s")
_ANDROID_PROPS = {
    "ro.debuggable": ("1", "the build is debuggable (adb runs as root)"),
    "ro.secure": ("0", "adb shells run as root"),
    "ro.adb.secure": ("0", "adb accepts any host without key confirmation"),
    "persist.sys.usb.config": (None, "USB configuration enables adb"),
}


def _netcat_runs_program(args: tuple[str, ...]) -> bool:
    """-e PROG or -c CMD (also bundled, as in -le or -lpe): netcat runs a program for its peer."""
    return any(re.fullmatch(r"-[a-zA-Z]*e|-c", a) for a in args[:-1])


class DebugTools(Check):
    ID = "surface.debug-tools"
    VERSION = "2.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 90.0
    NEEDS_ROOTFS = True
    USES = (BOOT_COMMANDS, TEXT)
    DOC = CheckDoc(
        title="Debug tools in the firmware",
        why=(
            "A debugger server, adb or a netcat listener that executes a shell gives anyone who can reach it "
            "full control of the device; tracers and packet capture shipped in production widen what an "
            "attacker can do after a foothold."
        ),
        fix="Build production images without adbd, gdbserver, strace, ltrace, tcpdump and netcat's -e option; never start them at boot.",
        references=("CWE-489", "CWE-1244"),
        limitations=(
            "What starts at boot comes from the boot model (a start behind a switch is likely, a command line "
            "inside a vendor program possible).  Netcat with -e or -c is also reported in any shell script, "
            "started or not. "
            "Shipped-but-not-started tools are reported by file name."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        started: set[tuple[str, int | None]] = set()  # netcat shells the boot model starts
        for cmd in boot_commands(fw):
            if cmd.program in DEBUG_SERVERS:
                yield self.finding(
                    cmd.path, title=f"{DEBUG_SERVERS[cmd.program]} started at boot ({cmd.program})", line=cmd.line,
                    excerpt=cmd.text, detail=cmd.describe(), provisions=("5.6-1", "5.6-4"), confidence=cmd.confidence,
                )
            elif cmd.program in TRACERS:
                yield self.finding(
                    cmd.path, title=f"{TRACERS[cmd.program]} started at boot ({cmd.program})", line=cmd.line,
                    excerpt=cmd.text, detail=cmd.describe(), severity=Severity.medium, provisions=("5.6-1", "5.6-4"),
                    confidence=cmd.confidence,
                )
            elif cmd.program in NETCATS and _netcat_runs_program(cmd.args):
                started.add((cmd.path, cmd.line))
                yield self.finding(
                    cmd.path, title="Netcat started at boot hands a program to network peers (-e/-c)", line=cmd.line,
                    excerpt=cmd.text, detail=f"netcat with -e or -c runs a program for whoever connects; {cmd.describe()}",
                    severity=Severity.critical if any(a.startswith("-") and "l" in a for a in cmd.args) else Severity.high,
                    provisions=("5.6-1", "5.6-4"), confidence=cmd.confidence,
                )
        yield from self._netcat_shells(fw, started)
        yield from self._android_props(fw)
        shipped = sorted(e.path for e in fw.files() if e.name in SHIPPED and e.elf is not None)
        if shipped:
            yield self.finding(
                shipped[0], title=f"Debug tools shipped in the image ({len(shipped)})",
                detail=f"not needed to run the device: {listing(shipped)}", severity=Severity.low, provisions=("5.6-6",),
            )

    def _netcat_shells(self, fw: Firmware, started: set[tuple[str, int | None]]) -> Iterator[CheckOutput]:
        """Netcat shells written in any script, started at boot or not (those started are reported above)."""
        for entry in fw.files():
            if entry.magic not in ("script", "text") or entry.size > 512 * 1024 or not entry.path.startswith("/"):
                continue
            text = stored_text(fw, entry, 512 * 1024)
            if not text or not _NC_EXEC_ANYWHERE.search(text):
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if line.lstrip().startswith("#") or not _NC_EXEC.search(line) or (entry.path, number) in started:
                    continue
                yield self.finding(
                    entry, title="Netcat hands a program to network peers (-e/-c)", line=number, excerpt=line.strip(),
                    detail="netcat with -e or -c runs a program (usually a shell) for whoever connects",
                    severity=Severity.critical if re.search(r"\s-\w*l", line) else Severity.high,
                    provisions=("5.6-1", "5.6-4"),
                )

    def _android_props(self, fw: Firmware) -> Iterator[CheckOutput]:
        for entry in fw.files():
            if not entry.name.endswith(".prop") or entry.size > 256 * 1024:
                continue
            text = fw.read_text(entry) or ""
            for number, line in enumerate(text.splitlines(), start=1):
                key, sep, value = line.strip().partition("=")
                if not sep or key not in _ANDROID_PROPS:
                    continue
                bad, meaning = _ANDROID_PROPS[key]
                hit = ("adb" in value.split(",")) if bad is None else value.strip() == bad
                if hit:
                    yield self.finding(
                        entry, title=f"Android debug setting {key}={value.strip()}", line=number, excerpt=line.strip(),
                        detail=meaning, severity=Severity.medium, provisions=("5.6-4",),
                    )
