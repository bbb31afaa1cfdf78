"""Which files content checks read, shared by the credential, secret and communication checks.

Text checks look only at files the inventory typed as text, script or PEM,
up to a size no configuration or script reaches, and skip places that hold
documentation, headers and language standard libraries (their examples and
defaults are not the device's configuration).
"""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware

MAX_TEXT_BYTES = 512 * 1024
TEXT_MAGICS = frozenset({"text", "script", "pem"})

_SKIP_PREFIXES = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/include/", "/usr/share/locale/",
                  "/usr/share/i18n/", "/usr/share/zoneinfo/", "/usr/share/mime/", "/usr/share/perl", "/usr/lib/perl",
                  "/usr/share/ca-certificates/", "/usr/share/X11/", "/usr/share/terminfo/", "/lib/terminfo/")
_LIBRARY_PARTS = re.compile(r"/(?:python\d[\d.]*|site-packages|dist-packages|node_modules|perl5?|ruby|lua/\d[\d.]*)/")
_TEST_PARTS = frozenset({"test", "tests", "testing", "testdata", "test_data", "examples", "example", "samples"})

_IMAGE_ETC = re.compile(r"/(?:etc|www|usr|opt|var|home|root|data|lib|sbin|bin)/")


def logical_path(path: str) -> str:
    """The device-style path of a file; for files outside a root filesystem the part from /etc/ (or /www ...) on."""
    if not path.startswith("<image>/"):
        return path
    m = _IMAGE_ETC.search(path, len("<image>"))
    return path[m.start():] if m else path


def is_reference_material(path: str) -> bool:
    """Documentation, headers, language libraries and test/example trees."""
    lp = logical_path(path)
    if lp.startswith(_SKIP_PREFIXES) or _LIBRARY_PARTS.search(lp):
        return True
    parts = lp.lower().split("/")[:-1]
    return any(p in _TEST_PARTS for p in parts)


class TextFiles(ContentScanner):
    """Keeps the decoded text of text files from the inventory's read, for every check that reads text."""

    CONTENT_NAME = "text"
    CONTENT_CACHEABLE = False  # the text itself: nothing to save by caching it
    KEEP_BYTES = 96 * 1024 * 1024  # per inventory process; past it, checks read the remaining files themselves

    def __init__(self) -> None:
        self.kept = 0

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        return MAX_TEXT_BYTES if entry.magic in TEXT_MAGICS and 0 < entry.size <= MAX_TEXT_BYTES else 0

    def scan_content(self, entry: FileEntry, data: bytes):
        if self.kept + len(data) > self.KEEP_BYTES:
            return None
        self.kept += len(data)
        return data.decode("utf-8", errors="replace")


def stored_text(fw: Firmware, entry: FileEntry, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """The text of a file: from the inventory's read when it kept it, else read now."""
    if entry.size <= MAX_TEXT_BYTES:
        text = fw.content_for(TextFiles.CONTENT_NAME, entry)
        if text is not None:
            return text if len(text) <= max_bytes else fw.read_text(entry, max_bytes)
    return fw.read_text(entry, max_bytes)


TEXT = DerivedFact("text", scanners=(TextFiles,))


def text_files(fw: Firmware, *, max_bytes: int = MAX_TEXT_BYTES, include_reference: bool = False) -> Iterator[tuple[FileEntry, str]]:
    for entry in fw.files():
        if entry.magic not in TEXT_MAGICS or entry.size == 0 or entry.size > max_bytes:
            continue
        if not include_reference and is_reference_material(entry.path):
            continue
        text = stored_text(fw, entry, max_bytes)
        if text:
            yield entry, text


def is_shell_script(entry: FileEntry, text: str) -> bool:
    lp = logical_path(entry.path)
    if text.startswith("#!"):
        first = text.split("\n", 1)[0]
        return bool(re.search(r"\b(?:sh|ash|bash|dash|hush|ksh|zsh)\b", first))
    return lp.endswith(".sh") or lp.startswith(("/etc/init.d/", "/etc/rc.d/", "/etc/uci-defaults/", "/lib/preinit/",
                                                 "/etc/hotplug.d/", "/etc/profile.d/")) or lp in (
        "/etc/rc.local", "/etc/profile", "/etc/rcS", "/etc/init.d/rcS")


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def shannon_entropy(value: str | bytes) -> float:
    """Bits per character (per byte for bytes)."""
    import math
    from collections import Counter

    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


_PLACEHOLDER = re.compile(
    r"^(?:|x+|\*+|\.+|-+|none|null|nil|undefined|empty|true|false|yes|no|on|off|enabled?|disabled?|default|"
    r"changeme_placeholder|your[_-]?\w*|my[_-]?\w*|example\w*|sample\w*|dummy\w*|test|placeholder|secret|password|"
    r"passwd|pass|\d)$",
    re.I,
)


def is_placeholder(value: str) -> bool:
    """Values that are not a real secret: empty, booleans, variables, templates, paths."""
    v = value.strip()
    if _PLACEHOLDER.match(v):
        return True
    if any(ch in v for ch in "$%`{}<>") or v.startswith(("/", "./", "~", "file:", "@", "&")):
        return True
    if re.fullmatch(r"(?:x|X|\*|#|0){3,}", v) or re.fullmatch(r"(.)\1+", v):
        return True
    return False
