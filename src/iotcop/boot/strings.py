"""Programs that start services themselves: command lines among the strings of manager binaries.

A vendor's system manager (`cos`, `Ssp`, a multicall `cscripts`) keeps its start-up commands as strings
(`dropbear -p %d -r %s`, `/usr/sbin/inetd &`, `system()` arguments).  For every program the boot walk
starts, and the vendor libraries it links, each printable string whose first word is a program of the
image is read as a shell command line and walked at confidence "possible" (a bare program name with no
argument: "name-only").  What those programs start is scanned the same way, a few levels deep.
"""

from __future__ import annotations

import posixpath
import re

import iotcop.boot.shell as sh
from iotcop.boot.model import StartedProgram, Step
from iotcop.boot.walk import BUILTINS, ONE_SHOT, SHELLS, SYSTEM_LIBRARIES, Env, Walker, _BranchStop, _ScriptExit
from iotcop.boot.words import Var
from iotcop.firmware.elf import data_ranges

_PRINTABLE = re.compile(rb"[\x20-\x7e\t]{3,400}")
_FORMAT = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?(?:hh|h|ll|l|z|j|t)?[sdiuxXcp]")
_WORD = re.compile(r"[A-Za-z0-9_./+-]+")
# One-shot commands whose effect matters in a string (a file the manager writes, copies or unpacks).
_EFFECTS = frozenset({"echo", "printf", "cp", "tar", "ln", "mount", "cat"})
_PLACEHOLDER = "${__format_argument}"
# Applets of a multicall binary that keep running (servers, supervisors, shells); its other applets are
# utilities, so a string naming one of them ("netstat -an", "watch dog timeout") is not a start-up.
DAEMON_APPLETS = frozenset({"telnetd", "httpd", "ftpd", "tftpd", "inetd", "crond", "syslogd", "klogd", "ntpd", "dnsd",
                            "udhcpd", "dhcpd", "dhcprelay", "tcpsvd", "udpsvd", "watchdog", "getty", "login", "sh",
                            "ash", "hush", "nc", "fakeidentd", "zcip", "udhcpc", "ifplugd", "acpid", "lpd", "inotifyd",
                            "runsv", "runsvdir", "svlogd", "sulogin", "dropbear", "sshd", "scp", "ssh", "upnpd",
                            "miniupnpd", "smbd", "nmbd", "lighttpd", "uhttpd", "mini_httpd", "dnsmasq", "pppd",
                            "hostapd", "wpa_supplicant"})


def scan_program_strings(walker: Walker) -> None:
    fs = walker.fs
    names = _program_names(walker)
    queue: list[tuple[StartedProgram, int]] = [(p, 0) for p in walker.programs if p.confidence != "name-only"]
    scanned: set[str] = set()
    files_read: set[str] = set()
    total = 0
    walker.strings_files = 0
    while queue:
        program, depth = queue.pop(0)
        if program.path in scanned or depth > walker.limits.max_strings_depth:
            continue
        if not fs.is_elf(program.path) or fs.applets(program.path) or program.name in SHELLS:
            continue
        scanned.add(program.path)
        before = len(walker.programs)
        for path in [program.path] + _vendor_libraries(walker, program.path):
            if path in files_read:
                continue
            files_read.add(path)
            if walker.strings_files >= walker.limits.max_strings_files:
                walker._truncate(f"strings of more than {walker.limits.max_strings_files} binaries not read")
                return
            data = fs.read_binary(path)
            if not data:
                continue
            total += len(data)
            if total > walker.limits.max_strings_bytes:
                walker._truncate(f"strings of binaries past {walker.limits.max_strings_bytes // (1 << 20)} MiB not read")
                return
            walker.strings_files += 1
            _scan_binary(walker, program, path, data, names)
        queue.extend((p, depth + 1) for p in walker.programs[before:] if p.confidence == "possible")


def _program_names(walker: Walker) -> set[str]:
    """Names a command line can start: files in the PATH directories of the image, executable or linked."""
    fs = walker.fs
    names: set[str] = set()
    for directory in ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"):
        names.update(fs.listdir(directory))
    return names


def _vendor_libraries(walker: Walker, path: str) -> list[str]:
    entry = walker.fs.entry(path)
    if entry is None or entry.elf is None:
        return []
    out = []
    search = list(entry.elf.rpath) + list(entry.elf.runpath) + ["/lib", "/usr/lib", "/usr/local/lib"]
    for needed in entry.elf.needed:
        needed = posixpath.basename(needed)  # some vendor builds record the build host's absolute path
        if SYSTEM_LIBRARIES.match(needed):
            continue
        for directory in search:
            candidate = posixpath.join(directory, needed)
            if walker.fs.is_file(candidate):
                out.append(walker.fs.content_path(candidate))
                break
    return out


def _strings(data: bytes, names: set[str]):
    """Printable strings worth a look: command-like ones (an absolute path, or words with a blank or '&')
    and words that are exactly a program name; cheap byte tests first, decoding only for those.  Only the
    data sections of an ELF file are read (string literals are there, not in code: a third of the bytes of
    the corpus programs, and a third of the time); the whole file when it has no section headers."""
    wanted = {n.encode() for n in names if n.isascii()}
    view = memoryview(data)
    for start, size in data_ranges(data) or [(0, len(data))]:
        for match in _PRINTABLE.finditer(view[start:start + size]):
            raw = match.group().strip()
            if raw[:1] == b"/" or b" " in raw or b"&" in raw or raw in wanted:
                yield raw


def _candidates(data: bytes, names: set[str], own: str):
    seen: set[str] = set()
    for raw in _strings(data, names):
        text = raw.decode("ascii", errors="replace").strip()
        if not text or text in seen:
            continue
        seen.add(text)
        m = _WORD.match(text)
        if m is None:
            continue
        first = m.group(0)
        name = posixpath.basename(first)
        if name == own or len(name) < 3:
            continue  # one- and two-letter words ("w", "cp") are too common in data to mean a command
        if first.startswith("/"):
            if len(first) < 3:
                continue
        elif name not in names and name not in _EFFECTS:
            continue
        if name in _EFFECTS and not _has_effect(text):
            continue
        if name in ONE_SHOT and name not in _EFFECTS or name in BUILTINS and name not in _EFFECTS:
            continue
        rest = text[m.end():]
        if rest and not rest[0].isspace() and rest[0] not in "&;|>":
            continue  # "telnetd:" or "httpd.conf": a word inside a message, not a command
        if name not in _EFFECTS and not _looks_like_command(text):
            continue
        yield text, name, rest.strip() == ""


_MESSAGE_WORDS = frozenset({"error", "failed", "fail", "failure", "success", "succeed", "succeeded", "ok", "done",
                            "invalid", "cannot", "can't", "unable", "not", "is", "are", "was", "the"})


def _looks_like_command(text: str) -> bool:
    """Reject messages that happen to start with a program name ("login failed", "key ID: %s, offset=%s")."""
    tokens = text.split()
    args = tokens[1:]
    if any(t.lower() in _MESSAGE_WORDS for t in args):
        return False
    if any(t[-1] in ":,.!?" or "!" in t or "?" in t for t in tokens if not t.startswith("/")):
        return False
    if args and all(re.fullmatch(r"[A-Za-z]+", a) for a in args):
        return False
    return True


_LIBRARY = re.compile(r"\.so(?:\.|$)|^ld-")


def _is_program(walker: Walker, path: str) -> bool:
    """An ELF executable or a script with #!, not data that happens to carry an exec bit."""
    fs = walker.fs
    if fs.is_elf(path):
        entry = fs.entry(path)
        return entry is None or entry.elf is None or entry.elf.elf_type in ("EXEC", "DYN")
    return (fs.read_text(path) or "").startswith("#!")


def _has_effect(text: str) -> bool:
    return ">" in text or text.startswith(("cp ", "tar ", "ln ", "mount "))


def _scan_binary(walker: Walker, program: StartedProgram, path: str, data: bytes, names: set[str]) -> None:
    fs = walker.fs
    for text, name, bare in _candidates(data, names, program.name):
        if bare:
            if name in SHELLS or name in _EFFECTS or _LIBRARY.search(name):
                continue
            if "/" in text and not (fs.is_executable(text) and _is_program(walker, text)):
                continue
            if walker.lookup_program(text, _string_env(walker, program, path, text, "name-only")) is None:
                continue
            # an absolute path to a program is what a launcher passes to exec; a bare name may be a label
            confidence = "possible" if text.startswith("/") else "name-only"
        else:
            confidence = "possible"
        env = _string_env(walker, program, path, text, confidence)
        if name not in _EFFECTS and name not in DAEMON_APPLETS:
            target = walker.lookup_program(text.split()[0], env)
            if target is not None and fs.applets(target):
                continue  # a utility applet of a multicall binary
        command = _FORMAT.sub(_PLACEHOLDER, text)
        try:
            script = sh.parse(command, max_tokens=200)
        except sh.ParseLimit:
            continue
        if script.errors:
            continue
        for item in script.body.items:
            try:
                node = item.node
                if not node.rest and len(node.first.commands) == 1 and isinstance(node.first.commands[0], sh.Simple):
                    walker._simple(node.first.commands[0], env, item.background)
                else:
                    walker.exec_andor(node, env, background=item.background)
            except (_ScriptExit, _BranchStop):
                break


def _string_env(walker: Walker, program: StartedProgram, path: str, text: str, confidence: str) -> Env:
    chain = program.chain + (Step(path, None, text[:200]),)
    env = walker.new_env(path, chain, list(program.conditions))
    env.how = "binary-strings"
    env.confidence = confidence
    env.started_by = program.path
    env.launched_by = program.name
    env.user = program.user
    env.vars["__format_argument"] = Var(None, "a value the program fills in (printf format)")
    return env
