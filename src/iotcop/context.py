"""The scan context: what a scan hands every check besides the firmware.

Chosen once per scan and passed explicitly to `Check.run`, to the content scanners and to the check
runner: the scan profile (which checks run, their options and time budgets), the manufacturer's
declaration when one was given, and the analysis cache when results may be reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from iotcop.profiles import Profile, get_profile

if TYPE_CHECKING:
    from iotcop.declaration.schema import Declaration
    from iotcop.triage.vex import VexStatement


class ResultCache(Protocol):
    """What the scan asks of an analysis cache (iotcop.cache.store.AnalysisCache is one)."""

    def lookup(self, cls: type, context: ScanContext, replayer: Any) -> Any: ...
    def worth_tracing(self, cls: type, context: ScanContext) -> bool: ...
    def store(self, cls: type, context: ScanContext, answers: dict, run: Any) -> bool: ...
    def get_many(self, sha256: str, keys: list[tuple[str, str]]) -> dict: ...
    def put_many(self, rows: list[tuple[str, str, str, Any]]) -> None: ...


@dataclass(frozen=True)
class ScanContext:
    profile: Profile
    declaration: Declaration | None = None
    cache: ResultCache | None = None  # read by the check runner and the content pass only
    vex: tuple[VexStatement, ...] = ()  # the user's VEX statements (scan --vex), settling known vulnerabilities

    @classmethod
    def default(cls) -> ScanContext:
        """The default profile, no declaration, no cache: a check run on its own (tests, tools)."""
        return cls(profile=get_profile(None))

    def option(self, check_id: str, key: str, default: Any) -> Any:
        """The profile's option for a check, or `default` (the check's own standard value)."""
        return self.profile.option(check_id, key, default)

    def fingerprint(self, check_id: str) -> str:
        """Everything in this context a check's result can depend on: its profile options and the declaration."""
        declaration = self.declaration.model_dump_json() if self.declaration is not None else None
        parts = [self.profile.name, self.profile.options.get(check_id, {}), declaration]
        if self.vex:  # kept out when absent, so cached results from before VEX input stay valid
            parts.append(sorted(repr(s) for s in self.vex))
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
