"""The dynamic handlers of the firmware's web roots, and whether their source shows they change the device.

Both probes that request handlers on the live device (probe.unauthenticated-functions with a plain GET,
probe.input-validation with made-up values) take their list from here: a handler named like a state change
is never requested, and a script handler whose source writes files, runs commands that change the device or
commits settings is never requested either.  A compiled handler's source cannot be read; only its name
is judged.
"""

from __future__ import annotations

import re

from iotcop.checks.surface.debug_pages import WEB_ROOTS
from iotcop.firmware.model import looks_binary

MAX_SOURCE_BYTES = 256 * 1024
_HANDLER_EXT = ("cgi", "php", "asp", "aspx", "lua", "sh", "pl", "jsp", "json", "fcgi")
CHANGES_DEVICE = re.compile(r"reboot|reset|factory|erase|format|upgrade|flash|delete|remove|restart|shutdown|"
                             r"poweroff|halt|logout|restore|defaults?\b", re.I)
_INTERESTING = re.compile(r"admin|config|setting|system|wifi|wlan|wireless|network|user|passw|status|api|device|"
                          r"camera|stream|ddns|firewall|port|wan|lan|dhcp|backup", re.I)


def web_endpoints(fw) -> tuple[list[tuple[str, str]], list[str]]:
    """(URL path, device path) of the firmware's dynamic web handlers, most relevant first; and the ones left
    out because requesting them could change the device."""
    found: dict[str, str] = {}
    skipped: list[str] = []
    for entry in fw.files():
        path = entry.path
        url = None
        for root in WEB_ROOTS:
            if path.startswith(root):
                url = "/" + path[len(root):]
                break
        if url is None and "/cgi-bin/" in path:
            url = path[path.index("/cgi-bin/"):]
        if url is None:
            continue
        name = entry.name
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        in_cgi = "/cgi-bin/" in url
        if not (in_cgi or ext in _HANDLER_EXT):
            continue
        if CHANGES_DEVICE.search(name) or not _source_is_safe(fw, entry):
            skipped.append(url)
            continue
        found.setdefault(url, path)
    ordered = sorted(found.items(), key=lambda kv: (not _INTERESTING.search(kv[0]), kv[0].count("/"), kv[0]))
    return ordered, sorted(skipped)




def _source_is_safe(fw, entry) -> bool:
    """True for a compiled handler (nothing to read) and for a script whose source changes nothing."""
    data = fw.read_bytes(entry, MAX_SOURCE_BYTES)
    if not data or looks_binary(data):
        return True
    text = data.decode("utf-8", errors="replace")
    if _language(entry.path, text) is None:
        return not text.startswith("#!")  # a script in a language not read here is not requested
    return safe_to_try(entry.path, text)


# What a handler must not run or contain to be tried with made-up values: anything that writes or changes state.
_SH_CHANGES = re.compile(
    r"(?:^|[;&|(`]|\$\(|\b(?:then|do|else)\s)\s*(?:\S*/)?(?:mtd|dd|rm|mv|cp|tee|ln|touch|mkdir|rmdir|truncate|chmod|"
    r"chown|reboot|poweroff|halt|shutdown|passwd|chpasswd|htpasswd|useradd|userdel|iptables|ip6tables|nft|ifconfig|"
    r"ifup|ifdown|brctl|iwconfig|iwpriv|route|ip|kill|killall|pkill|service|systemctl|sysupgrade|firstboot|jffs2reset|"
    r"mount|umount|insmod|rmmod|modprobe|curl|wget|tftp|sqlite3|crontab|logger|fw_setenv|sed\s+-i|uci\s+(?:-\S+\s+)*"
    r"(?:set|commit|delete|add|rename|revert|import)|nvram\s+(?:set|commit|unset|erase|restore)|(?:flash|cfg|mib|cfm)"
    r"\s+(?:set|commit|reset|default)|/etc/init\.d/\S+|/etc/rc\.d/\S+)(?=\s|$|[;&|)`])")
_SH_WRITES = re.compile(r"(?:^|[^0-9&<>=-])>>?\s*(?!/dev/null|&)|\d>\s*(?!/dev/null|&)")
_LUA_CHANGES = re.compile(r"\b(?:os\.(?:execute|remove|rename)|io\.popen|io\.open\s*\([^)]*['\"][wa+]|"
                          r"luci\.(?:sys|util)\.(?:call|exec)|sys\.(?:call|exec)|nixio\.(?:fs\.(?:writefile|remove|unlink|"
                          r"rename|mkdir|rmdir)|exec\w*)|sys\.user\.setpasswd)|:(?:set|commit|delete|add|save|apply)\s*\(")
_PHP_CHANGES = re.compile(r"\b(?:exec|system|shell_exec|passthru|popen|proc_open|pcntl_exec|file_put_contents|unlink|"
                          r"rename|mkdir|rmdir|move_uploaded_file|copy|chmod|chown|symlink|fwrite|fputs)\s*\(|"
                          r"fopen\s*\([^)]*['\"][wax+]|`|(?i:\b(?:insert|update|delete)\s+(?:into|from|\w+\s+set)\b)")
_PARAMETERS = (
    re.compile(r"\$\{?(?:FORM|GET|POST)_(\w+)"),
    re.compile(r"[?&^*]\(?(\w+)=\\?\("),  # sed 's/^.*name=\([^&]*\).*$/\1/p' over QUERY_STRING
    re.compile(r"formvalue\s*\(\s*['\"](\w+)['\"]"),
    re.compile(r"\$_(?:GET|REQUEST|POST)\s*\[\s*['\"](\w+)['\"]"),
)


def parameters(text: str) -> list[str]:
    """The request parameters a handler reads, in the order it reads them."""
    found = sorted((m.start(), m.group(1)) for rx in _PARAMETERS for m in rx.finditer(text))
    names: list[str] = []
    for _, name in found:
        if name not in names:
            names.append(name)
    return names


def _language(path: str, text: str) -> str | None:
    head = text[:200]
    if path.endswith((".php", ".phtml")) or "<?php" in head:
        return "php"
    if path.endswith(".lua") or re.match(r"#!\s*/usr/bin/(?:env\s+)?lua", head):
        return "lua"
    if re.match(r"#!\s*/(?:usr/)?bin/(?:env\s+)?(?:ba|a|da|k|mk|hu)?sh\b", head) or path.endswith((".sh", ".cgi")):
        return "sh"
    return None


def _unquoted(line: str) -> str:
    return re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", "''", line)


def safe_to_try(path: str, text: str) -> bool:
    """The handler's source shows nothing that writes or changes the device (comment lines aside)."""
    language = _language(path, text)
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("#", "--", "//"))]
    if language == "sh":
        return not any(_SH_CHANGES.search(_unquoted(ln)) or _SH_WRITES.search(_unquoted(ln)) for ln in lines)
    if language == "lua":
        return not any(_LUA_CHANGES.search(ln) for ln in lines)
    if language == "php":
        return not any(_PHP_CHANGES.search(ln) for ln in lines)
    return False
