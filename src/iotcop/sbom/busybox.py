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


def applet_table(data: bytes) -> list[str]:
    """Applet names in a BusyBox binary, or [] when no table is found."""
    best: list[bytes] = []
    for match in _SPAN.finditer(data):
        run: list[bytes] = []
        for word in match.group().split(b"\x00"):
            is_name = 0 < len(word) <= 32 and word[:1] not in b"+-]"
            if not is_name or (run and word <= run[-1]):
                if len(run) > len(best):
                    best = run
                run = [word] if is_name else []
                continue
            run.append(word)
        if len(run) > len(best):
            best = run
    if len(best) > 1 and best[1] == b"[[" and best[0].endswith(b"[") and best[0] != b"[":
        best[0] = b"["  # the packed bytes before the table ended in a name character ("!3[")
    return [w.decode() for w in best] if len(best) >= _MIN_NAMES else []
