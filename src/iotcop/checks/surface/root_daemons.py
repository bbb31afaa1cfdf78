"""Network daemons that keep root privileges."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.daemons import NEEDS_ROOT, STARTED_DAEMONS, started_daemons
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity


class RootDaemons(Check):
    ID = "surface.root-daemons"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (STARTED_DAEMONS,)
    DOC = CheckDoc(
        title="Network daemon runs as root",
        why=(
            "A network-facing daemon is the first thing an attacker reaches; when it runs as root, any "
            "memory-safety bug or injection in it is a full compromise instead of a contained one."
        ),
        fix="Run the daemon under its own unprivileged account (systemd User=, procd 'user', chpst -u, or the daemon's own user setting).",
        references=("CWE-250",),
        limitations=(
            "Reported only when the image shows root: a user switch by the init system or a wrapper, or a "
            "privilege drop the daemon performs itself (lighttpd server.username, dnsmasq and mosquitto "
            "defaults) counts as dropping root.  Daemons that need root to log users in (sshd, dropbear, "
            "telnetd) and services started by vendor binaries are not judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        root = [d for d in started_daemons(fw) if d.user == "root" and d.command.program not in NEEDS_ROOT]
        if not root:
            return
        first = root[0].command
        described = [f"{d.command.program} ({d.command.path}:{d.command.line}; {d.user_source})" for d in root]
        yield self.finding(
            first.path, title=f"Network daemons run as root ({', '.join(sorted({d.command.program for d in root}))})",
            line=first.line, excerpt=first.text, detail=listing(described),
        )
