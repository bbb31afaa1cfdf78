"""Auto-update switches as the image ships them: the initialised state of automatic updates.

A switch is a setting whose name says automatic update or upgrade (auto_update, AutoUpgrade, fw_auto_upgrade,
APT::Periodic::Unattended-Upgrade ..., or enable/enabled in a section so named) and whose value is on or off.
Read from UCI files, key=value and nvram defaults (also NUL-separated dumps), JSON, XML and apt.conf files in
configuration places, and from `uci set` / `nvram set` lines of first-boot and default scripts.  Web pages and
UI code are not read (their words are labels, not settings).
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.secrets.files import logical_path, text_files
from iotcop.checks.surface.debug_pages import in_web_root
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Evidence

MAX_SETTINGS_FILE = 256 * 1024

# A switch name, lower case without separators: autoupdate, auto_fw_upgrade, AutoUpgradeEnable, fw_auto_update,
# ota_auto, APT::Periodic::Unattended-Upgrade ...
_SWITCH = re.compile(
    r"^(?:enabled?|disabled?)?"
    r"(?:auto(?:matic)?(?:fw|firmware|sw|software|system|sys|os|ota|security)?(?:update|upgrade)s?"
    r"|(?:fw|firmware|ota|update|upgrade)s?auto(?:matic)?(?:update|upgrade)?s?|autoota|unattendedupgrades?)"
    r"(?:enabled?|switch|on|flag|status|active|mode)?$")
# A section (UCI section type or name, XML or JSON parent) that holds the switch under a plain name.
_SECTION = re.compile(r"^(?:auto(?:matic)?(?:fw|firmware|sw|software|ota)?(?:update|upgrade)s?|(?:fw|ota)?autoupdate|unattendedupgrades?)$")
_PLAIN_SWITCH = frozenset({"enable", "enabled", "disable", "disabled", "on", "active", "auto", "automatic"})
_ON = frozenset({"1", "true", "yes", "on", "enable", "enabled", "auto", "automatic", "y"})
_OFF = frozenset({"0", "false", "no", "off", "disable", "disabled", "n", "manual", "never", "none"})
_CONFIG_PLACES = ("/etc/", "/usr/etc/", "/usr/local/etc/", "/usr/share/", "/opt/", "/default/", "/defaults/", "/mnt/", "/data/")
_CONFIG_NAME = re.compile(r"default|config|conf$|\.cfg$|\.ini$|\.json$|\.xml$|settings|nvram|\.txt$", re.I)
_UI_SUFFIXES = (".js", ".htm", ".html", ".css", ".lua", ".php", ".asp", ".po", ".pot", ".md", ".svg")

_UCI_SECTION = re.compile(r"^\s*config\s+['\"]?([\w-]+)['\"]?(?:\s+['\"]?([\w-]+)['\"]?)?")
_UCI_OPTION = re.compile(r"^\s*option\s+['\"]?([\w-]+)['\"]?\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))")
_UCI_SET = re.compile(r"\buci\s+(?:-q\s+)?set\s+['\"]?([\w-]+)\.([\w@\[\]-]+)\.([\w-]+)=['\"]?([\w-]*)")
_NVRAM_SET = re.compile(r"\bnvram\s+set\s+['\"]?([\w:.-]+)=['\"]?([\w-]*)")
_KEY_VALUE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][\w.:-]*)\s*[=:]\s*['\"]?([\w-]*)['\"]?\s*[;,]?\s*(?:[#;].*)?$")
_APT = re.compile(r"^\s*([A-Za-z][\w:-]*)\s+\"([^\"]*)\"\s*;")
_XML_ELEMENT = re.compile(r"<([A-Za-z][\w.-]*)\b[^>]*>\s*([\w-]+)\s*</\1>")
_XML_ATTRIBUTE = re.compile(r"\b([A-Za-z][\w.-]*)\s*=\s*\"([\w-]+)\"")

@dataclass(frozen=True)
class Switch:
    """An auto-update switch as the image ships it."""

    path: str
    line: int | None
    key: str  # as written (with its section, "autoupdate.enabled", when the plain name needs it)
    value: str
    on: bool
    text: str

    @property
    def names(self) -> tuple[str, ...]:
        """The words an updater would use to read it."""
        return tuple(p for p in re.split(r"[.:/]+", self.key) if len(p) >= 4 and p.lower() not in _PLAIN_SWITCH)

    def evidence(self) -> Evidence:
        return Evidence(path=self.path, line=self.line, excerpt=self.text[:200],
                        detail=f"auto-update switch {self.key} = {self.value} ({'on' if self.on else 'off'}) in the shipped configuration")


def normal(word: str) -> str:
    return re.sub(r"[-_ .]", "", word.lower())


def _state(key_words: list[str], value: str) -> bool | None:
    v = value.strip().strip("'\"").lower()
    on = True if v in _ON else False if v in _OFF else None
    if on is None:
        return None
    inverted = any(normal(w).startswith("disable") for w in key_words[-1:])
    return (not on) if inverted else on


def _switch_key(parts: list[str]) -> str | None:
    """The key of a switch from its name parts (section first), or None when it names no auto-update switch."""
    last = normal(parts[-1])
    if _SWITCH.match(last) and last not in _PLAIN_SWITCH:
        return ".".join(parts[-2:]) if len(parts) > 1 and _SECTION.match(normal(parts[-2])) else parts[-1]
    if last in _PLAIN_SWITCH and len(parts) > 1 and any(_SECTION.match(normal(p)) for p in parts[:-1]):
        section = next(p for p in reversed(parts[:-1]) if _SECTION.match(normal(p)))
        return f"{section}.{parts[-1]}"
    return None


def _uci_switches(path: str, text: str) -> list[Switch]:
    out = []
    section: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        m = _UCI_SECTION.match(raw)
        if m:
            section = [p for p in m.groups() if p]
            continue
        m = _UCI_OPTION.match(raw)
        if not m:
            continue
        value = next(g for g in m.groups()[1:] if g is not None)
        name = posixpath.basename(path)
        for context in ([*section, m.group(1)], [name, m.group(1)]):
            key = _switch_key(context)
            state = _state(context, value) if key else None
            if state is not None:
                out.append(Switch(path, number, key, value, state, raw.strip()))
                break
    return out


def _script_switches(path: str, text: str) -> list[Switch]:
    """`uci set pkg.section.option=value` and `nvram set key=value` lines of first-boot and default scripts."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        for m in _UCI_SET.finditer(line):
            parts = [m.group(1), m.group(2), m.group(3)]
            key = _switch_key(parts)
            state = _state(parts, m.group(4)) if key else None
            if state is not None:
                out.append(Switch(path, number, key, m.group(4), state, line))
        for m in _NVRAM_SET.finditer(line):
            parts = re.split(r"[.:]", m.group(1))
            key = _switch_key(parts)
            state = _state(parts, m.group(2)) if key else None
            if state is not None:
                out.append(Switch(path, number, key, m.group(2), state, line))
    return out


def _json_switches(path: str, data, parents: tuple[str, ...] = ()) -> Iterator[Switch]:
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(v, (dict, list)):
                yield from _json_switches(path, v, parents + (str(k),))
                continue
            parts = [*parents, str(k)]
            key = _switch_key(parts)
            value = str(v).lower() if isinstance(v, bool) else str(v)
            state = _state(parts, value) if key else None
            if state is not None:
                yield Switch(path, None, key, value, state, f'"{k}": {json.dumps(v)}')
    elif isinstance(data, list):
        for item in data[:200]:
            yield from _json_switches(path, item, parents)


def _line_switches(path: str, text: str) -> list[Switch]:
    """key=value, key: value, apt.conf and XML lines."""
    out = []
    open_elements: list[str] = []
    for number, raw in enumerate(re.split(r"\n|\x00", text), 1):
        line = raw.strip()
        if not line or line[0] in "#;!/":
            continue
        candidates: list[tuple[list[str], str]] = []
        m = _APT.match(line)
        if m:
            candidates.append((m.group(1).split("::"), m.group(2)))
        elif line.startswith("<"):
            for tag in re.findall(r"<([A-Za-z][\w.-]*)\b[^>/]*>(?!\s*[\w-]+\s*</)", line):
                open_elements.append(tag)
            for tag in re.findall(r"</([A-Za-z][\w.-]*)>", line):
                if tag in open_elements and not re.search(rf"<{re.escape(tag)}\b[^>]*>\s*[\w-]+\s*</{re.escape(tag)}>", line):
                    del open_elements[len(open_elements) - 1 - open_elements[::-1].index(tag)]
            for tag, value in _XML_ELEMENT.findall(line):
                candidates.append(([*open_elements[-2:], tag], value))
            element = re.match(r"<([A-Za-z][\w.-]*)", line)
            for name, value in _XML_ATTRIBUTE.findall(line):
                candidates.append(([element.group(1), name] if element else [name], value))
        else:
            m = _KEY_VALUE.match(line)
            if m and m.group(2):
                candidates.append((re.split(r"[.:]", m.group(1)), m.group(2)))
        for parts, value in candidates:
            parts = [p for p in parts if p]
            key = _switch_key(parts) if parts else None
            state = _state(parts, value) if key else None
            if state is not None:
                out.append(Switch(path, number, key, value, state, line))
    return out


def _is_settings_file(entry: FileEntry) -> bool:
    lp = logical_path(entry.path)
    if in_web_root(lp) or lp.endswith(_UI_SUFFIXES) or lp.startswith(("/usr/lib/lua/", "/usr/share/luci", "/usr/lib/python")):
        return False
    return lp.startswith(_CONFIG_PLACES) or bool(_CONFIG_NAME.search(entry.name))


def switches(fw: Firmware) -> list[Switch]:
    """Every auto-update switch in the shipped configuration and first-boot scripts."""
    found: list[Switch] = []
    for entry, text in text_files(fw, max_bytes=MAX_SETTINGS_FILE):
        if not re.search(r"(?i)auto|unattended", text):
            continue
        lp = logical_path(entry.path)
        if entry.magic == "script" or text.startswith("#!"):
            if lp.startswith(("/etc/uci-defaults/", "/etc/init.d/", "/etc/rc.d/", "/etc/default")) or "default" in entry.name.lower():
                found.extend(_script_switches(entry.path, text))
            continue
        if not _is_settings_file(entry):
            continue
        if re.search(r"/etc/config/[^/]+$", lp) and re.search(r"^\s*config\s+\S+", text, re.M):
            found.extend(_uci_switches(entry.path, text))
        elif entry.name.endswith(".json") or text.lstrip().startswith(("{", "[")):
            try:
                found.extend(_json_switches(entry.path, json.loads(text)))
            except ValueError:
                found.extend(_line_switches(entry.path, text))
        else:
            found.extend(_line_switches(entry.path, text))
    for entry in fw.files():  # nvram default dumps are often NUL-separated binary data
        if entry.magic == "data" and "nvram" in entry.name.lower() and 0 < entry.size <= 1024 * 1024:
            data = fw.read_bytes(entry) or b""
            if b"=" in data and re.search(rb"(?i)auto", data):
                found.extend(_line_switches(entry.path, data.decode("latin-1")))
    return found


_FIRMWARE_WORDS = frozenset({"fw", "firmware", "ota", "fota", "system", "sys", "software", "sw", "os", "unattended"})


def names_firmware(key: str) -> bool:
    """A switch whose own name says it updates the device's software (not a block list or a database)."""
    words = {w.lower() for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", key) if w}
    return bool(words & _FIRMWARE_WORDS) or any(w in normal(key) for w in ("firmware", "unattended", "upgrade"))


def is_switch_name(word: str) -> bool:
    """A word (as an updater would spell it) that names an auto-update switch."""
    norm = normal(word)
    return bool(_SWITCH.match(norm)) and norm not in _PLAIN_SWITCH
