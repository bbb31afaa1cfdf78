"""Component identification: speed against cve-bin-tool's version checkers, and recall on its test strings.

    .venv/bin/python benchmarks/sbom_vs_cvebintool.py [--cbt-python /tmp/cbt-venv/bin/python] [--cbt-sdist DIR]

1. Speed.  Builds (or takes from the cache) the 30 MB demo image, inventories its extracted root
   filesystem once and times `identify_components` on it.  Then times cve-bin-tool's
   `VersionScanner.recursive_scan` over the same tree in a separate interpreter where cve-bin-tool is
   installed (python3 -m venv /tmp/cbt-venv && /tmp/cbt-venv/bin/pip install cve-bin-tool), and prints
   the ratio.  Target: identification <= 2 s, >= 10x faster.
2. Recall.  For every entry of `mapping_test_data` in cve-bin-tool's test/test_data/*.py (PyPI sdist:
   pip download --no-deps --no-binary :all: cve-bin-tool), joins its version strings with NUL bytes (as
   they lie in .rodata) and asks the rule of the same product for the version.  Prints recall over the
   products iotcop has a rule for, and lists the misses.
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from iotcop.firmware.inventory import inventory_tree
from iotcop.sbom.identify import identify_components, version_in_bytes
from iotcop.sbom.rules import load_rules
from iotcop.vulns.versions import same_version

# cve-bin-tool product name -> iotcop rule name, where they differ
PRODUCT_NAMES = {"libcurl": "curl", "sqlite3": "sqlite", "mbed_tls": "mbedtls", "libexpat": "expat",
                 "linux_kernel": "linux_kernel", "uclibc": "uclibc", "wpa_supplicant": "wpa_supplicant"}

_CBT_SCRIPT = r"""
import sys, time, json, logging
logging.disable(logging.CRITICAL)
# Offline: the SQLite checker downloads sqlite.org/changes.html for its source-id map when imported;
# without network it runs with an empty map (its other patterns still apply).
from cve_bin_tool import version_signature
version_signature.VersionSignatureDb.get_mapping_data = lambda self: []
from cve_bin_tool.version_scanner import VersionScanner

scanner = VersionScanner(should_extract=False)
start = time.perf_counter()
found = set()
for result in scanner.recursive_scan(sys.argv[1]):
    try:
        product_info = result[0]
        found.add(f"{product_info.product}@{product_info.version}")
    except Exception:
        pass
print(json.dumps({"seconds": time.perf_counter() - start, "found": sorted(found)}))
"""


def speed(cbt_python: str | None) -> None:
    from iotcop.demo.builder import build_image

    built = build_image("vulnerable", size="30mb")
    size = sum(p.stat().st_size for p in built.rootfs.rglob("*") if p.is_file() and not p.is_symlink())
    image_mb = built.image.stat().st_size / 1e6
    t0 = time.perf_counter()
    fw = inventory_tree(built.rootfs)
    t_inv = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        comps = identify_components(fw)  # computed afresh each time (not through the per-scan memo)
        runs.append(time.perf_counter() - t0)
    ours = min(runs)
    print(f"image: {built.image.name} ({image_mb:.1f} MB), extracted tree {size / 1e6:.1f} MB, {fw.file_count} files")
    print(f"iotcop inventory (once per scan, shared by all checks): {t_inv:.2f} s")
    print(f"iotcop identify_components: {ours:.3f} s (best of 3; runs {', '.join(f'{r:.3f}' for r in runs)}), "
          f"{len(comps)} components: " + ", ".join(f"{c.name} {c.version}" for c in comps))
    if not cbt_python:
        print("cve-bin-tool: not run (give --cbt-python)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(_CBT_SCRIPT)
    proc = subprocess.run([cbt_python, fh.name, str(built.rootfs)], capture_output=True, text=True, timeout=3600)
    Path(fh.name).unlink()
    if proc.returncode != 0:
        print("cve-bin-tool failed:", proc.stderr[-2000:])
        return
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"cve-bin-tool VersionScanner.recursive_scan: {res['seconds']:.2f} s, {len(res['found'])} product versions: "
          + ", ".join(res["found"]))
    print(f"ratio: iotcop identification is {res['seconds'] / ours:.1f}x faster "
          f"({(res['seconds']) / (ours + t_inv):.1f}x including the inventory)")


def recall(sdist_dir: Path) -> None:
    tests = next(sdist_dir.glob("cve_bin_tool-*/test/test_data"), None)
    if tests is None:
        archive = next(sdist_dir.glob("cve_bin_tool-*.tar.gz"), None)
        if archive is None:
            print(f"recall: no cve-bin-tool sdist in {sdist_dir}")
            return
        with tarfile.open(archive) as tf:
            tf.extractall(sdist_dir, filter="data")
        tests = next(sdist_dir.glob("cve_bin_tool-*/test/test_data"))
    rules = {r.name: r for r in load_rules()}
    total = hit = 0
    uncovered: dict[str, int] = {}
    misses = []
    for path in sorted(tests.glob("*.py")):
        if path.name.startswith("__"):
            continue
        data = runpy.run_path(str(path))
        for entry in data.get("mapping_test_data", []):
            product = PRODUCT_NAMES.get(entry["product"], entry["product"])
            rule = rules.get(product)
            if rule is None:
                uncovered[entry["product"]] = uncovered.get(entry["product"], 0) + 1
                continue
            blob = b"\x00" + b"\x00".join(s.encode() for s in entry["version_strings"]) + b"\x00"
            got = version_in_bytes(rule, blob)
            total += 1
            if got and same_version(got[0], entry["version"]):
                hit += 1
            else:
                misses.append(f"{entry['product']} {entry['version']}: got {got[0] if got else None} "
                              f"from {entry['version_strings']!r}"[:200])
    print(f"recall on cve-bin-tool test strings (products with an iotcop rule): {hit}/{total} = {hit / total:.1%}")
    for m in misses:
        print("  miss:", m)
    print(f"entries for products without an iotcop rule: {sum(uncovered.values())} "
          f"({len(uncovered)} products, e.g. {', '.join(sorted(uncovered)[:8])})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cbt-python", default="/tmp/cbt-venv/bin/python" if Path("/tmp/cbt-venv/bin/python").exists() else None)
    ap.add_argument("--cbt-sdist", type=Path, default=Path("/tmp/cbt"))
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    recall(args.cbt_sdist)
    if not args.skip_speed:
        speed(args.cbt_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
