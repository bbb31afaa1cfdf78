"""Factory reset: a mechanism that erases the user's data and settings.

Only positive evidence is reported.  A firmware image that shows no reset
mechanism proves nothing (the reset may live in a vendor binary or the boot
loader), so absence yields nothing and the provision stays INCONCLUSIVE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

MAX_BYTES = 256 * 1024
_USER_DATA = r"(?:rootfs_data|overlay|userdata|user_data|data|config|cfg|nvram|jffs2|settings|persist|app_data)"
# (pattern, what it erases)
ERASERS = (
    (re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?jffs2reset\b"), "the overlay (rootfs_data) holding every setting and file the user changed"),
    (re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?firstboot\s+(?:-\S+\s+)*-y\b|(?:^|[\s;|&`(])(?:\S*/)?firstboot\s*(?:&&|;|$)"), "the overlay (rootfs_data) via OpenWrt firstboot"),
    (re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?mtd\s+(?:-\S+\s+)*erase\s+" + _USER_DATA + r"\b", re.I), "the named user-data flash partition"),
    (re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?nvram\s+(?:erase|reset|clear|restore_default|default)\b"), "the NVRAM settings store"),
    (re.compile(r"(?:^|[\s;|&`(])rm\s+-\w*r\w*\s+(?:-\S+\s+)*['\"]?/(?:overlay|data|userdata|mnt/data|config|etc/config|jffs|persist)(?:/\S*)?['\"]?(?:\s|$|;)"), "the user data folder"),
    (re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?(?:mkfs\.\w+|ubiformat|flash_erase)\s+[^\n]*" + _USER_DATA, re.I), "the user-data partition (reformatted)"),
)
_TRIGGER_PATHS = re.compile(r"^/etc/rc\.button/|^/etc/hotplug\.d/button/|^/lib/functions/|/cgi-bin/|^/www/|^/usr/lib/lua/|^/usr/share/rpcd/|^/usr/libexec/rpcd/|^/etc/triggerhappy|^/etc/acpi/|^/etc/gpio")


@dataclass(frozen=True)
class ResetStep:
    path: str
    line: int
    text: str
    erases: str
    triggered_by: str  # "reset button", "web interface", "system command"


def _trigger(path: str) -> str:
    if path.startswith(("/etc/rc.button/", "/etc/hotplug.d/button/", "/etc/triggerhappy", "/etc/gpio")):
        return "reset button"
    if "/cgi-bin/" in path or path.startswith(("/www/", "/usr/lib/lua/", "/usr/share/rpcd/", "/usr/libexec/rpcd/")):
        return "web interface"
    return "system command"


def _reset_steps(fw: Firmware) -> tuple[ResetStep, ...]:
    out = []
    for entry in fw.files():
        if entry.magic not in ("script", "text") or entry.size > MAX_BYTES or not entry.path.startswith("/"):
            continue
        if not (_TRIGGER_PATHS.search(entry.path) or entry.path.startswith(("/sbin/", "/usr/sbin/", "/bin/", "/usr/bin/", "/etc/init.d/", "/lib/"))):
            continue
        data = fw.read_bytes(entry, MAX_BYTES) or b""
        if not any(w in data for w in (b"jffs2reset", b"firstboot", b"erase", b"nvram", b"rm ", b"mkfs", b"ubiformat")):
            continue
        for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "--")):
                continue
            for rx, erases in ERASERS:
                if rx.search(stripped):
                    out.append(ResetStep(entry.path, number, stripped, erases, _trigger(entry.path)))
                    break
    return tuple(out)


RESET_STEPS = DerivedFact("deletion.reset-steps", _reset_steps)


def reset_steps(fw: Firmware) -> tuple[ResetStep, ...]:
    return RESET_STEPS.of(fw)


class FactoryReset(Check):
    ID = "deletion.factory-reset"
    VERSION = "1.0.0"
    SEVERITY = Severity.info
    TIMEOUT = 60.0
    USES = (RESET_STEPS,)
    DOC = CheckDoc(
        title="Factory reset that erases user data",
        why="Users who sell, return or dispose of a device need a simple way to erase their settings, credentials and personal data from it.",
        fix="Provide a factory reset (button and web interface) that erases the partition holding user data and settings.",
        limitations=(
            "Positive evidence only: a reset handler reachable by the user (a button handler or a web-interface "
            "handler) whose command erases a user-data partition or folder.  A reset implemented in a vendor binary or "
            "the boot loader is not seen, and then nothing is reported.  Whether the erase also covers data kept "
            "by cloud services is out of scope."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        steps = reset_steps(fw)
        # A command only reachable from a shell is not something users can run easily: a button or the web UI is needed.
        chosen = [s for s in steps if s.triggered_by in ("reset button", "web interface")]
        if not chosen:
            return
        how = sorted({s.triggered_by for s in chosen})
        erases = sorted({s.erases for s in chosen})
        evidence = [Evidence(path=s.path, line=s.line, excerpt=s.text[:200], detail=f"{s.triggered_by}: erases {s.erases}") for s in chosen[:4]]
        yield self.compliant(
            "5.11-1", f"A factory reset ({', '.join(how)}) erases {'; '.join(erases)}.", *evidence,
        )
