"""Credentials written into the image outside the account files.

* `credentials.config-password`: literal passwords in configuration files
  (UCI, nvram defaults, web-server and application configs);
* `credentials.script-password`: passwords set or used by shell scripts
  (`echo root:admin | chpasswd`, piped `passwd`, `htpasswd -b`, `sshpass -p`,
  `curl -u user:pass`, `nvram set http_passwd=...`);
* `credentials.binary-password`: publicly known user/password pairs and
  `password=value` literals inside binaries, next to login markers;
* `credentials.shared-password-hash`: one password hash used by several accounts.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput, ContentCheck
from iotcop.checks.credentials.accounts import ACCOUNTS, accounts
from iotcop.checks.credentials.crypt import classify
from iotcop.checks.credentials.passwords import default_credentials
from iotcop.checks.credentials.stored import STORED_SECRETS, stored_secrets
from iotcop.checks.secrets.ciphers import decode, decrypt_value, printable
from iotcop.checks.secrets.keys import SYMMETRIC_KEYS, image_keys
from iotcop.checks.secrets.files import (
    TEXT,
    is_placeholder,
    is_reference_material,
    is_shell_script,
    text_files,
)
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

_REFS = ("CWE-798: Use of Hard-coded Credentials",)

_UNIVERSAL = (
    "The value is written literally in the image and nothing derives it per device, so every unit built from "
    "this image has the same credential: a universal default password, not a unique one."
)


def known_default_passwords() -> frozenset[str]:
    return frozenset(p for _, p in default_credentials() if p)


def _severity_for(value: str) -> tuple[Severity, str]:
    if value in known_default_passwords():
        return Severity.critical, " It is in the public list of IoT default passwords."
    return Severity.high, ""


_DECRYPTER_TEST = re.compile(r"""\[\s+-[fxe]\s+["']?(/[\w./-]*(?:decrypt|decod|unscrambl|deobfusc)[\w.-]*)["']?\s+\]""", re.I)
_ECHO_VAR = re.compile(r"""\b(?:echo|printf\s+['"]?%s['"]?)\s+["']?\$\{?\w+""")


def missing_decrypters(fw: Firmware, text: str) -> list[tuple[int, int, str]]:
    """(test line, fallback line, program) where a script decrypts with a program the image lacks and else
    passes the stored value on as it is."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _DECRYPTER_TEST.search(line)
        if not m or line.lstrip().startswith("#") or fw.get(m.group(1)) is not None:
            continue
        for j in range(i + 1, min(len(lines), i + 10)):
            if re.match(r"\s*(?:fi|})\b", lines[j]):
                break
            if re.match(r"\s*else\b", lines[j]):
                fallback = next((k for k in range(j, min(len(lines), j + 4)) if _ECHO_VAR.search(lines[k])), None)
                if fallback is not None:
                    out.append((i + 1, fallback + 1, m.group(1)))
                break
    return out


class ConfigPassword(Check):
    ID = "credentials.config-password"
    VERSION = "1.1.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (STORED_SECRETS, TEXT)
    DOC = CheckDoc(
        title="Password stored in a configuration file",
        why=(
            "A password written into a configuration file of the image (OpenWrt UCI, nvram defaults, a web or "
            "application config) is the same on every unit and readable in clear by anyone with the image."
        ),
        fix=(
            "Ship no password in configuration: set it per device at manufacture (in protected storage) or make "
            "the user choose it on first use; store only a salted slow hash where a stored form is needed."
        ),
        references=_REFS,
        limitations=(
            "Reads UCI, nvram default files, and key/value, JSON and XML settings whose key names a password "
            "(password, passwd, pwd, pass, passphrase, admin_password ...). Values that are variables, templates, "
            "paths, booleans, crypt hashes or placeholder words (including the word 'password') are ignored. A "
            "password under another key name is not found.  Values in base64 or hex are decoded; values encrypted "
            "with a key the image ships are decrypted (schemes in config-ciphers.yaml).  Wi-Fi passphrases and WPS "
            "PINs are reported by secrets.wifi-psk instead.  Also reports shell scripts that decrypt stored "
            "passwords with a program the image does not hold and otherwise pass the stored value on (the stored "
            "value is then the password in clear)."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for s in stored_secrets(fw):
            if s.kind != "password":
                continue
            where = f"{s.fmt} setting '{s.key}'" + (f" in '{s.section}'" if s.section else "")
            account = f" for user '{s.user}'" if s.user else ""
            provisions = ["5.1-1", "5.4-1"] + (["5.4-3"] if s.service or s.decrypted_with else [])
            service = (f" It logs the device in to a remote {s.service} service, so the vendor's or operator's "
                       "account is hard-coded in every unit.") if s.service else ""
            if s.value == "":
                yield self.finding(
                    s.path,
                    title=f"Account '{s.user}' with an empty password in the defaults",
                    line=s.line,
                    excerpt=s.excerpt,
                    detail=f"{where} stores an empty password{account}: anyone logs in as '{s.user}' without one. "
                           f"{_UNIVERSAL}",
                    severity=Severity.critical,
                    provisions=provisions,
                )
                continue
            severity, known = _severity_for(s.value)
            stored = ""
            if s.stored_as:
                stored = (f" It is stored as '{s.raw}' ({s.stored_as}), which anyone with the image reverses: "
                          "encoding or encryption with a key every unit shares is not secure storage.")
            title = f"Password in configuration ({s.key})" if not s.stored_as else \
                f"Password in configuration ({s.key}, {s.stored_as.split(' ', 1)[0]})"
            yield self.finding(
                s.path,
                title=title,
                line=s.line,
                excerpt=s.excerpt.replace(s.raw or s.value, s.masked) if (s.raw or s.value) else s.excerpt,
                detail=f"{where} holds the literal password '{s.value}'{account}.{stored} {_UNIVERSAL}{known}{service}",
                severity=severity,
                provisions=provisions,
            )
        for entry, text in text_files(fw):
            if "crypt" not in text and "decod" not in text or not is_shell_script(entry, text):
                continue
            for line, fallback, program in missing_decrypters(fw, text):
                yield self.finding(
                    entry,
                    title="Stored passwords are used as written: their decrypter is not in the image",
                    line=line,
                    excerpt=text.splitlines()[line - 1].strip(),
                    detail=(f"line {line} decrypts stored passwords with {program}, which the image does not hold, "
                            f"and line {fallback} otherwise hands on the stored value as it is: the 'encrypted' "
                            "values of the configuration are the passwords themselves, in clear"),
                    provisions=("5.4-1",),
                )


# -- scripts ------------------------------------------------------------------------------

_LOGICAL_LINE = re.compile(r"\\\n")
# Shell history left in the image: commands someone typed, passwords included.
_HISTORY = re.compile(r"^\.?(?:\w+_)?history$")
_ASSIGN = re.compile(r"""^\s*(?:export\s+|local\s+|readonly\s+)?([A-Za-z_]\w*)=(?:'([^']*)'|"([^"$`]*)"|([^\s;&|$`'"()]+))\s*(?:;|$|#)""")
_CHPASSWD = re.compile(r"""(?:echo|printf)\s+(?:-[ne]+\s+)?(['"]?)([A-Za-z_][\w.-]*):([^\s'"|]+)\1\s*\|\s*(?:\S*/)?chpasswd\b(?P<e>\s+-e)?""")
_PASSWD_PIPE = re.compile(r"""(?:echo|printf)\s+(?:-[ne]+\s+)?(['"])([^'"\\]+)\\n(?:\2(?:\\n)?)?\1\s*\|\s*(?:\S*/)?passwd\b\s*([A-Za-z_][\w.-]*)?""")
_PASSWD_TWICE = re.compile(r"""\(\s*echo\s+(['"]?)([^\s'";)]+)\1\s*;\s*(?:sleep\s+\d+\s*;\s*)?echo\s+\1\2\1\s*;?\s*\)\s*\|\s*(?:\S*/)?passwd\b\s*([A-Za-z_][\w.-]*)?""")
_PASSWD_STDIN = re.compile(r"""echo\s+(['"]?)([^\s'"|]+)\1\s*\|\s*(?:\S*/)?passwd\s+--stdin\s+([A-Za-z_][\w.-]*)""")
_NVRAM_UCI_SET = re.compile(r"""\b(nvram|uci)\s+set\s+(['"]?)([\w.@\[\]-]*?(?:passwd|password|pass|pwd))=(['"]?)([^\s'"]+)\4""")
_TOOLS_WITH_PASSWORD = {
    "htpasswd": "htpasswd -b",
    "mosquitto_passwd": "mosquitto_passwd -b",
    "sshpass": "sshpass -p",
    "curl": "curl -u",
    "wget": "wget --password",
    "mysql": "mysql -p",
    "mysqladmin": "mysqladmin -p",
    "smbpasswd": "smbpasswd",
    "usermod": "usermod -p",
    "useradd": "useradd -p",
}


def _resolve(value: str, variables: dict[str, str]) -> str | None:
    m = re.fullmatch(r"\$\{?([A-Za-z_]\w*)\}?", value)
    if m:
        return variables.get(m.group(1))
    return value


def _tool_password(words: list[str], variables: dict[str, str]) -> tuple[str | None, str | None]:
    """(user, password) passed on a tool's command line, or (None, None)."""
    if not words:
        return None, None
    tool = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    try:
        if tool in ("htpasswd", "mosquitto_passwd"):
            flags = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
            rest = [a for a in args if not a.startswith("-")]
            if "b" in flags and len(rest) >= 3:
                return rest[-2], rest[-1]
        elif tool == "sshpass" and "-p" in args:
            return None, args[args.index("-p") + 1]
        elif tool == "sshpass":
            for a in args:
                if a.startswith("-p") and len(a) > 2:
                    return None, a[2:]
        elif tool == "curl":
            for i, a in enumerate(args):
                if a in ("-u", "--user") and i + 1 < len(args) and ":" in args[i + 1]:
                    user, pw = args[i + 1].split(":", 1)
                    return user, pw
        elif tool == "wget":
            for a in args:
                if a.startswith(("--password=", "--http-password=", "--ftp-password=")):
                    return None, a.split("=", 1)[1]
        elif tool in ("mysql", "mysqladmin"):
            for a in args:
                if a.startswith("--password="):
                    return None, a.split("=", 1)[1]
                if a.startswith("-p") and len(a) > 2:
                    return None, a[2:]
        elif tool in ("usermod", "useradd") and "-p" in args:
            i = args.index("-p")
            rest = [a for a in args[i + 2:] if not a.startswith("-")]
            return (rest[-1] if rest else None), args[i + 1]
    except (IndexError, ValueError):
        return None, None
    return None, None


def script_credentials(text: str) -> list[tuple[int, str, str | None, str, str]]:
    """(line, how, user, password, excerpt) for credentials a shell script sets or passes."""
    found = []
    variables: dict[str, str] = {}
    joined = _LOGICAL_LINE.sub(" ", text)
    for number, line in enumerate(joined.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _ASSIGN.match(stripped)
        if m:
            variables[m.group(1)] = next(g for g in m.groups()[1:] if g is not None)
        hits: list[tuple[str, str | None, str]] = []
        for m in _CHPASSWD.finditer(stripped):
            hits.append(("chpasswd -e (hash)" if m.group("e") else "chpasswd", m.group(2), m.group(3)))
        for rx in (_PASSWD_PIPE, _PASSWD_TWICE):
            for m in rx.finditer(stripped):
                hits.append(("passwd with piped input", m.group(3) or "root", m.group(2)))
        for m in _PASSWD_STDIN.finditer(stripped):
            hits.append(("passwd --stdin", m.group(3), m.group(2)))
        for m in _NVRAM_UCI_SET.finditer(stripped):
            hits.append((f"{m.group(1)} set {m.group(3)}", None, m.group(5)))
        if any(t in stripped for t in _TOOLS_WITH_PASSWORD):
            for segment in re.split(r"\|\||&&|[;|&]", stripped):
                try:
                    words = shlex.split(segment, comments=True)
                except ValueError:
                    continue
                while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
                    words = words[1:]
                if words and words[0].rsplit("/", 1)[-1] in ("exec", "sudo", "nohup"):
                    words = words[1:]
                if words and words[0].rsplit("/", 1)[-1] in _TOOLS_WITH_PASSWORD:
                    user, pw = _tool_password(words, variables)
                    if pw is not None:
                        hits.append((_TOOLS_WITH_PASSWORD[words[0].rsplit("/", 1)[-1]], user, pw))
        for how, user, pw in hits:
            value = _resolve(pw, variables)
            if value is None or len(value) < 2:
                continue
            if is_placeholder(value) and classify(value).scheme in ("unknown", "blank", "locked"):
                continue  # a variable, template or placeholder (a crypt hash is kept)
            found.append((number, how, user, value, stripped))
    return found


class ScriptPassword(Check):
    ID = "credentials.script-password"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (TEXT,)
    DOC = CheckDoc(
        title="Password hard-coded in a script",
        why=(
            "A script that sets an account password from a literal (echo root:admin | chpasswd, a piped passwd, "
            "htpasswd -b) or passes one on a command line gives every unit the same, readable password."
        ),
        fix=(
            "Do not set passwords from scripts in the image: generate a unique per-device password at manufacture "
            "or have the user set one on first use."
        ),
        references=_REFS,
        limitations=(
            "Shell scripts and shell history files (.ash_history, .bash_history) only, read line by line (not "
            "executed). A password held in a variable is resolved only "
            "when the same script assigns it a literal; values built at run time are left to "
            "credentials.derived-password. Lua, PHP and compiled programs are not covered here."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, text in text_files(fw):
            if not is_shell_script(entry, text) and not _HISTORY.match(entry.name):
                continue
            if not re.search(r"passwd|chpasswd|sshpass|curl|wget|mysql|useradd|usermod|password|pass", text):
                continue
            for number, how, user, value, excerpt in script_credentials(text):
                severity, known = _severity_for(value)
                hashed = value.startswith("$") and len(value) > 20
                what = f"the password hash '{value}'" if hashed else f"the literal password '{value}'"
                yield self.finding(
                    entry,
                    title=f"Password hard-coded in script ({how})" + (f" for '{user}'" if user else ""),
                    line=number,
                    excerpt=excerpt,
                    detail=f"{how} is given {what}" + (f" for account '{user}'" if user else "") + f". {_UNIVERSAL}{known}",
                    severity=Severity.critical if known else severity,
                )


# -- binaries -----------------------------------------------------------------------------

_MARKER = re.compile(rb"(?i)passw(?:or)?d|login|username|auth")
_MARKER_LITERALS = (b"assw", b"ASSW", b"ogin", b"OGIN")
_STRING = re.compile(rb"[\x20-\x7e]{3,64}")
# One pattern per literal start, so the regex engine can skip ahead to it.
_INLINE = tuple(
    re.compile(prefix + rb"=([A-Za-z0-9!#*+.@^_~-]{4,32})\x00")
    for prefix in (rb"assword", rb"asswd", rb"ASSWORD", rb"ASSWD", rb"pwd", rb"PWD")
)
MAX_BINARY_BYTES = 32 * 1024 * 1024
WINDOW = 256


def _pairs() -> dict[str, set[str]]:
    by_user: dict[str, set[str]] = defaultdict(set)
    for user, pw in default_credentials():
        if user and pw and user != pw and len(pw) >= 4 and not pw.isalpha():
            by_user[user].add(pw)
    return by_user


_PAIRS = _pairs()
_KNOWN = frozenset(p for _, p in default_credentials() if p)
_USER_STRING = re.compile(rb"\x00(" + b"|".join(re.escape(u.encode()) for u in sorted(_PAIRS, key=len, reverse=True)) + rb")\x00")


# A NUL-delimited base64 string of whole 8-byte blocks: ciphertext that the image's keys may open.
_BLOB = re.compile(rb"\x00((?:[A-Za-z0-9+/]{4}){2,21}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)\x00")
_MIXED = (re.compile(rb"[A-Z]"), re.compile(rb"[a-z]"), re.compile(rb"[0-9]"))


def _marker_windows(data: bytes) -> list[tuple[int, int]]:
    """Merged byte ranges within WINDOW of a login marker."""
    points = []
    for lit in _MARKER_LITERALS:
        pos = data.find(lit)
        while pos >= 0:
            points.append(pos)
            pos = data.find(lit, pos + len(lit))
    windows: list[tuple[int, int]] = []
    for pos in sorted(points):
        start, end = max(0, pos - WINDOW), min(len(data), pos + WINDOW)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def binary_credentials(data: bytes) -> list[tuple[int, str, str | None, str]]:
    """(offset, kind, user, password) found near login markers in a binary."""
    out: list[tuple[int, str, str | None, str]] = []
    seen: set[tuple[str | None, str]] = set()
    windows = _marker_windows(data)
    if not windows:
        return out
    for rx in _INLINE:
        for m in rx.finditer(data):
            start = m.start()
            while start > 0 and data[start - 1: start].isalpha():
                start -= 1
            if start > 0 and data[start - 1: start] not in (b"\x00", b" ", b"&", b"?", b";", b","):
                continue  # part of a longer token ("EAP-pwd=...", "bypassword=...")
            key = data[start: m.start() + 8].lower()
            if not key.startswith((b"pass", b"pwd", b"pw")):
                continue
            value = m.group(1).decode()
            # Generated or chosen passwords carry a digit or symbol; plain identifiers ("x_candidate") do not.
            if not re.search(r"[\d!#*+.@^~-]", value) and value not in _KNOWN:
                continue
            if not is_placeholder(value) and (None, value) not in seen:
                seen.add((None, value))
                out.append((start, "inline", None, value))
    for start, end in windows:
        strings = None
        for m in _USER_STRING.finditer(data, max(0, start - 1), end):
            user = m.group(1).decode()
            if strings is None:
                strings = [(s.start(), s.group().decode()) for s in _STRING.finditer(data, start, end)]
            index = next((i for i, (off, _) in enumerate(strings) if off == m.start(1)), None)
            if index is None:
                continue
            for off, pw in strings[max(0, index - 2): index + 3]:
                if pw in _PAIRS[user] and (user, pw) not in seen:
                    seen.add((user, pw))
                    out.append((min(off, m.start(1)), "pair", user, pw))
    for start, end in windows:
        for m in _BLOB.finditer(data, max(0, start - 1), end):
            if not all(rx.search(m.group(1)) for rx in _MIXED):
                continue  # words and numbers, not base64 of random bytes
            value = m.group(1).decode()
            raw = decode(value, "base64")
            if raw and len(raw) % 8 == 0 and printable(raw) is None and (None, value) not in seen:
                seen.add((None, value))
                out.append((m.start(1), "blob", None, value))
    return out


class BinaryPassword(ContentCheck):
    ID = "credentials.binary-password"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="Password hard-coded in a binary",
        why=(
            "A password compiled into a program (a backdoor account, a fixed admin password) is the same on every "
            "unit and cannot be changed by the user."
        ),
        fix="Remove compiled-in credentials; authenticate against per-device or user-set passwords stored securely.",
        references=_REFS,
        limitations=(
            "High-confidence only: within 256 bytes of a login marker ('password', 'passwd', 'login', 'username') "
            "it reports (a) a user name and password that appear side by side and form a pair of the public IoT "
            "default-credential list (passwords of letters only are not used, they are ordinary words), and "
            "(b) a NUL-terminated string that starts with 'password=' / 'passwd=' / 'pwd=' (or follows a space, & or ?) and whose value has a digit or symbol or is a known default. A password compared in code "
            "without such context, or stored encoded, is not found; no disassembly is done.  (c) Base64 strings of "
            "whole cipher blocks near a login marker are decrypted with the keys the image ships "
            "(secrets.symmetric-key, config-ciphers.yaml) and reported, with confidence likely, when they open "
            "to printable text."
        ),
    )
    USES = (SYMMETRIC_KEYS,)

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        largest = ctx.option(self.ID, "max_binary_bytes", MAX_BINARY_BYTES)  # label: smaller, deep: larger
        if entry.magic not in ("elf", "data") or entry.size == 0 or entry.size > largest:
            return 0
        return 0 if is_reference_material(entry.path) else largest

    def scan_content(self, entry: FileEntry, data: bytes):
        return [list(hit) for hit in binary_credentials(data)] or None

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        keys = None
        for entry, hits in self.results(fw, ctx):
            for offset, kind, user, pw in hits:
                if kind == "blob":
                    keys = list(image_keys(fw)) if keys is None else keys
                    opened = decrypt_value(pw, keys) if keys else None
                    if opened is None:
                        continue
                    yield self.finding(
                        entry,
                        title="Encrypted password compiled into a binary",
                        offset=offset,
                        excerpt=pw,
                        detail=(f"the string '{pw}' at offset {offset}, next to a login marker, decrypts to "
                                f"'{opened.plaintext}' ({opened.describe()}). The key ships in the image, so the "
                                f"hidden value is readable by anyone: {_UNIVERSAL}"),
                        severity=Severity.critical,
                        confidence="likely",
                        provisions=("5.1-1", "5.4-3"),
                    )
                    continue
                if kind == "pair":
                    title = f"Default credential pair {user}:{pw} compiled into a binary"
                    detail = (f"the strings '{user}' and '{pw}' sit side by side next to a login marker; together "
                              f"they are a publicly known IoT default credential. {_UNIVERSAL}")
                    severity = Severity.critical
                else:
                    title = "Password literal compiled into a binary"
                    detail = f"the string assigns the literal password '{pw}' next to a login marker. {_UNIVERSAL}"
                    severity = Severity.high
                yield self.finding(entry, title=title, offset=offset, excerpt=pw if kind == "inline" else f"{user} / {pw}",
                                   detail=detail, severity=severity)


# -- shared hashes --------------------------------------------------------------------------


class SharedPasswordHash(Check):
    ID = "credentials.shared-password-hash"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS,)
    DOC = CheckDoc(
        title="Several accounts share one password hash",
        why=(
            "Identical salted hashes on different accounts mean the same password was copied between them: "
            "cracking or leaking one opens all, and it shows the password was set at build time, not per device."
        ),
        fix="Give each account its own password (or lock accounts that need none); never copy hashes between accounts.",
        references=_REFS,
        limitations="Compares stored hashes exactly; the same password hashed with different salts is not detected.",
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        groups = defaultdict(list)
        for acc in accounts(fw):
            if acc.has_password_hash:
                groups[acc.secret].append(acc)
        for secret, members in groups.items():
            users = sorted({a.user for a in members})
            if len(users) < 2:
                continue
            first = members[0]
            places = ", ".join(sorted({f"{a.user} ({a.path})" for a in members}))
            yield self.finding(
                first.path,
                title=f"Accounts {', '.join(repr(u) for u in users)} share one password hash",
                line=first.line,
                offset=first.offset,
                excerpt=secret[:60],
                detail=f"the {first.scheme} hash is identical for: {places}; the accounts have the same password, "
                       "set when the image was built.",
            )
