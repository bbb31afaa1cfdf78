"""Automatic updates: is an updater run without the user, and is it switched on in the shipped configuration?

Two kinds of evidence, read from the image:

* automatic runs: a cron entry (crontabs, /etc/cron.d, /etc/cron.{hourly,daily,weekly}) or a boot command that
  runs an update client found by iotcop.checks.updates.clients (a script or program that downloads an image
  and writes it to flash, opkg/apt upgrades, a Mender or SWUpdate client polling its server), directly or
  through one script in between;
* auto-update switches in the shipped configuration (the initialised state): UCI options, key=value and
  nvram defaults, JSON and XML settings, apt's Periodic settings and `uci set` / `nvram set` lines of
  first-boot scripts, whose name says automatic update or upgrade and whose value is on or off.

A switch shipped off that an updater reads (or, when no run is seen, any such switch shipped off) is a
finding against 5.3-6; an updater run automatically from the shipped configuration, not gated by a switch
that is off, is positive evidence for 5.3-4 and, when no switch of unknown default governs it, for 5.3-6.
When the only update paths found take an image from the user (an upload handler, a local installer), with
no network source, no automatic run and no switch, that is a (likely) finding against 5.3-4.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, is_reference_material, logical_path, stored_text, text_files
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.checks.surface.debug_pages import in_web_root
from iotcop.checks.updates.clients import UPDATE_CLIENTS, UpdateClient, update_clients
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware, looks_binary
from iotcop.model import Evidence, Severity

MAX_SETTINGS_FILE = 256 * 1024
MAX_PROGRAM = 16 * 1024 * 1024

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
_IDENTIFIER = re.compile(rb"[A-Za-z][A-Za-z0-9_:.-]{5,48}")

_CRON_FILES = ("/etc/crontabs/", "/etc/cron.d/", "/var/spool/cron/", "/etc/cron/crontabs/")
_CRON_SCRIPTS = re.compile(r"^/etc/cron\.(?:hourly|daily|weekly|monthly)/[^/]+$")
_CRON_TIME = re.compile(r"^\s*(?:@(?:reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)|(?:\S+\s+){5})")
# Commands that fetch and install updates by themselves.
_INSTALLING = re.compile(
    r"(?:^|[\s;|&/`(])(?:opkg\s+(?:-\S+\s+)*upgrade|unattended-upgrades?\b|apt(?:-get)?\s+(?:-\S+\s+)*(?:upgrade|dist-upgrade)"
    r"|fwupdmgr\s+(?:-\S+\s+)*update|sysupgrade\s+(?:-\S+\s+)*(?:https?|ftp)://|mender\s+(?:-\S+\s+)*(?:daemon|-daemon)"
    r"|rauc-hawkbit-updater\b|swupdate\s+[^\n]*(?:-u\b|--suricatta))")


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


@dataclass
class AutomaticRun:
    """An updater the image runs without the user: from cron or at boot."""

    how: str  # cron, boot, daemon
    path: str
    line: int | None
    text: str
    updater: str  # the update client's path, or the installing command
    client: UpdateClient | None = None
    reads: list[str] = field(default_factory=list)  # texts the run reaches (the scripts in between, the client)

    def evidence(self) -> Evidence:
        what = {"cron": "run by cron", "boot": "started at boot", "daemon": "polls its server"}[self.how]
        return Evidence(path=self.path, line=self.line, excerpt=self.text[:200], detail=f"{self.updater} {what}")


def _normal(word: str) -> str:
    return re.sub(r"[-_ .]", "", word.lower())


def _state(key_words: list[str], value: str) -> bool | None:
    v = value.strip().strip("'\"").lower()
    on = True if v in _ON else False if v in _OFF else None
    if on is None:
        return None
    inverted = any(_normal(w).startswith("disable") for w in key_words[-1:])
    return (not on) if inverted else on


def _switch_key(parts: list[str]) -> str | None:
    """The key of a switch from its name parts (section first), or None when it names no auto-update switch."""
    last = _normal(parts[-1])
    if _SWITCH.match(last) and last not in _PLAIN_SWITCH:
        return ".".join(parts[-2:]) if len(parts) > 1 and _SECTION.match(_normal(parts[-2])) else parts[-1]
    if last in _PLAIN_SWITCH and len(parts) > 1 and any(_SECTION.match(_normal(p)) for p in parts[:-1]):
        section = next(p for p in reversed(parts[:-1]) if _SECTION.match(_normal(p)))
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


# -- automatic runs ----------------------------------------------------------------------------------


def _program_text(fw: Firmware, entry: FileEntry | None, limit: int = MAX_PROGRAM) -> str:
    """Text of a script, or the printable strings of a program, for matching names in it."""
    if entry is None:
        return ""
    data = fw.read_bytes(entry, limit) or b""
    if looks_binary(data[:4096]):
        return "\n".join(m.group().decode("ascii") for m in _IDENTIFIER.finditer(data))
    return data.decode("utf-8", errors="replace")


def _resolve(fw: Firmware, word: str) -> FileEntry | None:
    if word.startswith("/"):
        return fw.get(word)
    for folder in ("/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/", "/usr/local/bin/", "/usr/local/sbin/", "/etc/"):
        entry = fw.get(folder + word)
        if entry is not None:
            return entry
    return None


def _client_named(command: str, clients: list[UpdateClient]) -> UpdateClient | None:
    for client in clients:
        if client.kind not in ("script", "binary", "cgi"):
            continue
        name = posixpath.basename(client.path)
        if client.path in command or re.search(rf"(?:^|[\s;|&`(/]){re.escape(name)}(?:$|[\s;|&`)])", command):
            return client
    return None


def _updater_in(fw: Firmware, command: str, clients: list[UpdateClient], depth: int = 1) -> tuple[str, UpdateClient | None, list[str]] | None:
    """(what updates, its client, texts read on the way) when COMMAND runs an updater, directly or through scripts."""
    client = _client_named(command, clients)
    if client is not None:
        return client.path, client, [_program_text(fw, fw.get(client.path))]
    m = _INSTALLING.search(command)
    if m:
        return m.group(0).strip(" ;|&`(/"), None, [command]
    if depth <= 0:
        return None
    for word in re.findall(r"(?:^|[\s;|&`(])((?:/[\w.+-]+)+|[\w.+-]+\.sh|[\w.+-]*(?:upd|upgr|ota|firmware|fw)[\w.+-]*)", command):
        entry = _resolve(fw, word)
        if entry is None or entry.size > 512 * 1024:
            continue
        text = stored_text(fw, entry) if entry.magic in ("script", "text") else None
        if not text:
            continue
        for line in text.splitlines():
            if line.strip().startswith("#"):
                continue
            found = _updater_in(fw, line, clients, depth - 1)
            if found is not None:
                updater, found_client, reads = found
                return updater, found_client, [text, *reads]
    return None


def _cron_lines(fw: Firmware) -> Iterator[tuple[FileEntry, int, str, str]]:
    """(crontab, line number, line, command) of every cron entry the image ships."""
    for entry in fw.files():
        lp = logical_path(entry.path)
        system = lp == "/etc/crontab" or lp.startswith("/etc/cron.d/")
        if not (system or lp.startswith(_CRON_FILES)) or is_reference_material(lp) or entry.name.endswith((".example", ".sample")):
            continue
        text = stored_text(fw, entry) or ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            m = _CRON_TIME.match(line)
            if not line or line.startswith("#") or not m:
                continue
            command = line[m.end():]
            if system:
                command = command.split(None, 1)[1] if len(command.split(None, 1)) == 2 else ""
            yield entry, number, line, command


def automatic_runs(fw: Firmware) -> list[AutomaticRun]:
    clients = list(update_clients(fw))
    runs: list[AutomaticRun] = []
    for entry, number, line, command in _cron_lines(fw):
        found = _updater_in(fw, command, clients)
        if found is not None:
            runs.append(AutomaticRun("cron", entry.path, number, line, found[0], found[1], found[2]))
    for entry in fw.files():
        if _CRON_SCRIPTS.match(logical_path(entry.path)) and entry.magic in ("script", "text"):
            text = stored_text(fw, entry) or ""
            for number, raw in enumerate(text.splitlines(), 1):
                if raw.strip().startswith("#"):
                    continue
                found = _updater_in(fw, raw, clients)
                if found is not None:
                    runs.append(AutomaticRun("cron", entry.path, number, raw.strip(), found[0], found[1], [text, *found[2]]))
                    break
    script_clients = {c.path: c for c in clients if c.kind == "script"}
    for cmd in boot_commands(fw):
        # a start switched off, or one the image does not show for sure, runs nothing by itself
        if not cmd.program or getattr(cmd, "enabled", True) is False or getattr(cmd, "confidence", "") == "possible":
            continue
        found = _updater_in(fw, cmd.program + " " + " ".join(cmd.args), clients)
        if found is None and cmd.path in script_clients and not any(r.path == cmd.path for r in runs):
            client = script_clients[cmd.path]  # the updater is itself a boot script
            found = (client.path, client, [_program_text(fw, fw.get(client.path))])
        if found is not None:
            runs.append(AutomaticRun("boot", cmd.path, cmd.line, cmd.text, found[0], found[1], found[2]))
    for client in clients:
        for step in client.automatic:
            if not any(r.path == step.path and r.line == step.line for r in runs):
                runs.append(AutomaticRun("daemon", step.path, step.line, step.text, client.path, client,
                                         [_program_text(fw, fw.get(client.path))]))
    return runs


def _installs(run: AutomaticRun) -> bool:
    client = run.client
    if client is None:
        return True  # an installing command (opkg upgrade, unattended-upgrade ...)
    return client.network and (bool(client.install) or client.kind in ("mender", "swupdate", "rauc", "opkg"))


def _gating(run: AutomaticRun, found: list[Switch]) -> list[Switch]:
    """The switches the run's scripts or updater read."""
    text = "\n".join(run.reads)
    return [s for s in found if any(re.search(rf"\b{re.escape(n)}\b", text) for n in s.names)]


def _unknown_switch(run: AutomaticRun, found: list[Switch]) -> str | None:
    """A switch name the updater reads that the image ships no value for (its default is then not known)."""
    known = {_normal(n) for s in found for n in s.names} | {_normal(s.key.split(".")[-1]) for s in found}
    names = {posixpath.basename(run.updater).lower(), posixpath.basename(run.path).lower()}
    for text in run.reads:
        for word in set(re.findall(r"[A-Za-z][\w-]{5,48}", text)):
            low = word.lower()
            if low in names or posixpath.splitext(low)[0] in {posixpath.splitext(n)[0] for n in names}:
                continue
            norm = _normal(word)
            if _SWITCH.match(norm) and norm not in known and not any(norm.startswith(k) or k.startswith(norm) for k in known):
                return word
    return None


class AutomaticUpdates(Check):
    ID = "updates.automatic-updates"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 120.0
    NEEDS_ROOTFS = True
    USES = (TEXT, UPDATE_CLIENTS, BOOT_COMMANDS)
    DOC = CheckDoc(
        title="Automatic updates are not on in the shipped configuration",
        why=(
            "Most users never update by hand: a device whose updates wait for someone to upload an image, or whose "
            "automatic updates ship switched off, keeps its known vulnerabilities."
        ),
        fix=(
            "Check for and install security updates automatically, switched on in the factory configuration, and "
            "let the user switch it off or postpone an update."
        ),
        limitations=(
            "Automatic runs are cron entries and boot commands that run an update client iotcop recognises "
            "(iotcop.checks.updates.clients), directly or through one script, or a known installing command "
            "(opkg upgrade, unattended-upgrade, apt upgrade, fwupdmgr update, sysupgrade of a URL, Mender, "
            "SWUpdate's suricatta). Switches are recognised by name (auto update / upgrade, unattended upgrade) "
            "with an on/off value, in UCI, key=value, nvram, JSON, XML and apt.conf files and in uci/nvram set lines "
            "of default scripts; a switch kept only in a vendor program or a flash partition is not read, and "
            "then its default is reported as unknown. Update notifications are not recognised. That an updater "
            "reads a switch is judged by its name appearing in the updater or the scripts that run it."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        found = switches(fw)
        runs = automatic_runs(fw)
        clients = list(update_clients(fw))
        active, gated_off = [], []
        for run in runs:
            gates = _gating(run, found)
            if any(not s.on for s in gates) and not any(s.on for s in gates):
                gated_off.append((run, [s for s in gates if not s.on]))
            elif _installs(run):
                active.append((run, gates))
        off = [s for s in found if not s.on]
        on = [s for s in found if s.on]
        if active:
            run, gates = active[0]
            ev = [run.evidence()] + [s.evidence() for s in gates[:2]]
            yield self.compliant("5.3-4", f"{run.updater} fetches and installs updates without the user: "
                                          f"{run.evidence().detail} ({run.path}" + (f":{run.line}" if run.line else "") + ")"
                                 + (f", switched on by {gates[0].key} = {gates[0].value} ({gates[0].path})" if gates else ""), *ev)
            # on in the initialised state only when no switch of unknown default governs it and none ships off
            if _unknown_switch(run, found) is None and not [s for s in off if s not in gates]:
                yield self.compliant("5.3-6", "automatic updates are on in the initialised state: the shipped "
                                              f"configuration runs {run.updater} ({run.how}, {run.path})"
                                     + (f" with {gates[0].key} = {gates[0].value}" if gates else " and no switch turns it off"), *ev)
            return
        updater = bool(clients) or _known_updater(fw)
        if on and not off and not gated_off and updater:
            s = on[0]
            yield self.compliant("5.3-6", f"automatic updates are on in the initialised state: {s.key} = {s.value} in "
                                          f"the shipped configuration ({s.path}" + (f":{s.line}" if s.line else "") + ")",
                                 s.evidence())
            return
        for run, gates in gated_off:
            s = gates[0]
            yield self.finding(s.path, title="Automatic updates are switched off in the shipped configuration", line=s.line,
                               excerpt=s.text, provisions=("5.3-6",),
                               detail=f"{run.updater} is run automatically ({run.how}: {run.path}"
                                      + (f":{run.line}" if run.line else "") + f") but reads {s.key}, which ships as "
                                      f"{s.value}: until the user switches it on, no update is installed by itself")
        stray = [s for s in off if updater or _names_firmware(s.key)]
        if not gated_off and stray and not on:
            s = stray[0]
            yield self.finding(s.path, title="Automatic updates are switched off in the shipped configuration", line=s.line,
                               excerpt=s.text, provisions=("5.3-6",), confidence="likely",
                               detail=f"the auto-update switch {s.key} ships as {s.value}"
                                      + (f" ({len(stray) - 1} more switch(es) off)" if len(stray) > 1 else ""))
        if not runs and not found and clients and all(not c.network and not c.automatic for c in clients):
            where = clients[0]
            names = ", ".join(f"{c.kind} ({c.path})" for c in clients[:4])
            yield self.finding(where.path, title="Updates are installed only by hand", provisions=("5.3-4",), confidence="likely",
                               detail=f"every update path found takes an image from the user ({names}); no network "
                                      "source, no cron entry or boot command that runs an updater, and no auto-update "
                                      "switch was found")


_KNOWN_UPDATERS = ("unattended-upgrade", "unattended-upgrades", "fwupdmgr", "mender", "mender-update", "swupdate",
                   "rauc-hawkbit-updater")


def _known_updater(fw: Firmware) -> bool:
    return any(e.kind == "file" for e in fw.by_name(*_KNOWN_UPDATERS))


_FIRMWARE_WORDS = frozenset({"fw", "firmware", "ota", "fota", "system", "sys", "software", "sw", "os", "unattended"})


def _names_firmware(key: str) -> bool:
    """A switch whose own name says it updates the device's software (not a block list or a database)."""
    words = {w.lower() for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", key) if w}
    return bool(words & _FIRMWARE_WORDS) or any(w in _normal(key) for w in ("firmware", "unattended", "upgrade"))
