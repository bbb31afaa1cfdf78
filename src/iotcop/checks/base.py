"""The check contract.

A check is one small class with declarative attributes and a `run()` that
yields what it saw:

* `Finding`    - counter-evidence against a provision (becomes FAIL);
* `Compliance` - positive evidence that a provision is met (may become PASS);
* `ConditionFact` - the truth of an Annex B condition (may make a provision N/A).

Silence is never compliance: a check that finds nothing and yields no
`Compliance` leaves its provisions INCONCLUSIVE, not PASS.

What a check needs besides the firmware is declared on its class (`USES`, `REQUIRES_DECLARATION`,
`environment()`) and handed to `run()` in the scan context; the scan orchestrates from these
declarations and never names a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Iterator

from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Compliance, ConditionFact, Evidence, Finding, Severity
from iotcop.standards.mapping import provisions_of

CheckOutput = Finding | Compliance | ConditionFact


@dataclass(frozen=True)
class CheckDoc:
    title: str
    why: str  # why the issue matters, in one or two sentences
    fix: str  # what the manufacturer should do
    references: tuple[str, ...] = ()
    limitations: str = ""


class MappedProvisions:
    """A check's PROVISIONS: its row in standards/data/mapping/, the one place that says what it informs."""

    def __get__(self, obj: object, owner: type) -> tuple[str, ...]:
        return provisions_of(owner.ID)


class Check:
    ID: ClassVar[str]  # "credentials.default-password"
    VERSION: ClassVar[str] = "1.0.0"  # bump when results for the same input change
    PROVISIONS = MappedProvisions()  # EN 303 645 provisions this check informs (read from the mapping data)
    SEVERITY: ClassVar[Severity] = Severity.medium  # default for its findings
    TIMEOUT: ClassVar[float] = 120.0  # seconds; past it the check is stopped
    NEEDS_ROOTFS: ClassVar[bool] = True  # False: meaningful on loose extracted files too
    REQUIRES_DECLARATION: ClassVar[bool] = False  # True: compares the firmware with the declaration; not run without one
    USES: ClassVar[tuple[DerivedFact, ...]] = ()  # derived facts it reads, computed once per scan when shared
    DOC: ClassVar[CheckDoc]

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        raise NotImplementedError

    @classmethod
    def environment(cls) -> str:
        """Anything outside the firmware and the scan context that its result depends on (a database's version)."""
        return ""

    # -- helpers for run() ----------------------------------------------
    def finding(
        self,
        where: FileEntry | str | None,
        *,
        title: str | None = None,
        line: int | None = None,
        offset: int | None = None,
        excerpt: str | None = None,
        detail: str | None = None,
        severity: Severity | str | None = None,
        provisions: tuple[str, ...] | list[str] | None = None,
        why: str | None = None,
        fix: str | None = None,
        confidence: str = "confirmed",
    ) -> Finding:
        path = where.path if isinstance(where, FileEntry) else where
        if excerpt is not None and len(excerpt) > 200:
            excerpt = excerpt[:197] + "..."
        return Finding(
            check=self.ID,
            severity=Severity(severity) if severity else self.SEVERITY,
            provisions=list(provisions or self.PROVISIONS),
            title=title or self.DOC.title,
            evidence=Evidence(path=path, line=line, offset=offset, excerpt=excerpt, detail=detail),
            why=why if why is not None else self.DOC.why,
            fix=fix if fix is not None else self.DOC.fix,
            confidence=confidence,
        ).with_id()

    def compliant(self, provision: str, statement: str, *evidence: Evidence) -> Compliance:
        if provision not in self.PROVISIONS:
            raise ValueError(f"{self.ID} claims compliance for {provision}, which it does not declare")
        return Compliance(check=self.ID, provision=provision, statement=statement, evidence=list(evidence))

    def condition(self, number: int, holds: bool, evidence: Evidence | None = None) -> ConditionFact:
        return ConditionFact(condition=number, holds=holds, source=self.ID, evidence=evidence)


class ContentCheck(Check, ContentScanner):
    """A check that searches file contents.

    The scan does not let it read files: during the inventory each file is read once and its
    bytes go to `scan_content()` of every content check whose `content_limit()` asks for it
    (iotcop.firmware.content).  `run()` turns the per-file results from `self.results(fw)`
    into findings.  Results are cached per file content, so keep `scan_content` a function of
    the bytes alone (path rules go in `content_limit` or `run`).
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "ID" in cls.__dict__:
            cls.CONTENT_NAME = "check:" + cls.ID
            cls.CONTENT_BUDGET = cls.TIMEOUT

    def results(self, fw: Firmware, ctx: ScanContext) -> list[tuple[FileEntry, object]]:
        return fw.content_results(self, ctx)
