"""Malformed values sent to the parameters the firmware's web handlers read, on the live device (5.13-1).

With `scan FW --device HOST`, each script handler of the firmware's web roots (shell CGI, Lua, PHP) is read for
the request parameters it takes (FORM_x, `sed 's/.*x=...'` on QUERY_STRING, formvalue("x"), $_GET['x']).  A
handler is tried only when its source shows that it cannot change the device: no configuration or flash
write, no file written or removed, no service, network or account command, no download; and its name says
nothing of reboot, reset, upgrade ... (as for probe.unauthenticated-functions).  Then, GET only, at most
MAX_PARAMETERS parameters per handler, MAX_HANDLERS handlers, MAX_REQUESTS requests in all:

  a benign value ("1")                                 the handler must accept it (asked again once if unanswered), else the parameter is left
  a long value, a shell command separator with an echo, a path climbing to /etc/passwd, format and control
  characters                                           one request each

  400/403/406/413/414/422, or an error message the benign answer did not have       refused (positive evidence)
  the echo's result in the answer, or /etc/passwd content                           a finding (confirmed)
  a server error (5xx) or no answer where the benign value got one                  a finding (likely)
  anything else                                                                     accepted: says nothing

The only command a vulnerable handler would run is `echo`, and the file it would return is /etc/passwd.
"""

from __future__ import annotations

import re
import time
import urllib.parse

from iotcop.model import CheckRun, Compliance, DeviceReport, Evidence, ProbeAttempt
from iotcop.probe.checks import get_probe_check
from iotcop.probe.context import Issue
from iotcop.probe.engine import finding_from
from iotcop.probe.functions import http_get, judge
from iotcop.probe.handlers import CHANGES_DEVICE, parameters, safe_to_try, web_endpoints

CHECK_ID = "probe.input-validation"
MAX_HANDLERS = 6
MAX_PARAMETERS = 3
MAX_REQUESTS = 60
BENIGN = "1"
MARKER = "42iotcop"  # what the echo below prints when a shell runs it (the arithmetic shows it ran)
MALFORMED = (
    ("long value", "A" * 3000),
    ("shell command", ";echo$IFS$((6*7))iotcop"),  # no space or brace, which servers re-encode
    ("shell command (encoded)", urllib.parse.quote(";echo $((6*7))iotcop", safe="")),
    ("path traversal", "../" * 16 + "etc/passwd"),  # deep web roots: extra steps stop at /
    ("format and control characters", "%25n%25s%25x%00%ff%0d%0a"),
)
_REFUSED_STATUS = {400, 403, 406, 411, 413, 414, 416, 422}
_ERROR_WORDS = re.compile(rb"(?i)\b(?:invalid|illegal|not allowed|bad request|malformed|out of range|too long|rejected)\b")
_PASSWD_LINE = re.compile(rb"(?m)^root:[^:\n]*:0:0:")
def _targets(fw) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """(URL, device path, parameters) of the handlers that can be tried, and the ones left out and why."""
    endpoints, _ = web_endpoints(fw)
    out, left = [], []
    for url, path in endpoints:
        entry = fw.get(path)
        data = fw.read_bytes(entry, 256 * 1024) if entry is not None else None
        if not data or data.startswith(b"\x7fELF") or b"\x00" in data[:2048]:
            continue  # compiled handlers: their parameters and what they change are not read
        text = data.decode("utf-8", errors="replace")
        names = parameters(text)
        if not names:
            continue
        if CHANGES_DEVICE.search(url) or not safe_to_try(path, text):
            left.append(f"{url}: its source can change the device")
            continue
        out.append((url, path, names[:MAX_PARAMETERS]))
    return out[:MAX_HANDLERS], left


def _with(url: str, name: str, value: str) -> str:
    return f"{url}?{name}={value}"


def probe_input_validation(fw, device: DeviceReport, deadline: float,
                           credentials: tuple[str, str] | None = None) -> CheckRun:
    check = get_probe_check(CHECK_ID)
    started = time.monotonic()
    targets, left = _targets(fw)
    services = [s for s in device.services if s.service in ("http", "https")]
    if not targets or not services:
        why = ("no web service was found on the device" if targets else
               "the firmware's web roots hold no script handler that reads parameters and cannot change the device")
        return CheckRun(check=CHECK_ID, version=check.VERSION, status="skipped", provisions=list(check.PROVISIONS),
                        error=why, source="device")
    issues: list[tuple[Issue, str]] = []
    refused: list[str] = []
    accepted: list[str] = []
    requests, cut = 0, False

    def ask(svc, port, url):
        nonlocal requests
        requests += 1
        return http_get(device.address, port, svc.service == "https", url, credentials)

    for svc in services:
        port = int(svc.endpoint.split("/")[1])
        for url, path, names in targets:
            for name in names:
                if requests + 2 + len(MALFORMED) > MAX_REQUESTS or time.monotonic() > deadline:
                    cut = True
                    break
                base = ask(svc, port, _with(url, name, BENIGN))
                if base is None:  # a slow or busy device gets a second chance before the parameter is left
                    base = ask(svc, port, _with(url, name, BENIGN))
                base_outcome = judge(*base) if base else "no answer"
                _note(device, svc.endpoint, base_outcome, f"GET {url}?{name}=1 (benign value)", started)
                if base is None or base[0] != 200 or base_outcome != "open":
                    continue  # refused or broken for a normal value: nothing to compare with
                for what, value in MALFORMED:
                    answer = ask(svc, port, _with(url, name, value))
                    verdict, why = _judge_malformed(base, answer)
                    _note(device, svc.endpoint, verdict, f"GET {url}?{name}=<{what}>", started)
                    where = f"{svc.endpoint} {url}?{name}"
                    if verdict == "refused":
                        refused.append(f"{where} <{what}>")
                    elif verdict == "accepted":
                        accepted.append(f"{where} <{what}>")
                    else:  # confirmed or likely
                        issues.append((Issue(CHECK_ID, svc.endpoint,
                                             title=f"{url} mishandles a malformed '{name}' ({what})",
                                             detail=f"GET {url}?{name}=<{what}>: {why}; the firmware serves it from {path}",
                                             excerpt=_excerpt(answer)),
                                       verdict))
    findings = [finding_from(check, issue).model_copy(update={"confidence": confidence}) for issue, confidence in issues]
    for f, (issue, _) in zip(findings, issues):
        f.related.append(Evidence(path=issue.detail.rsplit("serves it from ", 1)[-1], detail="the handler in the firmware"))
    for url in left[:10]:
        device.attempts.append(ProbeAttempt(service="-", action="skip", result="not requested", detail=url,
                                            at=round(time.monotonic() - started, 3)))
    compliance = []
    if refused and not accepted and not findings and not cut:
        statement = (f"every malformed value ({len(refused)} requests: long, shell command, path traversal, control "
                     f"characters) sent to the parameters the firmware's handlers read was refused: "
                     + ", ".join(sorted({r.split(' <')[0] for r in refused})[:4]))
        compliance = [Compliance(check=CHECK_ID, provision=p, statement=statement,
                                 evidence=[Evidence(path=r.split()[0], detail=r.split(' ', 1)[1]) for r in refused[:5]])
                      for p in check.PROVISIONS]
    status = "timeout" if cut and not findings and not compliance else "ran"
    return CheckRun(check=CHECK_ID, version=check.VERSION, status=status, provisions=list(check.PROVISIONS),
                    findings=findings, compliance=compliance, seconds=round(time.monotonic() - started, 3),
                    error="stopped by the request limit or the time budget" if status == "timeout" else None,
                    source="device")


def _judge_malformed(base, answer) -> tuple[str, str]:
    """refused, accepted, confirmed (a finding) or likely (a finding), and why."""
    if answer is None:
        return "likely", "no answer (the handler or the server failed) where the benign value got one"
    status, _, body = answer
    if MARKER.encode() in body:
        return "confirmed", "the answer holds the output of the echo the value carried: a shell ran it"
    if _PASSWD_LINE.search(body) and not _PASSWD_LINE.search(base[2]):
        return "confirmed", "the answer holds /etc/passwd: the value named a file outside the handler's reach"
    if status >= 500:
        return "likely", f"server error {status} where the benign value got 200: the value reached the handler unchecked"
    if status in _REFUSED_STATUS or (_ERROR_WORDS.search(body) and not _ERROR_WORDS.search(base[2])):
        return "refused", ""
    return "accepted", ""


def _excerpt(answer) -> str | None:
    if answer is None or _PASSWD_LINE.search(answer[2]):
        return None  # the device's account file is not copied into the report
    return answer[2][:120].decode("utf-8", "replace")


def _note(device: DeviceReport, endpoint: str, result: str, detail: str, started: float) -> None:
    device.attempts.append(ProbeAttempt(service=endpoint, action="request", result=result, detail=detail,
                                        at=round(time.monotonic() - started, 3)))
