"""BusyBox builds with network-server and debug applets compiled in."""

from __future__ import annotations

import posixpath
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware
from iotcop.model import Severity
from iotcop.sbom.busybox import applet_table

# Applets that open a service to the network, move files in clear text, or poke hardware.
RISKY_APPLETS = {
    "telnetd": "telnet server",
    "ftpd": "FTP server",
    "tftpd": "TFTP server",
    "httpd": "web server",
    "inetd": "super-server",
    "nc": "netcat",
    "tftp": "TFTP client (clear text, no authentication)",
    "devmem": "physical memory access",
    "dnsd": "DNS server",
    "fakeidentd": "ident server",
    "tcpsvd": "TCP super-server",
    "udpsvd": "UDP super-server",
}


def applet_names(data: bytes) -> tuple[str, ...]:
    """The applet name table of a BusyBox binary (sbom.busybox.applet_table: the longest sorted run of
    applet names, also where no NUL precedes the table)."""
    return tuple(applet_table(data))


def _busybox_binaries(fw: Firmware) -> dict[str, tuple[str, ...]]:
    out = {}
    for entry in fw.elf_files():
        if "busybox" not in entry.name or entry.size > 16 * 1024 * 1024:
            continue
        names = applet_names(fw.read_bytes(entry) or b"")
        if names:
            out[entry.path] = names
    return out


BUSYBOX_APPLETS = DerivedFact("surface.busybox-applets", _busybox_binaries)


def busybox_binaries(fw: Firmware) -> dict[str, tuple[str, ...]]:
    """Device path of each BusyBox ELF -> its applet names (memoised)."""
    return BUSYBOX_APPLETS.of(fw)


def _links_to(fw: Firmware, binary: str) -> dict[str, str]:
    """Applet name -> symlink path for symlinks in the image that resolve to `binary`."""
    target = fw.get(binary)
    links = {}
    for entry in fw.entries:
        if entry.kind == "symlink" and posixpath.basename(entry.link_target or "").startswith("busybox"):
            if fw.get(entry.path) is target:
                links.setdefault(entry.name, entry.path)
    return links


class BusyBoxApplets(Check):
    ID = "surface.busybox-applets"
    VERSION = "1.1.0"
    SEVERITY = Severity.low
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (BUSYBOX_APPLETS,)
    DOC = CheckDoc(
        title="BusyBox with network-server applets compiled in",
        why=(
            "Every applet compiled into BusyBox is one command away from running: telnetd, ftpd, httpd, nc and "
            "tftp let an attacker with a command-injection foothold open a backdoor or move files without "
            "bringing any tool of their own."
        ),
        fix="Configure BusyBox for the device: leave out server applets the product does not use (telnetd, ftpd, tftpd, httpd, nc, devmem).",
        limitations=(
            "Applets are read from BusyBox's sorted applet-name table; a build that hides or renames it is not "
            "seen.  Compiled-in is not started: services actually started at boot are reported by the services checks."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for path, names in sorted(busybox_binaries(fw).items()):
            risky = [n for n in names if n in RISKY_APPLETS]
            if not risky:
                continue
            links = _links_to(fw, path)
            installed = [f"{n} ({links[n]})" for n in risky if n in links]
            described = [f"{n}: {RISKY_APPLETS[n]}" for n in risky]
            detail = f"{len(names)} applets; risky ones compiled in: {listing(described)}"
            if installed:
                detail += f"; installed as links: {listing(installed)}"
            yield self.finding(path, title=f"BusyBox with network-server or debug applets ({', '.join(risky)})", detail=detail)
