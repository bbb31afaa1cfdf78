"""What a probe may touch and how hard: one address, capped attempts, a total time budget, pacing.

Every network action of a probe goes through a `Budget`, which refuses it once the time or the
per-service cap is spent and records it in the `attempts` list of the report.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from dataclasses import dataclass, field

from iotcop.errors import InputError
from iotcop.model import ProbeAttempt

DEFAULT_BUDGET = 60.0
MAX_ATTEMPTS_PER_SERVICE = 12  # login tries per service (default credentials + brute-force sample)
MAX_ATTEMPTS_TOTAL = 200
PACE_SECONDS = 0.05  # pause between two login tries on one service


def resolve_target(host: str, allow_range: bool = False, max_range: int = 256) -> list[str]:
    """The addresses a probe of HOST may contact: exactly one, unless a range is explicitly allowed."""
    text = host.strip()
    if not text:
        raise InputError("no host given")
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InputError(f"{host}: not an address or network") from None
        if net.num_addresses > 1 and not allow_range:
            raise InputError(f"{host} is a network of {net.num_addresses} addresses; "
                             "probe one address, or pass --allow-range")
        if net.num_addresses > max_range:
            raise InputError(f"{host}: more than {max_range} addresses")
        if net.is_multicast:
            raise InputError(f"{host}: multicast addresses are never probed")
        hosts = list(net.hosts()) if net.num_addresses > 2 else list(net)
        allowed = [str(a) for a in hosts if _allowed(a, allow_range)]
        if not allowed:
            raise InputError(f"{host}: no address in it may be probed")
        return allowed
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        try:
            infos = socket.getaddrinfo(text, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise InputError(f"{host}: cannot resolve ({exc.strerror})") from None
        addrs = sorted({ipaddress.ip_address(i[4][0]) for i in infos}, key=lambda a: (a.version, a))
        if len(addrs) > 1 and not allow_range:
            # A name with several addresses: only the first, so one device is probed.
            addrs = addrs[:1]
        addr = addrs[0]
    _check_single(addr, host, allow_range)
    return [str(addr)]


def _allowed(addr: ipaddress._BaseAddress, allow_range: bool) -> bool:
    try:
        _check_single(addr, str(addr), allow_range)
    except InputError:
        return False
    return True


def _check_single(addr, host: str, allow_range: bool) -> None:
    if addr.is_multicast:
        raise InputError(f"{host}: multicast addresses are never probed")
    if addr.is_unspecified:
        raise InputError(f"{host}: the unspecified address is not a device")
    if addr.version == 4 and (addr == ipaddress.IPv4Address("255.255.255.255") or _looks_broadcast(addr)):
        if not allow_range:
            raise InputError(f"{host} looks like a broadcast address; pass --allow-range if it really is one device")


def _looks_broadcast(addr: ipaddress.IPv4Address) -> bool:
    # x.x.x.255 is the broadcast address of every /24 and wider network.
    return int(addr) & 0xFF == 0xFF and not addr.is_loopback


class BudgetExceeded(Exception):
    """The time budget or an attempt cap is spent; the probe stops this line of work."""


@dataclass
class Budget:
    seconds: float = DEFAULT_BUDGET
    per_service: int = MAX_ATTEMPTS_PER_SERVICE
    total: int = MAX_ATTEMPTS_TOTAL
    pace: float = PACE_SECONDS
    start: float = field(default_factory=time.monotonic)
    attempts: list[ProbeAttempt] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _counts: dict[str, int] = field(default_factory=dict, repr=False)
    _last: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def deadline(self) -> float:
        return self.start + self.seconds

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def timeout(self, wanted: float) -> float:
        """A socket timeout no longer than what is left of the budget."""
        left = self.remaining()
        if left <= 0.05:
            raise BudgetExceeded("time budget spent")
        return min(wanted, left)

    def login_slot(self, service: str) -> None:
        """Wait for the pacing interval and take one login try of SERVICE, or raise BudgetExceeded."""
        with self._lock:
            used = self._counts.get(service, 0)
            if used >= self.per_service:
                raise BudgetExceeded(f"{service}: {self.per_service} login attempts used")
            if sum(self._counts.values()) >= self.total:
                raise BudgetExceeded(f"{self.total} login attempts used in total")
            self._counts[service] = used + 1
            wait = self._last.get(service, 0.0) + self.pace - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, self.pace))
        self.timeout(1.0)
        with self._lock:
            self._last[service] = time.monotonic()

    def log(self, service: str, action: str, result: str, *, username: str | None = None,
            password: str | None = None, detail: str = "", seconds: float = 0.0) -> ProbeAttempt:
        attempt = ProbeAttempt(service=service, action=action, result=result, username=username,
                               password=password, detail=detail, at=round(self.elapsed(), 3),
                               seconds=round(seconds, 4))
        with self._lock:
            self.attempts.append(attempt)
        return attempt

