"""Small root filesystems for the boot model tests, written file by file."""

from __future__ import annotations

import os
from pathlib import Path

from iotcop.boot import build_boot_model
from iotcop.firmware.inventory import inventory_tree

APPLETS = ["[", "[[", "ash", "cat", "cp", "crond", "echo", "ftpd", "getty", "inetd", "init", "login", "ls", "mount",
           "sh", "sleep", "tcpsvd", "telnetd", "touch", "udhcpd"]


def busybox(applets=APPLETS) -> bytes:
    """An ELF-looking file with a BusyBox banner and a sorted applet table, as the model reads them."""
    return (b"\x7fELF\x01\x01\x01" + b"\x00" * 57 + b"BusyBox v1.30.1 (2020-01-01)\x00!3"
            + b"\x00".join(a.encode() for a in applets) + b"\x00\x00")


def manager(*strings: str) -> bytes:
    """A vendor daemon: an ELF-looking file whose strings include command lines."""
    return b"\x7fELF\x01\x01\x01" + b"\x00" * 57 + b"\x00".join(s.encode() for s in strings) + b"\x00"


BASE_LINKS = {"/sbin/init": "/bin/busybox", "/bin/sh": "busybox", "/usr/sbin/telnetd": "../../bin/busybox",
              "/bin/login": "busybox", "/sbin/getty": "../bin/busybox", "/usr/sbin/inetd": "../../bin/busybox",
              "/usr/sbin/crond": "../../bin/busybox", "/bin/cp": "busybox", "/bin/mount": "busybox",
              "/bin/cat": "busybox", "/bin/touch": "busybox", "/usr/bin/tcpsvd": "../../bin/busybox"}


def write_tree(root: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None,
               modes: dict[str, int] | None = None, base: bool = True) -> Path:
    """Write the files (0755 unless `modes` says otherwise) and links, over a BusyBox base unless `base` is False."""
    root = Path(root)
    files = ({"/bin/busybox": busybox()} if base else {}) | files
    for rel, content in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
        os.chmod(target, (modes or {}).get(rel, 0o755))
    base_links = {k: v for k, v in BASE_LINKS.items() if k not in files} if base else {}
    for rel, target in (base_links | (links or {})).items():
        path = root / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    return root


def tree(root: Path, files: dict[str, str | bytes], links: dict[str, str] | None = None,
         modes: dict[str, int] | None = None, base: bool = True):
    """Write the tree (write_tree) and return its boot model."""
    return build_boot_model(inventory_tree(write_tree(root, files, links, modes, base)))


def started(model, name: str):
    return [p for p in model.programs if p.name == name]
