"""Cloud credentials, API tokens and Wi-Fi passphrases in the image."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput, ContentCheck
from iotcop.checks.credentials.stored import STORED_SECRETS, stored_secrets
from iotcop.checks.secrets.files import (
    TEXT_MAGICS,
    is_placeholder,
    is_reference_material,
    line_of,
    shannon_entropy,
)
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_FILE_BYTES = 32 * 1024 * 1024

# Well-formed, self-identifying token formats (prefix + fixed alphabet and length).
# Each pattern starts with its literal prefix so the regex engine can skip to it; boundaries are checked after.
_TOKENS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("AWS access key id", re.compile(rb"(?:AKIA|ASIA)[A-Z2-7]{16}")),
    ("Google API key", re.compile(rb"AIza[0-9A-Za-z_-]{35}")),
    ("GitHub token", re.compile(rb"gh[pousr]_[A-Za-z0-9]{36}")),
    ("Slack token", re.compile(rb"xox[abposr]-[0-9]{8,13}-[0-9A-Za-z-]{20,80}")),
    ("Stripe live secret key", re.compile(rb"sk_live_[0-9A-Za-z]{24,99}")),
    ("Azure storage account key", re.compile(rb"AccountKey=[A-Za-z0-9+/]{86}==")),
)
_TOKEN_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _bounded(data: bytes, start: int, end: int) -> bool:
    """The token is not part of a longer word."""
    return (start == 0 or data[start - 1] not in _TOKEN_CHARS) and (end >= len(data) or data[end] not in _TOKEN_CHARS)


_AWS_SECRET = re.compile(rb"(?<![A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_DOC_EXAMPLES = frozenset({b"AKIAIOSFODNN7EXAMPLE", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"})
# Literal starts of each token pattern: a file without them is not searched with the pattern.
_TOKEN_PREFIXES = ((b"AKIA", b"ASIA"), (b"AIza",), (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"), (b"xox",), (b"sk_live_",), (b"AccountKey=",))

_SECRET_NAME = re.compile(
    r"(?i)^(?:[a-z0-9]+[_.-])*(?:api[_-]?key|apikey|api[_-]?secret|secret[_-]?key|secret|client[_-]?secret|"
    r"access[_-]?token|auth[_-]?token|bearer[_-]?token|refresh[_-]?token|token|app[_-]?secret|"
    r"private[_-]?key|access[_-]?key|shared[_-]?secret|device[_-]?secret|signing[_-]?key)$"
)
_GENERIC = re.compile(
    r"""^\s*["']?([A-Za-z_][\w.-]{0,63})["']?\s*[=:]\s*["']?([A-Za-z0-9+/=_.~-]{16,256})["']?\s*[,;]?\s*$"""
    r"""|["']([A-Za-z_][\w.-]{0,63})["']\s*:\s*["']([A-Za-z0-9+/=_.~-]{16,256})["']""",
    re.M,
)
MIN_ENTROPY = 3.5  # bits per character, mixed alphabets
MIN_HEX_ENTROPY = 3.0  # hex values: at most 4 bits per character


def high_entropy(value: str) -> bool:
    """A value that looks randomly generated, not a word, version, path or identifier."""
    if is_placeholder(value) or re.fullmatch(r"[\d.]+|[a-z]+(?:[_.-][a-z]+)*", value):
        return False
    if re.fullmatch(r"[0-9a-fA-F]+", value):
        return len(value) >= 32 and shannon_entropy(value) >= MIN_HEX_ENTROPY
    classes = sum(bool(re.search(rx, value)) for rx in (r"[a-z]", r"[A-Z]", r"\d"))
    if classes < 2 or shannon_entropy(value) < MIN_ENTROPY:
        return False
    # Words and counting sequences ("Password1234567890") are chosen by people, not generated.
    readable = sum(len(m) for m in re.findall(r"[A-Z]?[a-z]{4,}|[A-Z]{5,}", value))
    readable += sum(len(m.group()) for m in re.finditer(r"(?:0(?=1)|1(?=2)|2(?=3)|3(?=4)|4(?=5)|5(?=6)|6(?=7)|7(?=8)|8(?=9)){3,}\d", value))
    return readable <= 0.4 * len(value)


# Formats searched inside binaries too; the others only in text (each costs a pass over every byte).
_BINARY_KINDS = frozenset({"AWS access key id", "Google API key"})
# One pass decides whether a file can hold any token (a single leading literal lets the engine skip fast).
_QUICK_BINARY = re.compile(rb"A(?:KIA|SIA|Iza)")
_QUICK_TEXT = re.compile(rb"A(?:KIA|SIA|Iza|ccountKey=)|gh[pousr]_|xox[abposr]-|sk_live_")


def token_hits(data: bytes, binary: bool = False) -> list[tuple[int, str, str]]:
    """(offset, kind, value) for self-identifying tokens and the AWS secret key next to an access key id."""
    out = []
    if (_QUICK_BINARY if binary else _QUICK_TEXT).search(data) is None:
        return out
    for (kind, rx), prefixes in zip(_TOKENS, _TOKEN_PREFIXES):
        if binary and kind not in _BINARY_KINDS:
            continue
        if not any(p in data for p in prefixes):
            continue
        for m in rx.finditer(data):
            if kind == "Azure storage account key":
                value, value_start = m.group()[len(b"AccountKey="):], m.start() + len(b"AccountKey=")
            else:
                if not _bounded(data, m.start(), m.end()):
                    continue
                value, value_start = m.group(), m.start()
            if value in _DOC_EXAMPLES or b"EXAMPLE" in value:
                continue
            out.append((value_start, kind, value.decode()))
            if kind == "AWS access key id":
                window = data[max(0, m.start() - 400): m.end() + 400]
                for s in _AWS_SECRET.finditer(window):
                    v = s.group(1)
                    if v not in _DOC_EXAMPLES and high_entropy(v.decode()) and re.search(rb"[a-z]", v) and re.search(rb"[A-Z]", v):
                        out.append((max(0, m.start() - 400) + s.start(1), "AWS secret access key", v.decode()))
                        break
    return out


def _mask(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 12 else value[:2] + "***"


class CloudToken(ContentCheck):
    ID = "secrets.cloud-token"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="Cloud credential or API token in the image",
        why=(
            "An access key, API key or token in the image is shared by every unit and readable by anyone with the "
            "image: it gives access to the vendor's cloud account or service as the device (or as the vendor)."
        ),
        fix=(
            "Remove long-lived cloud credentials from the firmware; provision per-device credentials at manufacture "
            "into protected storage, or obtain short-lived tokens after device authentication."
        ),
        references=("CWE-798: Use of Hard-coded Credentials",),
        limitations=(
            "Self-identifying formats in any file up to 32 MB: AWS access key ids (AKIA/ASIA + 16) with a "
            "40-character secret key within 400 bytes and Google API keys (AIza + 35) in binaries and text; GitHub, "
            "Slack and Stripe live tokens and Azure storage keys in text files only; AWS's documented example keys are ignored. Generic "
            "secrets only in text configuration files: a value assigned to a secret-like name (api_key, secret, "
            f"client_secret, token, access_key ...) that is at least 16 characters, mixes letters and digits and "
            f"has at least {MIN_ENTROPY} bits of entropy per character (hex: 32 characters, {MIN_HEX_ENTROPY} bits). "
            "Encoded or encrypted tokens are not found."
        ),
    )

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        if entry.size == 0 or entry.size > MAX_FILE_BYTES or is_reference_material(entry.path):
            return 0
        if entry.magic not in TEXT_MAGICS and entry.magic not in ("elf", "data"):
            return 0
        return MAX_FILE_BYTES

    def scan_content(self, entry: FileEntry, data: bytes):
        """{"tokens": [[offset, line, kind, value]], "generic": [[line, name, value, excerpt]]} or None."""
        text_like = entry.magic in TEXT_MAGICS
        hits = token_hits(data, binary=not text_like)
        text = data.decode("utf-8", "replace") if text_like else ""
        tokens = [[offset, line_of(text, offset) if text_like else None, kind, value] for offset, kind, value in hits]
        generic = []
        if text_like and entry.magic != "pem":
            reported = {value for _, _, value in hits}
            for m in _GENERIC.finditer(text):
                name, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
                if not _SECRET_NAME.match(name) or not high_entropy(value):
                    continue
                if value in reported or "EXAMPLE" in value or any(value == t[2] for t in token_hits(value.encode())):
                    continue
                generic.append([line_of(text, m.start()), name, value, m.group(0).strip()])
        return {"tokens": tokens, "generic": generic} if tokens or generic else None

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, found in self.results(fw, ctx):
            text_like = entry.magic in TEXT_MAGICS
            for offset, line, kind, value in found["tokens"]:
                yield self.finding(
                    entry,
                    title=f"{kind} in the image",
                    line=line,
                    offset=None if text_like else offset,
                    excerpt=_mask(value),
                    detail=f"{kind} '{_mask(value)}' ({len(value)} characters); the same on every unit built from this image",
                )
            for line, name, value, excerpt in found["generic"]:
                yield self.finding(
                    entry,
                    title=f"Secret value assigned to '{name}'",
                    line=line,
                    excerpt=excerpt.replace(value, _mask(value))[:200],
                    detail=f"'{name}' holds a {len(value)}-character value with {shannon_entropy(value):.2f} bits of "
                           "entropy per character (randomly generated, not a word); the same on every unit",
                    severity=Severity.medium,
                )


class WifiPsk(Check):
    ID = "secrets.wifi-psk"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (STORED_SECRETS,)
    DOC = CheckDoc(
        title="Wi-Fi passphrase shipped in the image",
        why=(
            "A Wi-Fi passphrase in the image (UCI wireless key, hostapd wpa_passphrase, wpa_supplicant psk, nvram "
            "wl_wpa_psk) is the same on every unit: anyone with the image joins any unit's network."
        ),
        fix="Generate the Wi-Fi passphrase per device at manufacture (printed on the label) or have the user set it.",
        limitations=(
            "Reads UCI wireless wifi-iface keys, hostapd and wpa_supplicant configuration, nvram wl*_wpa_psk and "
            "files with wpa_passphrase= settings (backups included). Values built at run time are left to "
            "credentials.derived-password. A client network's psk (wpa_supplicant) is reported with medium severity."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for s in stored_secrets(fw):
            stored = f" (stored as '{s.raw}', {s.stored_as})" if s.stored_as else ""
            if s.kind == "wps-pin":
                yield self.finding(
                    s.path,
                    title="Fixed WPS PIN in the defaults",
                    line=s.line,
                    excerpt=s.excerpt.replace(s.raw or s.value, s.masked),
                    detail=(f"{s.fmt} setting '{s.key}'" + (f" in '{s.section}'" if s.section else "")
                            + f" sets the WPS PIN '{s.value}'{stored}: the same PIN on every unit lets anyone in "
                            "radio range join the network (a universal credential)"),
                    severity=Severity.high,
                    provisions=("5.1-1",),
                )
                continue
            if s.kind != "wifi-psk":
                continue
            client = s.fmt == "wpa_supplicant"
            raw_psk = bool(re.fullmatch(r"[0-9a-fA-F]{64}", s.value))
            yield self.finding(
                s.path,
                title="Wi-Fi passphrase in the image" + (" (client network)" if client else ""),
                line=s.line,
                excerpt=s.excerpt.replace(s.raw or s.value, s.masked),
                detail=(
                    f"{s.fmt} setting '{s.key}'" + (f" for '{s.section}'" if s.section else "")
                    + f" holds the {'raw 256-bit PSK' if raw_psk else 'passphrase'} '{s.masked}'{stored}; "
                    "it is written literally in the image, so every unit has the same one"
                ),
                severity=Severity.medium if client else Severity.high,
            )
