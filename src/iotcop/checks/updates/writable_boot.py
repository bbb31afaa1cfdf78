"""Code that the boot chain runs from writable or removable storage (a data partition, a USB stick, an SD card)."""

from __future__ import annotations

from typing import Iterator

from iotcop.boot import BOOT_MODEL, MissingProgram, ScriptRun, StartedProgram
from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import cite, describe_chain, describe_conditions, finding_confidence
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity


class WritableBootCode(Check):
    ID = "updates.writable-boot-code"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    USES = (BOOT_MODEL,)
    DOC = CheckDoc(
        title="Boot runs code from writable or removable storage",
        why=(
            "A device that runs at boot whatever lies on a writable partition, a USB stick or an SD card has no "
            "software integrity: anyone who can write there once (through a flaw, a shell or physical access) "
            "runs code at every boot, and signed firmware updates no longer say what the device runs."
        ),
        fix=(
            "Run only code from the read-only, verified image at boot; keep writable partitions for data, mount "
            "them noexec, and never execute scripts found on them or on removable media."
        ),
        references=("CWE-494", "CWE-829"),
        limitations=(
            "Reads the boot model: a path counts as writable when the boot chain mounts a persistent writable "
            "filesystem there (jffs2, ubifs, ext*, vfat ... from a flash or disk partition) or it is a "
            "conventional mount point of removable media (/media, /mnt/usb*, /mnt/sd*).  Programs an image "
            "starts from RAM disks it fills itself are not reported.  A start found only as a string inside a "
            "program is reported as possible."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        model = BOOT_MODEL.of(fw)
        reported: set[tuple[str, int | None, str]] = set()
        for item in model.writable_starts():
            what, runs = _what(item)
            path, line, text = cite(item.chain, lambda p: fw.get(p) is not None, what)
            if (path, line, runs) in reported:
                continue
            reported.add((path, line, runs))
            removable = model.removable(item.storage)
            where = f"removable media mounted at {item.storage}" if removable else f"writable storage at {item.storage}"
            detail = f"the boot chain runs {what} from {where}: {runs}; {describe_chain(item.chain)}"
            conditions = describe_conditions(item.conditions)
            yield self.finding(
                path, line=line, excerpt=text,
                title=f"Boot runs {what} from {'removable media' if removable else 'writable storage'}",
                detail=detail + (f"; {conditions}" if conditions else ""),
                provisions=("5.7-1", "5.6-4") if removable else ("5.7-1",),
                confidence=finding_confidence(item),
            )


def _what(item: StartedProgram | MissingProgram | ScriptRun) -> tuple[str, str]:
    """(the program or script, in words; what that means)."""
    if isinstance(item, StartedProgram):
        return f"the program {item.path}", "it ships there now and can be replaced there"
    if isinstance(item, ScriptRun):
        return f"the script {item.path}", "it ships there now and can be replaced there"
    target = item.path or item.command
    return f"{target}", "the image does not hold it, so whatever is put there runs"
