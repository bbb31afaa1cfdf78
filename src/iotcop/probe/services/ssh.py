"""SSH: the algorithms the server offers (read from its KEXINIT), password authentication, default logins."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import asyncssh

from iotcop.model import ServiceObservation
from iotcop.probe.context import (
    Issue,
    LoginTrial,
    ProbeContext,
    ServiceResult,
    brute_force_issue,
)
from iotcop.probe.safety import BudgetExceeded

KEXINIT = 20
NAME_LISTS = ("kex", "host_key", "cipher_c2s", "cipher_s2c", "mac_c2s", "mac_s2c", "compression_c2s",
              "compression_s2c")
BROKEN = {
    "kex": {"diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1", "rsa1024-sha1"},
    "host_key": {"ssh-dss"},
    "cipher_c2s": {"3des-cbc", "des-cbc", "arcfour", "arcfour128", "arcfour256", "blowfish-cbc", "cast128-cbc",
                   "none"},
    "mac_c2s": {"hmac-md5", "hmac-md5-96", "hmac-sha1-96", "hmac-md5-etm@openssh.com", "none"},
}


def read_kexinit(ctx: ProbeContext, port: int) -> tuple[str, dict[str, list[str]], float]:
    """The server's identification line, its offered algorithms, and the time to its first answer."""
    started = time.monotonic()
    with socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout)) as sock:
        sock.settimeout(ctx.budget.timeout(ctx.read_timeout))
        buf = b""
        while b"\n" not in buf and len(buf) < 4096:
            chunk = sock.recv(1024)
            if not chunk:
                break
            buf += chunk
        first_answer = time.monotonic() - started
        line, _, rest = buf.partition(b"\n")
        ident = line.strip().decode("latin-1", "replace")
        sock.sendall(b"SSH-2.0-iotcop_probe\r\n")
        while len(rest) < 5:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed before KEXINIT")
            rest += chunk
        length = struct.unpack(">I", rest[:4])[0]
        if not 16 <= length <= 65536:
            raise ConnectionError("bad packet length")
        while len(rest) < 4 + length:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed inside KEXINIT")
            rest += chunk
    padding = rest[4]
    payload = rest[5:4 + length - padding]
    if not payload or payload[0] != KEXINIT:
        raise ConnectionError("first packet is not KEXINIT")
    pos, lists = 17, {}
    for name in NAME_LISTS:
        size = struct.unpack(">I", payload[pos:pos + 4])[0]
        lists[name] = [x for x in payload[pos + 4:pos + 4 + size].decode("ascii", "replace").split(",") if x]
        pos += 4 + size
    return ident, lists, first_answer


class _PasswordClient(asyncssh.SSHClient):
    """Feeds passwords from a list, timing how long the server takes to refuse each one."""

    def __init__(self, passwords: list[str], on_try):
        self.passwords = list(passwords)
        self.on_try = on_try
        self.offered = False
        self.sent_at: float | None = None
        self.current: str | None = None

    def password_auth_requested(self):
        self.offered = True
        now = time.monotonic()
        if self.current is not None:
            self.on_try(self.current, False, now - (self.sent_at or now))
        if not self.passwords:
            self.current = None
            return None
        try:
            self.on_try(None, None, 0.0)  # take a budget slot before sending
        except BudgetExceeded:
            self.current = None
            return None
        self.current = self.passwords.pop(0)
        self.sent_at = time.monotonic()
        return self.current

    def auth_completed(self) -> None:
        if self.current is not None:
            self.on_try(self.current, True, time.monotonic() - (self.sent_at or time.monotonic()))
            self.current = None


async def _try_user(ctx: ProbeContext, port: int, user: str, passwords: list[str], trials: list[LoginTrial],
                    endpoint: str) -> bool:
    """Whether the server offered password authentication to USER at all."""

    def on_try(password, ok, seconds):
        if ok is None:
            ctx.budget.login_slot(endpoint)
            return
        trials.append(LoginTrial(user, password, ok, seconds))
        ctx.budget.log(endpoint, "login", "success" if ok else "failure", username=user, password=password,
                       seconds=seconds)

    client = _PasswordClient(passwords, on_try)
    try:
        conn = await asyncio.wait_for(
            asyncssh.connect(ctx.address, port, username=user, known_hosts=None, client_keys=None, agent_path=None,
                             preferred_auth="password,keyboard-interactive", client_factory=lambda: client,
                             kbdint_auth=False, login_timeout=ctx.budget.timeout(20.0), connect_timeout=ctx.budget.timeout(ctx.connect_timeout)),
            timeout=ctx.budget.timeout(30.0),
        )
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError, asyncio.TimeoutError, OSError):
        if client.current is not None:  # the last password was refused by closing the connection
            on_try(client.current, False, time.monotonic() - (client.sent_at or time.monotonic()))
        return client.offered
    conn.close()
    return True


def probe(ctx: ProbeContext, port: int, banner: bytes = b"") -> ServiceResult:
    endpoint = f"tcp/{port}"
    obs = ServiceObservation(endpoint=endpoint, service="ssh", banner=banner.decode("latin-1", "replace").strip())
    result = ServiceResult(obs)
    baseline = 0.0
    try:
        ident, algorithms, baseline = read_kexinit(ctx, port)
        obs.banner = ident[:200]
        obs.facts["algorithms"] = algorithms
        ctx.budget.log(endpoint, "request", "kexinit", detail=ident[:200])
        weak = sorted({a for kind, bad in BROKEN.items() for a in algorithms.get(kind, []) if a in bad}
                      | {a for a in algorithms.get("cipher_s2c", []) if a in BROKEN["cipher_c2s"]})
        if weak:
            result.issues.append(Issue("probe.ssh-weak-algorithms", endpoint,
                                       detail="offered: " + ", ".join(weak), excerpt=ident[:200]))
        result.checks_ran.add("probe.ssh-weak-algorithms")
    except (OSError, ConnectionError, struct.error) as exc:
        ctx.budget.log(endpoint, "request", "error", detail=str(exc)[:200])
        result.checks_cut["probe.ssh-weak-algorithms"] = f"could not read the server's algorithms: {exc}"[:200]
    by_user: dict[str, list[str]] = {}
    for user, password in ctx.credentials:
        by_user.setdefault(user, []).append(password)
    offered = False
    try:
        for user, passwords in by_user.items():
            offered |= asyncio.run(_try_user(ctx, port, user, passwords, result.trials, endpoint))
            good = [t for t in result.trials if t.ok]
            if good:
                result.issues.append(Issue("probe.default-credentials", endpoint,
                                           title="SSH login with a default credential",
                                           detail=f"login succeeded as {good[0].username!r} with password "
                                                  f"{good[0].password!r}",
                                           excerpt=f"{good[0].username}:{good[0].password}"))
                break
            if not offered:
                break  # no password authentication: nothing to guess
        ctx.budget.timeout(0.1)
        result.checks_ran.update({"probe.default-credentials", "probe.bruteforce-protection"})
    except BudgetExceeded as exc:
        result.checks_cut["probe.default-credentials"] = str(exc)
    obs.facts["password_auth"] = offered
    issue = brute_force_issue(endpoint, result.trials, baseline)
    if issue:
        result.issues.append(issue)
    return result
