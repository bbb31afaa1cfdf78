"""Services started at boot that expose plaintext logins or a shell without login."""

from __future__ import annotations

import posixpath
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import (
    BOOT_COMMANDS,
    SHELLS,
    BootCommand,
    boot_commands,
)
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

TELNET_SERVERS = frozenset({"telnetd", "utelnetd", "in.telnetd"})
FTP_SERVERS = frozenset(
    {"ftpd", "in.ftpd", "vsftpd", "proftpd", "pure-ftpd", "bftpd", "uftpd", "stupid-ftpd", "tftpd", "in.tftpd", "atftpd", "tftpd-hpa", "opentftpd"}
)
GETTYS = frozenset({"getty", "agetty", "mingetty", "mgetty", "fgetty", "uugetty", "serial-getty"})

_LIMITS_BOOT = (
    "Start-up files are read, not executed: a command inside a branch that never runs is still "
    "reported (the evidence line shows the condition's context), and services started by a "
    "vendor's own binary or a generated script are not seen.  An /etc/init.d script is skipped "
    "when the image enables scripts through rc.d links and has none for it."
)


def _started(cmd: BootCommand) -> bool:
    return cmd.enabled is not False


def _where(cmd: BootCommand) -> str:
    how = {
        "inittab": "inittab",
        "sysv": "SysV init script",
        "rc": "rc start-up script",
        "procd": "OpenWrt procd service",
        "inetd": f"inetd service '{cmd.service}'",
        "xinetd": f"xinetd service '{cmd.service}'",
        "systemd": "systemd unit",
        "runit": "runit service",
        "upstart": "upstart job",
    }.get(cmd.mechanism, cmd.mechanism)
    state = "" if cmd.enabled else " (could not tell from the image whether it is enabled)"
    return f"{how}{state}"


def _command(cmd: BootCommand) -> str:
    return " ".join((cmd.program or "?",) + cmd.args)


class TelnetAtBoot(Check):
    ID = "services.telnet-at-boot"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS,)
    DOC = CheckDoc(
        title="Telnet server started at boot",
        why=(
            "Telnet carries the login name, the password and the whole session in clear text; it is also "
            "the first service Mirai-style botnets try with default passwords."
        ),
        fix="Do not start telnetd in production firmware; if remote administration is needed, use SSH with per-device keys or passwords.",
        limitations=_LIMITS_BOOT,
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for cmd in boot_commands(fw):
            telnet_service = cmd.mechanism in ("inetd", "xinetd") and cmd.service == "telnet"
            if not _started(cmd) or not (cmd.program in TELNET_SERVERS or telnet_service):
                continue
            yield self.finding(
                cmd.path,
                title=f"Telnet server started at boot ({cmd.program})",
                line=cmd.line,
                excerpt=cmd.text,
                detail=f"{_where(cmd)} starts: {_command(cmd)}",
            )


class FtpAtBoot(Check):
    ID = "services.ftp-at-boot"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS,)
    DOC = CheckDoc(
        title="FTP or TFTP server started at boot",
        why=(
            "FTP sends passwords and files in clear text and TFTP has no authentication at all; either "
            "exposes the device's files to anyone on the network."
        ),
        fix="Remove the FTP/TFTP server from the start-up files, or replace it with SFTP/HTTPS with authentication.",
        limitations=_LIMITS_BOOT,
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for cmd in boot_commands(fw):
            ftp_service = cmd.mechanism in ("inetd", "xinetd") and cmd.service in ("ftp", "tftp")
            if not _started(cmd) or not (cmd.program in FTP_SERVERS or ftp_service):
                continue
            yield self.finding(
                cmd.path,
                title=f"{'TFTP' if 'tftp' in (cmd.program or '') or cmd.service == 'tftp' else 'FTP'} server started at boot ({cmd.program})",
                line=cmd.line,
                excerpt=cmd.text,
                detail=f"{_where(cmd)} starts: {_command(cmd)}",
            )


def _interactive_shell(program: str | None, args: tuple[str, ...]) -> bool:
    """A shell started with no script or -c command: it reads from its terminal."""
    if program not in SHELLS:
        return False
    for arg in args:
        if arg in ("-c",) or not arg.startswith("-"):
            return False
    return True


def _option_value(args: tuple[str, ...], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name):]
    return None


def _getty_without_login(args: tuple[str, ...]) -> str | None:
    """Why a getty gives a shell without a password, or None when it runs login normally."""
    login = _option_value(args, "-l", "--login-program")
    if login is not None and posixpath.basename(login) in SHELLS:
        return f"runs {login} instead of login"
    autologin = _option_value(args, "-a", "--autologin")
    if autologin:
        return f"logs in '{autologin}' automatically"
    return None


class DebugShell(Check):
    ID = "services.debug-shell"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS,)
    DOC = CheckDoc(
        title="Shell without login at boot",
        why=(
            "A root shell on the serial console needs no password: anyone who opens the case and attaches "
            "a UART adapter owns the device.  A telnet server that runs a shell instead of login gives the "
            "same to anyone on the network."
        ),
        fix=(
            "Run getty/login on consoles (or disable the console in production builds); never start a shell "
            "directly from inittab, and never run telnetd with -l pointing at a shell."
        ),
        references=("CWE-1191",),
        limitations=(
            _LIMITS_BOOT
            + "  The kernel command line (console=, init=/bin/sh) and U-Boot's environment are out of scope; "
            "whether the serial pins are reachable on the board cannot be told from the image."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for cmd in boot_commands(fw):
            if not _started(cmd):
                continue
            if cmd.program in TELNET_SERVERS:
                login = _option_value(cmd.args, "-l")
                if login is not None and posixpath.basename(login) in SHELLS:
                    yield self.finding(
                        cmd.path,
                        title=f"Telnet server gives a shell without login ({cmd.program} -l {login})",
                        line=cmd.line,
                        excerpt=cmd.text,
                        detail=f"{_where(cmd)} starts {_command(cmd)}: a network shell with no password",
                        severity=Severity.critical,
                        provisions=("5.5-5",),
                    )
                continue
            if cmd.mechanism != "inittab" or cmd.action in ("sysinit", "shutdown", "ctrlaltdel", "restart"):
                continue
            console = cmd.tty or "the console"
            if _interactive_shell(cmd.program, cmd.args):
                reason = f"starts {'a login shell' if cmd.login_shell else 'a shell'} ({_command(cmd)}) without asking for a password"
            elif cmd.program in GETTYS:
                why = _getty_without_login(cmd.args)
                if why is None:
                    continue
                reason = f"{cmd.program} {why}"
            elif cmd.program == "login" and "-f" in cmd.args:
                reason = "runs login -f (pre-authenticated)"
            else:
                continue
            yield self.finding(
                cmd.path,
                title=f"Shell without login on {console}",
                line=cmd.line,
                excerpt=cmd.text,
                detail=f"inittab {cmd.action} entry for {console} {reason}",
                provisions=("5.6-4",),
            )
