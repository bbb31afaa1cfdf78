"""Services started at boot that expose plaintext logins or a shell without login."""

from __future__ import annotations

import posixpath
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import BOOT_COMMANDS, SHELLS, BootCommand, boot_commands
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

TELNET_SERVERS = frozenset({"telnetd", "utelnetd", "in.telnetd"})
FTP_SERVERS = frozenset(
    {"ftpd", "in.ftpd", "vsftpd", "proftpd", "pure-ftpd", "bftpd", "uftpd", "stupid-ftpd", "tftpd", "in.tftpd", "atftpd", "tftpd-hpa", "opentftpd"}
)
GETTYS = frozenset({"getty", "agetty", "mingetty", "mgetty", "fgetty", "uugetty", "serial-getty"})

_LIMITS_BOOT = (
    "Reads the boot model: init's table, the scripts it runs (transitively, with their branches and "
    "switches recorded as conditions), procd, systemd, inetd/xinetd only when an inetd is started, cron, "
    "and command lines inside programs that run at boot.  A start behind a switch the image does not "
    "settle is reported as likely (possible when the image's default turns it off); a command line found "
    "inside a binary is reported as possible, with the string as evidence.  What a program decides at run "
    "time from its own configuration is not seen."
)


def _command(cmd: BootCommand) -> str:
    return " ".join((cmd.program, *cmd.args))


def _title_suffix(cmd: BootCommand) -> str:
    if cmd.mechanism == "binary-strings":
        return f" (command line in {cmd.path})"
    return ""


class TelnetAtBoot(Check):
    ID = "services.telnet-at-boot"
    VERSION = "2.0.0"
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
            if not (cmd.program in TELNET_SERVERS or telnet_service):
                continue
            yield self.finding(
                cmd.path,
                title=f"Telnet server started at boot ({cmd.program}){_title_suffix(cmd)}",
                line=cmd.line,
                excerpt=cmd.text,
                detail=cmd.describe(),
                confidence=cmd.confidence,
            )


class FtpAtBoot(Check):
    ID = "services.ftp-at-boot"
    VERSION = "2.0.0"
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
            if not (cmd.program in FTP_SERVERS or ftp_service):
                continue
            kind = "TFTP" if "tftp" in cmd.program or cmd.service == "tftp" else "FTP"
            yield self.finding(
                cmd.path,
                title=f"{kind} server started at boot ({cmd.program}){_title_suffix(cmd)}",
                line=cmd.line,
                excerpt=cmd.text,
                detail=cmd.describe(),
                confidence=cmd.confidence,
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
    VERSION = "2.0.0"
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
        reported: set[tuple[str, int | None]] = set()
        commands = boot_commands(fw)
        # the starts a rule below names by its own line first (getty -l, telnetd -l), then the shells
        # those and other login programs end in
        for cmd in sorted(commands, key=lambda c: c.mechanism == "login-program"):
            found = self._judge(cmd)
            if found is None or (cmd.path, cmd.line) in reported:
                continue
            reported.add((cmd.path, cmd.line))
            title, detail, network = found
            yield self.finding(
                cmd.path, title=title + _title_suffix(cmd), line=cmd.line, excerpt=cmd.text,
                detail=f"{detail}; {cmd.describe()}", confidence=cmd.confidence,
                severity=Severity.critical if network else None, provisions=("5.5-5",) if network else ("5.6-4",),
            )

    @staticmethod
    def _judge(cmd: BootCommand) -> tuple[str, str, bool] | None:
        """(title, why, over the network) when this start gives a shell without a password."""
        start = cmd.start
        if cmd.program in TELNET_SERVERS:
            login = _option_value(cmd.args, "-l")
            if login is not None and posixpath.basename(login) in SHELLS:
                return (f"Telnet server gives a shell without login ({cmd.program} -l {login})",
                        "a network shell with no password", True)
            return None
        launcher = start.launched_by if cmd.mechanism == "login-program" else None
        if launcher in TELNET_SERVERS:
            if _interactive_shell(cmd.program, cmd.args) or cmd.program == "login" and "-f" in cmd.args:
                return (f"Telnet login program ends in a shell without a password ({cmd.program})",
                        f"{launcher}'s login program runs {_command(cmd)} without asking for a password", True)
            return None
        on_console = start.action is not None and start.tty not in ("/dev/null", "null")
        if not on_console:
            return None
        console = start.tty or "the console"
        if _interactive_shell(cmd.program, cmd.args):
            reason = f"starts {'a login shell' if start.login_shell else 'a shell'} ({_command(cmd)}) without asking for a password"
        elif cmd.program in GETTYS:
            why = _getty_without_login(cmd.args)
            if why is None:
                return None
            reason = f"{cmd.program} {why}"
        elif cmd.program == "login" and "-f" in cmd.args:
            reason = "runs login -f (pre-authenticated)"
        else:
            return None
        return f"Shell without login on {console}", f"{start.action} entry for {console} {reason}", False
