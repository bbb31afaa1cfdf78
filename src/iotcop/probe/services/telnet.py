"""Telnet: negotiate options (refuse all but echo/suppress-go-ahead), then try default logins."""

from __future__ import annotations

import re
import socket
import time

from iotcop.model import ServiceObservation
from iotcop.probe.context import (
    Issue,
    LoginTrial,
    ProbeContext,
    ServiceResult,
    brute_force_issue,
)
from iotcop.probe.safety import BudgetExceeded

IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
ECHO, SGA = 1, 3
USER_PROMPT = re.compile(rb"(login|username|user name|user)\s*:\s*$", re.I)
PASS_PROMPT = re.compile(rb"password\s*:\s*$", re.I)
FAILED = re.compile(rb"incorrect|fail|denied|invalid|wrong|bad password", re.I)
SHELL_PROMPT = re.compile(rb"([#$>%]|\]\s?[#$])\s*$")
MAX_READ = 64 * 1024


class TelnetSession:
    def __init__(self, ctx: ProbeContext, port: int):
        self.ctx = ctx
        self.sock = socket.create_connection((ctx.address, port), timeout=ctx.budget.timeout(ctx.connect_timeout))
        self.text = b""
        self.read_total = 0
        self.last_prompt_was_password = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _negotiate(self, data: bytes) -> bytes:
        """Answer option requests and return the data without IAC sequences."""
        out, reply, i = bytearray(), bytearray(), 0
        while i < len(data):
            b = data[i]
            if b != IAC:
                out.append(b)
                i += 1
                continue
            if i + 1 >= len(data):
                break
            cmd = data[i + 1]
            if cmd in (DO, DONT, WILL, WONT) and i + 2 < len(data):
                opt = data[i + 2]
                if cmd == DO:
                    reply += bytes([IAC, WONT, opt])
                elif cmd == WILL:
                    reply += bytes([IAC, DO if opt in (ECHO, SGA) else DONT, opt])
                i += 3
            elif cmd == SB:
                end = data.find(bytes([IAC, SE]), i)
                i = len(data) if end < 0 else end + 2
            elif cmd == IAC:
                out.append(IAC)
                i += 2
            else:
                i += 2
        if reply:
            self.sock.sendall(bytes(reply))
        return bytes(out)

    def read_until(self, *patterns: re.Pattern, wait: float) -> tuple[re.Pattern | None, bytes]:
        """Read until the text so far ends with one of PATTERNS; (None, text) on timeout or close."""
        deadline = time.monotonic() + wait
        while True:
            for pattern in patterns:
                if pattern.search(self.text.rstrip(b"\r\n\x00") if pattern is not FAILED else self.text):
                    found, self.text = self.text, b""
                    return pattern, found
            left = deadline - time.monotonic()
            if left <= 0 or self.read_total > MAX_READ:
                return None, self.text
            self.sock.settimeout(self.ctx.budget.timeout(left))
            try:
                chunk = self.sock.recv(4096)
            except socket.timeout:
                return None, self.text
            except OSError:
                chunk = b""
            if not chunk:
                raise ConnectionError("closed")
            self.read_total += len(chunk)
            self.text += self._negotiate(chunk)

    def send_line(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")


def probe(ctx: ProbeContext, port: int, banner: bytes = b"") -> ServiceResult:
    endpoint = f"tcp/{port}"
    obs = ServiceObservation(endpoint=endpoint, service="telnet")
    result = ServiceResult(obs)
    session: TelnetSession | None = None
    baseline = None
    pending = list(ctx.credentials)
    try:
        while pending:
            if session is None:
                started = time.monotonic()
                try:
                    session = TelnetSession(ctx, port)
                    which, text = session.read_until(USER_PROMPT, PASS_PROMPT, SHELL_PROMPT, wait=ctx.read_timeout)
                except (OSError, ConnectionError) as exc:
                    if not result.trials:
                        raise
                    # Refused after failed logins: a lockout (or the service died).
                    ctx.budget.log(endpoint, "connect", "refused", detail=str(exc)[:200])
                    result.trials.append(LoginTrial(*pending[0], ok=False, seconds=0.0, locked=True))
                    break
                baseline = baseline if baseline is not None else time.monotonic() - started
                if not obs.banner:
                    obs.banner = text.decode("latin-1", "replace").strip()[:200]
                if which is SHELL_PROMPT:
                    ctx.budget.log(endpoint, "login", "success", detail="a shell without any login")
                    result.issues.append(Issue("probe.default-credentials", endpoint,
                                               title="Telnet gives a shell without a login",
                                               detail="the telnet service opened a shell prompt with no credentials",
                                               excerpt=obs.banner))
                    obs.facts["login"] = "none"
                    break
                if which is None:
                    obs.facts["login"] = "no login prompt seen"
                    if result.trials:
                        result.trials.append(LoginTrial(*pending[0], ok=False, seconds=0.0, locked=True))
                    break
                obs.facts["login"] = "password" if which is PASS_PROMPT else "user and password"
                session.last_prompt_was_password = which is PASS_PROMPT
            user, password = pending[0]
            ctx.budget.login_slot(endpoint)
            pending.pop(0)
            trial, alive = _try_login(ctx, session, endpoint, user, password)
            result.trials.append(trial)
            if trial.ok:
                result.issues.append(Issue("probe.default-credentials", endpoint,
                                           title="Telnet login with a default credential",
                                           detail=f"login succeeded as {user!r} with password {password!r}",
                                           excerpt=f"{user}:{password}"))
                break
            if not alive:
                session.close()
                session = None
        result.checks_ran.update({"probe.default-credentials", "probe.bruteforce-protection"})
    except BudgetExceeded as exc:
        result.checks_cut["probe.default-credentials"] = str(exc)
        result.checks_ran.add("probe.bruteforce-protection")
    except (OSError, ConnectionError) as exc:
        ctx.budget.log(endpoint, "connect", "error", detail=str(exc)[:200])
        result.checks_cut["probe.default-credentials"] = f"telnet session failed: {exc}"[:200]
    finally:
        if session is not None:
            session.close()
    issue = brute_force_issue(endpoint, result.trials, baseline or 0.0)
    if issue:
        result.issues.append(issue)
    return result


def _try_login(ctx: ProbeContext, session: TelnetSession, endpoint: str, user: str,
               password: str) -> tuple[LoginTrial, bool]:
    """One login try on an open session: the trial, and whether the session can take another."""
    started = time.monotonic()
    try:
        if not session.last_prompt_was_password:
            session.send_line(user)
            which, _ = session.read_until(PASS_PROMPT, SHELL_PROMPT, FAILED, wait=ctx.read_timeout)
        else:
            which = PASS_PROMPT
        if which is PASS_PROMPT:
            started = time.monotonic()
            session.send_line(password)
            which, _ = session.read_until(USER_PROMPT, PASS_PROMPT, SHELL_PROMPT, FAILED, wait=ctx.read_timeout)
            if which is FAILED:  # the prompt for the next try usually follows the failure message
                which, _ = session.read_until(USER_PROMPT, PASS_PROMPT, wait=min(ctx.read_timeout, 10.0))
                which = which or FAILED
    except ConnectionError:
        elapsed = time.monotonic() - started
        ctx.budget.log(endpoint, "login", "failure", username=user, password=password, seconds=elapsed,
                       detail="connection closed after the try")
        return LoginTrial(user, password, False, elapsed), False
    elapsed = time.monotonic() - started
    ok = which is SHELL_PROMPT
    session.last_prompt_was_password = which is PASS_PROMPT
    result = "success" if ok else "no answer" if which is None else "failure"
    ctx.budget.log(endpoint, "login", result, username=user, password=password, seconds=elapsed)
    return LoginTrial(user, password, ok, elapsed), which in (USER_PROMPT, PASS_PROMPT)
