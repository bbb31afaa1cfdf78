"""NX / PIE / RELRO / stack canary for every ELF file of a tree, with LIEF or with iotcop's own reader.

    .venv/bin/python benchmarks/elf_hardening.py TREE --engine lief|iotcop

Prints one JSON line: seconds (the parse loop only), files, ELF files, and the hardening facts
as a map path -> [nx, pie, relro, canary], so two engines can be compared on the same files.
Both engines read each file from disk themselves (LIEF by path, iotcop's reader from its bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from pathlib import Path

CANARY_SYMBOLS = ("__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local")


def elf_paths(tree: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
                if not stat.S_ISREG(st.st_mode) or st.st_size < 52:
                    continue
                with open(path, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        out.append(path)
            except OSError:
                continue
    return sorted(out)


def with_lief(paths: list[Path]) -> dict[str, list]:
    import lief

    lief.logging.disable()
    facts = {}
    for path in paths:
        binary = lief.ELF.parse(str(path))
        if binary is None:
            continue
        relro = "none"
        if any(seg.type == lief.ELF.Segment.TYPE.GNU_RELRO for seg in binary.segments):
            relro = "partial"
            flags = binary.get(lief.ELF.DynamicEntry.TAG.FLAGS)
            flags_1 = binary.get(lief.ELF.DynamicEntry.TAG.FLAGS_1)
            now = (flags is not None and flags.has(lief.ELF.DynamicEntryFlags.FLAG.BIND_NOW)) or (
                flags_1 is not None and flags_1.has(lief.ELF.DynamicEntryFlags.FLAG.NOW))
            if now or binary.has(lief.ELF.DynamicEntry.TAG.BIND_NOW):
                relro = "full"
        names = {s.name for s in binary.symbols}
        canary = any(n in names for n in CANARY_SYMBOLS)
        facts[str(path)] = [bool(binary.has_nx), bool(binary.is_pie), relro, canary]
    return facts


def with_iotcop(paths: list[Path]) -> dict[str, list]:
    from iotcop.firmware.elf import ElfError, parse_elf

    facts = {}
    for path in paths:
        data = path.read_bytes()
        try:
            info = parse_elf(data)
        except ElfError:
            continue
        facts[str(path)] = [bool(info.nx), info.pie, info.relro, info.canary]
    return facts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", type=Path)
    ap.add_argument("--engine", choices=["lief", "iotcop"], required=True)
    args = ap.parse_args()
    paths = elf_paths(args.tree)
    start = time.perf_counter()
    facts = (with_lief if args.engine == "lief" else with_iotcop)(paths)
    seconds = time.perf_counter() - start
    print(json.dumps({"engine": args.engine, "seconds": seconds, "elf_files": len(paths), "parsed": len(facts),
                      "facts": facts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
