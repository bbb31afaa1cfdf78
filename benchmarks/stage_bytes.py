"""Bytes read per scan stage and per check, against the size of the extracted tree.

    .venv/bin/python benchmarks/stage_bytes.py IMAGE [--profile standard] [--json]

Counts with the kernel's per-process `rchar` (/proc/self/io: every byte returned by read(2),
from the page cache or the disk), so nothing in the code under test is wrapped or changed.
Each check runs in its own forked child, as in a scan (it starts from the parent's caches,
after the inventory and components stages), one at a time so the counts do not mix.
The target is that each extracted file is read at most once: the sum over all stages after
extraction should stay near one tree's worth of bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


def measure(image: Path, profile: str = "standard") -> dict:
    from iotcop.checks.runner import run_check_inline
    from iotcop.firmware.extract import extract
    from iotcop.firmware.inventory import build_firmware
    from iotcop.checks.discovery import all_checks
    from iotcop.context import ScanContext
    from iotcop.profiles import get_profile, split_checks
    from iotcop.sbom import components_as_dicts
    from iotcop.scan import content_pass, derive_shared_facts

    work = Path(tempfile.mkdtemp(prefix="iotcop-bytes-"))
    try:
        extraction = extract(image, work)
        tree_bytes = sum(e.size for e in _files_of(extraction))
        stages: dict[str, int] = {}
        cpu: dict[str, float] = {}
        selected, _skipped = split_checks(all_checks(), profile)
        ctx = ScanContext(get_profile(profile))
        before, before_cpu = rchar(), time.process_time()
        # One process (jobs=1) so the kernel's read counter of this process sees every read of the inventory
        # and of its content pass (a scan spreads the same work over the cores).
        fw = build_firmware(work, extraction.roots, extraction.extract_dir, extraction.partitions,
                            content=content_pass(selected, ctx, jobs=1))
        stages["inventory"], cpu["inventory"] = rchar() - before, time.process_time() - before_cpu
        before, before_cpu = rchar(), time.process_time()
        components_as_dicts(fw)
        derive_shared_facts(fw, selected)  # as a scan does, before the checks fork
        stages["components"], cpu["components"] = rchar() - before, time.process_time() - before_cpu
        checks: dict[str, dict] = {}
        for cls in selected:
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: like the runner's, it inherits the parent's caches
                os.close(read_fd)
                start_bytes, start, start_cpu = rchar(), time.perf_counter(), time.process_time()
                run = run_check_inline(cls, fw, ctx)
                result = {"bytes": rchar() - start_bytes, "seconds": time.perf_counter() - start,
                          "cpu": time.process_time() - start_cpu, "status": run.status}
                os.write(write_fd, json.dumps(result).encode())
                os._exit(0)
            os.close(write_fd)
            with os.fdopen(read_fd, "rb") as fh:
                payload = fh.read()
            os.waitpid(pid, 0)
            checks[cls.ID] = json.loads(payload) if payload else {"bytes": -1, "seconds": 0, "status": "died"}
        stages["checks"] = sum(c["bytes"] for c in checks.values())
        cpu["checks"] = sum(c.get("cpu", 0.0) for c in checks.values())
        return {"image": str(image), "profile": profile, "tree_bytes": tree_bytes,
                "files": fw.file_count, "stages": stages, "cpu": cpu, "checks": checks}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _files_of(extraction):
    from iotcop.firmware.inventory import walk

    tops = [extraction.extract_dir] if extraction.extract_dir else [p for _, p in extraction.roots]
    seen = set()
    for top in tops:
        for path, st in walk(top):
            if path.is_file() and not path.is_symlink() and st.st_ino not in seen:
                seen.add(st.st_ino)
                yield type("F", (), {"size": st.st_size})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = measure(args.image, args.profile)
    if args.json:
        print(json.dumps(result))
        return 0
    tree = result["tree_bytes"] or 1
    print(f"extracted tree: {result['tree_bytes'] / 1e6:.1f} MB in {result['files']} files")
    for name, n in result["stages"].items():
        print(f"  {name:<40}{n / 1e6:>10.1f} MB  {n / tree:>6.2f}x tree  {result['cpu'][name]:.2f} s CPU")
    for cid, c in sorted(result["checks"].items(), key=lambda kv: -kv[1]["cpu"]):
        print(f"    {cid:<38}{c['bytes'] / 1e6:>10.1f} MB  {c['bytes'] / tree:>6.2f}x  {c['cpu']:.2f} s CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
