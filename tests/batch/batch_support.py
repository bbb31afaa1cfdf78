"""Small synthetic firmware for the batch tests: root filesystems and tarballs of them, each with its own sha256."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from pathlib import Path

BIN = Path(sys.executable).with_name("iotcop")

PASSWD = "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n"
RCS = "#!/bin/sh\nmount -a\n/usr/sbin/telnetd -l /bin/sh\n"


def make_rootfs(root: Path, serial: int = 0, *, empty_root_password: bool = True, telnet: bool = True,
                dnsmasq: str | None = "2.89-1") -> Path:
    """A tiny root filesystem with a few things the checks find; `serial` makes its content unique."""
    (root / "etc/init.d").mkdir(parents=True, exist_ok=True)
    (root / "bin").mkdir(exist_ok=True)
    (root / "var/lib/dpkg").mkdir(parents=True, exist_ok=True)
    (root / "etc/passwd").write_text(PASSWD)
    pw = "" if empty_root_password else "$6$saltsalt$" + "x" * 86
    (root / "etc/shadow").write_text(f"root:{pw}:19000:0:99999:7:::\nadmin:*:19000:0:99999:7:::\n")
    (root / "etc/os-release").write_text(f'NAME="Test OS"\nVERSION_ID="1.{serial}"\n')
    (root / "etc/init.d/rcS").write_text(RCS if telnet else "#!/bin/sh\nmount -a\n")
    (root / "etc/init.d/rcS").chmod(0o755)
    if telnet:  # the program rcS starts ships in the image, as the boot model requires to count the start
        (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
        (root / "usr/sbin/telnetd").write_bytes(b"\x7fELF telnetd " + serial.to_bytes(4, "little"))
        (root / "usr/sbin/telnetd").chmod(0o755)
    (root / "bin/app.dat").write_bytes(bytes(range(256)) * 8 + serial.to_bytes(4, "little"))
    status = ""
    if dnsmasq:
        status = f"Package: dnsmasq-base\nStatus: install ok installed\nArchitecture: mipsel\nVersion: {dnsmasq}\n\n"
    (root / "var/lib/dpkg/status").write_text(status)
    return root


def make_tarball(path: Path, serial: int, **kw) -> Path:
    tree = path.with_suffix(".tree")
    make_rootfs(tree, serial, **kw)
    with tarfile.open(path, "w") as tar:
        tar.add(tree, arcname=".")
    shutil.rmtree(tree)
    return path


def journal(out: Path) -> list[dict]:
    import json

    lines = []
    for raw in (out / "journal.jsonl").read_bytes().splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass
    return lines


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s")


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
