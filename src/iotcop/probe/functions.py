"""Functions the firmware's web server offers, tried on the live device without credentials (5.5-4).

With `scan FW --device HOST`, the dynamic handlers of the firmware's web roots (CGI programs and scripts,
PHP, ASP, Lua, JSON endpoints) become URLs; each is asked once with a plain GET, no credentials, no
parameters, on every HTTP(S) service the probe found.  Names that could change the device (reboot,
reset, upgrade, erase ...), and script handlers whose source writes files or changes settings, are
never requested (iotcop.probe.handlers).  At most MAX_ENDPOINTS URLs per service and
MAX_REQUESTS in all, inside the probe's time budget.

  401/403, or a redirect to a login page, or a login form      refused (positive evidence)
  200 with anything else                                       open: a finding
  404                                                          not served by the device

With test credentials from the user (scan --device-credentials USER:PASSWORD), each function refused without
them (at most 10) is asked again with HTTP Basic: granted is positive evidence that authenticated access works
(probe.authenticated-access), still refused a finding.
"""

from __future__ import annotations

import http.client
import re
import ssl
import time

from iotcop.model import CheckRun, Compliance, DeviceReport, Evidence, ProbeAttempt
from iotcop.probe.checks import get_probe_check
from iotcop.probe.engine import finding_from
from iotcop.probe.handlers import web_endpoints
from iotcop.probe.context import Issue

CHECK_ID = "probe.unauthenticated-functions"
MAX_ENDPOINTS = 30
MAX_REQUESTS = 60
REQUEST_TIMEOUT = 3.0
_LOGIN_PAGE = re.compile(rb"type\s*=\s*[\"']?password|<form[^>]*(?:login|signin|logon|auth)", re.I)
_LOGIN_URL = re.compile(r"login|signin|logon|auth", re.I)
_DYNAMIC = ("cgi", "php", "asp", "aspx", "lua", "sh", "pl", "jsp", "json", "shtml", "fcgi", "htm", "html", "xml")
def http_get(address: str, port: int, tls: bool, url: str, credentials: tuple[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes] | None:
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(address, port, timeout=REQUEST_TIMEOUT, context=ctx)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=REQUEST_TIMEOUT)
    try:
        headers = {"User-Agent": "iotcop-probe"}
        if credentials is not None:
            import base64

            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        conn.request("GET", url, headers=headers)
        resp = conn.getresponse()
        body = resp.read(65536)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def judge(status: int, headers: dict[str, str], body: bytes) -> str:
    if status in (401, 403, 407):
        return "refused"
    if status in (404, 410):
        return "absent"
    if 300 <= status < 400:
        return "refused" if _LOGIN_URL.search(headers.get("location", "")) else "redirect"
    if status == 200:
        return "login page" if _LOGIN_PAGE.search(body) else "open"
    return f"error {status}"


def probe_functions(fw, device: DeviceReport, deadline: float,
                    credentials: tuple[str, str] | None = None) -> list[CheckRun]:
    """The unauthenticated run, and with the user's test credentials the authenticated one."""
    run, refused = _unauthenticated(fw, device, deadline)
    if credentials is None:
        return [run]
    return [run, _authenticated(device, refused, credentials, deadline)]


AUTH_CHECK_ID = "probe.authenticated-access"
MAX_AUTHENTICATED = 10


def _authenticated(device: DeviceReport, refused: list[tuple[str, int, bool, str]], credentials: tuple[str, str],
                   deadline: float) -> CheckRun:
    """Each function refused without credentials asked again with the user's test credentials (HTTP Basic)."""
    check = get_probe_check(AUTH_CHECK_ID)
    started = time.monotonic()
    granted, denied = [], []
    for endpoint, port, tls, url in refused[:MAX_AUTHENTICATED]:
        if time.monotonic() > deadline + 10:
            break
        answer = http_get(device.address, port, tls, url, credentials)
        outcome = judge(*answer) if answer else "no answer"
        device.attempts.append(_attempt(endpoint, "request", "granted" if outcome == "open" else outcome,
                                        f"GET {url} (test credentials of {credentials[0]!r})",
                                        round(time.monotonic() - started, 3)))
        (granted if outcome == "open" else denied).append(f"{endpoint} {url}")
    if not granted and not denied:
        return CheckRun(check=check.ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                        error="no function was refused without credentials, so none was asked with them",
                        source="device")
    findings, compliance = [], []
    for item in denied:
        findings.append(finding_from(check, Issue(AUTH_CHECK_ID, item.split()[0],
                                                  title="A function refuses the valid test credentials",
                                                  detail=f"GET {item.split()[1]} with the credentials of "
                                                         f"{credentials[0]!r} was still refused")))
    if granted and not denied:
        statement = (f"{len(granted)} function(s) refused without credentials were granted with the test credentials "
                     f"of {credentials[0]!r} ({', '.join(granted[:4])})")
        compliance = [Compliance(check=AUTH_CHECK_ID, provision=p, statement=statement,
                                 evidence=[Evidence(path=g.split()[0], detail=g.split()[1]) for g in granted[:5]])
                      for p in check.PROVISIONS]
    return CheckRun(check=check.ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                    findings=findings, compliance=compliance, seconds=round(time.monotonic() - started, 3),
                    source="device")


def _unauthenticated(fw, device: DeviceReport, deadline: float) -> tuple[CheckRun, list[tuple[str, int, bool, str]]]:
    check = get_probe_check(CHECK_ID)
    endpoints, skipped = web_endpoints(fw)
    services = [s for s in device.services if s.service in ("http", "https")]
    started = time.monotonic()
    if not endpoints:
        return CheckRun(check=CHECK_ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                        error="the firmware's web roots hold no dynamic handler (CGI, PHP, ASP, Lua ...)",
                        source="device"), []
    issues: list[Issue] = []
    refused: list[str] = []
    refused_targets: list[tuple[str, int, bool, str]] = []
    requests = 0
    cut = False
    for svc in services:
        port = int(svc.endpoint.split("/")[1])
        for url, where in endpoints[:MAX_ENDPOINTS]:
            if requests >= MAX_REQUESTS or time.monotonic() > deadline:
                cut = True
                break
            requests += 1
            answer = http_get(device.address, port, svc.service == "https", url)
            at = round(time.monotonic() - started, 3)
            outcome = judge(*answer) if answer else "no answer"
            device.attempts.append(_attempt(svc.endpoint, "request", outcome, f"GET {url} (no credentials)", at))
            if outcome == "open":
                issues.append(Issue(CHECK_ID, svc.endpoint, title=f"Web function {url} answers without authentication",
                                    detail=f"GET {url} returned 200 ({len(answer[2])} bytes) without credentials; the "
                                           f"firmware serves it from {where}",
                                    excerpt=answer[2][:120].decode("utf-8", "replace")))
            elif outcome in ("refused", "login page"):
                refused.append(f"{svc.endpoint} {url}")
                refused_targets.append((svc.endpoint, port, svc.service == "https", url))
    findings = [finding_from(check, i) for i in issues]
    for f, i in zip(findings, issues):
        path = next(w for u, w in endpoints if f"GET {u} " in (i.detail or ""))
        f.related.append(Evidence(path=path, detail="the handler in the firmware"))
    compliance = []
    if refused and not issues and not cut:
        statement = (f"{len(refused)} web function(s) the firmware serves refused access without credentials "
                     f"({', '.join(refused[:4])}{' ...' if len(refused) > 4 else ''})")
        compliance = [Compliance(check=CHECK_ID, provision=p, statement=statement,
                                 evidence=[Evidence(path=r.split()[0], detail=r.split()[1]) for r in refused[:5]])
                      for p in check.PROVISIONS]
    for url in skipped[:20]:
        device.attempts.append(_attempt("-", "skip", "not requested", f"{url}: its name says it could change the device",
                                        round(time.monotonic() - started, 3)))
    status = "timeout" if cut and not findings else "ran"
    return CheckRun(check=CHECK_ID, version=check.VERSION, status=status, provisions=list(check.PROVISIONS),
                    findings=findings, compliance=compliance, seconds=round(time.monotonic() - started, 3),
                    error="stopped by the request limit or the time budget" if status == "timeout" else None,
                    source="device"), refused_targets


def _attempt(service: str, action: str, result: str, detail: str, at: float) -> ProbeAttempt:
    return ProbeAttempt(service=service, action=action, result=result, detail=detail, at=at)
