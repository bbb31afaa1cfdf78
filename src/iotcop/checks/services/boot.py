"""What the device starts at boot, read from every init system firmware uses.

Parsed once per image (memoised through `Firmware.cached`) into BootCommand
records that name the program actually started, seen through the usual
wrappers (`busybox telnetd`, `start-stop-daemon -S -x /usr/sbin/x`, `chpst`,
`nohup`, `tcpsvd 0 21 ftpd`, `$DAEMON` set earlier in the same script).

Mechanisms: BusyBox/SysV inittab, SysV and BusyBox rc scripts (/etc/init.d,
rcS, rc.local, rc.d), OpenWrt procd scripts, inetd.conf and xinetd.d,
systemd units, runit and upstart.  Shell is read line by line, not executed:
branches are not evaluated and each simple command is one record.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Iterator

from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware, looks_binary

MAX_SCRIPT_BYTES = 1024 * 1024

SHELLS = frozenset({"sh", "ash", "bash", "hush", "msh", "dash", "zsh", "ksh", "mksh", "lash"})

_SYSTEMD_DIRS = ("/lib/systemd/system/", "/etc/systemd/system/", "/usr/lib/systemd/system/")
_RC_SCRIPTS = frozenset(
    {
        "/etc/rcS",
        "/etc/init.d/rcS",
        "/etc/rc.local",
        "/etc/init.d/rc.local",
        "/etc/rc.d/rc.local",
        "/etc/rc.d/rcS",
        "/etc/rc",
        "/etc/rc.sysinit",
        "/etc/rc.d/rc.sysinit",
        "/etc/boot.sh",
    }
)
_NOT_SCRIPTS = frozenset({"README", "README.md", "rc.common", "functions", ".depend.boot", ".depend.start", ".depend.stop"})

_SHELL_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "in", "case", "esac", "{", "}", "!", "time", "[[", "]]"}
)
# Commands that run the next word as the program (after their own options).
_SIMPLE_WRAPPERS = frozenset({"exec", "nohup", "setsid", "cttyhack", "sudo", "ionice", "flock", "daemonize", "stdbuf", "unbuffer"})
_REDIRECT = re.compile(r"^\d*(?:[<>]{1,2}|&>)&?(.*)$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class BootCommand:
    path: str  # device path of the file that starts it
    line: int
    text: str  # the logical line as written (continuations joined)
    program: str | None  # basename of what runs: "telnetd", "getty", "sh"
    args: tuple[str, ...]
    mechanism: str  # inittab, sysv, rc, procd, inetd, xinetd, systemd, runit, upstart
    enabled: bool | None = True  # False when the init system shows it is not enabled; None when unknown
    tty: str | None = None  # inittab: the id/tty field
    action: str | None = None  # inittab action (respawn, askfirst, sysinit ...)
    service: str | None = None  # inetd/xinetd service name
    login_shell: bool = False  # inittab "-" prefix: the shell runs as a login shell
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# -- command words ----------------------------------------------------------------------


def _skip_options(tokens: list[str], with_value: set[str], start: int = 1) -> int:
    i = start
    while i < len(tokens) and tokens[i].startswith("-") and tokens[i] != "--":
        opt = tokens[i]
        i += 1
        if opt in with_value:
            i += 1
    if i < len(tokens) and tokens[i] == "--":
        i += 1
    return i


def resolve(tokens: list[str]) -> tuple[str | None, tuple[str, ...]]:
    """The program a command line runs and its arguments, through wrappers; (None, ()) if none."""
    i = 0
    while i < len(tokens):
        word = tokens[i]
        name = posixpath.basename(word)
        if _ASSIGNMENT.match(word) or word in _SHELL_KEYWORDS:
            i += 1
            continue
        if name in _SIMPLE_WRAPPERS:
            i = _skip_options(tokens, {"-c", "-n", "-u", "-g", "-i", "-o", "-e"}, i + 1)
            continue
        if name == "nice":
            i = _skip_options(tokens, {"-n"}, i + 1)
            continue
        if name == "env":
            i += 1
            while i < len(tokens) and (tokens[i].startswith("-") or _ASSIGNMENT.match(tokens[i])):
                i += 1
            continue
        if name == "chpst":
            i = _skip_options(tokens, {"-u", "-U", "-b", "-e", "-n", "-l", "-L", "-m", "-d", "-o", "-p", "-f", "-c", "-r", "-t"}, i + 1)
            continue
        if name in ("tcpsvd", "udpsvd"):
            i = _skip_options(tokens, {"-c", "-C", "-b", "-u", "-l", "-t"}, i + 1) + 2  # then IP, PORT
            continue
        if name == "start-stop-daemon":
            return _start_stop_daemon(tokens[i + 1 :])
        if name == "busybox" and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            i += 1
            continue
        return name or None, tuple(tokens[i + 1 :])
    return None, ()


def _start_stop_daemon(opts: list[str]) -> tuple[str | None, tuple[str, ...]]:
    exe = None
    args: tuple[str, ...] = ()
    i = 0
    while i < len(opts):
        opt = opts[i]
        if opt in ("-K", "--stop", "-T", "--status"):
            return None, ()
        if opt == "--":
            args = tuple(opts[i + 1 :])
            break
        if opt in ("-x", "--exec", "-a", "--startas") and i + 1 < len(opts):
            exe = exe if opt in ("-x", "--exec") and exe and opts[i - 1] in ("-a", "--startas") else opts[i + 1]
            i += 2
            continue
        if opt.startswith(("--exec=", "--startas=")):
            exe = opt.split("=", 1)[1]
        i += 1
    if exe is None:
        return None, ()
    return posixpath.basename(exe), args


# -- shell ------------------------------------------------------------------------------


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line) with backslash continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending.append(raw[:-1])
            continue
        pending.append(raw)
        yield start, " ".join(p.strip() for p in pending)
        pending = []
    if pending:
        yield start, " ".join(p.strip() for p in pending)


def _split_commands(line: str) -> list[str]:
    """Split a shell line at unquoted ; && || | & and strip an unquoted # comment."""
    parts, current, quote, i = [], [], None, 0
    while i < len(line):
        ch = line[i]
        if quote:
            current.append(ch)
            if ch == "\\" and quote == '"' and i + 1 < len(line):
                current.append(line[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "\\" and i + 1 < len(line):
            current.append(line[i : i + 2])
            i += 1
        elif ch == "#" and (not current or current[-1][-1:].isspace()):
            break
        elif ch in ";|&":
            if ch == "&" and current and current[-1][-1:] in "<>":
                current.append(ch)  # 2>&1
            elif ch == "&" and i + 1 < len(line) and line[i + 1] == ">":
                current.append(ch)  # &>file
            else:
                parts.append("".join(current))
                current = []
                if i + 1 < len(line) and line[i + 1] == ch:
                    i += 1
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _words(command: str, variables: dict[str, str]) -> list[str]:
    try:
        tokens = shlex.split(command, posix=True)
    except ValueError:
        tokens = command.split()
    out: list[str] = []
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            continue
        m = _REDIRECT.match(tok)
        if m:
            skip_next = m.group(1) == ""  # "> file" with the target in the next word
            continue
        expanded = _VAR.sub(lambda v: variables.get(v.group(1) or v.group(2), v.group(0)), tok)
        if expanded != tok and " " in expanded.strip():
            out.extend(expanded.split())
        else:
            out.append(expanded)
    return out


def _shell_variables(text: str) -> dict[str, str]:
    """NAME=value assignments of the script (first one wins), for $NAME in commands."""
    variables: dict[str, str] = {}
    for _, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("export "):
            stripped = stripped[7:].strip()
        m = _ASSIGNMENT.match(stripped)
        if not m or m.group(1) in variables:
            continue
        try:
            words = shlex.split(m.group(2))
        except ValueError:
            continue
        value = " ".join(words) if words else ""
        if "$(" not in value and "`" not in value:
            variables[m.group(1)] = value
    return variables


def shell_commands(text: str, path: str, mechanism: str, enabled: bool | None, first_line: int = 1) -> list[BootCommand]:
    variables = _shell_variables(text)
    records: list[BootCommand] = []
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("#!"):
            continue
        for command in _split_commands(stripped):
            words = _words(command, variables)
            if words and words[0] == "case":
                words = words[words.index("in") + 1 :] if "in" in words else []
            # "start)" or "start|restart)" before a command on the same line is a case label
            while words and words[0].endswith(")") and not words[0].endswith("()") and "(" not in words[0]:
                words = words[1:]
            if not words:
                continue
            head = words[0]
            # function definitions, case labels and bare assignments start nothing
            if head.endswith("()") or (len(words) > 1 and words[1] in ("()", "(){")) or head.endswith(")") or head in ("function", "[", "test", "return", "local", "export", "shift", "set", "unset", "exit", ":", "true", "false", "break", "continue", "wait", "trap", "umask", "ulimit", "cd", ".", "source", "eval", "read", "echo", "printf"):
                continue
            if all(_ASSIGNMENT.match(w) for w in words):
                continue
            if head == "procd_set_param":
                if len(words) > 2 and words[1] == "command":
                    program, args = resolve(words[2:])
                    records.append(BootCommand(path, first_line + number - 1, line.strip(), program, args, "procd", enabled))
                continue
            program, args = resolve(words)
            if program is None:
                continue
            records.append(BootCommand(path, first_line + number - 1, line.strip(), program, args, mechanism, enabled))
    return records


# -- init systems ----------------------------------------------------------------------------


def _text(fw: Firmware, entry: FileEntry) -> str | None:
    if entry.size > MAX_SCRIPT_BYTES:
        return None
    data = fw.read_bytes(entry, MAX_SCRIPT_BYTES)
    if data is None or looks_binary(data):
        return None
    return data.decode("utf-8", errors="replace")


def _inittab(fw: Firmware, entry: FileEntry, text: str) -> list[BootCommand]:
    records = []
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(":", 3)
        if len(parts) != 4:
            continue
        ident, _runlevels, action, process = parts
        if not process.strip() or action in ("initdefault", "off"):
            continue
        process = process.strip()
        login_shell = process.startswith("-")
        words = _words(process.lstrip("-"), {})
        program, args = resolve(words)
        records.append(
            BootCommand(
                entry.path, number, stripped, program, args, "inittab", True,
                tty=ident or None, action=action, login_shell=login_shell,
            )
        )
    return records


def _inetd(entry: FileEntry, text: str) -> list[BootCommand]:
    records = []
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split()
        if len(fields) < 6:
            continue
        service, server = fields[0], fields[5]
        if server == "internal":
            continue
        argv = fields[6:]
        name = posixpath.basename(server)
        if name == "tcpd" and argv:
            program, args = posixpath.basename(argv[0]), tuple(argv[1:])
        elif name == "busybox" and argv:
            program, args = resolve(argv)
        else:
            program, args = name, tuple(argv[1:])  # argv[0] is the program's own name
        records.append(BootCommand(entry.path, number, stripped, program, args, "inetd", True, service=service))
    return records


def _xinetd(entry: FileEntry, text: str) -> list[BootCommand]:
    records = []
    service = None
    settings: dict[str, tuple[int, str]] = {}
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line.startswith("service "):
            service, settings, start = line.split()[1], {}, number
        elif line == "}" and service:
            if "server" in settings:
                server = settings["server"][1]
                args = tuple(settings.get("server_args", (0, ""))[1].split())
                disabled = settings.get("disable", (0, "no"))[1].lower() == "yes"
                records.append(
                    BootCommand(
                        entry.path, settings["server"][0], f"service {service} ... server = {server}",
                        posixpath.basename(server), args, "xinetd", not disabled, service=service,
                        extra={"block_line": start},
                    )
                )
            service = None
        elif "=" in line and service:
            key, value = (s.strip() for s in line.split("=", 1))
            settings[key.rstrip("+-").strip()] = (number, value)
    return records


def _systemd(fw: Firmware, entry: FileEntry, text: str) -> list[BootCommand]:
    if "[Service]" not in text:
        return []
    unit = entry.name
    enabled: bool | None = None
    masked = _entry_at(fw, f"/etc/systemd/system/{unit}")
    if masked is not None and masked.kind == "symlink" and masked.link_target == "/dev/null":
        enabled = False
    elif any(fw.glob(f"/etc/systemd/system/*.wants/{unit}")) or any(fw.glob(f"/lib/systemd/system/*.wants/{unit}")) or any(fw.glob(f"/usr/lib/systemd/system/*.wants/{unit}")):
        enabled = True
    records = []
    section = None
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped
            continue
        if section != "[Service]" or not stripped.startswith("ExecStart="):
            continue
        command = stripped.split("=", 1)[1].lstrip("-@:+!")
        program, args = resolve(_words(command, {}))
        if program:
            records.append(BootCommand(entry.path, number, stripped, program, args, "systemd", enabled))
    return records


def _upstart(entry: FileEntry, text: str) -> list[BootCommand]:
    records = []
    lines = list(_logical_lines(text))
    i = 0
    while i < len(lines):
        number, line = lines[i]
        stripped = line.strip()
        if stripped.startswith("exec "):
            program, args = resolve(_words(stripped[5:], {}))
            if program:
                records.append(BootCommand(entry.path, number, stripped, program, args, "upstart", True))
        elif re.match(r"^(?:(?:pre|post)-(?:start|stop)\s+)?script$", stripped):
            block, j = [], i + 1
            while j < len(lines) and lines[j][1].strip() != "end script":
                block.append(lines[j][1])
                j += 1
            if not stripped.startswith(("pre-stop", "post-stop")):
                records.extend(shell_commands("\n".join(block), entry.path, "upstart", True, first_line=number + 1))
            i = j
        i += 1
    return records


def _entry_at(fw: Firmware, path: str) -> FileEntry | None:
    """The entry at a path without following a final symlink."""
    return next(iter(fw.glob(glob_escape(path))), None)


def glob_escape(path: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", path)


def _enabled_sysv(entry: FileEntry, links: list[FileEntry], boot_text: str) -> bool | None:
    """Whether an /etc/init.d script is run at boot, as far as the image shows."""
    name = entry.name
    starts = [e for e in links if re.match(r"^S\d*", e.name) and (e.name.lstrip("S0123456789") == name or posixpath.basename(e.link_target or "") == name)]
    if starts:
        return True
    if re.match(r"^S\d", name) and ("/etc/init.d/S" in boot_text or "/etc/init.d/*" in boot_text):
        return True
    if f"/etc/init.d/{name}" in boot_text or "/etc/init.d/*" in boot_text:
        return True
    if any(e.kind == "symlink" for e in links):
        return False  # the image enables scripts by links, and this one has none
    return None


def _collect(fw: Firmware) -> tuple[BootCommand, ...]:
    records: list[BootCommand] = []
    texts: dict[str, str] = {}
    for entry in fw.files():
        path = entry.path
        if (
            path in ("/etc/inittab", "/etc/inetd.conf")
            or path in _RC_SCRIPTS
            or path.startswith(("/etc/init.d/", "/etc/rc.d/", "/etc/xinetd.d/", "/etc/init/", "/etc/sv/", "/etc/service/", "/etc/runit/"))
            or re.match(r"^/etc/rc[0-9S]\.d/", path)
            or path.startswith(_SYSTEMD_DIRS)
        ):
            if entry.name in _NOT_SCRIPTS:
                continue
            text = _text(fw, entry)
            if text is not None:
                texts[path] = text
    links = [e for e in fw.entries if re.match(r"^/etc/(?:rc\.d/)?rc[0-9S]\.d/|^/etc/rc\.d/", e.path)]
    boot_text = "\n".join(texts.get(p, "") for p in ("/etc/inittab", *sorted(_RC_SCRIPTS)))
    for path, text in texts.items():
        entry = fw.get(path)
        if path == "/etc/inittab":
            records.extend(_inittab(fw, entry, text))
        elif path == "/etc/inetd.conf":
            records.extend(_inetd(entry, text))
        elif path.startswith("/etc/xinetd.d/"):
            records.extend(_xinetd(entry, text))
        elif path.startswith(_SYSTEMD_DIRS):
            records.extend(_systemd(fw, entry, text))
        elif path.startswith("/etc/init/") and path.endswith(".conf"):
            records.extend(_upstart(entry, text))
        elif fnmatch.fnmatch(path, "/etc/sv/*/run") or fnmatch.fnmatch(path, "/etc/service/*/run") or fnmatch.fnmatch(path, "/etc/runit/*"):
            service = path.split("/")[3]
            enabled = True if path.startswith("/etc/service/") or _entry_at(fw, f"/etc/service/{service}") else None
            records.extend(shell_commands(text, path, "runit", enabled))
        elif path in _RC_SCRIPTS or path.startswith("/etc/rc.d/") or re.match(r"^/etc/rc[0-9S]\.d/", path):
            records.extend(shell_commands(text, path, "rc", True))
        elif path.startswith("/etc/init.d/") and path.count("/") == 3:
            procd = "USE_PROCD=1" in text or "procd_set_param" in text
            records.extend(shell_commands(text, path, "procd" if procd else "sysv", _enabled_sysv(entry, links, boot_text)))
    return tuple(records)


BOOT_COMMANDS = DerivedFact("services.boot-commands", _collect)


def boot_commands(fw: Firmware) -> tuple[BootCommand, ...]:
    """Everything the image starts at boot, memoised per image."""
    return BOOT_COMMANDS.of(fw)


# -- from the boot model ---------------------------------------------------------------------------------

_MECHANISM = {"inittab": "inittab", "rc-script": "rc", "procd": "procd", "systemd": "systemd", "inetd": "inetd",
              "xinetd": "xinetd", "tcpsvd": "rc", "cron": "cron", "respawn-loop": "rc", "launcher": "rc",
              "login-program": "login", "binary-strings": "binary"}


def commands_from_model(model) -> tuple[BootCommand, ...]:
    """The boot model's started programs as BootCommand records, for the checks written against them.

    Only what the model found started is listed (a static inetd.conf with no inetd running, or an
    rcS_AP nothing calls, gives nothing).  `enabled` is True for confirmed and conditional starts and None
    for command lines found inside manager binaries; bare names found there are left out.  `extra` carries
    the model's confidence, conditions (as text), start chain, user and, for strings, the evidence.
    """
    out = []
    for p in model.programs:
        if p.confidence == "name-only":
            continue
        where = p.chain[-1]
        out.append(BootCommand(
            path=where.file, line=where.line, text=p.evidence or where.text or p.command_line,
            program=p.name, args=p.argv, mechanism=_MECHANISM.get(p.how, p.how),
            enabled=None if p.confidence == "possible" else True, tty=p.tty, action=p.action, service=p.service,
            login_shell=p.login_shell,
            extra={"confidence": p.confidence, "conditions": tuple(c.describe() for c in p.conditions),
                   "chain": tuple(str(s) for s in p.chain), "user": p.user, "user_source": p.user_source,
                   "started_by": p.started_by, "from_writable": p.from_writable, "evidence": p.evidence,
                   "how": p.how, "file": p.path}))
    return tuple(out)
