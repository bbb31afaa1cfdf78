"""Passwords handed to programs on their command line at boot (options, key=value words, URLs with credentials)."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import BOOT_COMMANDS, BootCommand, boot_commands
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

# Option and key names that carry a secret whatever the program (--password X, -passwd X, psk=X).
_SECRET_NAME = re.compile(r"^(?:pass(?:word|wd|phrase)?|pwd|pw|secret|token|psk|api[-_]?key|auth[-_]?(?:key|token)|"
                          r"(?:admin|root|user|login|http|ftp|ddns|acs)[-_]?(?:pass(?:word|wd)?|pwd))$", re.I)
# Options whose value is a secret only for these programs (elsewhere -p is a port, -P a pid file).
_PROGRAM_OPTIONS = {
    "sshpass": ("-p",), "ftpget": ("-p",), "ftpput": ("-p",), "inadyn": ("-p",), "mosquitto_sub": ("-P",),
    "mosquitto_pub": ("-P",), "mosquitto_rr": ("-P",), "redis-cli": ("-a",), "mysql": ("-p",), "mysqladmin": ("-p",),
    "noip2": ("-p",), "ddns": ("-p",), "cwmpd": ("-P",), "cwmpClient": ("-P",),
}
# user:password pairs: curl -u, ez-ipupdate -u, smbclient -U user%password, wget --user=x --password=y.
_PAIR_OPTIONS = {"curl": ("-u", "--user"), "ez-ipupdate": ("-u", "--user"), "smbclient": ("-U", "--user")}
_PPPD_WORDS = ("password",)  # pppd takes its options as bare words: "user x password y"
_URL_CREDENTIAL = re.compile(r"^[a-z][a-z0-9+.-]*://([^:/@\s]+):([^@/\s]+)@", re.I)
# Values that are not a secret: empty, a file, a format the program fills in, something the image leaves open.
_NOT_A_VALUE = re.compile(r"^(?:|-|\*+|x+|none|null|%\w|.*%[sd].*|\$.*|`.*|/.*)$", re.I)
# Tools whose literal passwords in scripts credentials.script-password reports (it reads every script).
_SCRIPT_TOOLS = frozenset({"htpasswd", "mosquitto_passwd", "sshpass", "curl", "wget", "mysql", "mysqladmin", "usermod",
                           "useradd"})


def command_line_secrets(cmd: BootCommand) -> list[tuple[str, str, int]]:
    """(how it is passed, the value, index of the argument holding it) for each secret on the command line."""
    args = list(cmd.args)
    found: list[tuple[str, str, int]] = []

    def add(how: str, value: str, index: int) -> None:
        if not _NOT_A_VALUE.match(value) and (how, value) not in [(h, v) for h, v, _ in found]:
            found.append((how, value, index))

    for i, arg in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if m := _URL_CREDENTIAL.match(arg):
            add(f"URL with user '{m.group(1)}'", m.group(2), i)
            continue
        name, sep, value = arg.lstrip("-").partition("=")
        if arg.startswith("-") and _SECRET_NAME.match(name):
            if sep:
                add(f"{arg.split('=', 1)[0]}=", value, i)
            elif nxt is not None and not nxt.startswith("-"):
                add(arg, nxt, i + 1)
            continue
        if not arg.startswith("-") and sep and _SECRET_NAME.match(name):
            add(f"{name}=", value, i)
            continue
        if arg in _PROGRAM_OPTIONS.get(cmd.program, ()) and nxt is not None:
            add(arg, nxt, i + 1)
        elif any(arg.startswith(o) and len(arg) > len(o) for o in _PROGRAM_OPTIONS.get(cmd.program, ()) if len(o) == 2):
            add(arg[:2], arg[2:], i)
        elif arg in _PAIR_OPTIONS.get(cmd.program, ()) and nxt is not None:
            user, mark, password = nxt.partition("%" if cmd.program == "smbclient" else ":")
            if mark:
                add(f"{arg} {user}{mark}", password, i + 1)
        elif cmd.program == "pppd" and arg in _PPPD_WORDS and nxt is not None:
            add(arg, nxt, i + 1)
    return found


def _origin(cmd: BootCommand, index: int) -> str:
    """Where a resolved argument came from: the word as written and where its variables were set."""
    start = cmd.start
    written = start.argv_source[index] if index < len(start.argv_source) else ""
    defined = start.argv_defined[index] if index < len(start.argv_defined) else ""
    if not written or written == start.argv[index]:
        return ""
    return f" (written '{written}'" + (f"; {defined}" if defined else "") + ")"


class CommandLinePassword(Check):
    ID = "services.command-line-password"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS,)
    DOC = CheckDoc(
        title="Password passed on a command line at boot",
        why=(
            "A password written into the firmware's start-up (an option, a key=value word, a URL with credentials, "
            "or a variable the boot scripts fill in) is the same on every unit and readable by anyone who has the "
            "image; it is also visible to every local user in the process list."
        ),
        fix=(
            "Do not start services with passwords on their command line: read them at run time from protected, "
            "per-device storage, or have the user set them on first use."
        ),
        references=("CWE-798", "CWE-214"),
        limitations=(
            "Reads the starts of the boot model, with variables resolved where the image settles them (a literal, "
            "a file's content, a sourced default).  Options are recognised by secret-like names (--password, "
            "psk=, token) and per program (sshpass -p, curl -u user:pass, pppd password ...); a value a program "
            "fills in at run time (%s), a file path or an unresolved variable is not reported.  Literal passwords "
            "that credentials.script-password reports in scripts (curl, wget, sshpass, mysql ...) are left to it."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        seen: set[tuple[str, int | None, str]] = set()
        for cmd in boot_commands(fw):
            for how, value, index in command_line_secrets(cmd):
                origin = _origin(cmd, index)
                if cmd.program in _SCRIPT_TOOLS and not origin and cmd.mechanism != "binary-strings":
                    continue
                if (cmd.path, cmd.line, value) in seen:
                    continue
                seen.add((cmd.path, cmd.line, value))
                yield self.finding(
                    cmd.path, line=cmd.line, excerpt=cmd.text,
                    title=f"Password passed to {cmd.program} on its command line at boot ({how.strip()})",
                    detail=f"{cmd.program} is started with {how.strip()} '{value}'{origin}: the same value on every "
                           f"unit; {cmd.describe()}",
                    confidence=cmd.confidence,
                )
