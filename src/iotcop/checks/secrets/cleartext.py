"""Programs that write passwords in clear text: into a credential file at run time, or into their logs.

Read from the strings of ELF programs and libraries (no disassembly): a format string that puts a password
into text (`password:%s`, `pswd = %s`) is judged by what is compiled next to it.  A path of a credential
file in a RAM or data folder nearby means the program writes the password there in clear; a format that
prints a user name and a password together, in the style of a log line, means the password goes to the log
or console.  A folder that a boot script creates or opens to every user (`mkdir -m 0777`, `chmod 777`) makes
the written file readable and replaceable by any local process, and is named in the finding.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterator

from iotcop.checks.base import CheckDoc, CheckOutput, ContentCheck
from iotcop.checks.secrets.files import TEXT, is_reference_material, is_shell_script, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_BYTES = 32 * 1024 * 1024
WINDOW = 256

_PASSWORD_FORMAT = re.compile(rb"(?i)(?<![a-z])(?:pass(?:word|wd)?|pswd|pwd|psw)[ \t]*[:=][ \t]*\"?%s")
# Every password format holds "%s" after ':' or '=': the literal is searched first, the label then matched on the
# few bytes before it (a case-insensitive pattern over whole programs is several times slower).
_FORMAT_TAIL = re.compile(rb"[:=][ \t]*\"?$")
_USER_FORMAT = re.compile(rb"(?i)(?<![a-z])(?:user(?:name)?|uname|login|usr|account)[ \t]*[:=][ \t]*\"?%s")
_STRING_AT = re.compile(rb"[\x20-\x7e\t\n]{1,200}")
_CRED_PATH = re.compile(rb"\x00(/(?:var|tmp|etc|data|mnt|run|config|jffs|overlay)/[\w./-]{1,120})\x00")
_CRED_NAME = re.compile(r"(?i)pass|pwd|secret|cred|auth|shadow|htpasswd|users?$")
_WORLD_WRITABLE = re.compile(r"""\b(?:mkdir\s+(?:-p\s+)?-m\s*0?777\s+(?:-p\s+)?|chmod\s+(?:-R\s+)?0?777\s+)["']?(/[\w./-]+)""")


def _string_around(data: bytes, offset: int) -> tuple[int, str]:
    start = data.rfind(b"\x00", max(0, offset - 200), offset) + 1 or max(0, offset - 200)
    end = data.find(b"\x00", offset)
    end = end if end >= 0 else min(len(data), offset + 200)
    return start, data[start:end].decode("ascii", "replace")


def cleartext_hits(data: bytes) -> list[list]:
    """[offset, kind, format string, credential path or None] for password formats in a program's strings."""
    out: list[list] = []
    seen: set[int] = set()
    pos = data.find(b"%s")
    while pos >= 0:
        here, pos = pos, data.find(b"%s", pos + 2)
        if not _FORMAT_TAIL.search(data[max(0, here - 4):here]):
            continue
        m = _PASSWORD_FORMAT.search(data, max(0, here - 16), here + 2)
        if m is None:
            continue
        start, text = _string_around(data, m.start())
        if start in seen or len(text) > 160 or re.search(r"[?&]|://|^\s*\w+\s+-", text):
            continue  # a URL query or a command line: the password is sent somewhere, judged elsewhere
        seen.add(start)
        if _USER_FORMAT.search(text.encode()) and re.search(r"\s[:=]\s|,\s", text):
            out.append([start, "log", text, None])
            continue
        window = data[max(0, start - WINDOW): start + len(text) + WINDOW]
        paths = [p.decode() for p in _CRED_PATH.findall(window) if _CRED_NAME.search(posixpath.basename(p.decode()))]
        if paths:
            out.append([start, "file", text, paths[0]])
    return out


class PasswordWrittenInClear(ContentCheck):
    ID = "secrets.password-in-clear"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (TEXT,)
    DOC = CheckDoc(
        title="Program writes a password in clear text",
        why=(
            "A password written in clear into a file at run time, or into a log, is readable by every process that "
            "can read that file or log; in a folder open to every user it can also be replaced.  That is not "
            "secure storage of a security parameter."
        ),
        fix=(
            "Keep passwords only as salted slow hashes; hand secrets to daemons through protected channels (a pipe, "
            "a root-only 0600 file in a root-only folder), and never print them in logs or debug output."
        ),
        references=("CWE-312: Cleartext Storage of Sensitive Information", "CWE-532: Insertion of Sensitive "
                    "Information into Log File"),
        limitations=(
            "Strings of ELF files only, no disassembly: a format string that formats a password (password:%s, "
            "passwd=%s, pswd = %s) is reported (a) with a credential file path (a name with pass, pwd, secret, "
            "auth, users) under /var, /tmp, /etc, /data ... within 256 bytes, as a password file written in clear, "
            "and (b) when it formats a user name and a password together like a log line.  Formats that are URL "
            "queries or command lines are left to the checks of what they send.  Whether the code path runs is not "
            "known, hence confidence likely."
        ),
    )

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        if entry.magic != "elf" or not 0 < entry.size <= MAX_BYTES or is_reference_material(entry.path):
            return 0
        return MAX_BYTES

    def scan_content(self, entry: FileEntry, data: bytes):
        return cleartext_hits(data) or None

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        results = self.results(fw, ctx)
        if not results:
            return
        opened = _world_writable_dirs(fw)
        for entry, hits in results:
            for offset, kind, text, path in hits:
                if kind == "file":
                    folder = posixpath.dirname(path)
                    where = next(((d, p, n) for d, (p, n) in opened.items()
                                  if folder == d or folder.startswith(d.rstrip("/") + "/")), None)
                    extra = (f"; {where[1]}:{where[2]} creates {where[0]} world-writable (0777), so any local process "
                             "can read or replace the file") if where else ""
                    yield self.finding(
                        entry,
                        title=f"Password written in clear text to {path}" + (" in a world-writable folder" if where else ""),
                        offset=offset,
                        excerpt=f"{text} ... {path}",
                        detail=(f"the format string '{text}' at offset {offset} puts a password into text, next to the "
                                f"credential file path {path}: the program writes the password file in clear text at "
                                f"run time{extra}"),
                        severity=Severity.high if where else Severity.medium,
                        confidence="likely",
                    )
                else:
                    yield self.finding(
                        entry,
                        title="Format string prints a user name and password (log or debug output)",
                        offset=offset,
                        excerpt=text,
                        detail=(f"the format string '{text}' at offset {offset} formats a user name and its password "
                                "into one line, as log and debug messages do: the password ends up in clear text "
                                "wherever that line is written"),
                        confidence="likely",
                    )


def _world_writable_dirs(fw: Firmware) -> dict[str, tuple[str, int]]:
    """Folders a shell script creates or opens to every user, with the script and line."""
    out: dict[str, tuple[str, int]] = {}
    for entry, text in text_files(fw):
        if "777" not in text or not is_shell_script(entry, text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            for m in _WORLD_WRITABLE.finditer(line):
                out.setdefault(m.group(1).rstrip("/"), (entry.path, number))
    return out
