"""BusyBox applets compiled into a binary, read from its applet name table.

BusyBox keeps the names of its applets as one sorted, NUL-separated string list.  It starts with "[" and
"[[" when the test applets are built (b"[\\0[[\\0acpid\\0addgroup\\0..."), and since the 1.2x releases it
follows packed per-applet bytes directly, with no NUL before the first name (b"...!3[\\0[[\\0acpid" in a
BusyBox 1.26 build, b"...\\xf1\\xffadduser\\0ash\\0" in a 1.13 build without the test applets).  So the table
is found as the longest sorted run of applet-like names, wherever it starts.
"""

from __future__ import annotations

import re

_RUN = re.compile(rb"(?:[a-z0-9_.\[][a-z0-9_.\[\]+-]{0,31}\x00){12,}")
_MIN_NAMES = 3


def applet_table(data: bytes) -> list[str]:
    """Applet names in a BusyBox binary, or [] when no table is found."""
    best: list[str] = []
    for match in _RUN.finditer(data):
        words = match.group().split(b"\x00")[:-1]
        run: list[bytes] = []
        for word in words:
            if run and word <= run[-1]:
                if len(run) > len(best):
                    best = [w.decode() for w in run]
                run = []
            run.append(word)
        if len(run) > len(best):
            best = [w.decode() for w in run]
    return best if len(best) >= _MIN_NAMES else []
