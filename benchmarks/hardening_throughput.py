"""ELF files per second of the hardening.binaries check (target: at least 1,000/s).

    .venv/bin/python benchmarks/hardening_throughput.py [--files 100000]

Inventories the host's /usr/bin and /usr/lib once (real ElfInfo records), then
replicates those entries under distinct paths up to --files and times the
check's run() alone, which reads only the inventory.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from iotcop.checks.hardening.binaries import BinaryHardening
from iotcop.context import ScanContext
from iotcop.firmware.inventory import inventory_tree
from iotcop.firmware.model import Firmware


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    args = parser.parse_args()
    seeds = [e for top in ("/usr/bin", "/usr/lib/x86_64-linux-gnu") for e in inventory_tree(Path(top)).elf_files()]
    entries = [dataclasses.replace(seeds[i % len(seeds)], path=f"/copy{i // len(seeds)}{seeds[i % len(seeds)].path}") for i in range(args.files)]
    fw = Firmware(work_dir=Path("/tmp"), roots=["rootfs"], entries=entries)
    # The timing includes the one read of the image's libc (for the FORTIFY rule).
    start = time.perf_counter()
    findings = list(BinaryHardening().run(fw, ScanContext.default()))
    seconds = time.perf_counter() - start
    print(f"{args.files} ELF entries ({len(seeds)} distinct) in {seconds:.3f} s: {args.files / seconds:,.0f} ELF files/s; {len(findings)} findings")


if __name__ == "__main__":
    main()
