"""Parsers for the start-up tables the boot walk reads: inittab, inetd.conf, xinetd, crontab, UCI, systemd units,
upstart jobs.

Each is a few lines of a line-oriented format; no maintained Python library reads the BusyBox/SysV inittab,
BusyBox inetd.conf or OpenWrt UCI files without the C library behind them (libuci), so they are read here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class InittabEntry:
    line: int
    text: str
    ident: str
    runlevels: str
    action: str
    process: str  # without the '-' login-shell prefix
    login_shell: bool


def parse_inittab(text: str) -> list[InittabEntry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":", 3)
        if len(parts) != 4:
            continue
        ident, runlevels, action, process = (p.strip() for p in parts)
        process = process.strip()
        login = process.startswith("-")
        entries.append(InittabEntry(number, line, ident, runlevels, action.lower(), process.lstrip("-").strip(), login))
    return entries


# BusyBox init's table when /etc/inittab cannot be read (init/init.c, parse_inittab without a file).
BUSYBOX_DEFAULT_INITTAB = """\
::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
tty2::askfirst:-/bin/sh
tty3::askfirst:-/bin/sh
tty4::askfirst:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/sbin/swapoff -a
::shutdown:/bin/umount -a -r
::restart:/sbin/init
"""


@dataclass(frozen=True, slots=True)
class InetdService:
    line: int
    text: str
    service: str
    socket_type: str
    protocol: str
    user: str
    server: str
    argv: tuple[str, ...]  # arguments after the program's own name (argv[0] of the server)
    name: str = ""  # argv[0] of the server (the applet for a multicall server such as busybox)


def parse_inetd(text: str) -> list[InetdService]:
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 6 or fields[5] == "internal":
            continue
        argv = tuple(fields[7:]) if len(fields) > 6 else ()
        out.append(InetdService(number, line, fields[0], fields[1], fields[2], fields[4].split(".")[0].split(":")[0],
                                fields[5], argv, fields[6] if len(fields) > 6 else ""))
    return out


@dataclass(slots=True)
class XinetdService:
    line: int
    service: str
    settings: dict[str, tuple[int, str]] = field(default_factory=dict)


def parse_xinetd(text: str) -> tuple[list[XinetdService], list[str]]:
    """Service blocks and includedir directories of an xinetd configuration file."""
    services: list[XinetdService] = []
    includes: list[str] = []
    current: XinetdService | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("includedir"):
            includes.append(line.split(None, 1)[1].strip() if " " in line else "")
        elif line.startswith("service "):
            current = XinetdService(number, line.split()[1])
        elif line == "}" and current is not None:
            services.append(current)
            current = None
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            key = key.strip().rstrip("+-").strip()
            current.settings[key] = (number, value.strip())
    return services, includes


@dataclass(frozen=True, slots=True)
class CronJob:
    line: int
    schedule: str
    user: str | None
    command: str


_CRON_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def parse_crontab(text: str, with_user: bool) -> list[CronJob]:
    jobs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or _CRON_ENV.match(line):
            continue
        if line.startswith("@"):
            parts = line.split(None, 2 if with_user else 1)
            schedule, rest = parts[0], parts[1:]
        else:
            parts = line.split(None, 6 if with_user else 5)
            if len(parts) < (7 if with_user else 6):
                continue
            schedule, rest = " ".join(parts[:5]), parts[5:]
        user = None
        if with_user:
            if len(rest) < 2:
                continue
            user, command = rest[0], rest[1]
        else:
            if not rest:
                continue
            command = rest[0]
        jobs.append(CronJob(number, schedule, user, command))
    return jobs


@dataclass(slots=True)
class UciSection:
    type: str
    name: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)


def parse_uci(text: str, package: str) -> list[UciSection]:
    sections: list[UciSection] = []
    anonymous = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if not words:
            continue
        if words[0] == "config" and len(words) >= 2:
            if len(words) >= 3:
                name = words[2]
            else:
                name = f"cfg{anonymous:02x}{abs(hash((package, words[1]))) % 0xFFFF:04x}"
            anonymous += 1
            sections.append(UciSection(words[1], name, number))
        elif words[0] == "option" and len(words) >= 2 and sections:
            sections[-1].options[words[1]] = (words[2] if len(words) > 2 else "", number)
        elif words[0] == "list" and len(words) >= 3 and sections:
            sections[-1].lists.setdefault(words[1], []).append(words[2])
    return sections


@dataclass(slots=True)
class Unit:
    name: str
    path: str
    sections: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[tuple[int, str]]:
        return [(n, v) for n, k, v in self.sections.get(section, []) if k == key]

    def first(self, section: str, key: str) -> str | None:
        found = self.values(section, key)
        return found[-1][1] if found else None


def parse_unit(name: str, path: str, text: str) -> Unit:
    unit = Unit(name, path)
    section = ""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if pending:
            line = pending + " " + line
        else:
            start = number
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            unit.sections.setdefault(section, []).append((start, key.strip(), value.strip()))
    return unit


@dataclass(slots=True)
class UpstartJob:
    start_on: tuple[int, str] | None = None  # (line, event expression)
    manual: bool = False
    respawn: bool = False
    user: str | None = None  # setuid stanza
    commands: list[tuple[int, str, bool]] = field(default_factory=list)  # (first line, text, is a script block)


_UPSTART_BLOCK = re.compile(r"^(?:(pre|post)-(start|stop)\s+)?script$")


def parse_upstart(text: str) -> UpstartJob:
    """An upstart job file (/etc/init/NAME.conf): its start condition, exec line and start-time script blocks."""
    job = UpstartJob()
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].strip()
        while line.endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line[:-1].rstrip() + " " + lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        block = _UPSTART_BLOCK.match(line)
        if block:
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != "end script":
                body.append(lines[i])
                i += 1
            i += 1
            if block.group(2) != "stop":
                job.commands.append((number + 1, "\n".join(body), True))
            continue
        word, _, rest = line.partition(" ")
        if word == "start" and rest.startswith("on "):
            job.start_on = (number, rest[3:].strip())
        elif word == "manual":
            job.manual = True
        elif word == "respawn":
            job.respawn = True
        elif word == "setuid" and rest:
            job.user = rest.strip()
        elif word == "exec" and rest:
            job.commands.append((number, rest.strip(), False))
    return job
