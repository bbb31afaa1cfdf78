"""HTTP(S): server header, security headers, redirect to HTTPS, security.txt, open status pages,
authentication scheme and default-credential logins (Basic, Digest, simple password forms)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

from iotcop.model import ServiceObservation
from iotcop.probe.context import (
    Issue,
    LoginTrial,
    ProbeContext,
    ServiceResult,
    brute_force_issue,
)
from iotcop.probe.safety import BudgetExceeded
from iotcop.probe.services.tls import client_context

MAX_BODY = 256 * 1024
SECURITY_HEADERS = ("strict-transport-security", "content-security-policy", "x-content-type-options",
                    "x-frame-options", "referrer-policy")
# Paths of login areas to look for when / itself does not ask for credentials.
LOGIN_PATHS = ("/", "/admin/", "/login", "/login.html", "/cgi-bin/luci")
# Status pages that must not be readable without authentication, with text that proves what they are.
STATUS_PAGES = {
    "/server-status": (b"server-status", b"uptime"),
    "/server-info": (b"server-info", b"server information"),
    "/status": (b"uptime", b"firmware"),
    "/cgi-bin/status": (b"uptime", b"firmware"),
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    all_headers: list[tuple[str, str]] = field(default_factory=list)


class Client:
    def __init__(self, ctx: ProbeContext, port: int, tls: bool):
        self.ctx, self.port, self.tls = ctx, port, tls
        self.endpoint = f"tcp/{port}"

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
                log: str | None = "request") -> Response:
        timeout = self.ctx.budget.timeout(self.ctx.read_timeout)
        if self.tls:
            conn = http.client.HTTPSConnection(self.ctx.address, self.port, timeout=timeout, context=client_context())
        else:
            conn = http.client.HTTPConnection(self.ctx.address, self.port, timeout=timeout)
        started = time.monotonic()
        try:
            conn.request(method, path, body=body, headers={"User-Agent": "iotcop-probe", **(headers or {})})
            resp = conn.getresponse()
            data = resp.read(MAX_BODY)
            all_headers = resp.getheaders()
        finally:
            conn.close()
        seconds = time.monotonic() - started
        hdrs: dict[str, str] = {}
        for k, v in all_headers:
            hdrs[k.lower()] = v if k.lower() not in hdrs else hdrs[k.lower()] + ", " + v
        if log:
            self.ctx.budget.log(self.endpoint, log, str(resp.status), detail=f"{method} {path}", seconds=seconds)
        return Response(resp.status, hdrs, data, seconds, all_headers)


def _auth_schemes(resp: Response) -> list[str]:
    values = [v for k, v in resp.all_headers if k.lower() == "www-authenticate"]
    return [v.split(None, 1)[0].lower() for v in values if v.strip()]


def _digest_params(resp: Response) -> dict[str, str]:
    for k, v in resp.all_headers:
        if k.lower() == "www-authenticate" and v.lower().startswith("digest"):
            return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                    for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', v)}
    return {}


def _digest_header(params: dict[str, str], user: str, password: str, method: str, path: str) -> str:
    algorithm = params.get("algorithm", "MD5")
    digest = hashlib.sha256 if algorithm.upper().startswith("SHA-256") else hashlib.md5
    h = lambda s: digest(s.encode()).hexdigest()  # noqa: E731
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = h(f"{user}:{realm}:{password}"), h(f"{method}:{path}")
    cnonce, nc = os.urandom(8).hex(), "00000001"
    if "auth" in params.get("qop", "").split(","):
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        response, extra = h(f"{ha1}:{nonce}:{ha2}"), ""
    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
    return (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{path}", '
            f'algorithm={algorithm}, response="{response}"{extra}{opaque}')


_FORM = re.compile(rb"<form\b[^>]*>.*?</form>", re.I | re.S)
_INPUT = re.compile(rb"<input\b[^>]*>", re.I)
_ATTR = re.compile(rb'(\w+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\'|([^\s>]+))')


def find_password_form(body: bytes) -> dict | None:
    """The first form with a password field: its action, method and the user/password field names."""
    for form in _FORM.finditer(body):
        text = form.group(0)
        head = dict((m.group(1).lower(), (m.group(2) or m.group(3) or m.group(4) or b"").decode("latin-1"))
                    for m in _ATTR.finditer(text[: text.find(b">") + 1]))
        fields, user_field, pass_field = {}, None, None
        for inp in _INPUT.finditer(text):
            attrs = {m.group(1).lower(): (m.group(2) or m.group(3) or m.group(4) or b"").decode("latin-1")
                     for m in _ATTR.finditer(inp.group(0))}
            name, kind = attrs.get("name"), attrs.get("type", "text").lower()
            if not name:
                continue
            if kind == "password" and pass_field is None:
                pass_field = name
            elif kind in ("text", "email") and user_field is None:
                user_field = name
            elif kind == "hidden":
                fields[name] = attrs.get("value", "")
        if pass_field:
            return {"action": head.get("action") or "", "method": (head.get("method") or "post").upper(),
                    "user": user_field, "password": pass_field, "hidden": fields}
    return None


def _https_redirect(resp: Response) -> bool:
    return resp.status in (301, 302, 303, 307, 308) and resp.headers.get("location", "").lower().startswith("https://")


def probe(ctx: ProbeContext, port: int, banner: bytes = b"", tls: bool = False) -> ServiceResult:
    endpoint = f"tcp/{port}"
    client = Client(ctx, port, tls)
    obs = ServiceObservation(endpoint=endpoint, service="https" if tls else "http")
    result = ServiceResult(obs)
    try:
        root = client.request("GET", "/")
    except (OSError, http.client.HTTPException) as exc:
        ctx.budget.log(endpoint, "request", "error", detail=str(exc)[:200])
        result.checks_cut["probe.default-credentials"] = f"HTTP request failed: {exc}"[:200]
        return result
    except BudgetExceeded as exc:
        result.checks_cut["probe.default-credentials"] = str(exc)
        return result
    obs.banner = root.headers.get("server", "")[:200]
    obs.facts["status"] = root.status
    obs.facts["security_headers"] = {h: root.headers.get(h) for h in SECURITY_HEADERS if h in root.headers}
    obs.facts["missing_security_headers"] = [h for h in SECURITY_HEADERS if h not in root.headers
                                             and (tls or h != "strict-transport-security")]
    redirects_to_https = _https_redirect(root)
    obs.facts["redirects_to_https"] = redirects_to_https
    try:
        _security_txt(client, result)
        _status_pages(client, result)
        if not redirects_to_https:
            _logins(ctx, client, root, result, tls)
        result.checks_ran.update({"probe.security-txt", "probe.unauthenticated-access", "probe.http-plaintext-auth",
                                  "probe.default-credentials", "probe.bruteforce-protection"})
    except BudgetExceeded as exc:
        result.checks_cut["probe.default-credentials"] = str(exc)
    except (OSError, http.client.HTTPException) as exc:
        ctx.budget.log(endpoint, "request", "error", detail=str(exc)[:200])
        result.checks_cut["probe.default-credentials"] = f"HTTP request failed: {exc}"[:200]
    return result


def _security_txt(client: Client, result: ServiceResult) -> None:
    resp = client.request("GET", "/.well-known/security.txt")
    text = resp.body.decode("utf-8", "replace")
    contact = next((line.strip() for line in text.splitlines() if line.lower().startswith("contact:")), None)
    result.observation.facts["security_txt"] = bool(resp.status == 200 and contact)
    if resp.status == 200 and contact:
        result.issues.append(Issue("probe.security-txt", client.endpoint, compliant=True,
                                   detail=f"/.well-known/security.txt publishes {contact[:150]}"))


def _status_pages(client: Client, result: ServiceResult) -> None:
    for path, markers in STATUS_PAGES.items():
        resp = client.request("GET", path)
        if resp.status == 200 and any(m in resp.body.lower() for m in markers):
            result.issues.append(Issue("probe.unauthenticated-access", client.endpoint, provisions=("5.6-2",),
                                       title="Status page readable without authentication",
                                       detail=f"GET {path} answered 200 with server status details",
                                       excerpt=re.sub(rb"<[^>]+>|\s+", b" ", resp.body[:400]).decode(
                                           "latin-1", "replace").strip()[:200]))


def _logins(ctx: ProbeContext, client: Client, root: Response, result: ServiceResult, tls: bool) -> None:
    """Find where the device asks for credentials and try the default ones there."""
    target = None
    for path in LOGIN_PATHS:
        resp = root if path == "/" else client.request("GET", path)
        if resp.status == 401 and _auth_schemes(resp):
            target = ("challenge", path, resp)
            break
        form = find_password_form(resp.body) if resp.status == 200 else None
        if form:
            target = ("form", path, form)
            break
    if target is None:
        result.observation.facts["auth"] = "none found"
        return
    kind, path, detail = target
    schemes = _auth_schemes(detail) if kind == "challenge" else ["form"]
    result.observation.facts["auth"] = {"path": path, "schemes": schemes}
    if not tls:
        result.issues.append(Issue("probe.http-plaintext-auth", client.endpoint,
                                   detail=f"{path} asks for credentials ({', '.join(schemes)}) over plain HTTP and "
                                          "/ does not redirect to HTTPS"))
    baseline = root.seconds
    for user, password in ctx.credentials:
        ctx.budget.login_slot(client.endpoint)
        if kind == "challenge":
            trial = _challenge_login(client, path, detail, user, password)
        else:
            trial = _form_login(client, path, detail, user, password)
        result.trials.append(trial)
        if trial.ok:
            result.issues.append(Issue("probe.default-credentials", client.endpoint,
                                       title="Web login with a default credential",
                                       detail=f"{', '.join(schemes)} login to {path} succeeded as {user!r} with "
                                              f"password {password!r}",
                                       excerpt=f"{user}:{password}"))
            break
        if trial.locked:
            break
    issue = brute_force_issue(client.endpoint, result.trials, baseline)
    if issue:
        result.issues.append(issue)


def _challenge_login(client: Client, path: str, challenge: Response, user: str, password: str) -> LoginTrial:
    schemes = _auth_schemes(challenge)
    if "digest" in schemes:
        fresh = client.request("GET", path, log=None)  # a fresh nonce for each try
        header = _digest_header(_digest_params(fresh) or _digest_params(challenge), user, password, "GET", path)
    else:
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    resp = client.request("GET", path, headers={"Authorization": header}, log=None)
    ok = resp.status not in (401, 403, 429) and resp.status < 500
    locked = resp.status in (403, 429)
    client.ctx.budget.log(client.endpoint, "login", "success" if ok else "refused" if locked else "failure",
                          username=user, password=password, detail=f"{schemes[0]} GET {path}: {resp.status}",
                          seconds=resp.seconds)
    return LoginTrial(user, password, ok, resp.seconds, locked=locked)


def _form_login(client: Client, path: str, form: dict, user: str, password: str) -> LoginTrial:
    action = urlsplit(urljoin(path, form["action"] or path))
    target = action.path + (f"?{action.query}" if action.query else "")
    fields = dict(form["hidden"])
    if form["user"]:
        fields[form["user"]] = user
    fields[form["password"]] = password
    body = urlencode(fields).encode()
    if form["method"] == "GET":
        resp = client.request("GET", f"{target}{'&' if '?' in target else '?'}{body.decode()}", log=None)
    else:
        resp = client.request("POST", target, body=body, log=None,
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    # Success: no password form any more and no error text; redirects count when they set a session.
    still_form = find_password_form(resp.body) is not None
    error = re.search(rb"invalid|incorrect|failed|wrong|denied", resp.body, re.I) is not None
    ok = resp.status in (200, 301, 302, 303) and not still_form and not error and (
        resp.status == 200 or "set-cookie" in resp.headers)
    locked = resp.status in (403, 429) or re.search(rb"locked|too many", resp.body, re.I) is not None
    client.ctx.budget.log(client.endpoint, "login", "success" if ok else "failure", username=user, password=password,
                          detail=f"form {form['method']} {target}: {resp.status}", seconds=resp.seconds)
    return LoginTrial(user, password, ok, resp.seconds, locked=locked)
