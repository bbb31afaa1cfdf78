"""Ed25519 keys and signed label files.

A signed label file is the canonical JSON of {"label": ..., "signature": ...}
plus a newline: keys sorted, no spaces, ASCII only, no floats.  The signature
covers the canonical JSON of "label".  Verification re-creates the exact file
bytes from what it parsed, so any changed byte fails, even one that would
parse to the same data (white space, escapes, base64 padding bits).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from iotcop.errors import InputError
from iotcop.files import write_atomic

PRIVATE_NAME = "label-signing.key"
PUBLIC_NAME = "label-signing.pub"
ALGORITHM = "Ed25519"


class LabelInvalid(Exception):
    """The label file is not exactly what the key holder signed."""


def default_key_dir() -> Path:
    env = os.environ.get("IOTCOP_KEYS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "iotcop" / "keys"


def canonical_json(value) -> bytes:
    _reject_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def _reject_floats(value) -> None:
    if isinstance(value, float):
        raise ValueError("label data must not hold floating point numbers (their text form is not canonical)")
    if isinstance(value, dict):
        for v in value.values():
            _reject_floats(v)
    elif isinstance(value, list):
        for v in value:
            _reject_floats(v)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# --- keys ------------------------------------------------------------------------


def init_keys(directory: Path, force: bool = False) -> tuple[Path, Path]:
    private_path, public_path = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    if not force and (private_path.exists() or public_path.exists()):
        raise InputError(f"{directory}: a signing key already exists (use --force to replace it)")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise InputError(f"{directory}: cannot create the key folder ({exc.strerror})") from None
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    old_umask = os.umask(0o077)
    try:
        write_atomic(private_path, private_pem)
    finally:
        os.umask(old_umask)
    os.chmod(private_path, 0o600)
    write_atomic(public_path, public_pem)
    os.chmod(public_path, 0o644)
    return private_path, public_path


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    path = Path(path)
    if path.is_dir():
        path = path / PRIVATE_NAME
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    path = Path(path)
    if path.is_dir():
        path = path / PUBLIC_NAME
    data = _read(path)
    try:
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path}: not an Ed25519 key")
    return key


# --- signed files ----------------------------------------------------------------


def sign_label(label: dict, key: Ed25519PrivateKey) -> bytes:
    """The bytes of a signed label file."""
    signature = key.sign(canonical_json(label))
    doc = {"label": label, "signature": {"algorithm": ALGORITHM, "key_id": key_id(key.public_key()),
                                         "value": base64.b64encode(signature).decode("ascii")}}
    return canonical_json(doc) + b"\n"


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise LabelInvalid(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name):
    raise LabelInvalid(f"non-standard JSON value {name}")


def verify_label(data: bytes, public: Ed25519PublicKey) -> dict:
    """The label data when `data` is exactly a file signed by `public`; raises LabelInvalid otherwise."""
    try:
        text = data.decode("ascii")
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                         parse_float=lambda s: _no_constant(s))
    except UnicodeDecodeError:
        raise LabelInvalid("not ASCII: a signed label file is plain ASCII JSON") from None
    except json.JSONDecodeError as exc:
        raise LabelInvalid(f"not valid JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(doc, dict) or set(doc) != {"label", "signature"}:
        raise LabelInvalid("expected exactly the keys 'label' and 'signature'")
    label, sig = doc["label"], doc["signature"]
    if not isinstance(label, dict) or not isinstance(sig, dict) or set(sig) != {"algorithm", "key_id", "value"}:
        raise LabelInvalid("malformed label or signature object")
    if sig["algorithm"] != ALGORITHM:
        raise LabelInvalid(f"unsupported signature algorithm {sig['algorithm']!r}")
    if canonical_json(doc) + b"\n" != data:
        raise LabelInvalid("the file is not byte-for-byte in the form it was signed in (it was changed)")
    value = sig["value"]
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 64 or base64.b64encode(raw).decode("ascii") != value:
        raise LabelInvalid("the signature is not a canonical base64 Ed25519 signature")
    expected = key_id(public)
    if sig["key_id"] != expected:
        raise LabelInvalid(f"signed by another key (key id {sig['key_id']}, trusted key {expected})")
    try:
        public.verify(raw, canonical_json(label))
    except InvalidSignature:
        raise LabelInvalid("the signature does not match the label data (it was changed)") from None
    return label
