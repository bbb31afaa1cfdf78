"""Package databases inside an image: dpkg status, opkg status and info/*.control, apk installed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from debian.deb822 import Deb822

from iotcop.firmware.model import FileEntry, Firmware

DPKG_STATUS = ("/var/lib/dpkg/status",)
OPKG_STATUS = ("/usr/lib/opkg/status", "/var/lib/opkg/status", "/var/opkg-lists/status", "/overlay/upper/usr/lib/opkg/status")
OPKG_INFO_GLOBS = ("/usr/lib/opkg/info/*.control", "/var/lib/opkg/info/*.control", "/overlay/upper/usr/lib/opkg/info/*.control")
APK_INSTALLED = ("/lib/apk/db/installed",)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str | None
    manager: str  # "dpkg", "opkg", "apk"
    path: str  # the database file it was read from
    line: int  # first line of its stanza
    source: str | None = None


def parse_control_stanzas(text: str) -> Iterator[tuple[int, Mapping[str, str]]]:
    """RFC-822 style stanzas (dpkg status, opkg status and control files): (first line number, fields).

    Parsed by python-debian's Deb822; the line each stanza starts on (for the evidence) is counted from the
    lines Deb822 has consumed when it hands a stanza over.  Measured on a Debian 12 dpkg status of 1,075
    packages (24,282 lines): 414 ms against 74 ms for a hand-written reader; a firmware's database is far
    smaller, so the library's correctness (continuation lines, field case) is worth the time.
    """
    lines = text.splitlines(keepends=True)
    consumed = 0

    def counted() -> Iterator[str]:
        nonlocal consumed
        for line in lines:
            consumed += 1
            yield line

    end = 0
    for para in Deb822.iter_paragraphs(counted(), use_apt_pkg=False):
        start = end
        while start < len(lines) and not lines[start].strip():
            start += 1
        end = consumed
        yield start + 1, para  # a mapping whose field names match in any case, as in dpkg


def _installed(fields: Mapping[str, str]) -> bool:
    status = fields.get("Status")
    # opkg control files carry no Status; a status stanza must say "installed".
    return status is None or status.split()[-1] in ("installed", "unpacked", "half-configured")


def _from_control(fw: Firmware, entry: FileEntry, manager: str) -> Iterator[Package]:
    text = fw.read_text(entry)
    if not text:
        return
    for line, fields in parse_control_stanzas(text):
        name, version = fields.get("Package"), fields.get("Version")
        if name and version and _installed(fields):
            yield Package(name=name, version=version, arch=fields.get("Architecture"), manager=manager,
                          path=entry.path, line=line, source=(fields.get("Source") or "").split(" ")[0] or None)


def _apk(fw: Firmware, entry: FileEntry) -> Iterator[Package]:
    text = fw.read_text(entry)
    if not text:
        return
    fields: dict[str, str] = {}
    start = 1
    for number, line in enumerate(text.splitlines() + [""], 1):
        if not line.strip():
            if fields.get("P") and fields.get("V"):
                yield Package(name=fields["P"], version=fields["V"], arch=fields.get("A"), manager="apk",
                              path=entry.path, line=start, source=fields.get("o"))
            fields, start = {}, number + 1
            continue
        key, sep, value = line.partition(":")
        if sep and len(key) == 1:
            fields.setdefault(key, value)


def installed_packages(fw: Firmware) -> list[Package]:
    found: dict[tuple[str, str], Package] = {}

    def add(pkg: Package) -> None:
        found.setdefault((pkg.manager, pkg.name), pkg)

    for path in DPKG_STATUS:
        entry = fw.get(path)
        if entry:
            for pkg in _from_control(fw, entry, "dpkg"):
                add(pkg)
    for entry in fw.glob("/var/lib/dpkg/status.d/*"):
        if entry.is_file:
            for pkg in _from_control(fw, entry, "dpkg"):
                add(pkg)
    for path in OPKG_STATUS:
        entry = fw.get(path)
        if entry:
            for pkg in _from_control(fw, entry, "opkg"):
                add(pkg)
    for pattern in OPKG_INFO_GLOBS:
        for entry in fw.glob(pattern):
            if entry.is_file:
                for pkg in _from_control(fw, entry, "opkg"):
                    add(pkg)
    for path in APK_INSTALLED:
        entry = fw.get(path)
        if entry:
            for pkg in _apk(fw, entry):
                add(pkg)
    return sorted(found.values(), key=lambda p: (p.manager, p.name))
