"""A thing found once is reported once: no echo from the raw bytes of a container extraction unpacked."""

from __future__ import annotations

import io
import subprocess
import tarfile

from support import run_cli
from surface_helpers import make_tree

from iotcop.checks.credentials.passwords import WeakPasswordHash
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree


def _md5_crypt(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-1", "-salt", "Ab3dEf7h", password], check=True, capture_output=True,
                          text=True, timeout=30).stdout.strip()


def _tar(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_container_copy_dropped_only_when_unpacked(tmp_path):
    line = f"root:{_md5_crypt('root')}:0:0:99999:7:::\n"
    backup = _tar({"etc/shadow": line})
    make_tree(tmp_path, {
        "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
        "usr/share/backup.tar": backup,  # a container ...
        "usr/share/backup.tar_extract/etc/shadow": line,  # ... and what extraction unpacked from it
        "usr/share/spare.tar": _tar({"etc/shadow": line.replace("root:", "admin:", 1)}),  # never unpacked
    })
    run = run_check_inline(WeakPasswordHash, inventory_tree(tmp_path))
    assert run.status == "ran", run.error
    assert sorted(f.evidence.path for f in run.findings) == ["/usr/share/backup.tar_extract/etc/shadow", "/usr/share/spare.tar"]


def test_scan_of_a_compressed_rootfs_reports_each_hash_once(tmp_path):
    # A .tar.gz root filesystem: extraction keeps the decompressed tar stream beside the unpacked tree.
    root = make_tree(tmp_path / "rootfs", {
        "etc/passwd": "root:x:0:0::/root:/bin/sh\nadmin:x:0:0::/:/bin/sh\n",
        "etc/shadow": f"root:{_md5_crypt('root')}:0:0:99999:7:::\nadmin:{_md5_crypt('1234')}:0:0:99999:7:::\n",
        "bin/busybox": "", "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
    })
    image = tmp_path / "rootfs.tar.gz"
    subprocess.run(["tar", "-czf", str(image), "-C", str(root), "."], check=True, timeout=60)
    result = run_cli("scan", image, "--format", "json", "--quiet", "--check", "credentials.weak-password-hash",
                     "--check", "credentials.default-password")
    assert result.code == 1, result.stderr
    findings = result.json()["findings"]
    assert not [f for f in findings if f["evidence"]["path"].startswith("<image>/")]
    got = sorted((f["check"], f["evidence"]["path"], f["evidence"]["line"]) for f in findings)
    assert got == [("credentials.default-password", "/etc/shadow", 1), ("credentials.default-password", "/etc/shadow", 2),
                   ("credentials.weak-password-hash", "/etc/shadow", 1), ("credentials.weak-password-hash", "/etc/shadow", 2)]
