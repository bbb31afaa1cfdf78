"""BusyBox applets compiled into a binary, read from its applet name table.

BusyBox keeps the names of its applets as one sorted, NUL-separated string list.  It starts with "[" and
"[[" when the test applets are built (b"[\\0[[\\0acpid\\0addgroup\\0..."), and since the 1.2x releases it
follows packed per-applet bytes directly, with no NUL before the first name (b"...!3[\\0[[\\0acpid" in a
BusyBox 1.26 build, b"...\\xf1\\xffadduser\\0ash\\0" in a 1.13 build without the test applets).  So the table
is found as the longest sorted run of applet-like names, wherever it starts.
"""

from __future__ import annotations

import re

# A stretch of name characters and NULs long enough to hold a table (a character class scans fast).
_SPAN = re.compile(rb"[a-z0-9_.\[\]+\x00-]{64,}")
_MIN_NAMES = 3
_NAME_BYTES = re.compile(rb"[a-z0-9_.\[\]+-]+")


def applet_table(data: bytes) -> list[str]:
    """Applet names in a BusyBox binary, or [] when no table is found."""
    start = data.find(b"[\x00[[\x00")  # builds with the test applets: the table starts there
    if start >= 0:
        run = _sorted_run(data[start:start + 64 * 1024].split(b"\x00"))
        if len(run) >= _MIN_NAMES:
            return [w.decode() for w in run]
    best: list[bytes] = []
    for match in _SPAN.finditer(data):
        run = _sorted_run(match.group().split(b"\x00"), anywhere=True)
        if len(run) > len(best):
            best = run
    if len(best) > 1 and best[1] == b"[[" and best[0].endswith(b"[") and best[0] != b"[":
        best[0] = b"["  # the packed bytes before the table ended in a name character ("!3[")
    return [w.decode() for w in best] if len(best) >= _MIN_NAMES else []


def _sorted_run(words: list[bytes], anywhere: bool = False) -> list[bytes]:
    """The sorted run of names at the start of `words`; anywhere: the longest such run among them (the words
    then come from a _SPAN match, so their bytes are name bytes already)."""
    best: list[bytes] = []
    run: list[bytes] = []
    for word in words:
        name = 0 < len(word) <= 32 and word[:1] not in b"+-]" and (anywhere or _NAME_BYTES.fullmatch(word) is not None)
        if not name or (run and word <= run[-1]):
            if not anywhere:
                return run
            if len(run) > len(best):
                best = run
            run = [word] if name else []
            continue
        run.append(word)
    return run if len(run) > len(best) else best
