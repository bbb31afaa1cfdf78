"""Automatic updates: is an updater run without the user, and is it switched on in the shipped configuration?

Two kinds of evidence, read from the image:

* automatic runs: a cron entry (crontabs, /etc/cron.d, /etc/cron.{hourly,daily,weekly}) or a boot command that
  runs an update client found by iotcop.checks.updates.clients (a script or program that downloads an image
  and writes it to flash, opkg/apt upgrades, a Mender or SWUpdate client polling its server), directly or
  through one script in between;
* auto-update switches in the shipped configuration, the initialised state (iotcop.checks.updates.switches).

A switch shipped off that an updater reads (or, when no run is seen, any such switch shipped off) is a
finding against 5.3-6; an updater run automatically from the shipped configuration, not gated by a switch
that is off, is positive evidence for 5.3-4 and, when no switch of unknown default governs it, for 5.3-6.
When the only update paths found take an image from the user (an upload handler, a local installer), with
no network source, no automatic run and no switch, that is a (likely) finding against 5.3-4.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, is_reference_material, logical_path, stored_text
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.checks.updates.clients import UPDATE_CLIENTS, UpdateClient, update_clients
from iotcop.checks.updates.switches import Switch, is_switch_name, names_firmware, normal, switches
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware, looks_binary
from iotcop.model import Evidence, Severity

MAX_PROGRAM = 16 * 1024 * 1024

_IDENTIFIER = re.compile(rb"[A-Za-z][A-Za-z0-9_:.-]{5,48}")

_CRON_FILES = ("/etc/crontabs/", "/etc/cron.d/", "/var/spool/cron/", "/etc/cron/crontabs/")
_CRON_SCRIPTS = re.compile(r"^/etc/cron\.(?:hourly|daily|weekly|monthly)/[^/]+$")
_CRON_TIME = re.compile(r"^\s*(?:@(?:reboot|yearly|annually|monthly|weekly|daily|midnight|hourly)|(?:\S+\s+){5})")
# Commands that fetch and install updates by themselves.
_INSTALLING = re.compile(
    r"(?:^|[\s;|&/`(])(?:opkg\s+(?:-\S+\s+)*upgrade|unattended-upgrades?\b|apt(?:-get)?\s+(?:-\S+\s+)*(?:upgrade|dist-upgrade)"
    r"|fwupdmgr\s+(?:-\S+\s+)*update|sysupgrade\s+(?:-\S+\s+)*(?:https?|ftp)://|mender\s+(?:-\S+\s+)*(?:daemon|-daemon)"
    r"|rauc-hawkbit-updater\b|swupdate\s+[^\n]*(?:-u\b|--suricatta))")


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
    known = {normal(n) for s in found for n in s.names} | {normal(s.key.split(".")[-1]) for s in found}
    names = {posixpath.basename(run.updater).lower(), posixpath.basename(run.path).lower()}
    for text in run.reads:
        for word in set(re.findall(r"[A-Za-z][\w-]{5,48}", text)):
            low = word.lower()
            if low in names or posixpath.splitext(low)[0] in {posixpath.splitext(n)[0] for n in names}:
                continue
            norm = normal(word)
            if is_switch_name(word) and norm not in known and not any(norm.startswith(k) or k.startswith(norm) for k in known):
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
        stray = [s for s in off if updater or names_firmware(s.key)]
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
