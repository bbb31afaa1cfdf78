"""TLS: which protocol versions the server accepts (one pinned context per version), weak cipher
families, and its certificate (self-signed, expired, key size)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from iotcop.probe.context import Issue, ProbeContext

VERSIONS = {
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
OBSOLETE = ("TLSv1.0", "TLSv1.1")
# Cipher families that are broken; each is offered alone (TLS 1.2 and older) to see if the server takes it.
WEAK_CIPHERS = {"RC4": "RC4", "3DES": "3DES", "DES": "DES:!3DES", "NULL": "eNULL", "EXPORT": "EXP",
                "anonymous": "aNULL"}


def client_context(version: ssl.TLSVersion | None = None, ciphers: str = "ALL:@SECLEVEL=0") -> ssl.SSLContext:
    """A probing client: no verification, and SECLEVEL 0 so the local OpenSSL still offers old protocols."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(ciphers)
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    return ctx


def handshake(pctx: ProbeContext, port: int, ctx: ssl.SSLContext) -> tuple[str, str, bytes | None]:
    with socket.create_connection((pctx.address, port), timeout=pctx.budget.timeout(pctx.connect_timeout)) as raw:
        raw.settimeout(pctx.budget.timeout(pctx.read_timeout))
        with ctx.wrap_socket(raw) as tls:
            return tls.version() or "", (tls.cipher() or ("",))[0], tls.getpeercert(binary_form=True)


def speaks_tls(pctx: ProbeContext, port: int) -> bool:
    try:
        handshake(pctx, port, client_context())
        return True
    except (OSError, ssl.SSLError, ValueError):
        return False


def probe_tls(pctx: ProbeContext, port: int) -> tuple[dict, list[Issue]]:
    endpoint = f"tcp/{port}"
    facts: dict = {"accepted": [], "refused": [], "untestable": []}
    issues: list[Issue] = []
    cert_der = None
    for name, version in VERSIONS.items():
        try:
            ctx = client_context(version)
        except (ValueError, ssl.SSLError):
            facts["untestable"].append(name)
            continue
        try:
            got, cipher, der = handshake(pctx, port, ctx)
            facts["accepted"].append(name)
            facts.setdefault("ciphers", {})[name] = cipher
            cert_der = cert_der or der
            pctx.budget.log(endpoint, "request", "accepted", detail=f"{name} handshake: {cipher}")
        except ssl.SSLError as exc:
            reason = exc.reason or str(exc)
            if "NO_PROTOCOLS_AVAILABLE" in reason.upper():  # the local OpenSSL cannot offer it
                facts["untestable"].append(name)
            else:
                facts["refused"].append(name)
            pctx.budget.log(endpoint, "request", "refused", detail=f"{name} handshake: {reason}"[:200])
        except OSError as exc:
            facts["refused"].append(name)
            pctx.budget.log(endpoint, "request", "error", detail=f"{name} handshake: {exc}"[:200])
    old = [v for v in OBSOLETE if v in facts["accepted"]]
    if old:
        issues.append(Issue("probe.tls-config", endpoint, title="Obsolete TLS versions accepted",
                            detail="the server completed handshakes with " + ", ".join(old)))
    weak = []
    for family, spec in WEAK_CIPHERS.items():
        try:
            ctx = client_context(ssl.TLSVersion.TLSv1_2, spec + ":@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        except (ValueError, ssl.SSLError):
            facts.setdefault("ciphers_untestable", []).append(family)  # the local OpenSSL lacks them
            continue
        try:
            _, cipher, _ = handshake(pctx, port, ctx)
            weak.append(f"{family} ({cipher})")
            pctx.budget.log(endpoint, "request", "accepted", detail=f"weak cipher family {family}: {cipher}")
        except (ssl.SSLError, OSError):
            pctx.budget.log(endpoint, "request", "refused", detail=f"weak cipher family {family}")
    if weak:
        issues.append(Issue("probe.tls-config", endpoint, title="Weak TLS cipher suites accepted",
                            detail="accepted: " + ", ".join(weak)))
    if cert_der:
        cert_facts, cert_issues = examine_certificate(endpoint, cert_der)
        facts["certificate"] = cert_facts
        issues.extend(cert_issues)
    return facts, issues


def examine_certificate(endpoint: str, der: bytes) -> tuple[dict, list[Issue]]:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return {"error": str(exc)[:200]}, []
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        kind, bits, minimum = "RSA", key.key_size, 2048
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind, bits, minimum = f"EC {key.curve.name}", key.curve.key_size, 256
    elif isinstance(key, dsa.DSAPublicKey):
        kind, bits, minimum = "DSA", key.key_size, 1 << 30  # DSA is never acceptable
    else:
        kind, bits, minimum = type(key).__name__.replace("PublicKey", ""), None, 0
    not_after = cert.not_valid_after_utc
    now = dt.datetime.now(dt.timezone.utc)
    facts = {
        "subject": cert.subject.rfc4514_string()[:200],
        "issuer": cert.issuer.rfc4514_string()[:200],
        "self_signed": cert.issuer == cert.subject,
        "not_after": not_after.isoformat(),
        "expired": not_after < now,
        "key": kind,
        "key_bits": bits,
    }
    issues = []
    if facts["expired"]:
        issues.append(Issue("probe.tls-config", endpoint, title="TLS certificate expired",
                            detail=f"certificate {facts['subject']} expired on {not_after.date()}"))
    if bits is not None and bits < minimum:
        issues.append(Issue("probe.tls-config", endpoint, title="TLS certificate key too short",
                            detail=f"{kind} key of {bits} bits (at least {minimum} expected)"))
    return facts, issues
