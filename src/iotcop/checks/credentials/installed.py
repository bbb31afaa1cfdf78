"""Which account files a device uses: the live ones, and the copies the boot chain puts in their place.

Read from the boot model (`iotcop.boot`): a boot-time write whose destination is an account file (`passwd`,
`shadow`, `smbpasswd` ...), the target of the image's `/etc/passwd` link (`/var/passwd`), or a folder a
wildcard copy fills with account files (`cp /app/passwd/* /etc/`) installs its source.  An account file that
is neither live nor installed at boot (a sample, a template, a backup) still ships its credential, but the
device does not use it as it boots: its findings are `likely` rather than `confirmed`.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from iotcop.boot import BOOT_MODEL
from iotcop.firmware.model import Firmware

ACCOUNT_NAMES = frozenset({"passwd", "shadow", "master.passwd", "smbpasswd", "group", "gshadow"})
_LIVE = ("/etc/passwd", "/etc/shadow", "/etc/master.passwd", "/etc/samba/smbpasswd")


@dataclass(frozen=True, slots=True)
class Installed:
    destination: str
    step: str  # file:line of the write (or the program whose strings hold it)
    confidence: str  # the boot model's: confirmed, conditional, possible
    condition: str | None = None

    def describe(self) -> str:
        when = f" when {self.condition}" if self.condition else ""
        return f"{self.step} installs it as {self.destination} at boot{when}"


@dataclass(frozen=True)
class AccountFileUse:
    live: frozenset[str]  # account files the device reads as they are in the image
    installed: dict[str, Installed]  # image file -> the boot-time copy that puts it in place
    known: bool  # the boot model followed a boot chain (so "not installed" means something)

    def confidence(self, path: str) -> str:
        """confirmed for live or installed files (or when the boot chain is unknown), likely otherwise."""
        if not self.known or path in self.live or path in self.installed:
            return "confirmed"
        return "likely"

    def note(self, path: str) -> str:
        if path in self.live:
            return ""
        if path in self.installed:
            return "; " + self.installed[path].describe()
        if self.known:
            return "; no script on the boot path installs this file, so it is a shipped copy the device does not read as it boots"
        return ""


def account_file_use(fw: Firmware) -> AccountFileUse:
    model = BOOT_MODEL.of(fw)
    live = {entry.path for entry in (fw.get(p) for p in _LIVE) if entry is not None}
    link_targets = set()
    for name in _LIVE:
        entry = next((e for e in fw.entries if e.path == name and e.kind == "symlink"), None)
        if entry is not None and entry.link_target:
            link_targets.add(posixpath.normpath(posixpath.join(posixpath.dirname(name), entry.link_target)))
    installed: dict[str, Installed] = {}
    for write in model.writes:
        if write.op not in ("copy", "copy-tree", "move", "link") or not write.source:
            continue
        for source, destination in _pairs(fw, write.source, write.path, write.op):
            if posixpath.basename(destination) in ACCOUNT_NAMES or destination in link_targets:
                condition = "; ".join(c.describe() for c in write.conditions)[:200] or None
                installed.setdefault(source, Installed(destination, str(write.chain[-1]) if write.chain else "?",
                                                       write.confidence, condition))
    known = bool(model.inittab or model.scripts) and not model.truncated
    return AccountFileUse(frozenset(live), installed, known)


def _pairs(fw: Firmware, source: str, destination: str, op: str) -> list[tuple[str, str]]:
    """(image file, destination) pairs of one write: a wildcard or folder copy gives one pair per file."""
    if "*" in source or op == "copy-tree" or destination.endswith("/"):
        folder = posixpath.dirname(source) if "*" in source else source.rstrip("/")
        target = destination.removesuffix("/*").rstrip("/")
        out = []
        for entry in fw.files():
            if posixpath.dirname(entry.path) == folder:
                out.append((entry.path, posixpath.join(target, entry.name)))
        return out
    return [(source, destination)]
