"""Symmetric keys compiled into programs: data symbols named as keys, and published vendor keys.

`SYMMETRIC_KEYS` is a derived fact collected in the content pass: for each ELF file, the data symbols that a
scheme of `config-ciphers.yaml` may take its key from (read with the project's ELF reader, only for files whose
string table holds such a name), and the offsets of any published key of `known-keys.yaml`.  The configuration readers
use these keys to decrypt stored secrets; `secrets.symmetric-key` reports them.

`encrypted_blobs` lists the data files that look like a 64-bit block cipher in ECB mode over structured
plaintext (high byte entropy, yet many repeated aligned 8-byte blocks): an encrypted configuration.
"""

from __future__ import annotations

import re

from iotcop.checks.secrets.ciphers import ImageKey, ecb_structure, known_keys, symbol_named, symbol_wanted
from iotcop.checks.secrets.files import is_reference_material, shannon_entropy
from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.elf import data_symbols
from iotcop.firmware.model import FileEntry, Firmware

MAX_ELF_BYTES = 32 * 1024 * 1024
MAX_BLOB_BYTES = 8 * 1024 * 1024
MIN_BLOB_ENTROPY = 7.5  # bits per byte: ciphertext, not text or tables
MIN_REPEATED_BLOCKS = 0.02  # share of aligned 8-byte blocks that repeat: ECB over structured plaintext
# Ends of NUL-delimited symbol names that end in "key" (and an index); a literal first makes the search fast.
_KEY_NAME_ENDS = (re.compile(rb"ey\d{0,2}\x00"), re.compile(rb"EY\d{0,2}\x00"))
_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]{0,62}")


def key_symbol_names(data: bytes) -> set[str]:
    """Names in the string tables that a scheme may take its key from: only files holding one are parsed."""
    out = set()
    for end in _KEY_NAME_ENDS:
        for m in end.finditer(data):
            start = data.rfind(b"\x00", max(0, m.start() - 64), m.start()) + 1
            name = data[start:m.end() - 1]
            if start and _NAME.fullmatch(name) and symbol_named(name.decode()):
                out.add(name.decode())
    return out


def _symbol_keys(data: bytes) -> list[list]:
    out = []
    for name, offset, size in data_symbols(data, symbol_wanted):
        key = data[offset:offset + size]
        if len(set(key)) <= 2:
            continue  # zeros or a fill pattern, not key material
        out.append([name, offset, key.hex()])
    return out


class SymmetricKeyMaterial(ContentScanner):
    """Key-named data symbols and published vendor keys inside ELF files."""

    CONTENT_NAME = "symmetric-keys"
    CONTENT_BUDGET = 120.0
    VERSION = "1"

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        if is_reference_material(entry.path):
            return 0
        if entry.magic == "data" and 64 <= entry.size <= MAX_BLOB_BYTES and entry.size % 8 == 0:
            return MAX_BLOB_BYTES
        if entry.magic != "elf" or not 0 < entry.size <= MAX_ELF_BYTES:
            return 0
        return MAX_ELF_BYTES

    def content_variant(self, entry: FileEntry) -> str:
        return entry.magic or ""

    def scan_content(self, entry: FileEntry, data: bytes):
        if entry.magic != "elf":
            return _ecb_blob(data)
        found = {"symbols": [], "known": []}
        for key in known_keys().values():
            pos = data.find(key.key)
            if pos >= 0:
                found["known"].append([key.id, pos])
        if key_symbol_names(data):
            found["symbols"] = _symbol_keys(data)
        return found if found["symbols"] or found["known"] else None


def _ecb_blob(data: bytes):
    data = data[:256 * 1024]  # repeats show early in ECB over a configuration
    repeated, blocks = ecb_structure(data, 8)
    if not blocks or repeated / blocks < MIN_REPEATED_BLOCKS:
        return None
    entropy = shannon_entropy(data)
    if entropy < MIN_BLOB_ENTROPY:
        return None
    return {"ecb": [repeated, blocks, round(entropy, 3)]}


def collect_keys(fw: Firmware) -> tuple[ImageKey, ...]:
    out = []
    for entry, found in fw.content_results(SymmetricKeyMaterial()):
        if "ecb" in found:
            continue
        for name, offset, key in found["symbols"]:
            out.append(ImageKey(entry.path, offset, bytes.fromhex(key), symbol=name))
        for key_id, offset in found["known"]:
            out.append(ImageKey(entry.path, offset, known_keys()[key_id].key, known=key_id))
    return tuple(out)


SYMMETRIC_KEYS = DerivedFact("secrets.symmetric-keys", collect_keys, scanners=(SymmetricKeyMaterial,))


def image_keys(fw: Firmware) -> tuple[ImageKey, ...]:
    return SYMMETRIC_KEYS.of(fw)




def encrypted_blobs(fw: Firmware) -> list[tuple[FileEntry, int, int, float]]:
    """(file, repeated blocks, blocks, entropy) of data files that look ECB-encrypted."""
    return [(entry, *found["ecb"]) for entry, found in fw.content_results(SymmetricKeyMaterial()) if "ecb" in found]
