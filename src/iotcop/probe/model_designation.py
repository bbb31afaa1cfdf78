"""Whether the model designation the device announces on the network is the declared one (5.3-16).

Read from what the probe already collected: UPnP modelName/modelNumber (SSDP, the description on the probed
address) and mDNS TXT records (model=, md=, mdl=, ty=).  The declared `model_designation` matches when one
contains the other, compared without case, spaces or punctuation.  Nothing announced decides nothing.
"""

from __future__ import annotations

import re

from iotcop.model import CheckRun, Compliance, DeviceReport, Evidence
from iotcop.probe.checks import get_probe_check
from iotcop.probe.context import Issue
from iotcop.probe.engine import finding_from

CHECK_ID = "probe.model-designation"
_TXT_KEYS = ("model", "md", "mdl", "ty", "product")


def _norm(value: str) -> str:
    return re.sub(r"[^a-z0-9]", "", value.lower())


def announced(device: DeviceReport) -> list[tuple[str, str, str]]:
    """(endpoint, where, value) of every model string the device announced."""
    out = []
    for s in device.services:
        info = s.facts.get("device") if isinstance(s.facts.get("device"), dict) else {}
        for key in ("modelName", "modelNumber"):
            if info.get(key):
                out.append((s.endpoint, f"UPnP {key}", str(info[key])))
        for svc in s.facts.get("services") or []:
            if not isinstance(svc, dict):
                continue
            for txt in svc.get("txt") or []:
                key, _, value = str(txt).partition("=")
                if key.lower() in _TXT_KEYS and value:
                    out.append((s.endpoint, f"mDNS TXT {key}= of {svc.get('type', '')}", value))
    return out


def model_run(device: DeviceReport, declaration) -> CheckRun:
    check = get_probe_check(CHECK_ID)
    declared = str(getattr(declaration, "model_designation", "") or "")
    seen = announced(device)
    findings, compliance = [], []
    matching = [a for a in seen if declared and (_norm(declared) in _norm(a[2]) or _norm(a[2]) in _norm(declared))
                and _norm(a[2])]
    where = declaration.where("model_designation")
    if matching:
        endpoint, what, value = matching[0]
        statement = f"the device announces its declared model designation {declared!r} ({what} {value!r} on {endpoint})"
        compliance = [Compliance(check=CHECK_ID, provision=p, statement=statement,
                                 evidence=[Evidence(path=endpoint, detail=statement), Evidence(path=where)])
                      for p in check.PROVISIONS]
    elif seen:
        for endpoint, what, value in seen:
            issue = Issue(CHECK_ID, endpoint, title="The model the device announces is not the declared one",
                          detail=f"{what} says {value!r}; the declaration says {declared!r} ({where})")
            findings.append(finding_from(check, issue))
    return CheckRun(check=CHECK_ID, version=check.VERSION, status="ran", provisions=list(check.PROVISIONS),
                    findings=findings, compliance=compliance, source="device")
