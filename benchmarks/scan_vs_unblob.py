"""Time `iotcop scan` against the unblob CLI alone on the same ~30 MB image, in one run.

    .venv/bin/python benchmarks/scan_vs_unblob.py [--size 30mb] [--runs 3]

The image is built from real Debian mipsel packages (cached).  unblob's CLI
opens SquashFS with `sasquatch`, which is not packaged; for a like-for-like
run a small `sasquatch` stand-in on PATH hands the chunk to `unsquashfs`,
the same extractor iotcop uses.  Prints the median wall time of each, the
ratio (target <= 1.5) and the peak RSS of the largest process of each run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent

SHIM = """#!/bin/sh
# stand-in for sasquatch: drop the endianness flags unsquashfs does not take
args=""
for a in "$@"; do
  case "$a" in -le|-be) ;; *) args="$args '$a'" ;; esac
done
eval exec unsquashfs -no-xattrs $args
"""


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in MB (largest single process), exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    return elapsed, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="30mb", choices=["small", "10mb", "30mb", "100mb"])
    parser.add_argument("--variant", default="vulnerable")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from iotcop.demo.builder import build_image

    built = build_image(args.variant, size=args.size)
    image = built.image
    print(f"image: {image} ({image.stat().st_size / 1e6:.1f} MB), cores: {os.cpu_count()}")

    scratch = Path(tempfile.mkdtemp(prefix="iotcop-bench-"))
    shim_dir = scratch / "bin"
    shim_dir.mkdir()
    (shim_dir / "sasquatch").write_text(SHIM)
    (shim_dir / "sasquatch").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim_dir}:{os.environ['PATH']}")

    rows: dict[str, list[tuple[float, int, int]]] = {"unblob": [], "iotcop": []}
    try:
        for i in range(args.runs):
            out = scratch / f"unblob-{i}"
            rows["unblob"].append(timed([str(VENV_BIN / "unblob"), "-e", str(out), "--log", str(scratch / "unblob.log"),
                                         str(image)], env))
            shutil.rmtree(out, ignore_errors=True)
            work = scratch / f"work-{i}"
            rows["iotcop"].append(timed([str(VENV_BIN / "iotcop"), "scan", str(image), "--quiet",
                                         "--work-dir", str(work)]))
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    med = {k: statistics.median(t for t, _, _ in v) for k, v in rows.items()}
    rss = {k: max(r for _, r, _ in v) for k, v in rows.items()}
    print(f"{'tool':<10}{'median s':>10}{'runs':>24}{'peak RSS MB':>14}")
    for k, v in rows.items():
        runs = ", ".join(f"{t:.2f}" for t, _, _ in v)
        print(f"{k:<10}{med[k]:>10.2f}{runs:>24}{rss[k]:>14}")
    ratio = med["iotcop"] / med["unblob"]
    print(f"ratio iotcop/unblob: {ratio:.2f} (target <= 1.5); iotcop exit codes: {[c for _, _, c in rows['iotcop']]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
