"""TCP connect scan with a concurrency limit, bounded by the probe budget."""

from __future__ import annotations

import asyncio
import errno
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from iotcop.errors import InputError
from iotcop.probe.safety import Budget

PORTS_FILE = Path(__file__).parent / "data" / "ports.yaml"
DEFAULT_CONCURRENCY = 200


@cache
def common_ports() -> dict[str, dict[int, str]]:
    data = yaml.safe_load(PORTS_FILE.read_text())
    return {proto: {int(p): str(name) for p, name in (data.get(proto) or {}).items()} for proto in ("tcp", "udp")}


def parse_ports(spec: str) -> list[int]:
    """`common`, `all`, or a list like `22,80,8000-8010`."""
    spec = spec.strip().lower()
    if spec == "common":
        return sorted(common_ports()["tcp"])
    if spec == "all":
        return list(range(1, 65536))
    ports: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
            else:
                lo = hi = int(part)
        except ValueError:
            raise InputError(f"--ports: {part!r} is not a port or range") from None
        if not 1 <= lo <= hi <= 65535:
            raise InputError(f"--ports: {part!r} is outside 1-65535")
        ports.update(range(lo, hi + 1))
    if not ports:
        raise InputError("--ports: no port given")
    return sorted(ports)


@dataclass
class ScanOutcome:
    open: list[int]
    refused: int  # ports that answered with a reset: the host is reachable
    silent: int  # ports that timed out or were unreachable
    complete: bool  # False when the budget stopped the scan


async def _connect(address: str, port: int, timeout: float) -> str:
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except asyncio.TimeoutError:
        return "silent"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return "refused" if exc.errno == errno.ECONNREFUSED else "silent"
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (asyncio.TimeoutError, OSError):
        pass
    return "open"


async def tcp_scan(address: str, ports: list[int], budget: Budget, *, timeout: float = 1.5,
                   concurrency: int = DEFAULT_CONCURRENCY, share: float = 0.5) -> ScanOutcome:
    """Connect to each port once; at most `share` of the remaining budget is spent here."""
    stop_at = time.monotonic() + budget.remaining() * share
    limit = asyncio.Semaphore(max(1, concurrency))
    results: dict[int, str] = {}

    async def one(port: int) -> None:
        async with limit:
            left = stop_at - time.monotonic()
            if left <= 0:
                return
            started = time.monotonic()
            results[port] = state = await _connect(address, port, min(timeout, left))
            if state == "open":
                budget.log(f"tcp/{port}", "connect", "open", seconds=time.monotonic() - started)

    await asyncio.gather(*(one(p) for p in ports))
    open_ports = sorted(p for p, s in results.items() if s == "open")
    refused = sum(1 for s in results.values() if s == "refused")
    silent = sum(1 for s in results.values() if s == "silent")
    if len(ports) <= 64:  # a short list: log every port so the report shows what was tried
        for p in ports:
            if results.get(p) in ("refused", "silent"):
                budget.log(f"tcp/{p}", "connect", "closed" if results[p] == "refused" else "no answer")
    return ScanOutcome(open=open_ports, refused=refused, silent=silent, complete=len(results) == len(ports))
