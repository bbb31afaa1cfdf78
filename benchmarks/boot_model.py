"""Boot model benchmark: the shell parsers on real boot scripts, and the model's cost against a scan.

1. Parsers: every shell script of the six vendor root filesystems in ../shared/corpus/realworld is parsed
   by iotcop's tolerant parser (iotcop.boot.shell) and, when installed, by bashlex and tree-sitter-bash
   (`pip install bashlex tree-sitter tree-sitter-bash`; they are not iotcop dependencies).  Printed per
   image: scripts, scripts a parser rejects (bashlex: an exception; tree-sitter: a tree with ERROR or
   MISSING nodes; iotcop: skipped tokens), and seconds.
2. Cost: on each demo image (built from Debian packages, cached) and each corpus image, the median time
   of build_boot_model() next to the median time of a full scan of the same image in the same run, so
   the ratio is what the model adds to a scan that computes it once.

Usage: .venv/bin/python benchmarks/boot_model.py [--runs 3] [--skip-scan]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "realworld"
_SHEBANG = re.compile(rb"#!\s*/bin/(?:ba|a)?sh")


def _scripts(root: Path) -> list[Path]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        head = path.read_bytes()[:64]
        in_init_dir = any(part in ("init.d", "rc.d") for part in path.parts) or "bewan/lib" in str(path)
        if _SHEBANG.match(head) or (in_init_dir and b"\x00" not in head):
            out.append(path)
    return out


def _safe_extract(archive: Path, dest: Path) -> None:
    """Members stay inside dest ('tar' filter); absolute link targets are kept but never followed here."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="tar")


def parsers() -> None:
    from iotcop.boot import shell

    try:
        import bashlex
    except ImportError:
        bashlex = None
    try:
        import tree_sitter
        import tree_sitter_bash

        ts_parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))
    except ImportError:
        ts_parser = None
    print("parser comparison on the corpus boot scripts (rejected / scripts, seconds)")
    print(f"{'image':16} {'scripts':>7} {'iotcop':>16} {'bashlex':>16} {'tree-sitter':>16}")
    totals = [0, 0, 0, 0]
    for archive in sorted(CORPUS.glob("*.tar.gz")):
        work = Path(tempfile.mkdtemp(prefix="boot-bench-"))
        try:
            _safe_extract(archive, work)
            scripts = _scripts(work)
            results = {}
            for name, parse in (("iotcop", lambda t: bool(shell.parse(t.decode("utf-8", "replace")).errors)),
                                ("bashlex", bashlex and (lambda t: _bashlex_fails(bashlex, t))),
                                ("tree-sitter", ts_parser and (lambda t: ts_parser.parse(t).root_node.has_error))):
                if not parse:
                    results[name] = "not installed"
                    continue
                start = time.perf_counter()
                bad = sum(1 for path in scripts if parse(path.read_bytes()))
                results[name] = f"{bad:4d} {time.perf_counter() - start:7.2f}s"
                totals[["iotcop", "bashlex", "tree-sitter"].index(name) + 1] += bad
            totals[0] += len(scripts)
            print(f"{archive.name.split('.')[0]:16} {len(scripts):7d} {results['iotcop']:>16} {results['bashlex']:>16} "
                  f"{results['tree-sitter']:>16}")
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'total':16} {totals[0]:7d} {totals[1]:16d} {totals[2]:16d} {totals[3]:16d}")


def _bashlex_fails(bashlex, text: bytes) -> bool:
    try:
        bashlex.parse(text.decode("utf-8", "replace"))
        return False
    except Exception:  # noqa: BLE001 - any exception is a script bashlex cannot read
        return True


def cost(runs: int, skip_scan: bool) -> None:
    from iotcop.boot import build_boot_model
    from iotcop.demo.builder import build_image
    from iotcop.firmware.extract import extract
    from iotcop.firmware.inventory import build_firmware
    from iotcop.scan import ScanOptions, scan

    images = [(f"demo-{v}", build_image(v).image) for v in ("vulnerable", "clean")]
    images += [(a.name.split(".")[0], a) for a in sorted(CORPUS.glob("*.tar.gz"))]
    print(f"\nboot model cost (median of {runs} runs)")
    print(f"{'image':18} {'programs':>8} {'model s':>8} {'scan s':>8} {'model/scan':>10}")
    for label, image in images:
        work = Path(tempfile.mkdtemp(prefix="boot-bench-"))
        try:
            extraction = extract(Path(image), work)
            fw = build_firmware(work, extraction.roots, extraction.extract_dir, extraction.partitions)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model = build_boot_model(fw)
                times.append(time.perf_counter() - start)
            model_s = statistics.median(times)
            scan_s = None
            if not skip_scan:
                scans = []
                for _ in range(runs):
                    start = time.perf_counter()
                    scan(Path(image), ScanOptions())
                    scans.append(time.perf_counter() - start)
                scan_s = statistics.median(scans)
            ratio = f"{model_s / scan_s:9.1%}" if scan_s else "-"
            print(f"{label:18} {len(model.programs):8d} {model_s:8.2f} {scan_s or 0:8.2f} {ratio:>10}")
        finally:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-scan", action="store_true", help="time the model only")
    ap.add_argument("--parsers-only", action="store_true")
    args = ap.parse_args()
    parsers()
    if not args.parsers_only:
        cost(args.runs, args.skip_scan)


if __name__ == "__main__":
    main()
