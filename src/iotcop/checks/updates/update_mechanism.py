"""The update mechanism: is there one, where does it fetch from, and does it check signatures?"""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT
from iotcop.checks.updates.clients import UPDATE_CLIENTS, UpdateClient, update_clients
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

_NAMES = {
    "opkg": "opkg package feeds", "sysupgrade": "OpenWrt sysupgrade", "swupdate": "SWUpdate", "rauc": "RAUC",
    "mender": "Mender client", "fwupd": "fwupd", "script": "update script", "cgi": "web upload handler", "binary": "updater program",
}


def _chain(client: UpdateClient) -> str:
    parts = []
    if client.sources:
        parts.append("fetch: " + "; ".join(f"{s.path}:{s.line or '-'} {s.text[:120]}" for s in client.sources[:4]))
    parts.append("verify: " + ("; ".join(f"{s.path}:{s.line or '-'} {s.text[:100]}" for s in client.verification[:3]) if client.verification else "no signature check found"))
    if client.install:
        parts.append("install: " + "; ".join(f"{s.path}:{s.line or '-'} {s.text[:100]}" for s in client.install[:2]))
    return " | ".join(parts)


class UpdateMechanism(Check):
    ID = "updates.update-mechanism"
    VERSION = "1.1.0"
    SEVERITY = Severity.high
    TIMEOUT = 120.0
    NEEDS_ROOTFS = True
    USES = (TEXT, UPDATE_CLIENTS)
    DOC = CheckDoc(
        title="Update mechanism without integrity protection",
        why=(
            "An update that is downloaded over plain HTTP (or HTTPS without certificate checks) and installed "
            "without a signature check lets anyone on the network path install their own firmware on every device."
        ),
        fix=(
            "Sign update images and packages (usign/signify, RAUC, Mender artifact signing, SWUpdate with "
            "public-key-file) and verify the signature on the device with a shipped public key before "
            "installing; fetch over HTTPS with certificate verification."
        ),
        references=("CWE-494", "CWE-345"),
        limitations=(
            "Recognises opkg, sysupgrade, SWUpdate, RAUC, Mender, fwupd, shell scripts and CGI handlers that "
            "download and write flash, and updater ELF programs (by name, URL strings and flash-writing strings). "
            "A vendor updater with another shape is not found, and then nothing is said (no update mechanism "
            "found is not evidence that there is none).  Signature checks are recognised in scripts (usign, "
            "signify, openssl -verify, gpg --verify) and by imported verify functions in updater programs; "
            "whether the verified signature covers the installed bytes is not traced."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        clients = update_clients(fw)
        if not clients:
            return
        first = clients[0]
        yield self.condition(12, True, Evidence(path=first.path, detail=f"update mechanism: {_NAMES[first.kind]}"))
        networked = [c for c in clients if c.network]
        if networked:
            step = (networked[0].sources or [None])[0]
            yield self.condition(11, True, Evidence(path=networked[0].path, line=step.line if step else None, excerpt=step.text[:200] if step else None, detail=f"{_NAMES[networked[0].kind]} downloads updates"))
        solid = []
        for client in clients:
            insecure_transport = client.plain_http or client.insecure_tls
            if client.network and insecure_transport and not client.verified:
                where = (client.plain_http or client.insecure_tls)[0]
                yield self.finding(
                    where.path, title=f"Updates downloaded without encryption or signature check ({_NAMES[client.kind]})", line=where.line,
                    excerpt=where.text, detail=_chain(client), provisions=("5.3-2", "5.3-7", "5.3-9", "5.3-10"),
                    confidence="likely" if client.kind == "binary" else "confirmed",
                )
            elif client.network and not client.verified and client.kind in ("script", "binary", "cgi"):
                where = client.sources[0]
                yield self.finding(
                    where.path, title=f"Updates installed without a signature check ({_NAMES[client.kind]})", line=where.line,
                    excerpt=where.text, detail=_chain(client) + " | HTTPS protects the download but not against a compromised or impersonated server",
                    severity=Severity.medium, provisions=("5.3-9", "5.3-10"),
                    confidence="likely" if client.kind == "binary" else "confirmed",
                )
            elif client.kind == "opkg" and client.verified and not client.keys:
                yield self.finding(
                    client.verification[0].path, title="opkg signature checking has no key to check against", line=client.verification[0].line,
                    excerpt=client.verification[0].text, detail="check_signature is set, but /etc/opkg/keys is empty: every package install fails or the check is bypassed by hand",
                    severity=Severity.low, provisions=("5.3-9",),
                )
            if client.verified and client.keys:
                solid.append(client)
        for client in solid:
            ev = [s.evidence("signature verification") for s in client.verification[:2]] + [Evidence(path=k, detail="public key for update signatures") for k in client.keys[:3]]
            name = _NAMES[client.kind]
            rollback = " Anti-rollback hint: " + client.rollback[0].text[:80] + "." if client.rollback else ""
            yield self.compliant("5.3-9", f"{name} verifies update signatures with a shipped public key ({', '.join(client.keys[:2])}).{rollback}", *ev)
            yield self.compliant("5.3-2", f"{name} installs updates only after a signature check with a shipped key.", *ev)
            if client.network:
                yield self.compliant("5.3-10", f"{name} downloads over the network and checks the signature against a shipped key before use.", *ev)
            if client.automatic:
                auto = client.automatic[0]
                yield self.compliant("5.3-4", f"{name} is run automatically ({auto.path}).", auto.evidence("automatic update run"), *ev[:1])
