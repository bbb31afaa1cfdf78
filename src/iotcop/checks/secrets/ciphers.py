"""Vendor encryption of configuration secrets, as data: which cipher, how the value is written, which key.

The schemes (`checks/data/config-ciphers.yaml`) and the published vendor keys (`checks/data/known-keys.yaml`)
are validated when first read.  Decryption uses the `cryptography` library (single DES is TripleDES with
the key repeated, from its `decrepit` module).  A decryption is believed only when its padding is valid and
the plaintext is printable text, so trying every key found in an image on every encrypted-looking value
gives no false plaintexts in practice.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ALGORITHMS = {"des-ecb": 8, "3des-ecb": 8, "aes-ecb": 16, "aes-cbc": 16}
ENCODINGS = ("base64", "hex", "raw")
PADDINGS = ("zero", "pkcs7", "none")


class SchemeError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class KnownKey:
    id: str
    vendor: str
    algorithm: str
    key: bytes
    iv: bytes | None
    used_for: str
    source: str


@dataclass(frozen=True, slots=True)
class Scheme:
    id: str
    description: str
    algorithm: str
    encodings: tuple[str, ...]
    paddings: tuple[str, ...]
    symbol: re.Pattern[str] | None  # key held in an ELF data symbol whose name matches
    sizes: tuple[int, ...]
    known: str | None  # or a published key

    @property
    def block(self) -> int:
        return ALGORITHMS[self.algorithm]


@dataclass(frozen=True, slots=True)
class ImageKey:
    """Key material found in the image: a data symbol of an ELF file or the bytes of a published key."""

    path: str
    offset: int
    key: bytes
    symbol: str | None = None
    known: str | None = None  # id in known-keys.yaml

    def describe(self) -> str:
        name = f"symbol {self.symbol}" if self.symbol else f"published key {self.known}"
        return f"{name} in {self.path} (offset {self.offset})"


def _data(name: str) -> dict:
    return yaml.safe_load(resources.files("iotcop.checks").joinpath(f"data/{name}").read_text("utf-8"))


@cache
def known_keys() -> dict[str, KnownKey]:
    out = {}
    for row in _data("known-keys.yaml")["keys"]:
        try:
            key = bytes.fromhex(row["key"])
            iv = bytes.fromhex(row["iv"]) if row.get("iv") else None
        except (KeyError, ValueError) as exc:
            raise SchemeError(f"known-keys.yaml: bad key row {row.get('id')!r}: {exc}") from None
        if row.get("algorithm") not in ALGORITHMS or not row.get("source"):
            raise SchemeError(f"known-keys.yaml: {row.get('id')!r} needs a known algorithm and a source")
        out[row["id"]] = KnownKey(row["id"], row["vendor"], row["algorithm"], key, iv, row["used_for"], row["source"])
    return out


@cache
def schemes() -> tuple[Scheme, ...]:
    out = []
    keys = known_keys()
    for row in _data("config-ciphers.yaml")["schemes"]:
        where = row.get("key") or {}
        algorithm = row.get("algorithm")
        if algorithm not in ALGORITHMS:
            raise SchemeError(f"config-ciphers.yaml: {row.get('id')!r} has unknown algorithm {algorithm!r}")
        if not set(row.get("encodings", ())) <= set(ENCODINGS) or not set(row.get("padding", ())) <= set(PADDINGS):
            raise SchemeError(f"config-ciphers.yaml: {row.get('id')!r} has an unknown encoding or padding")
        if ("symbol" in where) == ("known" in where):
            raise SchemeError(f"config-ciphers.yaml: {row.get('id')!r} needs exactly one of key.symbol, key.known")
        if "known" in where and where["known"] not in keys:
            raise SchemeError(f"config-ciphers.yaml: {row.get('id')!r} names unknown key {where['known']!r}")
        out.append(Scheme(row["id"], row["description"], algorithm, tuple(row["encodings"]), tuple(row["padding"]),
                          re.compile(where["symbol"]) if "symbol" in where else None,
                          tuple(where.get("sizes", ())), where.get("known")))
    return tuple(out)


@cache
def symbol_named(name: str) -> bool:
    """Whether some scheme may take its key from a data symbol of this name (any size)."""
    return any(s.symbol is not None and s.symbol.search(name) for s in schemes())


def symbol_wanted(name: str, size: int) -> bool:
    """Whether an ELF data symbol of this name and size may hold a key of some scheme."""
    return any(s.symbol is not None and size in s.sizes and s.symbol.search(name) for s in schemes())


# -- cipher primitives ---------------------------------------------------------------------------------


def _cipher(algorithm: str, key: bytes, iv: bytes | None) -> Cipher:
    if algorithm in ("des-ecb", "3des-ecb"):
        if len(key) == 8:
            key = key * 3
        elif len(key) == 16:
            key = key + key[:8]
        return Cipher(TripleDES(key), modes.ECB())
    if algorithm == "aes-ecb":
        return Cipher(algorithms.AES(key), modes.ECB())
    if algorithm == "aes-cbc":
        return Cipher(algorithms.AES(key), modes.CBC(iv or b"\x00" * 16))
    raise SchemeError(f"unknown algorithm {algorithm}")


def decrypt(algorithm: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    d = _cipher(algorithm, key, iv).decryptor()
    return d.update(data) + d.finalize()


def encrypt(algorithm: str, key: bytes, data: bytes, iv: bytes | None = None) -> bytes:
    """For tests and fixtures: the inverse of `decrypt` (the caller pads)."""
    e = _cipher(algorithm, key, iv).encryptor()
    return e.update(data) + e.finalize()


def unpad(data: bytes, padding: str, block: int) -> bytes | None:
    if padding == "none":
        return data
    if padding == "zero":
        stripped = data.rstrip(b"\x00")
        return stripped if len(data) - len(stripped) < block + 1 else None
    n = data[-1] if data else 0
    if 1 <= n <= block and data.endswith(bytes([n]) * n):
        return data[:-n]
    return None


_PRINTABLE = re.compile(rb"^[\x20-\x7e]+$")


def printable(data: bytes) -> str | None:
    return data.decode("ascii") if data and _PRINTABLE.match(data) else None


def decode(value: str, encoding: str) -> bytes | None:
    value = value.strip()
    try:
        if encoding == "base64":
            if not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", value) or len(value) % 4:
                return None
            return base64.b64decode(value, validate=True)
        if encoding == "hex":
            if not re.fullmatch(r"(?:[0-9a-fA-F]{2})+", value):
                return None
            return binascii.unhexlify(value)
    except (ValueError, binascii.Error):
        return None
    return value.encode("latin-1", "replace") if encoding == "raw" else None


@dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: str
    scheme: Scheme
    key: ImageKey
    encoding: str

    def describe(self) -> str:
        return f"{self.scheme.algorithm.upper()} ({self.encoding}) with {self.key.describe()}"


def keys_for(scheme: Scheme, keys: list[ImageKey]) -> list[ImageKey]:
    if scheme.known is not None:
        return [k for k in keys if k.known == scheme.known]
    return [k for k in keys if k.symbol is not None and len(k.key) in scheme.sizes and scheme.symbol.search(k.symbol)]


def decrypt_value(value: str, keys: list[ImageKey]) -> Decrypted | None:
    """The printable plaintext of an encoded, encrypted setting value, trying every scheme with the image's keys."""
    for scheme in schemes():
        candidates = keys_for(scheme, keys)
        if not candidates:
            continue
        for encoding in scheme.encodings:
            if encoding == "raw":
                continue  # a text value is not raw ciphertext
            data = decode(value, encoding)
            if not data or len(data) % scheme.block:
                continue
            for key in candidates:
                iv = known_keys()[key.known].iv if key.known else None
                try:
                    plain = decrypt(scheme.algorithm, key.key, data, iv)
                except ValueError:
                    continue
                for padding in scheme.paddings:
                    text = printable(unpad(plain, padding, scheme.block) or b"")
                    if text is not None and padding != "none":
                        return Decrypted(text, scheme, key, encoding)
    return None


def ecb_structure(data: bytes, block: int = 8) -> tuple[int, int]:
    """(repeated blocks, blocks) of a blob: many repeated aligned blocks show ECB over structured plaintext."""
    blocks = [data[i:i + block] for i in range(0, len(data) - len(data) % block, block)]
    return len(blocks) - len(set(blocks)), len(blocks)
