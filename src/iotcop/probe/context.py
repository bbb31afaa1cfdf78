"""What every service probe gets (the address, the budget, the credentials to try) and returns."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from iotcop.model import ServiceObservation
from iotcop.probe.safety import Budget

DATA = Path(__file__).parent / "data"


@cache
def default_credentials() -> tuple[tuple[str, str], ...]:
    pairs = []
    for line in (DATA / "credentials.txt").read_text().splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, password = line.split(":", 1)
        pairs.append((user, password))
    return tuple(pairs)


@dataclass
class ProbeContext:
    address: str
    budget: Budget
    credentials: tuple[tuple[str, str], ...] = field(default_factory=default_credentials)
    connect_timeout: float = 3.0
    read_timeout: float = 5.0


@dataclass
class Issue:
    """One observation that a probe check turns into a finding (or, with compliant=True, positive evidence)."""

    check: str  # probe check id, e.g. "probe.default-credentials"
    endpoint: str  # "tcp/23"
    detail: str
    title: str | None = None
    excerpt: str | None = None
    provisions: tuple[str, ...] | None = None  # a subset of the check's, when not all apply
    compliant: bool = False


@dataclass
class LoginTrial:
    """Outcome of one login try, for default-credential and brute-force observations."""

    username: str
    password: str
    ok: bool
    seconds: float
    locked: bool = False  # after earlier failures the service refused this try (a lockout)
    checked: bool = True  # False: refused before any password was checked (not a guessing sample)


@dataclass
class ServiceResult:
    observation: ServiceObservation
    issues: list[Issue] = field(default_factory=list)
    trials: list[LoginTrial] = field(default_factory=list)
    checks_ran: set[str] = field(default_factory=set)  # probe checks that examined this service
    checks_cut: dict[str, str] = field(default_factory=dict)  # probe check -> why it could not finish


BRUTE_FORCE_MIN_FAILURES = 4
DELAY_SECONDS = 0.2  # a failed login answered this much slower than a cheap request counts as a delay


def brute_force_issue(endpoint: str, trials: list[LoginTrial], baseline: float) -> Issue | None:
    """Delay or lockout after repeated failures, judged from the default-credential tries themselves."""
    failures = [t for t in trials if not t.ok and t.checked]
    if any(t.ok for t in trials):
        return None  # a successful default login is the finding
    locked = [i for i, t in enumerate(failures) if t.locked]
    if locked and locked[0] > 0:
        return Issue("probe.bruteforce-protection", endpoint, compliant=True,
                     detail=f"the service refused further logins after {locked[0]} failures")
    failures = [t for t in failures if not t.locked]
    if len(failures) < BRUTE_FORCE_MIN_FAILURES:
        return None  # too few failures say nothing
    typical = statistics.median(t.seconds for t in failures)
    if typical - baseline >= DELAY_SECONDS:
        return Issue("probe.bruteforce-protection", endpoint, compliant=True,
                     detail=f"each failed login was delayed ({typical:.2f} s against {baseline:.3f} s for a "
                            "plain request)")
    return Issue("probe.bruteforce-protection", endpoint,
                 detail=f"{len(failures)} failed logins in a row were each answered in {typical * 1000:.0f} ms "
                        f"(a plain request: {baseline * 1000:.0f} ms), with no delay and no lockout")
