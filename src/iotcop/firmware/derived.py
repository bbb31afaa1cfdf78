"""Facts derived from the whole image that several checks read (accounts, components, text files ...).

A check names the derived facts it reads in `USES`; the scan puts each one's content scanners into
the inventory's content pass and computes the fact once, before the checks fork, when more than one
check reads it.  A check run on its own computes what it reads itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from iotcop.firmware.content import ContentScanner
from iotcop.firmware.model import Firmware


@dataclass(frozen=True)
class DerivedFact:
    name: str  # the memo key on the Firmware
    compute: Callable[[Firmware], Any] | None = None  # None: nothing to compute, only content to collect
    scanners: tuple[Callable[[], ContentScanner], ...] = ()  # content scanners it reads results from
    uses: tuple[DerivedFact, ...] = ()  # other derived facts its computation reads

    def closure(self) -> list[DerivedFact]:
        """This fact and every fact it reads, dependencies first."""
        out: list[DerivedFact] = []
        for used in self.uses:
            out.extend(f for f in used.closure() if f not in out)
        return out + [self]

    def of(self, fw: Firmware) -> Any:
        if self.compute is None:
            raise TypeError(f"{self.name} is collected by the content pass, not computed")
        return fw.cached(self.name, self.compute)
