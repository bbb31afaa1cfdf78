"""Inventory of the network services the firmware starts at boot, for review against 5.6-1."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.declared.services import declared_service
from iotcop.checks.services.daemons import STARTED_DAEMONS, started_daemons
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity


class StartedServices(Check):
    ID = "surface.started-services"
    VERSION = "2.0.0"
    SEVERITY = Severity.info
    TIMEOUT = 60.0
    USES = (STARTED_DAEMONS,)
    DOC = CheckDoc(
        title="Network services started at boot",
        why=(
            "Every listening service is attack surface; 5.6-1 asks that interfaces the product does not use are "
            "switched off, which only the manufacturer can confirm service by service."
        ),
        fix="Confirm each listed service is needed for the intended use; remove or disable the others.",
        limitations=(
            "An inventory for review, not a weakness: the finding is 'possible', so it leaves 5.6-1 "
            "INCONCLUSIVE instead of failing it.  Services are recognised by program name among the starts of "
            "the boot model; one whose command line is only a string inside a vendor program is marked so.  With a declaration, "
            "the services it lists are accounted for (the manufacturer states their purpose) and are left out; "
            "declared.undeclared-service fails 5.6-1 for the others."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        daemons = [d for d in started_daemons(fw) if not _declared(d, ctx.declaration)]
        if not daemons:
            return
        first = daemons[0].command
        items = [
            f"{d.command.program} [{d.kind}] ({d.command.site}, {d.command.mechanism}, runs as {d.user or 'unknown'}"
            + (", command line inside that program" if d.command.mechanism == "binary-strings" else
               ", behind a switch" if d.command.confidence != "confirmed" else "") + ")"
            for d in daemons
        ]
        yield self.finding(
            first.path, title=f"Network services started at boot ({len(daemons)}): review that each is needed", line=first.line,
            excerpt=first.text, detail=listing(items, limit=40), confidence="possible",
        )


def _declared(daemon, decl) -> bool:
    """Whether the declaration's network services list this daemon (by program, service name or port)."""
    if decl is None or not decl.network_services:
        return False
    if declared_service(daemon.command, decl):
        return True
    names = {s.name.strip().lower() for s in decl.network_services}
    return bool({(daemon.command.program or "").lower(), daemon.kind} & names)
