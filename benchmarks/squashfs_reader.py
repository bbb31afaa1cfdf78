"""Throughput of iotcop's SquashFS reader against Debian's unsquashfs, in one run.

Builds a standard xz SquashFS (4.0, little endian) from Debian's Python
standard library (/usr/lib/python3.11, ~54 MB) in a temporary directory,
extracts it with both readers (unsquashfs single-threaded and with all
cores), checks both trees are identical, and prints MB/s of each (MB of
extracted file data per second of wall time) and the ratio.

With --baseline SRC (the src/ folder of another checkout, e.g. from
`git archive OLD src | tar -x -C /tmp/old`) that version of the reader is
timed in the same run, so a change can be judged on a busy machine.  With
--repeat N every reader runs N times, interleaved, and the median counts.

    .venv/bin/python benchmarks/squashfs_reader.py [SOURCE_DIR] [--baseline SRC] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from iotcop.formats.squashfs import extract  # noqa: E402

# Times one extraction by the reader found under sys.argv[1], in a fresh interpreter.
RUN_READER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from iotcop.formats.squashfs import extract
started, cpu = time.monotonic(), time.process_time()
extract(sys.argv[2], sys.argv[3])
print(time.monotonic() - started, time.process_time() - cpu)
"""


def reader_seconds(src: Path, image: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one extraction."""
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", RUN_READER, str(src), str(image), str(out)], check=True,
                          capture_output=True, text=True)
    wall, cpu = proc.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def command_seconds(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


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
    parser = argparse.ArgumentParser()
    parser.add_argument("source", nargs="?", type=Path, default=default)
    parser.add_argument("--baseline", type=Path, help="src/ folder of another version of the reader")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    source = args.source
    with tempfile.TemporaryDirectory(prefix="sqfs-bench-") as tmp:
        tmp = Path(tmp)
        image = tmp / "bench.sqfs"
        subprocess.run(["mksquashfs", str(source), str(image), "-comp", "xz", "-noappend", "-quiet", "-no-progress",
                        "-e", "__pycache__", "site-packages"], check=True, stdout=subprocess.DEVNULL)
        ours, single, multi, base = tmp / "ours", tmp / "unsquashfs-1", tmp / "unsquashfs-n", tmp / "baseline"
        runs: dict[str, list[float]] = {"single": [], "multi": [], "ours": [], "baseline": []}
        for _ in range(max(1, args.repeat)):
            for out in (single, multi):
                shutil.rmtree(out, ignore_errors=True)
            runs["single"].append(command_seconds(
                ["unsquashfs", "-no-progress", "-processors", "1", "-d", str(single), str(image)]))
            runs["multi"].append(command_seconds(["unsquashfs", "-no-progress", "-d", str(multi), str(image)]))
            runs["ours"].append(reader_seconds(SRC, image, ours))
            if args.baseline:
                runs["baseline"].append(reader_seconds(args.baseline, image, base))
        # Memory of one more extraction in this process.
        shutil.rmtree(ours)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        extract(image, ours)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items() if v}
        cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items() if v}
        t_single, t_multi, t_ours = wall["single"], wall["multi"], wall["ours"]
        n_ours, size, d_ours = tree_digest(ours)
        n_theirs, _, d_theirs = tree_digest(single)
        mb = size / 1e6
        print(f"image: {image.stat().st_size / 1e6:.1f} MB xz SquashFS of {source} ({n_ours} files, {mb:.1f} MB)")
        print(f"identical trees: {d_ours == d_theirs and n_ours == n_theirs}; median of {len(runs['ours'])} run(s)")
        print(f"unsquashfs -processors 1 : {t_single:6.2f} s  {mb / t_single:7.1f} MB/s  cpu {cpu['single']:.2f} s")
        print(f"unsquashfs ({os.cpu_count()} cores)    : {t_multi:6.2f} s  {mb / t_multi:7.1f} MB/s  "
              f"cpu {cpu['multi']:.2f} s")
        print(f"iotcop reader            : {t_ours:6.2f} s  {mb / t_ours:7.1f} MB/s  cpu {cpu['ours']:.2f} s  "
              f"(peak RSS {peak / 1024:.0f} MB, {before / 1024:.0f} MB before)")
        print(f"ratio iotcop / unsquashfs single-core: {t_single / t_ours:.2f} (cpu time: "
              f"{cpu['single'] / cpu['ours']:.2f})")
        print(f"ratio iotcop / unsquashfs all cores  : {t_multi / t_ours:.2f}")
        if runs["baseline"]:
            t_base = wall["baseline"]
            same = tree_digest(base)[2] == d_theirs
            print(f"baseline reader ({args.baseline}): {t_base:6.2f} s  {mb / t_base:7.1f} MB/s  "
                  f"cpu {cpu['baseline']:.2f} s  (identical tree: {same})")
            print(f"ratio baseline / unsquashfs single-core: {t_single / t_base:.2f} (cpu time: "
                  f"{cpu['single'] / cpu['baseline']:.2f})")
            print(f"speed-up iotcop / baseline: {t_base / t_ours:.2f} (cpu time: {cpu['baseline'] / cpu['ours']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
