"""Hard-coded symmetric keys, and configurations encrypted with a key every unit shares."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.stored import STORED_SECRETS, all_stored
from iotcop.checks.secrets.ciphers import ImageKey, decrypt, known_keys, printable, schemes, unpad
from iotcop.checks.secrets.keys import SYMMETRIC_KEYS, encrypted_blobs, image_keys
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity


def _shown(key: bytes) -> str:
    text = key.decode("ascii", "replace")
    return f"'{text}'" if text.isprintable() and "\ufffd" not in text else key.hex()


def _opens(fw: Firmware, blob_path: str, keys: list[ImageKey]) -> tuple[ImageKey, str] | None:
    """A shipped key under which the blob's first blocks decrypt to text, with the scheme's id."""
    entry = fw.get(blob_path)
    data = fw.read_bytes(entry, 4096) if entry is not None else None
    if not data:
        return None
    for scheme in schemes():
        if "raw" not in scheme.encodings:
            continue
        for key in keys:
            if scheme.known is not None and key.known != scheme.known:
                continue
            if scheme.symbol is not None and not (key.symbol and len(key.key) in scheme.sizes and scheme.symbol.search(key.symbol)):
                continue
            iv = known_keys()[key.known].iv if key.known else None
            try:
                head = decrypt(scheme.algorithm, key.key, data[: len(data) - len(data) % scheme.block], iv)
            except ValueError:
                continue
            if printable((unpad(head, "none", scheme.block) or b"")[:64].replace(b"\n", b" ").replace(b"\t", b" ")):
                return key, scheme.id
    return None


class SymmetricKey(Check):
    ID = "secrets.symmetric-key"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (SYMMETRIC_KEYS, STORED_SECRETS)
    DOC = CheckDoc(
        title="Symmetric key compiled into a program",
        why=(
            "A fixed encryption key in a shipped program is the same on every unit: whatever it protects (stored "
            "passwords, configuration backups, secrets in the defaults) is readable by anyone with the image, so "
            "the encryption is obfuscation, not secure storage."
        ),
        fix=(
            "Do not protect secrets with a key in the firmware: derive a per-device key from a hardware-protected "
            "secret (secure element, OTP, TEE) or store passwords as salted slow hashes."
        ),
        references=("CWE-321: Use of Hard-coded Cryptographic Key",),
        limitations=(
            "Finds keys two ways: data symbols of ELF files whose name and size match a key location of a scheme "
            "in config-ciphers.yaml (stripped programs without a symbol table are not searched this way), and the "
            "bytes of the published vendor keys of known-keys.yaml anywhere in an ELF file.  A key that decrypts a "
            "stored secret of the image is confirmed; other key-named symbols are likely.  Data files whose bytes "
            "look like ECB ciphertext over structured text (entropy above 7.5 bits per byte with repeated aligned "
            "8-byte blocks) are reported as configurations encrypted with a shared key when the image ships a "
            "published vendor key, even if the layer under the cipher is not decoded.  A key built at run time, "
            "obfuscated, or held in a symbol of another name is not found."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        keys = list(image_keys(fw))
        used: dict[tuple[str, int], list[str]] = {}
        for s in all_stored(fw):
            if s.decrypted_with is not None:
                used.setdefault((s.decrypted_with.path, s.decrypted_with.offset), []).append(f"{s.path}:{s.line}")
        for key in keys:
            opened = used.get((key.path, key.offset), [])
            opened_text = (f"; it decrypts {len(opened)} stored secret(s) of the image, e.g. {', '.join(sorted(opened)[:3])}"
                           if opened else "")
            if key.known is not None:
                known = known_keys()[key.known]
                yield self.finding(
                    key.path,
                    title=f"Published {known.vendor} {known.algorithm.upper()} key compiled into a program",
                    offset=key.offset,
                    excerpt=key.key.hex(),
                    detail=(f"the {len(key.key)} bytes at offset {key.offset} are the {known.vendor} key used for "
                            f"{known.used_for} (documented in {known.source}); every unit of the product line "
                            f"shares it, so what it encrypts is readable by anyone{opened_text}"),
                    provisions=("5.4-3",),
                )
                continue
            yield self.finding(
                key.path,
                title=f"Hard-coded {len(key.key) * 8}-bit key in data symbol {key.symbol}",
                offset=key.offset,
                excerpt=f"{key.symbol} = {_shown(key.key)}",
                detail=(f"the data symbol {key.symbol} ({len(key.key)} bytes at offset {key.offset}) holds the constant "
                        f"key {_shown(key.key)}, the same on every unit{opened_text}"),
                confidence="confirmed" if opened else "likely",
            )
        by_file: dict[str, list] = {}
        for s in all_stored(fw):
            if s.decrypted_with is not None:
                by_file.setdefault(s.path, []).append(s)
        for path, opened_values in sorted(by_file.items()):
            first = min(opened_values, key=lambda s: s.line or 0)
            key = first.decrypted_with
            yield self.finding(
                path,
                title="Configuration secrets encrypted with a key every unit ships",
                line=first.line,
                excerpt=first.excerpt,
                detail=(f"{len(opened_values)} value(s) of {path} (first at line {first.line}, '{first.key}') are "
                        f"{first.stored_as}; the key is {key.describe()}, the same in every unit, so the encryption "
                        "hides nothing from whoever has the image"),
                provisions=("5.4-3",),
                severity=Severity.medium,
            )
        published = [k for k in keys if k.known is not None]
        for entry, repeated, blocks, entropy in encrypted_blobs(fw):
            opened = _opens(fw, entry.path, keys)
            if opened is None and not published:
                continue
            if opened is not None:
                key, scheme_id = opened
                how = f"it decrypts to text with {key.describe()} (scheme {scheme_id})"
                confidence = "confirmed"
            else:
                names = ", ".join(sorted({f"{known_keys()[k.known].vendor} {k.known} in {k.path}" for k in published}))
                how = (f"the cipher layer was not opened here, but the image ships the published key(s) {names}, "
                       "used by this vendor for its configuration files")
                confidence = "likely"
            yield self.finding(
                entry,
                title="Configuration encrypted with a key every unit shares",
                excerpt=f"{repeated} of {blocks} aligned 8-byte blocks repeat; {entropy:.2f} bits per byte",
                detail=(f"{entry.path} is ciphertext of a 64-bit block cipher in ECB mode over structured data "
                        f"({repeated} of its first {blocks} 8-byte blocks repeat at {entropy:.2f} bits per byte); {how}. "
                        "Encryption with a key in every unit protects nothing from whoever has the image"),
                provisions=("5.4-3",),
                severity=Severity.medium,
                confidence=confidence,
            )
