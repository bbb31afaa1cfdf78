"""FTP: banner, anonymous login, then a few default credentials."""

from __future__ import annotations

import ftplib
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

MAX_DEFAULT_TRIES = 5  # FTP servers often delay each failure by a second or more


def _session(ctx: ProbeContext, port: int) -> tuple[ftplib.FTP, float]:
    started = time.monotonic()
    ftp = ftplib.FTP(timeout=ctx.budget.timeout(ctx.read_timeout))
    ftp.connect(ctx.address, port)
    return ftp, time.monotonic() - started


def _login(ctx: ProbeContext, endpoint: str, port: int, user: str, password: str) -> LoginTrial:
    ctx.budget.login_slot(endpoint)
    try:
        ftp, _ = _session(ctx, port)
    except (OSError, EOFError, ftplib.Error) as exc:
        ctx.budget.log(endpoint, "login", "refused", username=user, password=password, detail=str(exc)[:200])
        return LoginTrial(user, password, False, 0.0, locked=True)
    started = time.monotonic()
    password_sent = False
    try:
        reply = ftp.sendcmd(f"USER {user}")
        if reply.startswith("331"):
            started, password_sent = time.monotonic(), True
            ftp.sendcmd(f"PASS {password}")
        ok, detail = True, reply[:200]
    except ftplib.error_perm as exc:
        ok, detail = False, str(exc)[:200]
    except (OSError, EOFError, ftplib.Error) as exc:
        ok, detail = False, f"connection failed: {exc}"[:200]
    elapsed = time.monotonic() - started
    try:
        ftp.close()
    except OSError:
        pass
    ctx.budget.log(endpoint, "login", "success" if ok else "failure", username=user, password=password,
                   detail=detail, seconds=elapsed)
    return LoginTrial(user, password, ok, elapsed, checked=password_sent)


def probe(ctx: ProbeContext, port: int, banner: bytes = b"") -> ServiceResult:
    endpoint = f"tcp/{port}"
    result = ServiceResult(ServiceObservation(endpoint=endpoint, service="ftp",
                                              banner=banner.decode("latin-1", "replace").strip()[:200]))
    baseline = 0.0
    try:
        ftp, baseline = _session(ctx, port)
        result.observation.banner = (ftp.welcome or "")[:200]
        try:
            features = ftp.sendcmd("FEAT")
        except (ftplib.Error, OSError, EOFError) as exc:
            features = str(exc)
        ftp.close()
        auth_tls = "AUTH TLS" in features.upper() or "AUTH SSL" in features.upper()
        result.observation.facts["auth_tls"] = auth_tls
        if not auth_tls:
            result.issues.append(Issue("probe.plaintext-login", endpoint, title="FTP login without encryption",
                                       detail="the FTP server offers USER/PASS and no AUTH TLS (FEAT), so passwords "
                                              "cross the network in clear"))
        result.checks_ran.add("probe.plaintext-login")
        anonymous = _login(ctx, endpoint, port, "anonymous", "iotcop@example.invalid")
        result.observation.facts["anonymous"] = anonymous.ok
        if anonymous.ok:
            result.issues.append(Issue("probe.unauthenticated-access", endpoint, provisions=("5.6-2",),
                                       title="Anonymous FTP login allowed",
                                       detail="USER anonymous was accepted"))
        result.checks_ran.add("probe.unauthenticated-access")
        for user, password in ctx.credentials[:MAX_DEFAULT_TRIES]:
            trial = _login(ctx, endpoint, port, user, password)
            result.trials.append(trial)
            if trial.ok:
                result.issues.append(Issue("probe.default-credentials", endpoint,
                                           title="FTP login with a default credential",
                                           detail=f"login succeeded as {user!r} with password {password!r}",
                                           excerpt=f"{user}:{password}"))
                break
            if trial.locked:
                break
        result.checks_ran.update({"probe.default-credentials", "probe.bruteforce-protection"})
    except BudgetExceeded as exc:
        result.checks_cut["probe.default-credentials"] = str(exc)
    except (OSError, EOFError, ftplib.Error) as exc:
        ctx.budget.log(endpoint, "connect", "error", detail=str(exc)[:200])
        result.checks_cut["probe.unauthenticated-access"] = f"FTP session failed: {exc}"[:200]
    issue = brute_force_issue(endpoint, result.trials, baseline)
    if issue:
        result.issues.append(issue)
    return result
