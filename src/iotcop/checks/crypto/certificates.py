"""X.509 certificates in the image, parsed once and shared (memoised through `Firmware.cached`).

PEM `CERTIFICATE` blocks in text files and whole-file DER certificates. Each
record carries the SHA-256 of its SubjectPublicKeyInfo, the same fingerprint
`crypto.private-key` computes for keys, so a key is paired with the
certificates it belongs to.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from iotcop.checks.secrets.files import is_reference_material
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa
except ImportError:  # pragma: no cover
    x509 = None

MAX_PEM_FILE_BYTES = 2 * 1024 * 1024
MAX_DER_FILE_BYTES = 64 * 1024
_PEM_CERT = re.compile(rb"-----BEGIN (?:TRUSTED )?CERTIFICATE-----[A-Za-z0-9+/=\s]{64,65536}?-----END (?:TRUSTED )?CERTIFICATE-----")


@dataclass(frozen=True, slots=True)
class Certificate:
    path: str
    line: int | None
    subject: str
    issuer: str
    self_signed: bool
    is_ca: bool
    fingerprint: str  # SHA-256 of the DER SubjectPublicKeyInfo, hex
    key: str  # "RSA 2048-bit", "EC secp256r1 256-bit" ...
    not_after: str
    signature_hash: str | None


def _key_text(public) -> str:
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA {public.key_size}-bit"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"EC {public.curve.name} {public.key_size}-bit"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "Ed25519 256-bit"
    if isinstance(public, dsa.DSAPublicKey):
        return f"DSA {public.key_size}-bit"
    return type(public).__name__


def describe(cert, path: str, line: int | None) -> Certificate | None:
    try:
        public = cert.public_key()
        spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        self_signed = cert.subject == cert.issuer
        if self_signed:
            try:
                cert.verify_directly_issued_by(cert)
            except Exception:  # noqa: BLE001 - names match but the signature is not its own
                self_signed = False
        try:
            sig = cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None
        except Exception:  # noqa: BLE001 - unsupported algorithm
            sig = None
        return Certificate(path, line, subject, issuer, self_signed, is_ca, hashlib.sha256(spki).hexdigest(),
                           _key_text(public), cert.not_valid_after_utc.date().isoformat(), sig)
    except Exception:  # noqa: BLE001 - a malformed certificate is skipped
        return None


def collect(fw: Firmware) -> tuple[Certificate, ...]:
    if x509 is None:
        return ()
    out: list[Certificate] = []
    for entry in fw.files():
        if entry.size == 0 or is_reference_material(entry.path):
            continue
        if entry.magic in ("pem", "text") and entry.size <= MAX_PEM_FILE_BYTES:
            data = fw.read_bytes(entry)
            if not data or b"CERTIFICATE-----" not in data:
                continue
            for m in _PEM_CERT.finditer(data):
                try:
                    cert = x509.load_pem_x509_certificate(m.group(0))
                except Exception:  # noqa: BLE001
                    continue
                c = describe(cert, entry.path, data.count(b"\n", 0, m.start()) + 1)
                if c:
                    out.append(c)
        elif entry.magic == "der" and entry.size <= MAX_DER_FILE_BYTES:
            data = fw.read_bytes(entry)
            try:
                cert = x509.load_der_x509_certificate(data)
            except Exception:  # noqa: BLE001
                continue
            c = describe(cert, entry.path, None)
            if c:
                out.append(c)
    return tuple(out)


CERTIFICATES = DerivedFact("crypto.certificates", collect)


def certificates(fw: Firmware) -> tuple[Certificate, ...]:
    return CERTIFICATES.of(fw)
