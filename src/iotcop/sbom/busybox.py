"""BusyBox applets compiled into a binary, read from its applet name table.

BusyBox keeps the names of its applets as one sorted, NUL-separated string list that
starts with "[" and "[[" when the test applets are built, e.g. b"[\\0[[\\0acpid\\0addgroup\\0...".
"""

from __future__ import annotations

import re

_NAME = re.compile(rb"[a-z0-9_.\[\]-]{1,32}")


def applet_table(data: bytes) -> list[str]:
    """Applet names in a BusyBox binary, or [] when no table is found."""
    best: list[str] = []
    for start in (m.start() for m in re.finditer(rb"\x00\[\x00\[\[\x00|\x00\[\x00[a-z]", data)):
        names = _read_list(data, start + 1)
        if len(names) > len(best):
            best = names
    if not best:
        # Builds without the test applets: the first name follows a NUL and the list is sorted.
        m = re.search(rb"\x00(acpid|add-shell|addgroup|adduser|adjtimex|ar|arch|arp|arping|ash|awk)\x00", data)
        if m:
            best = _read_list(data, m.start() + 1)
    return best if len(best) >= 3 else []


def _read_list(data: bytes, pos: int) -> list[str]:
    names: list[str] = []
    previous = b""
    while pos < len(data):
        end = data.find(b"\x00", pos)
        if end < 0:
            break
        word = data[pos:end]
        if not word or not _NAME.fullmatch(word) or (previous and word < previous):
            break
        names.append(word.decode())
        previous = word
        pos = end + 1
    return names
