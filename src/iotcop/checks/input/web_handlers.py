"""Request parameters reaching a command or code execution sink in web handlers.

Scripts (sh CGI, Lua/LuCI, PHP): a value read from the request (QUERY_STRING,
FORM_* variables, $_GET/$_POST/$_REQUEST/$_COOKIE, luci.http.formvalue) is
followed through plain assignments within the same script; a finding needs
the source or a variable holding it inside a sink call on one line (eval,
sh -c, os.execute, io.popen, luci.sys.call/exec, system, exec, shell_exec,
passthru, popen, proc_open, backticks).  Values passed through a known
sanitiser (escapeshellarg, tonumber, intval, shellquote ...) are not tainted.

ELF CGI programs: reading CGI input (QUERY_STRING/CONTENT_LENGTH strings)
and importing system/popen/exec* or unbounded string functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.surface import listing
from iotcop.checks.surface.debug_pages import in_web_root
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_BYTES = 512 * 1024
_LUA_PATHS = ("/usr/lib/lua/luci/controller/", "/usr/lib/lua/luci/model/cbi/", "/usr/lib/lua/luci/view/", "/www/")


@dataclass(frozen=True)
class Language:
    name: str
    source: re.Pattern
    sink: re.Pattern
    sanitiser: re.Pattern
    assign: re.Pattern  # group 1: variable name, group 2: right-hand side
    var_ref: str  # format for a reference to a variable named {name}


SH = Language(
    "sh",
    re.compile(r"\$\{?(?:QUERY_STRING|FORM_\w+|POST_\w+|GET_\w+|HTTP_\w+|REQUEST_URI|PATH_INFO|HTTP_COOKIE)\b"),
    re.compile(r"(?:^|[\s;|&(])(?:eval|(?:ba|a|da)?sh\s+-c|su\s+-c)\s"),
    re.compile(r"(?:tr\s+-(?:c?d|dc)\s+['\"]?[^'\"]*0-9|case\s)"),
    re.compile(r"^\s*(?:local\s+|export\s+|readonly\s+)?([A-Za-z_]\w*)=(.*)$"),
    r"\$\{{?{name}\b",
)
LUA = Language(
    "lua",
    re.compile(r"(?:luci\.)?http\.formvalue\s*\(|formvaluetable\s*\(|os\.getenv\s*\(\s*['\"](?:QUERY_STRING|HTTP_\w+|REQUEST_URI)|cgilua\.(?:QUERY|POST)|ngx\.req\.get_(?:uri_args|post_args)|(?:http|luci\.http)\.content\s*\(|http\.getenv\s*\(\s*['\"](?:QUERY_STRING|REQUEST_URI)"),
    re.compile(r"\b(?:os\.execute|io\.popen|luci\.sys\.(?:call|exec)|luci\.util\.exec|sys\.(?:call|exec)|util\.exec|nixio\.exec\w*|loadstring|load)\s*\("),
    re.compile(r"\b(?:tonumber|shellquote|luci\.util\.shellquote|ip\.new|datatypes\.\w+)\s*\("),
    re.compile(r"^\s*(?:local\s+)?([A-Za-z_]\w*)\s*=\s*(.*)$"),
    r"\b{name}\b",
)
PHP = Language(
    "php",
    re.compile(r"\$_(?:GET|POST|REQUEST|COOKIE|FILES|SERVER\s*\[\s*['\"](?:QUERY_STRING|REQUEST_URI|HTTP_\w+|PHP_SELF)['\"])|\$HTTP_(?:GET|POST)_VARS|file_get_contents\s*\(\s*['\"]php://input"),
    re.compile(r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|eval|assert|create_function)\s*\(|`[^`]*\$"),
    re.compile(r"\b(?:escapeshellarg|escapeshellcmd|intval|floatval|filter_var|is_numeric|ctype_\w+|basename)\s*\(|\(int\)"),
    re.compile(r"^\s*(\$[A-Za-z_]\w*)\s*\.?=\s*(.*)$"),
    r"{name}\b",
)


def _language(entry: FileEntry, head: bytes) -> Language | None:
    name = entry.name.lower()
    if name.endswith((".php", ".php5", ".phtml", ".inc")) or b"<?php" in head:
        return PHP
    if name.endswith(".lua") or head.startswith(b"#!/usr/bin/lua") or head.startswith(b"#!/usr/bin/env lua"):
        return LUA
    if head.startswith(b"#!") and re.match(rb"#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|a|da|k|mk)?sh\b", head):
        return SH
    if name.endswith((".sh", ".cgi")) and not head.startswith(b"\x7fELF"):
        return SH
    return None


def _is_handler(entry: FileEntry) -> bool:
    return in_web_root(entry.path) or entry.path.startswith(_LUA_PATHS) or entry.name.endswith((".cgi", ".php"))


def tainted_sinks(text: str, lang: Language) -> list[tuple[int, str, str]]:
    """(line, code, why) for each line where request data reaches a sink."""
    tainted: dict[str, int] = {}
    hits = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "//", "--", "*", "/*")):
            continue
        m = lang.assign.match(line)
        code = m.group(2) if m else line  # for an assignment only the right-hand side carries taint
        refs = [v for v in tainted if re.search(lang.var_ref.format(name=re.escape(v)), code)]
        has_source = bool(lang.source.search(code))
        if m and (has_source or refs) and not lang.sink.search(code):
            if lang.sanitiser.search(code):
                tainted.pop(m.group(1), None)
            else:
                tainted[m.group(1)] = number
            continue
        if m and not (has_source or refs) and not re.match(r"^\s*\S+\s*\.=", line):
            tainted.pop(m.group(1), None)  # overwritten with a clean value
        if (has_source or refs) and lang.sink.search(line) and not lang.sanitiser.search(line):
            if lang is SH and not _sh_sink_uses_taint(line, refs, has_source, lang):
                continue
            what = "request data" if has_source else "variable " + ", ".join(refs[:3]) + f" (from request data, line {min(tainted[r] for r in refs)})"
            hits.append((number, line, what))
    return hits


def _sh_sink_uses_taint(line: str, refs: list[str], has_source: bool, lang: Language) -> bool:
    """In sh only eval, sh -c and command substitution run text as code; plain arguments do not."""
    for m in re.finditer(r"(?:^|[\s;|&(])(eval|(?:ba|a|da)?sh\s+-c|su\s+-c)\s+(.*)$", line):
        rest = m.group(2)
        if lang.source.search(rest) or any(re.search(lang.var_ref.format(name=re.escape(v)), rest) for v in refs):
            return True
    return False


class ScriptInjection(Check):
    ID = "input.script-injection"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 90.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="Request data reaches command execution in a web handler",
        why=(
            "A web handler that puts request parameters into a shell command or eval lets anyone who can reach "
            "the page run commands on the device (command injection, the most common router takeover)."
        ),
        fix="Validate request parameters against an allow-list and pass them as separate arguments (never through a shell or eval); quote with escapeshellarg/shellquote where a shell is unavoidable.",
        references=("CWE-78", "CWE-95"),
        limitations=(
            "Taint is followed through plain assignments within one script, line by line; flows through "
            "functions, files, other scripts or string building across lines are not seen.  In shell only eval, "
            "sh -c and su -c count as sinks (an unquoted argument is argument injection, not reported).  "
            "Validation that is not a recognised sanitiser (a regex check, a case statement) is not "
            "understood, so a validated flow may still be reported."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry in fw.files():
            if entry.size > MAX_BYTES or entry.elf is not None or not _is_handler(entry) or entry.magic not in ("script", "text"):
                continue
            data = fw.read_bytes(entry, MAX_BYTES) or b""
            lang = _language(entry, data[:256])
            if lang is None:
                continue
            for number, line, what in tainted_sinks(data.decode("utf-8", errors="replace"), lang):
                yield self.finding(
                    entry, title=f"Request data reaches command execution ({lang.name})", line=number, excerpt=line,
                    detail=f"{what} is used in a command or code sink",
                )


_CGI_INPUT = (b"QUERY_STRING", b"CONTENT_LENGTH", b"REQUEST_METHOD")
_EXEC_IMPORTS = frozenset({"system", "popen", "execl", "execlp", "execle", "execv", "execvp", "execve", "execvpe", "doSystemCmd", "twsystem", "bstartcmd", "_system"})
_UNSAFE_IMPORTS = frozenset({"strcpy", "strcat", "sprintf", "vsprintf", "gets", "stpcpy"})


class CgiBinaries(Check):
    ID = "input.cgi-binaries"
    VERSION = "1.1.0"
    SEVERITY = Severity.medium
    TIMEOUT = 90.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="CGI program reads request data and calls risky functions",
        why=(
            "A compiled CGI that reads the request and calls system()/popen() is where command injection in "
            "embedded web interfaces is usually found; unbounded copies (strcpy, sprintf, gets) on request "
            "data are buffer overflows."
        ),
        fix="Review each listed program: validate every parameter against an allow-list, use execv with fixed argument vectors, and bounded copies (snprintf, strlcpy).",
        references=("CWE-78", "CWE-120"),
        limitations=(
            "A candidate list, not a proof: the program reads CGI input (its strings name QUERY_STRING or "
            "CONTENT_LENGTH) and imports the functions; whether request data reaches them is not traced.  "
            "Statically linked programs have no imports and are not judged.  Its findings are 'possible': they "
            "leave 5.13-1 INCONCLUSIVE until reviewed rather than failing it."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        shell, unsafe = [], []
        for entry in fw.elf_files():
            if entry.elf.elf_type not in ("EXEC", "DYN") or not (in_web_root(entry.path) or entry.name.endswith(".cgi")):
                continue
            data = fw.read_bytes(entry, 32 * 1024 * 1024) or b""
            if not any(s in data for s in _CGI_INPUT):
                continue
            imported = set(entry.elf.imported)
            calls = sorted(imported & _EXEC_IMPORTS)
            copies = sorted(imported & _UNSAFE_IMPORTS)
            if calls:
                shell.append(f"{entry.path} ({', '.join(calls)})")
            if copies:
                unsafe.append(f"{entry.path} ({', '.join(copies)})")
        if shell:
            yield self.finding(
                shell[0].split(" (")[0], title=f"CGI programs read request data and run commands ({len(shell)})",
                detail="review for command injection: " + listing(shell), confidence="possible",
            )
        if unsafe:
            yield self.finding(
                unsafe[0].split(" (")[0], title=f"CGI programs read request data and use unbounded string functions ({len(unsafe)})",
                detail="review for buffer overflows: " + listing(unsafe), severity=Severity.low, confidence="possible",
            )
