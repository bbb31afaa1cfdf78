"""Network daemons that keep root privileges."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.daemons import NEEDS_ROOT, STARTED_DAEMONS, started_daemons
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity


class RootDaemons(Check):
    ID = "surface.root-daemons"
    VERSION = "2.0.0"
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
            "Reads the boot model: a user switch by the init system, inetd or a wrapper, or a privilege drop "
            "the daemon performs itself (lighttpd server.username, dnsmasq and mosquitto defaults) counts as "
            "dropping root.  Daemons that need root to log users in (sshd, dropbear, telnetd) are not judged.  "
            "Daemons whose start is only a command line inside a vendor program are listed in a separate "
            "finding of confidence 'possible'.  Positive evidence for 5.6-7 only when every network daemon the "
            "model starts is shown to run without root."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        judged = [d for d in started_daemons(fw) if d.command.program not in NEEDS_ROOT]
        root = [d for d in judged if d.user == "root"]
        if not root:
            dropped = [d for d in judged if d.user not in (None, "", "root")]
            if dropped and len(dropped) == len(judged):
                # positive evidence: every network daemon the boot model starts is shown to run without root
                described = ", ".join(f"{d.command.program} as {d.user} ({d.user_source})" for d in dropped)
                yield self.compliant("5.6-7", f"every network daemon started at boot runs without root: {described}",
                                     *[Evidence(path=d.command.path, line=d.command.line, excerpt=d.command.text)
                                       for d in dropped[:5]])
            return
        for sure in (True, False):
            group = [d for d in root if (d.command.confidence != "possible") == sure]
            if not group:
                continue
            first = group[0].command
            described = [f"{d.command.program} ({d.command.site}; {d.user_source})" for d in group]
            confidence = "confirmed" if any(d.command.confidence == "confirmed" for d in group) else \
                ("likely" if sure else "possible")
            yield self.finding(
                first.path, title=f"Network daemons run as root ({', '.join(sorted({d.command.program for d in group}))})"
                + ("" if sure else ", if the programs that hold their command lines start them"),
                line=first.line, excerpt=first.text, detail=listing(described), confidence=confidence,
            )
