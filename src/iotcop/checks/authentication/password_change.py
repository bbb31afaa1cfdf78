"""Can the user change the password of a login on the device (5.1-4)?

Positive evidence: a web handler (CGI script, Lua/LuCI page, PHP) that reads request data and hands a value,
not a literal, to something that sets a login's password: `passwd` or `chpasswd` fed from a pipe, LuCI's
`sys.user.setpasswd`, `htpasswd -b`, or a configuration set (`uci set`, `nvram set`, `flash set` ...) of a key
that holds the device's login password.

Counter-evidence: a script run at every start that sets a login's password to a literal (a change by the user
does not survive a restart), and a web handler that compares the submitted password with a literal (the web
login's password is fixed in the program).  Passwords the device uses towards other services (PPPoE, DDNS,
Wi-Fi, mail, VPN, TR-069 ...) are not login passwords of the device and are left alone.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, logical_path, stored_text, text_files
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.checks.surface.debug_pages import in_web_root
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Evidence, Severity

MAX_SCRIPT = 512 * 1024
_UI_BACKENDS = ("/usr/lib/lua/luci/", "/usr/share/rpcd/", "/usr/libexec/rpcd/")
# the device's own login passwords, not its credentials towards other services
_LOGIN_KEY = re.compile(r"(?i)(?:^|[._-])(?:pass(?:word|wd)?|pwd|passphrase)$|^(?:http|admin|web|login|user|root|sys|super)_?pass")
_OTHER_SERVICE = re.compile(r"(?i)ppp|wan|ddns|dyn|wifi|wlan|wireless|wpa|psk|wep|smtp|mail|vpn|l2tp|pptp|sip|voip|wwan|"
                            r"3g|4g|lte|apn|radius|wps|proxy|tr069|tr-069|acs|cwmp|snmp|ftp|samba|smb|guest|ipsec|openvpn|"
                            r"ntp|cloud|upnp|dlna|iptv|nas")
_REQUEST = {
    "sh": re.compile(r"\$\{?(?:QUERY_STRING|FORM_\w+|POST_\w+|GET_\w+|CONTENT_LENGTH)\b|\bread\s+(?:-\w+\s+)*\w+|\bcgi_?(?:get|param)|"
                     r"\bhaserl\b|\bproccgi\b"),
    "lua": re.compile(r"formvalue(?:table)?\s*\(|http\.content\s*\(|getenv\s*\(\s*['\"](?:QUERY_STRING|CONTENT_LENGTH)|"
                      r"cgilua\.(?:QUERY|POST)|ngx\.req\.get_(?:uri|post)_args"),
    "php": re.compile(r"\$_(?:GET|POST|REQUEST)\b|php://input"),
}
_PIPED = re.compile(r"\b(?:echo|printf)\b(?P<arg>[^|]*)\|\s*(?:\S*/)?(?P<tool>chpasswd|passwd)\b(?P<rest>[^|;&]*)")
_HTPASSWD = re.compile(r"\b(?:\S*/)?htpasswd\s+(?:-\w+\s+)*-\w*b\w*\s+(?P<file>\S+)\s+(?P<user>\S+)\s+(?P<value>\S+)")
_CONFIG_SET = re.compile(r"\b(?P<tool>uci|nvram|flash|cfg|mib|cfm|cm)\s+(?:-q\s+)?set\s+['\"]?(?P<key>[\w.@\[\]-]+)['\"]?(?:=|\s+)(?P<value>\S+)")
_LUA_SETPASSWD = re.compile(r"(?<!function )\b(?:luci\.)?(?:sys\.)?user\.setpasswd\s*\((?P<user>[^,()]+),\s*(?P<value>[^)]+)\)")
_LUA_UCI_SET = re.compile(r":set\s*\(\s*['\"](?P<conf>[\w-]+)['\"]\s*,\s*['\"]?(?P<section>[\w@\[\]-]+)['\"]?\s*,\s*['\"](?P<key>[\w-]+)['\"]\s*,\s*(?P<value>[^)]+)\)")
_PHP_SHELL = re.compile(r"\b(?:exec|system|shell_exec|passthru|popen|proc_open)\s*\((?P<arg>[^;]*(?:chpasswd|passwd|htpasswd)[^;]*)\)")
_NOT_A_PASSWORD = frozenset({"yes", "no", "true", "false", "none", "null", "nil", "enable", "enabled", "disable", "disabled",
                             "manual", "auto", "on", "off", "undefined", "empty", "invalid"})
_FIRST_BOOT = re.compile(r"(?i)first_?boot|uci-defaults|factory|reset|default|preinit")


@dataclass(frozen=True)
class PasswordSet:
    """One place that sets a login's password."""

    path: str
    line: int
    text: str
    how: str  # chpasswd, passwd, htpasswd, uci set ..., setpasswd
    literal: bool  # the new value is written in the script

    def evidence(self, detail: str) -> Evidence:
        return Evidence(path=self.path, line=self.line, excerpt=self.text[:200], detail=detail)


def _is_literal(value: str, language: str) -> bool:
    v = value.strip().rstrip(";").strip()
    if language == "lua":
        return bool(re.fullmatch(r"(['\"])[^'\"]*\1", v))
    return "$" not in v and "`" not in v and "(" not in v


def _login_key(*parts: str) -> bool:
    joined = ".".join(p for p in parts if p)
    return bool(_LOGIN_KEY.search(parts[-1])) and not _OTHER_SERVICE.search(joined)


def password_sets(text: str, path: str, language: str) -> list[PasswordSet]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "--", "//")):
            continue
        if language in ("sh", "php"):
            source = line
            if language == "php":
                m = _PHP_SHELL.search(line)
                if not m:
                    continue
                source = m.group("arg")
            for m in _PIPED.finditer(source):
                arg = m.group("arg").strip()
                if m.group("tool") == "passwd" and re.search(r"(?:^|\s)-[dlu]\b", m.group("rest")):
                    continue  # delete, lock or unlock: no new value
                value = arg.split(":", 1)[1] if m.group("tool") == "chpasswd" and ":" in arg else arg
                if value.strip(" '\"-e"):
                    out.append(PasswordSet(path, number, line, m.group("tool"), _is_literal(value, language)))
            for m in _HTPASSWD.finditer(source):
                out.append(PasswordSet(path, number, line, "htpasswd -b", _is_literal(m.group("value"), language)))
            for m in _CONFIG_SET.finditer(source):
                key = m.group("key")
                parts = re.split(r"[.]", key)
                if _login_key(*parts):
                    out.append(PasswordSet(path, number, line, f"{m.group('tool')} set {key}",
                                           _is_literal(m.group("value"), language)))
        else:
            for m in _LUA_SETPASSWD.finditer(line):
                out.append(PasswordSet(path, number, line, "sys.user.setpasswd", _is_literal(m.group("value"), "lua")))
            for m in _LUA_UCI_SET.finditer(line):
                if _login_key(m.group("conf"), m.group("section"), m.group("key")):
                    out.append(PasswordSet(path, number, line, f"uci set {m.group('conf')}.{m.group('section')}.{m.group('key')}",
                                           _is_literal(m.group("value"), "lua")))
    return out


_SH_COMPARE = re.compile(r"""\[\[?\s*["']?\$\{?(?P<var>\w+)\}?["']?\s*!?==?\s*["'](?P<lit>[^"'$`]+)["']""")
_SH_COMPARE_REV = re.compile(r"""\[\[?\s*["'](?P<lit>[^"'$`]+)["']\s*!?==?\s*["']?\$\{?(?P<var>\w+)\}?""")
_LUA_COMPARE = re.compile(r"""(?P<var>[\w.]+|\w+\s*\(\s*["'][\w.]+["']\s*\))\s*[=~]=\s*["'](?P<lit>[^"']+)["']""")
_PHP_COMPARE = re.compile(r"""(?P<var>\$[\w]+(?:\s*\[\s*["']?\w+["']?\s*\])?)\s*[!=]==?\s*["'](?P<lit>[^"'$]+)["']|"""
                          r"""strcmp\s*\(\s*(?P<var2>\$[\w]+(?:\[[^\]]*\])?)\s*,\s*["'](?P<lit2>[^"'$]+)["']""")
_PASSWORD_NAME = re.compile(r"(?i)(?:pass(?:word|wd)?|pwd|passphrase)['\"\])]*\s*\)?$")


def fixed_password_checks(text: str, language: str) -> list[tuple[int, str, str]]:
    """(line, code, variable) where a submitted password is compared with a literal."""
    out = []
    pattern = {"sh": (_SH_COMPARE, _SH_COMPARE_REV), "lua": (_LUA_COMPARE,), "php": (_PHP_COMPARE,)}[language]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith(("#", "--", "//")):
            continue
        for rx in pattern:
            for m in rx.finditer(line):
                var = m.groupdict().get("var") or m.groupdict().get("var2") or ""
                lit = m.groupdict().get("lit") or m.groupdict().get("lit2") or ""
                if not _PASSWORD_NAME.search(var.strip()) or _OTHER_SERVICE.search(var):
                    continue
                if len(lit) < 4 or lit.lower() in _NOT_A_PASSWORD or re.fullmatch(r"[\d.]+", lit):
                    continue
                out.append((number, line, var.strip()))
    return out


def _language(entry: FileEntry, text: str) -> str | None:
    name = entry.name.lower()
    head = text[:200]
    if name.endswith((".php", ".phtml")) or "<?php" in head:
        return "php"
    if name.endswith(".lua") or head.startswith(("#!/usr/bin/lua", "#!/usr/bin/env lua")):
        return "lua"
    if re.match(r"#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|a|da|k|mk)?sh\b", head) or (name.endswith((".sh", ".cgi")) and not head.startswith("\x7fELF")):
        return "sh"
    return None


def _web_handler(path: str) -> bool:
    lp = logical_path(path)
    return in_web_root(lp) or lp.startswith(_UI_BACKENDS)


def _started_script(fw: Firmware, command) -> FileEntry | None:
    """The script a boot command runs, when it is one in the image (`/etc/fixpw.sh`, `sh /etc/fixpw.sh`, `fixpw`)."""
    program = posixpath.basename(command.program or "")
    if not program:
        return None
    names = {program, *(posixpath.basename(a) for a in command.args[:1] if program in ("sh", "ash", "bash", ".", "source"))}
    for word in command.text.replace(";", " ").split():
        word = word.strip("'\"&")
        if word.startswith("/") and posixpath.basename(word) in names:
            entry = fw.get(word)
            if entry is not None:
                return entry
    for folder in ("/etc/init.d/", "/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/", "/etc/"):
        entry = fw.get(folder + program)
        if entry is not None:
            return entry
    return None


def _every_boot_scripts(fw: Firmware) -> dict[str, str]:
    """Scripts the image runs at every start (boot scripts and the scripts they run), with their text."""
    scripts: dict[str, str] = {}
    # a start switched off, or one the image does not show for sure, is not an every-boot script
    commands = [c for c in boot_commands(fw) if getattr(c, "enabled", True) is not False
                and getattr(c, "confidence", "") != "possible"]
    for cmd in commands:
        if cmd.mechanism in ("inetd", "xinetd", "systemd", "cron", "binary-strings"):
            continue
        # the file of the command, and the scripts that led to it when the record carries its start chain
        chain = [step.file for step in getattr(getattr(cmd, "start", None), "chain", ())]
        for path in [cmd.path, *chain]:
            entry = fw.get(path) if path not in scripts else None
            if entry is not None and entry.magic in ("script", "text"):
                scripts[path] = stored_text(fw, entry, MAX_SCRIPT) or ""
    for cmd in commands:
        entry = _started_script(fw, cmd)
        if entry is not None and entry.magic in ("script", "text") and entry.path not in scripts:
            scripts[entry.path] = stored_text(fw, entry, MAX_SCRIPT) or ""
    return {p: t for p, t in scripts.items() if t and not _FIRST_BOOT.search(p)}


class PasswordChange(Check):
    ID = "authentication.password-change"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 90.0
    NEEDS_ROOTFS = False
    USES = (TEXT, BOOT_COMMANDS)
    DOC = CheckDoc(
        title="The user cannot keep a password of their own",
        why=(
            "A password the user cannot change, or one the device puts back to a fixed value at every start, stays "
            "known to everyone who has read the firmware or the manual."
        ),
        fix=(
            "Offer a simple way to change every login's password (a page in the web interface, a command) and keep "
            "the new value across restarts; never compare a login with a password written into the program."
        ),
        references=("CWE-798", "CWE-259"),
        limitations=(
            "Script handlers only (shell CGI, Lua/LuCI, PHP), read line by line: a change page built into a "
            "compiled CGI program, or a password set through a helper whose name says nothing of passwords, is not "
            "seen.  Literal passwords set at start-up are looked for in the boot scripts and the scripts they run "
            "(one level); a script that sets the literal only when no password exists yet still counts (likely)."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        changes: list[PasswordSet] = []
        findings = []
        for entry, text in text_files(fw, max_bytes=MAX_SCRIPT):
            if not _web_handler(entry.path) or entry.magic not in ("script", "text"):
                continue
            language = _language(entry, text)
            if language is None:
                continue
            for number, line, var in fixed_password_checks(text, language):
                findings.append(self.finding(
                    entry, title="The web login compares the password with a fixed value", line=number, excerpt=line,
                    provisions=("5.1-4",), confidence="likely",
                    detail=f"{var} is compared with a literal in {entry.path}: that password is part of the program "
                           "and cannot be changed by the user"))
            if _REQUEST[language].search(text):
                changes.extend(s for s in password_sets(text, entry.path, language) if not s.literal)
        for path, text in sorted(_every_boot_scripts(fw).items()):
            for s in password_sets(text, path, "sh"):
                if s.literal:
                    findings.append(self.finding(
                        path, title="A login's password is set to a fixed value at every start", line=s.line,
                        excerpt=s.text, provisions=("5.1-4",), confidence="likely",
                        detail=f"{posixpath.basename(path)} runs at boot and sets a password with {s.how} from a "
                               "literal: a password the user chose is replaced at the next restart"))
        yield from findings
        if changes and not findings:
            first = changes[0]
            where = sorted({c.path for c in changes})
            yield self.compliant(
                "5.1-4",
                f"the web interface changes a login's password to the value the user submits: {first.path}:{first.line} "
                f"reads the request and sets the password with {first.how}"
                + (f" ({len(where) - 1} more handler(s))" if len(where) > 1 else ""),
                *[c.evidence("sets the password from the submitted value") for c in changes[:3]])
