"""Private keys shipped in the image.

A private key in a firmware image is the same on every device that runs it:
whoever downloads the image can impersonate the device (SSH host key, TLS
server key) or decrypt its traffic.  Formats found:

* PEM blocks (PKCS#1 RSA/DSA/EC, PKCS#8, encrypted PKCS#8, legacy encrypted
  PEM, OpenSSH), anywhere in any file, including inside binaries;
* whole-file DER: PKCS#1/PKCS#8 private keys and PKCS#12 bundles;
* dropbear's binary host key format.

A block is reported only when its body decodes to a key structure; markers
with no key behind them, public keys and certificates are not reported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from dataclasses import astuple, dataclass
from typing import Iterator

from iotcop.checks.base import CheckDoc, CheckOutput, ContentCheck
from iotcop.checks.crypto.certificates import CERTIFICATES
from iotcop.checks.services.boot import BOOT_COMMANDS
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware, looks_binary
from iotcop.model import Severity

try:  # parsing gives type and size; without it the structure checks below still decide
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import (
        dh,
        dsa,
        ec,
        ed448,
        ed25519,
        rsa,
        x448,
        x25519,
    )
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError:  # pragma: no cover - exercised only where cryptography is absent
    serialization = None

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_DER_FILE_BYTES = 64 * 1024  # a key or PKCS#12 bundle is far smaller

_PEM_KEY = re.compile(
    rb"-----BEGIN ((?:RSA |EC |DSA |ENCRYPTED |OPENSSH )?PRIVATE KEY)-----"
    rb"([A-Za-z0-9+/=\s:,\-]{0,65536}?)"
    rb"-----END \1-----"
)
_PEM_HEADER = re.compile(rb"^([A-Za-z-]+):\s*(.*)$")

# Test suites, documentation and examples ship throw-away keys that no service uses.
_NOT_DEVICE_KEY_PARTS = frozenset({"test", "tests", "testing", "testdata", "test_data", "examples", "example"})
_NOT_DEVICE_KEY_DIRS = ("/usr/share/doc/", "/usr/share/man/")

_SSH_KEY_TYPES = (
    b"ssh-rsa",
    b"ssh-dss",
    b"ssh-ed25519",
    b"ecdsa-sha2-nistp256",
    b"ecdsa-sha2-nistp384",
    b"ecdsa-sha2-nistp521",
)

# OID 1.2.840.113549.1.7.1 (PKCS#7 data), the authSafe content type of a PKCS#12 PFX.
_OID_PKCS7_DATA = bytes.fromhex("06092a864886f70d010701")


@dataclass(frozen=True, slots=True)
class KeyFound:
    format: str  # "PEM PKCS#1", "PEM PKCS#8", "OpenSSH", "DER", "PKCS#12", "dropbear"
    algorithm: str | None  # "RSA", "EC P-256", "Ed25519", ...
    bits: int | None
    encrypted: bool
    offset: int
    line: int | None
    excerpt: str
    fingerprint: str | None = None  # SHA-256 of the public key (DER SubjectPublicKeyInfo), hex

    def describe(self) -> str:
        what = self.algorithm or "private"
        if self.bits:
            what += f" {self.bits}-bit"
        return what


# -- DER helpers ------------------------------------------------------------------


def _der_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(length, position of the content) for the TLV whose length byte is at `pos`."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if count == 0 or count > 4 or pos + 1 + count > len(data):
        return None
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


def _whole_der_sequence(data: bytes) -> bool:
    """The bytes are exactly one DER SEQUENCE (not a prefix of something larger)."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    parsed = _der_length(data, 1)
    return parsed is not None and parsed[1] + parsed[0] == len(data)


def _looks_like_pkcs12(data: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo { OID data ... } }."""
    if not _whole_der_sequence(data):
        return False
    _, pos = _der_length(data, 1)
    if data[pos : pos + 3] != b"\x02\x01\x03" or data[pos + 3 : pos + 4] != b"\x30":
        return False
    inner = _der_length(data, pos + 4)
    return inner is not None and data[inner[1] : inner[1] + len(_OID_PKCS7_DATA)] == _OID_PKCS7_DATA


# -- key descriptions via cryptography ---------------------------------------------------


def _describe_key(key) -> tuple[str | None, int | None, str | None]:
    if serialization is None:
        return None, None, None
    if isinstance(key, rsa.RSAPrivateKey):
        algo, bits = "RSA", key.key_size
    elif isinstance(key, dsa.DSAPrivateKey):
        algo, bits = "DSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algo, bits = f"EC {key.curve.name}", key.key_size
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        algo, bits = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PrivateKey):
        algo, bits = "Ed448", 456
    elif isinstance(key, x25519.X25519PrivateKey):
        algo, bits = "X25519", 256
    elif isinstance(key, x448.X448PrivateKey):
        algo, bits = "X448", 448
    elif isinstance(key, dh.DHPrivateKey):
        algo, bits = "DH", key.key_size
    else:
        algo, bits = type(key).__name__, None
    try:
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        fingerprint = hashlib.sha256(spki).hexdigest()
    except Exception:  # noqa: BLE001 - a fingerprint is a courtesy, not a requirement
        fingerprint = None
    return algo, bits, fingerprint


def _consistent(key) -> bool:
    """A cheap sanity check in place of OpenSSL's full RSA validation (seconds for 8192-bit keys)."""
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        return n.p > 1 and n.q > 1 and n.p * n.q == n.public_numbers.n
    return True


def _load_der_key(der: bytes):
    """(key, encrypted) from DER PKCS#1/PKCS#8, or None when it is not a loadable private key."""
    if serialization is None:
        return None
    try:
        key = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
        return (key, False) if _consistent(key) else None
    except TypeError:
        return None, True  # encrypted PKCS#8 with a valid structure
    except Exception:  # noqa: BLE001 - malformed or unsupported input is not a usable key
        return None


# -- format readers ------------------------------------------------------------------


def _pem_body(block: bytes) -> tuple[dict[str, str], bytes] | None:
    headers: dict[str, str] = {}
    lines = [ln.strip() for ln in block.replace(b"\r", b"").split(b"\n")]
    body = []
    for ln in lines:
        if not ln:
            continue
        m = _PEM_HEADER.match(ln)
        if m and not body:
            headers[m.group(1).decode().lower()] = m.group(2).decode(errors="replace")
            continue
        body.append(ln)
    try:
        raw = base64.b64decode(b"".join(body), validate=True)
    except (binascii.Error, ValueError):
        return None
    return headers, raw


def _openssh_key(raw: bytes) -> tuple[str | None, int | None, bool] | None:
    """(algorithm, bits, encrypted) for an `openssh-key-v1` blob; None if it is not one."""
    magic = b"openssh-key-v1\x00"
    if not raw.startswith(magic):
        return None
    pos = len(magic)
    fields = []
    try:
        for _ in range(3):  # ciphername, kdfname, kdfoptions
            (n,) = struct.unpack_from(">I", raw, pos)
            fields.append(raw[pos + 4 : pos + 4 + n])
            pos += 4 + n
        (count,) = struct.unpack_from(">I", raw, pos)
        pos += 4
        (n,) = struct.unpack_from(">I", raw, pos)
        public_blob = raw[pos + 4 : pos + 4 + n]
        pos += 4 + n
        (n,) = struct.unpack_from(">I", raw, pos)
        if count < 1 or pos + 4 + n > len(raw) or n == 0:
            return None
    except struct.error:
        return None
    encrypted = fields[0] != b"none"
    algo, bits = _ssh_public_blob(public_blob)
    return algo, bits, encrypted


def _ssh_strings(data: bytes, pos: int = 0):
    while pos < len(data):
        if pos + 4 > len(data):
            raise ValueError("truncated length")
        (n,) = struct.unpack_from(">I", data, pos)
        if pos + 4 + n > len(data):
            raise ValueError("truncated field")
        yield data[pos + 4 : pos + 4 + n]
        pos += 4 + n


def _ssh_public_blob(blob: bytes) -> tuple[str | None, int | None]:
    try:
        parts = list(_ssh_strings(blob))
    except ValueError:
        return None, None
    if not parts:
        return None, None
    kind = parts[0]
    if kind == b"ssh-rsa" and len(parts) == 3:
        return "RSA", int.from_bytes(parts[2], "big").bit_length()
    if kind == b"ssh-ed25519":
        return "Ed25519", 256
    if kind.startswith(b"ecdsa-sha2-"):
        return f"ECDSA {kind[11:].decode()}", None
    if kind == b"ssh-dss" and len(parts) == 5:
        return "DSA", int.from_bytes(parts[1], "big").bit_length()
    return kind.decode(errors="replace"), None


def _dropbear_key(data: bytes) -> tuple[str, int | None] | None:
    """(algorithm, bits) when the whole file is a dropbear private host key."""
    if len(data) > 16384 or len(data) < 11:
        return None
    try:
        parts = list(_ssh_strings(data))
    except ValueError:
        return None
    if not parts or parts[0] not in _SSH_KEY_TYPES:
        return None
    kind = parts[0]
    # Private layouts (a public key blob has fewer fields): rsa e n d p q, dss p q g y x,
    # ed25519 one 64-byte field (seed + public), ecdsa curve Q d.
    if kind == b"ssh-rsa" and len(parts) == 6:
        return "RSA", int.from_bytes(parts[2], "big").bit_length()
    if kind == b"ssh-dss" and len(parts) == 6:
        return "DSA", int.from_bytes(parts[1], "big").bit_length()
    if kind == b"ssh-ed25519" and len(parts) == 2 and len(parts[1]) == 64:
        return "Ed25519", 256
    if kind.startswith(b"ecdsa-sha2-") and len(parts) == 4:
        return f"ECDSA {parts[1].decode(errors='replace')}", None
    return None


# -- the check ---------------------------------------------------------------------------


def _line_at(data: bytes, offset: int) -> int | None:
    if looks_binary(data):
        return None
    return data.count(b"\n", 0, offset) + 1


def _pem_keys(data: bytes) -> Iterator[KeyFound]:
    if data.find(b"PRIVATE KEY-----") < 0:
        return
    for m in _PEM_KEY.finditer(data):
        label = m.group(1).decode()
        parsed = _pem_body(m.group(2))
        if parsed is None:
            continue
        headers, raw = parsed
        excerpt = f"-----BEGIN {label}-----"
        line = _line_at(data, m.start())
        if label == "OPENSSH PRIVATE KEY":
            info = _openssh_key(raw)
            if info is None:
                continue
            algo, bits, encrypted = info
            fingerprint = None
            if not encrypted and serialization is not None:
                try:
                    key = serialization.load_ssh_private_key(m.group(0), password=None)
                    fingerprint = _describe_key(key)[2]
                except Exception:  # noqa: BLE001 - the fingerprint only serves pairing with certificates
                    fingerprint = None
            yield KeyFound("OpenSSH", algo, bits, encrypted, m.start(), line, excerpt, fingerprint)
            continue
        legacy_encrypted = "ENCRYPTED" in headers.get("proc-type", "").upper()
        if legacy_encrypted:
            # The body is ciphertext: judge by the cipher header and a block-aligned body.
            if "dek-info" not in headers or len(raw) < 64 or len(raw) % 8:
                continue
            algo = {"RSA PRIVATE KEY": "RSA", "EC PRIVATE KEY": "EC", "DSA PRIVATE KEY": "DSA"}.get(label)
            yield KeyFound("PEM (legacy encryption)", algo, None, True, m.start(), line, excerpt)
            continue
        if not _whole_der_sequence(raw) or len(raw) < 32:
            continue
        fmt = "PEM PKCS#8" if label in ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") else "PEM PKCS#1"
        if label == "ENCRYPTED PRIVATE KEY":
            yield KeyFound(fmt, None, None, True, m.start(), line, excerpt)
            continue
        if serialization is None:
            yield KeyFound(fmt, label.split()[0] if label != "PRIVATE KEY" else None, None, False, m.start(), line, excerpt)
            continue
        try:
            key = serialization.load_pem_private_key(m.group(0), password=None, unsafe_skip_rsa_key_validation=True)
        except TypeError:
            yield KeyFound(fmt, None, None, True, m.start(), line, excerpt)
            continue
        except Exception:  # noqa: BLE001 - not a loadable key: not reported
            continue
        if not _consistent(key):
            continue
        algo, bits, fingerprint = _describe_key(key)
        yield KeyFound(fmt, algo, bits, False, m.start(), line, excerpt, fingerprint)


def _der_keys(data: bytes) -> Iterator[KeyFound]:
    if len(data) > MAX_DER_FILE_BYTES or not _whole_der_sequence(data):
        return
    head = data[:16].hex()
    if _looks_like_pkcs12(data):
        yield from _pkcs12(data, head)
        return
    loaded = _load_der_key(data)
    if loaded is None:
        if serialization is None and data[2:5] == b"\x02\x01\x00":
            yield KeyFound("DER", None, None, False, 0, None, head)  # structure only
        return
    key, encrypted = loaded
    if encrypted:
        yield KeyFound("DER PKCS#8", None, None, True, 0, None, head)
        return
    algo, bits, fingerprint = _describe_key(key)
    yield KeyFound("DER", algo, bits, False, 0, None, head, fingerprint)


def _pkcs12(data: bytes, head: str) -> Iterator[KeyFound]:
    if serialization is None:
        yield KeyFound("PKCS#12", None, None, True, 0, None, head)
        return
    for password in (None, b""):
        try:
            key, _cert, _more = pkcs12.load_key_and_certificates(data, password)
        except Exception:  # noqa: BLE001 - wrong password or not decodable without one
            continue
        if key is None:
            return  # a certificate-only bundle holds no secret
        algo, bits, fingerprint = _describe_key(key)
        yield KeyFound("PKCS#12", algo, bits, False, 0, None, head, fingerprint)
        return
    # Password-protected: its contents (key or only certificates) cannot be seen.
    yield KeyFound("PKCS#12 (password-protected)", None, None, True, 0, None, head)


_PPK_HEADER = re.compile(rb"^PuTTY-User-Key-File-(\d): ([\w@.-]+)\r?\n")


def _putty_key(data: bytes) -> KeyFound | None:
    """PuTTY .ppk (versions 1-3): header, Encryption, Public-Lines, base64 public blob, Private-Lines."""
    m = _PPK_HEADER.match(data)
    if m is None:
        return None
    text = data.decode("ascii", "replace")
    fields = dict(re.findall(r"^([A-Za-z-]+): ?(.*?)\r?$", text, re.M))
    try:
        public_lines = int(fields.get("Public-Lines", "0"))
        private_lines = int(fields.get("Private-Lines", "0"))
    except ValueError:
        return None
    if private_lines < 1:
        return None
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("Public-Lines:")), None)
    algo = bits = None
    if start is not None:
        try:
            blob = base64.b64decode("".join(lines[start + 1: start + 1 + public_lines]), validate=True)
            algo, bits = _ssh_public_blob(blob)
        except (binascii.Error, ValueError):
            return None
    if algo == "Ed25519":
        bits = 256
    encrypted = fields.get("Encryption", "none").strip() != "none"
    return KeyFound(f"PuTTY PPK v{m.group(1).decode()}", algo, bits, encrypted, 0, 1, m.group(0).decode().strip())


# Starts of DER private keys inside a program: PKCS#1 RSA (version 0, then the modulus), PKCS#8 (version 0, then
# an AlgorithmIdentifier) and SEC1 EC (version 1, then a 32-66 byte private scalar).
_EMBEDDED_DER = re.compile(rb"\x30\x82(..)\x02\x01\x00(?:\x02\x82|\x02\x81|\x30[\x0d-\x14]\x06)|\x30\x81?([\x74-\xdf])\x02\x01\x01\x04[\x20-\x42]", re.S)
MAX_EMBEDDED_DER = 64


def _embedded_der_keys(data: bytes) -> Iterator[KeyFound]:
    """DER private keys compiled into an ELF file, each loaded and checked for consistency."""
    if serialization is None:
        return
    count = 0
    for m in _EMBEDDED_DER.finditer(data):
        if count >= MAX_EMBEDDED_DER:
            return
        if m.group(1) is not None:
            length = 4 + int.from_bytes(m.group(1), "big")
        else:
            length = (3 if data[m.start() + 1] == 0x81 else 2) + m.group(2)[0]
        der = data[m.start(): m.start() + length]
        if len(der) < length:
            continue
        loaded = _load_der_key(der)
        if loaded is None or loaded[1]:
            continue
        key = loaded[0]
        if not _consistent(key):
            continue
        count += 1
        algo, bits, fingerprint = _describe_key(key)
        yield KeyFound("DER in a program", algo, bits, False, m.start(), None, der[:16].hex(), fingerprint)


def keys_in(data: bytes) -> list[KeyFound]:
    """Private keys in one file's bytes."""
    if not data:
        return []
    if data.startswith(b"PuTTY-User-Key-File-"):
        ppk = _putty_key(data)
        return [ppk] if ppk else []
    found = list(_pem_keys(data))
    if data.startswith(b"\x7fELF"):
        found.extend(_embedded_der_keys(data))
    if not found:
        found.extend(_der_keys(data))
    if not found:
        dropbear = _dropbear_key(data)
        if dropbear is not None:
            algo, bits = dropbear
            found.append(KeyFound("dropbear", algo, bits, False, 0, None, data[4 : 4 + data[3]].decode(errors="replace")))
    return found


def private_keys(fw: Firmware) -> list[tuple[FileEntry, list[KeyFound]]]:
    """Every file holding private keys (test and example trees included), from the content pass."""
    return [(entry, [KeyFound(*row) for row in rows]) for entry, rows in fw.content_results(PrivateKey())]


def _is_service_key(path: str) -> bool:
    """Keys the device itself uses to protect a service (SSH host keys, TLS server keys in /etc)."""
    name = path.rsplit("/", 1)[-1]
    return "host_key" in name or "dropbear" in path or path.startswith("/etc/")


def _is_throwaway(path: str) -> bool:
    parts = path.lower().split("/")
    return path.startswith(_NOT_DEVICE_KEY_DIRS) or any(p in _NOT_DEVICE_KEY_PARTS for p in parts[:-1])


_HOST_KEY_NAME = re.compile(r"^(?:ssh_host_\w+_key|dropbear_\w+_host_key|dropbear_\w+_key|\w*host_key)$")
_SSHD_HOSTKEY = re.compile(r"^\s*HostKey\s+(\S+)", re.M)


def ssh_host_key_references(fw: Firmware) -> dict[str, str]:
    """Device paths of SSH host keys named in sshd_config or on dropbear's command line -> where."""
    refs: dict[str, str] = {}
    for entry in fw.files():
        if entry.name == "sshd_config" and entry.size < 256 * 1024:
            text = fw.read_text(entry) or ""
            for m in _SSHD_HOSTKEY.finditer(text):
                refs.setdefault(m.group(1), f"HostKey in {entry.path}:{text.count(chr(10), 0, m.start()) + 1}")
    from iotcop.checks.services.boot import boot_commands

    for cmd in boot_commands(fw):
        if cmd.program in ("dropbear", "sshd"):
            args = list(cmd.args)
            for i, arg in enumerate(args):
                if arg in ("-r", "-h") and i + 1 < len(args) and "%" not in args[i + 1]:
                    refs.setdefault(args[i + 1], f"{cmd.program} {arg} in {cmd.site}")
    return refs


def is_self_test_set(entry: FileEntry, keys: list[KeyFound]) -> bool:
    """Known-answer and benchmark test keys compiled into a crypto library or tool: three or more keys of two or
    more algorithms in one ELF, or three or more DER keys of different sizes (openssl speed's RSA 512 ... 15360)."""
    if entry.magic != "elf" or len(keys) < 3:
        return False
    if len({(k.algorithm or "?").split()[0] for k in keys}) >= 2:
        return True
    embedded = [k for k in keys if k.format == "DER in a program"]
    return len(embedded) >= 3 and len({k.bits for k in embedded}) >= 3


class PrivateKey(ContentCheck):
    ID = "crypto.private-key"
    VERSION = "1.2.0"
    SEVERITY = Severity.high
    TIMEOUT = 180.0
    NEEDS_ROOTFS = False
    USES = (CERTIFICATES, BOOT_COMMANDS)
    DOC = CheckDoc(
        title="Private key shipped in the firmware image",
        why=(
            "A private key in the image is identical on every device and readable by anyone who obtains "
            "the image: SSH host keys and TLS server keys can be used to impersonate any device or decrypt "
            "its traffic, and any other private key is a hard-coded critical security parameter."
        ),
        fix=(
            "Generate host and server keys on the device at first boot (or inject them per device at "
            "manufacture into protected storage) and remove private keys from the image."
        ),
        references=(
            "CWE-321: Use of Hard-coded Cryptographic Key",
        ),
        limitations=(
            "PEM blocks are found anywhere in any file up to 16 MB; DER keys and PKCS#12 bundles when they make "
            "up a whole file (up to 64 KB), and DER PKCS#1, PKCS#8 and SEC1 keys compiled into ELF programs (each "
            "loaded and checked); keys inside programs are reported with confidence likely and their offset; PuTTY .ppk and dropbear keys when they are a whole file; "
            "raw key bytes without any container are not found.  An ELF file holding three or more keys of two or "
            "more algorithms (the self-test vectors of libraries such as GnuTLS) is not reported.  "
            "Keys under test, example and documentation directories are not reported.  A password-protected "
            "PKCS#12 bundle is reported as possibly holding a key.  Encrypted keys are reported with lower "
            "severity: the passphrase is usually in the same image.  A key is paired with the certificates in "
            "the image that carry the same public key (PEM and whole-file DER certificates); SSH host keys are "
            "recognised by name (ssh_host_*_key, dropbear_*_host_key) and by sshd_config HostKey / dropbear -r."
        ),
    )

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        return MAX_FILE_BYTES if 0 < entry.size <= MAX_FILE_BYTES else 0

    def scan_content(self, entry: FileEntry, data: bytes):
        return [list(astuple(key)) for key in keys_in(data)] or None

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        from iotcop.checks.crypto.certificates import certificates

        by_key: dict[str, list] = {}
        for cert in certificates(fw):
            by_key.setdefault(cert.fingerprint, []).append(cert)
        host_refs = ssh_host_key_references(fw)
        for entry, keys in private_keys(fw):
            if _is_throwaway(entry.path) or is_self_test_set(entry, keys):
                continue
            for key in keys:
                service = _is_service_key(entry.path)
                state = "encrypted" if key.encrypted else "unencrypted"
                detail = f"{key.format}, {key.describe()} key, {state}"
                if key.bits:
                    detail += f", {key.bits} bits"
                if key.fingerprint:
                    detail += f", public key SHA-256 {key.fingerprint}"
                certs = by_key.get(key.fingerprint or "", [])
                for cert in certs[:3]:
                    detail += (f"; belongs to certificate {cert.path}" + (f":{cert.line}" if cert.line else "")
                               + f" ({cert.subject or 'no subject'}, {'self-signed' if cert.self_signed else 'issued by ' + cert.issuer}"
                               + f", {cert.key}, valid until {cert.not_after})")
                host_ref = host_refs.get(entry.path)
                host_key = host_ref is not None or (_HOST_KEY_NAME.match(entry.name) is not None and key.format in ("OpenSSH", "PEM PKCS#1", "PEM PKCS#8", "dropbear", "PEM (legacy encryption)"))
                if host_key:
                    detail += ("; SSH host key" + (f" used by {host_ref}" if host_ref else "")
                               + ": baked into the image, so every unit presents the same host identity and a "
                               "man-in-the-middle with this key is accepted by clients that trusted any unit")
                    title = f"SSH host key baked into the image ({key.describe()}, shared by every unit)"
                else:
                    title = f"{'Encrypted' if key.encrypted else 'Unencrypted'} {key.describe()} key in the image"
                in_program = entry.magic == "elf"
                if in_program:
                    detail += (f"; compiled into a program at offset {key.offset}: the same on every unit, though "
                               "whether the program uses it is not traced")
                yield self.finding(
                    entry,
                    title=title,
                    line=key.line,
                    offset=key.offset,
                    excerpt=key.excerpt,
                    detail=detail,
                    confidence="likely" if in_program else "confirmed",
                    severity=Severity.medium if key.encrypted else Severity.high,
                    provisions=("5.4-3", "5.4-4") if service or host_key or certs else ("5.4-3",),
                )
