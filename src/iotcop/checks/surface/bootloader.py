"""U-Boot environment and kernel command line: interruptible autoboot, shells via init=, serial consoles."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import BOOT_COMMANDS, SHELLS, boot_commands
from iotcop.checks.updates.fdt import find_fdts
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_BYTES = 16 * 1024 * 1024
_NAME_HINT = re.compile(r"u-?boot|uenv|bootenv|env|bootloader|\.dtb$|boot\.(?:cmd|scr|txt)$", re.I)
# A binary environment starts after its CRC32 (and a flag byte on redundant ones).
_PAIR = re.compile(rb"(?:^|[\x00\n]|^[\s\S]{4}|^[\s\S]{5})([A-Za-z_][A-Za-z0-9_.]{0,40})=([\x20-\x7e\t]{0,2048}?)(?=[\x00\r\n])")
_SETENV = re.compile(rb"(?:^|\n)\s*setenv\s+([A-Za-z_][A-Za-z0-9_.]*)\s+(['\"]?)([^\n]*?)\2\s*(?=\n|$)")
_ENV_KEYS = (b"bootcmd=", b"bootdelay=", b"bootargs=", b"setenv ")
_STOP_KEYS = ("bootstopkey", "bootstopkeysha256", "bootdelaykey", "bootstopkey2", "bootdelaykey2")
_SHELL_INIT = re.compile(r"(?:^|\s)(?:rd)?init=(?:/bin/|/sbin/)?(?:sh|ash|bash|busybox)\b|(?:^|\s)(?:single|S|emergency)(?:\s|$)")
_CONSOLE = re.compile(r"(?:^|\s)console=(tty(?:S|AMA|MSM|HS|O|MV|SAC|PS|UL|LP|MT|MFD|SC|s)?\d+)[,\w]*")


@dataclass(frozen=True)
class BootSetting:
    path: str
    key: str
    value: str
    source: str  # "u-boot environment", "boot script", "device tree /chosen"
    offset: int | None = None


def _candidate(entry: FileEntry) -> bool:
    if entry.kind != "file" or entry.size > MAX_BYTES or entry.size == 0:
        return False
    if entry.path.startswith("<image>/"):
        return entry.elf is None
    return bool(_NAME_HINT.search(entry.name)) or entry.path.startswith("/boot/") or entry.magic == "dtb"


def _linux_program(entry: FileEntry, data: bytes) -> bool:
    """A program that runs under Linux on the device, e.g. fw_printenv/fw_setenv (u-boot-tools).

    Such a program holds at most its own built-in default environment (used when the flash copy is
    unreadable), not the environment the device boots with.  A U-Boot ELF has no interpreter, links no
    shared library and does not read u-boot-tools' /etc/fw_env.config.
    """
    elf = entry.elf
    return elf is not None and (elf.interpreter is not None or bool(elf.needed) or b"fw_env.config" in data)


def _settings(fw: Firmware) -> tuple[BootSetting, ...]:
    out: list[BootSetting] = []
    for entry in fw.files():
        if not _candidate(entry):
            continue
        data = fw.read_bytes(entry, MAX_BYTES) or b""
        if _linux_program(entry, data):
            continue
        if any(k in data for k in _ENV_KEYS):
            for m in _PAIR.finditer(data):
                out.append(BootSetting(entry.path, m.group(1).decode(), m.group(2).decode("utf-8", "replace"), "u-boot environment", m.start(1)))
            for m in _SETENV.finditer(data):
                out.append(BootSetting(entry.path, m.group(1).decode(), m.group(3).decode("utf-8", "replace"), "boot script", m.start(1)))
        if b"\xd0\x0d\xfe\xed" in data:
            for nodes in find_fdts(data):
                for node in nodes:
                    if node.path == "/chosen" and "bootargs" in node.props:
                        out.append(BootSetting(entry.path, "bootargs", node.text("bootargs") or "", "device tree /chosen"))
    return tuple(out)


BOOT_SETTINGS = DerivedFact("surface.boot-settings", _settings)


def boot_settings(fw: Firmware) -> tuple[BootSetting, ...]:
    """U-Boot environment variables, boot-script setenv lines and DTB /chosen bootargs (memoised)."""
    return BOOT_SETTINGS.of(fw)


def _console_shell(fw: Firmware, tty: str):
    """A start that runs an interactive shell on the kernel console or on `tty` (from init's table, or from
    a console program that is a script ending in a shell)."""
    for cmd in boot_commands(fw):
        if cmd.program not in SHELLS or cmd.action is None or cmd.action in ("wait", "once"):
            continue
        if any(not a.startswith("-") or a == "-c" for a in cmd.args):
            continue
        if (cmd.tty or "console") in ("console", tty, f"/dev/{tty}"):
            return cmd
    return None


def _delay(value: str) -> int | None:
    try:
        return int(value.strip())
    except ValueError:
        return None


class BootloaderConsole(Check):
    ID = "surface.bootloader-console"
    VERSION = "1.1.0"
    SEVERITY = Severity.medium
    TIMEOUT = 90.0
    NEEDS_ROOTFS = True  # the console judgement reads inittab
    USES = (BOOT_SETTINGS, BOOT_COMMANDS)
    DOC = CheckDoc(
        title="Bootloader or kernel console open for debugging",
        why=(
            "An autoboot that a key press on the serial port interrupts gives a U-Boot prompt that can read "
            "and rewrite flash and boot any kernel; init=/bin/sh on the kernel command line boots straight "
            "into a root shell."
        ),
        fix=(
            "Set bootdelay to 0 or -2 in production (or require bootstopkeysha256), remove init=/bin/sh and "
            "single-user arguments from bootargs, and disable the serial console in production builds."
        ),
        references=("CWE-1191",),
        limitations=(
            "Reads U-Boot environments (binary with CRC, text and boot scripts) and device-tree /chosen "
            "bootargs found in the image; an environment kept only in a flash partition that is not part of the "
            "image, or a stop key compiled into U-Boot (CONFIG_AUTOBOOT_STOP_STR) without its variable name in "
            "the binary, is not seen.  The default environment compiled into Linux programs (fw_printenv, "
            "fw_setenv) is not taken for the device's.  Whether the serial pins are reachable on the board cannot be told."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        settings = boot_settings(fw)
        by_file: dict[str, dict[str, BootSetting]] = {}
        for s in settings:
            by_file.setdefault(s.path, {}).setdefault(s.key, s)
        for path, env in sorted(by_file.items()):
            delay = env.get("bootdelay")
            value = _delay(delay.value) if delay else None
            if delay is not None and value is not None and (value > 0 or value == -1):
                stop = [k for k in _STOP_KEYS if k in env and env[k].value]
                data = fw.read_bytes(path, MAX_BYTES) or b""
                keyed = any(k.encode() + b"\x00" in data for k in ("bootstopkeysha256", "bootstopkey"))
                if not stop and not keyed:
                    wait = "waits for a key forever" if value == -1 else f"waits {value} s for any key"
                    yield self.finding(
                        path, title="U-Boot autoboot can be interrupted without a password", offset=delay.offset,
                        excerpt=f"bootdelay={delay.value}", detail=f"{delay.source}: U-Boot {wait} on the console; no bootstopkey/bootstopkeysha256 set",
                    )
        seen: set[tuple[str, str]] = set()
        for s in settings:
            if s.key != "bootargs" or (s.path, s.value) in seen:
                continue
            seen.add((s.path, s.value))
            if _SHELL_INIT.search(s.value):
                yield self.finding(
                    s.path, title="Kernel command line boots into a shell", offset=s.offset, excerpt=f"bootargs={s.value}",
                    detail=f"{s.source}: init= points at a shell or single-user mode is requested", severity=Severity.high,
                )
            m = _CONSOLE.search(s.value)
            shell = _console_shell(fw, m.group(1)) if m else None
            if shell is not None:
                yield self.finding(
                    s.path, title=f"Kernel console on serial port {m.group(1)} runs a shell without login", offset=s.offset,
                    excerpt=f"bootargs={s.value}",
                    detail=f"{s.source}: the console is {m.group(1)}, and {shell.site} starts '{shell.text}' on it",
                    severity=Severity.high,
                )
