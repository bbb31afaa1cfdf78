"""One finding per thing found: drop the echo a check reads in a container's raw bytes.

Extraction keeps a container beside what it unpacked (`image.tar.gz_extract/gzip.uncompressed` next to
`gzip.uncompressed_extract/`, a carved `0-4096.cpio` next to `0-4096.cpio_extract/`).  A check that also
searches raw blobs (for data extraction could not unpack) then meets the same password line or key twice:
once in the unpacked file and once inside the container.  The container's copy is dropped when the same
check reports the same title and excerpt from a file unpacked out of that container; a thing found only in
the raw bytes is kept.
"""

from __future__ import annotations

from pathlib import Path

from iotcop.firmware.model import Firmware
from iotcop.model import Finding

UNPACKED_SUFFIX = "_extract"


def _same_excerpt(a: str | None, b: str | None) -> bool:
    # A raw blob gives a shorter excerpt (no line end to stop at): one is the start of the other.
    return bool(a) and bool(b) and (a.startswith(b) or b.startswith(a))


def without_container_echoes(findings: list[Finding], fw: Firmware) -> list[Finding]:
    """The findings of one check, without those repeated from the raw bytes of an unpacked container."""
    if len(findings) < 2:
        return findings
    hosts: dict[str | None, Path | None] = {}

    def host(path: str | None) -> Path | None:
        if path not in hosts:
            entry = fw.get(path) if path else None
            hosts[path] = entry.host_path if entry is not None and entry.kind == "file" else None
        return hosts[path]

    by_title: dict[str, list[Finding]] = {}
    for f in findings:
        by_title.setdefault(f.title, []).append(f)
    echoes: set[int] = set()
    for same in by_title.values():
        if len(same) < 2:
            continue
        for f in same:
            container = host(f.evidence.path)
            if container is None:
                continue
            unpacked = container.with_name(container.name + UNPACKED_SUFFIX)
            for other in same:
                other_host = host(other.evidence.path) if other is not f else None
                if other_host is not None and other_host.is_relative_to(unpacked) and _same_excerpt(f.evidence.excerpt, other.evidence.excerpt):
                    echoes.add(id(f))
                    break
    return [f for f in findings if id(f) not in echoes] if echoes else findings
