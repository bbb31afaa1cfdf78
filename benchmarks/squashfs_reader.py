"""Throughput of iotcop's SquashFS reader against Debian's unsquashfs, in one run.

Builds a standard xz SquashFS (4.0, little endian) from Debian's Python
standard library (/usr/lib/python3.11, ~54 MB) in a temporary directory,
extracts it with both readers (unsquashfs single-threaded and with all
cores), checks both trees are identical, and prints MB/s of each (MB of
extracted file data per second of wall time) and the ratio.

    .venv/bin/python benchmarks/squashfs_reader.py [SOURCE_DIR]
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from iotcop.formats.squashfs import extract  # noqa: E402


def tree_digest(root: Path) -> tuple[int, int, str]:
    files = total = 0
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            files += 1
            total += len(data)
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + hashlib.sha256(data).digest())
    return files, total, h.hexdigest()


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def main() -> int:
    default = Path("/usr/lib/python3.11")  # Debian's standard library, ~54 MB
    if not default.is_dir():
        default = Path(sysconfig.get_paths()["stdlib"])
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default
    with tempfile.TemporaryDirectory(prefix="sqfs-bench-") as tmp:
        tmp = Path(tmp)
        image = tmp / "bench.sqfs"
        subprocess.run(["mksquashfs", str(source), str(image), "-comp", "xz", "-noappend", "-quiet", "-no-progress",
                        "-e", "__pycache__", "site-packages"], check=True, stdout=subprocess.DEVNULL)
        ours, single, multi = tmp / "ours", tmp / "unsquashfs-1", tmp / "unsquashfs-n"
        t_single = timed(lambda: subprocess.run(
            ["unsquashfs", "-no-progress", "-processors", "1", "-d", str(single), str(image)], check=True,
            stdout=subprocess.DEVNULL))
        t_multi = timed(lambda: subprocess.run(
            ["unsquashfs", "-no-progress", "-d", str(multi), str(image)], check=True, stdout=subprocess.DEVNULL))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t_ours = timed(lambda: extract(image, ours))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n_ours, size, d_ours = tree_digest(ours)
        n_theirs, _, d_theirs = tree_digest(single)
        mb = size / 1e6
        print(f"image: {image.stat().st_size / 1e6:.1f} MB xz SquashFS of {source} ({n_ours} files, {mb:.1f} MB)")
        print(f"identical trees: {d_ours == d_theirs and n_ours == n_theirs}")
        print(f"unsquashfs -processors 1 : {t_single:6.2f} s  {mb / t_single:7.1f} MB/s")
        print(f"unsquashfs ({os.cpu_count()} cores)    : {t_multi:6.2f} s  {mb / t_multi:7.1f} MB/s")
        print(f"iotcop reader            : {t_ours:6.2f} s  {mb / t_ours:7.1f} MB/s  (peak RSS {peak / 1024:.0f} MB, "
              f"{before / 1024:.0f} MB before)")
        print(f"ratio iotcop / unsquashfs single-core: {(mb / t_ours) / (mb / t_single):.2f}")
        print(f"ratio iotcop / unsquashfs all cores  : {(mb / t_ours) / (mb / t_multi):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
