"""The one-command benchmark (run as `benchmarks/run`): iotcop against the anchor tools on one machine.

Builds (or takes from the cache) the ~10, 30 and 100 MB demo images and, in one run, times:

* unblob alone (its CLI, every core; a `sasquatch` stand-in hands SquashFS chunks to unsquashfs,
  the extractor iotcop uses too);
* `iotcop scan` with each profile (label, standard, deep) on the reference image, and with the
  standard profile on every size (the cost curve);
* cve-bin-tool's version checkers (VersionScanner.recursive_scan, offline) on the same extracted tree;
* LIEF hardening (NX/PIE/RELRO/canary over every ELF file) against iotcop's own ELF reader;
* bytes read per scan stage (each extracted file should be read about once).

Each timing is the median of --runs runs; peak RSS is that of the largest single process of a run.
The load average is printed with every result: other work on the machine slows every tool alike,
which is why the ratios against unblob, measured side by side, are the numbers to compare.
Writes the tables to stdout and, with --markdown FILE, as Markdown for the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
BENCH_CACHE = Path(os.environ.get("IOTCOP_BENCH_CACHE", Path.home() / ".cache" / "iotcop" / "bench"))
CBT_VENV = BENCH_CACHE / "cbt-venv"
CBT_VERSION = "3.4"

SHIM = """#!/bin/sh
# stand-in for sasquatch: drop the endianness flags unsquashfs does not take
args=""
for a in "$@"; do
  case "$a" in -le|-be) ;; *) args="$args '$a'" ;; esac
done
eval exec unsquashfs -no-xattrs $args
"""

# cve-bin-tool's version checkers over a tree.  Offline: its SQLite checker downloads a source-id map
# when imported; without network it runs with an empty map (its other patterns still apply).
CBT_SCRIPT = r"""
import sys, time, json, logging
logging.disable(logging.CRITICAL)
from cve_bin_tool import version_signature
version_signature.VersionSignatureDb.get_mapping_data = lambda self: []
from cve_bin_tool.version_scanner import VersionScanner
scanner = VersionScanner(should_extract=False)
start = time.perf_counter()
found = set()
for result in scanner.recursive_scan(sys.argv[1]):
    try:
        found.add(f"{result[0].product}@{result[0].version}")
    except Exception:
        pass
print(json.dumps({"seconds": time.perf_counter() - start, "found": sorted(found)}))
"""


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


@dataclass
class Run:
    seconds: float
    rss_mb: int
    code: int
    load: str
    cpu: float = 0.0  # user + system seconds of the command and every process it waited for
    timings: dict = field(default_factory=dict)


def timed(cmd: list[str], env: dict | None = None, stdout=subprocess.DEVNULL) -> Run:
    """Wall seconds and peak RSS (MB) of the largest single process of the command's tree."""
    before = load()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    return Run(time.perf_counter() - start, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status), before,
               usage.ru_utime + usage.ru_stime)


def median(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def cpu(runs: list[Run]) -> float:
    return statistics.median(r.cpu for r in runs)


def peak(runs: list[Run]) -> int:
    return max(r.rss_mb for r in runs)


def loads(runs: list[Run]) -> str:
    return "/".join(r.load for r in runs)


def ensure_cbt(log) -> Path | None:
    python = CBT_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import cve_bin_tool"], capture_output=True).returncode == 0:
        return python
    log(f"creating the cve-bin-tool venv in {CBT_VENV} ...")
    try:
        CBT_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(CBT_VENV)], check=True)
        subprocess.run([str(CBT_VENV / "bin" / "pip"), "install", "-q", f"cve-bin-tool=={CBT_VERSION}"], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        log(f"cve-bin-tool could not be installed: {exc}")
        shutil.rmtree(CBT_VENV, ignore_errors=True)
        return None
    return python


class Bench:
    def __init__(self, runs: int, scratch: Path, log) -> None:
        self.runs = runs
        self.scratch = scratch
        self.log = log
        shim_dir = scratch / "bin"
        shim_dir.mkdir()
        (shim_dir / "sasquatch").write_text(SHIM)
        (shim_dir / "sasquatch").chmod(0o755)
        self.unblob_env = dict(os.environ, PATH=f"{shim_dir}:{VENV_BIN}:{os.environ['PATH']}")
        self.counter = 0

    def _next(self, what: str) -> Path:
        self.counter += 1
        return self.scratch / f"{what}-{self.counter}"

    def unblob(self, image: Path, keep: bool = False) -> tuple[Run, Path | None]:
        out = self._next("unblob")
        run = timed([str(VENV_BIN / "unblob"), "-e", str(out), "--log", str(out) + ".log", str(image)], self.unblob_env)
        if keep:
            return run, out
        shutil.rmtree(out, ignore_errors=True)
        return run, None

    def scan(self, image: Path, profile: str) -> Run:
        work, out = self._next("work"), self._next("out")
        run = timed([str(VENV_BIN / "iotcop"), "scan", str(image), "--quiet", "--profile", profile,
                     "--work-dir", str(work), "--out", str(out), "--output", "json"])
        try:
            report = json.loads((out / "report.json").read_text())
            run.timings = report.get("timings", {})
            if report.get("profile") != profile:
                raise RuntimeError(f"report says profile {report.get('profile')}, expected {profile}")
        except (OSError, ValueError) as exc:
            self.log(f"iotcop scan ({profile}) wrote no report (exit {run.code}): {exc}")
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        return run

    def interleaved(self, image: Path, profiles: list[str]) -> dict[str, list[Run]]:
        """unblob and each profile, alternated run by run so a change of load hits all alike."""
        rows: dict[str, list[Run]] = {"unblob": [], **{p: [] for p in profiles}}
        for i in range(self.runs):
            rows["unblob"].append(self.unblob(image)[0])
            self.log(f"  run {i + 1}: unblob {rows['unblob'][-1].seconds:.1f} s, CPU {rows['unblob'][-1].cpu:.1f} s (load {rows['unblob'][-1].load})")
            for p in profiles:
                rows[p].append(self.scan(image, p))
                self.log(f"  run {i + 1}: iotcop {p} {rows[p][-1].seconds:.1f} s, CPU {rows[p][-1].cpu:.1f} s (load {rows[p][-1].load}, "
                         f"exit {rows[p][-1].code})")
        return rows


def stage_medians(runs: list[Run]) -> dict[str, float]:
    keys = {k for r in runs for k in r.timings}
    return {k: statistics.median(r.timings.get(k, 0.0) for r in runs) for k in keys}


def cbt(python: Path | None, tree: Path, runs: int) -> dict | None:
    if python is None:
        return None
    script = tree.parent / "cbt_scan.py"
    script.write_text(CBT_SCRIPT)
    results = []
    for _ in range(runs):
        out = tree.parent / "cbt.json"
        with open(out, "w") as fh:
            run = timed([str(python), str(script), str(tree)], stdout=fh)
        try:
            payload = json.loads(out.read_text().strip().splitlines()[-1])
        except (ValueError, IndexError):
            return None  # it did not run; no number is better than a wrong one
        run.timings = payload
        results.append(run)
    return {"runs": results, "found": results[-1].timings.get("found", [])}


def elf_engines(tree: Path, runs: int) -> dict:
    rows: dict[str, list[Run]] = {"lief": [], "iotcop": []}
    facts: dict[str, dict] = {}
    for _ in range(runs):
        for engine in rows:
            out = tree.parent / f"elf-{engine}.json"
            with open(out, "w") as fh:
                run = timed([sys.executable, str(HERE / "elf_hardening.py"), str(tree), "--engine", engine], stdout=fh)
            payload = json.loads(out.read_text())
            run.timings = {"loop": payload["seconds"], "elf_files": payload["elf_files"]}
            facts[engine] = payload["facts"]
            rows[engine].append(run)
    agree = sum(1 for k, v in facts["lief"].items() if facts["iotcop"].get(k) == v)
    return {"rows": rows, "agree": agree, "total": len(facts["lief"])}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10mb,30mb,100mb")
    ap.add_argument("--reference", default="30mb", help="size on which every profile and anchor tool runs")
    ap.add_argument("--profiles", default="label,standard,deep")
    ap.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    ap.add_argument("--skip-anchors", action="store_true", help="no cve-bin-tool / LIEF runs")
    ap.add_argument("--skip-bytes", action="store_true", help="no bytes-read measurement")
    args = ap.parse_args()
    sizes = [s for s in args.sizes.split(",") if s]
    profiles = [p for p in args.profiles.split(",") if p]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from iotcop.demo.builder import build_image

    images: dict[str, Path] = {}

    def image(size: str) -> Path:
        # Built when its turn comes, so a large image still being built does not hold up the others.
        if size not in images:
            built = build_image("vulnerable", size=size)
            images[size] = built.image
            log(f"image {size}: {built.image} ({built.image.stat().st_size / 1e6:.1f} MB)")
        return images[size]

    cores = os.cpu_count()
    started = dt.datetime.now(dt.timezone.utc)
    lines: list[str] = []

    def out(line: str = "") -> None:
        print(line, flush=True)
        lines.append(line)

    scratch = Path(tempfile.mkdtemp(prefix="iotcop-bench-"))
    try:
        bench = Bench(args.runs, scratch, log)
        curve: dict[str, dict[str, list[Run]]] = {}
        for size in sizes:
            log(f"{size}: unblob and iotcop scan ({', '.join(profiles if size == args.reference else ['standard'])})")
            curve[size] = bench.interleaved(image(size), profiles if size == args.reference else ["standard"])
        anchors = None
        if not args.skip_anchors and args.reference in images:
            log("anchor tools on the reference image's extracted tree")
            _, tree = bench.unblob(images[args.reference], keep=True)
            anchors = {"cbt": cbt(ensure_cbt(log), tree, args.runs), "elf": elf_engines(tree, args.runs)}
        bytes_read = None
        if args.reference in images and not args.skip_bytes:
            log("bytes read per stage (reference image)")
            sys.path.insert(0, str(HERE))
            from stage_bytes import measure

            bytes_read = measure(images[args.reference], "standard")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    # -- tables ---------------------------------------------------------------------------------------
    ref = curve.get(args.reference)
    out(f"Benchmark of {started:%Y-%m-%d} on {cores} cores ({os.uname().machine}), median of {args.runs} runs; "
        f"load average (1 min) at the start of each run shown as a/b/c.")
    out()
    if ref:
        base = median(ref["unblob"])
        out(f"Reference image {args.reference} ({images[args.reference].stat().st_size / 1e6:.0f} MB):")
        out()
        base_cpu = cpu(ref["unblob"])
        out("| tool | median s | × unblob | CPU s | CPU × unblob | peak RSS MB | load |")
        out("|---|---:|---:|---:|---:|---:|---|")

        def row(label: str, runs: list[Run]) -> None:
            out(f"| {label} | {median(runs):.1f} | {median(runs) / base:.2f} | {cpu(runs):.1f} | "
                f"{cpu(runs) / base_cpu:.2f} | {peak(runs)} | {loads(runs)} |")

        row("unblob alone (CLI)", ref["unblob"])
        for p in profiles:
            row(f"iotcop scan --profile {p}", ref[p])
        if anchors and anchors["cbt"]:
            runs = anchors["cbt"]["runs"]
            row(f"cve-bin-tool {CBT_VERSION} version checkers (same tree)", runs)
        if anchors:
            elf = anchors["elf"]
            for engine, label in (("lief", "LIEF hardening, every ELF"), ("iotcop", "iotcop ELF reader, every ELF")):
                runs = elf["rows"][engine]
                row(f"{label} ({runs[0].timings['elf_files']} files)", runs)
        out()
        if anchors:
            elf = anchors["elf"]
            out(f"NX/PIE/RELRO/canary agree between LIEF and iotcop on {elf['agree']} of {elf['total']} ELF files.")
            if anchors["cbt"]:
                out(f"cve-bin-tool found: {', '.join(anchors['cbt']['found']) or 'nothing'}.")
            out()
        stages = stage_medians(ref.get("standard", []))
        if stages:
            order = ["extract", "inventory", "components", "shared", "checks", "assess", "outputs"]
            outside = median(ref["standard"]) - sum(stages.get(k, 0.0) for k in order)
            out("Stages of `iotcop scan` (standard profile, median s): "
                + ", ".join(f"{k} {stages[k]:.1f}" for k in order if k in stages)
                + f"; outside the stages (interpreter start, imports, image hash, catalogue) {outside:.1f}.")
            slowest = sorted(((v, k[6:]) for k, v in stages.items() if k.startswith("check:")), reverse=True)[:5]
            out("Slowest checks (median s, in parallel children): "
                + ", ".join(f"{k} {v:.1f}" for v, k in slowest) + ".")
            out()
    out("Cost against image size (standard profile):")
    out()
    out("| image | MB | unblob s | iotcop s | × unblob | unblob CPU s | iotcop CPU s | CPU × unblob | iotcop CPU s/MB "
        "| extract s | after extraction s | peak RSS MB | load |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for size in sizes:
        rows = curve[size]
        mb = images[size].stat().st_size / 1e6
        st = stage_medians(rows["standard"])
        scan_s = median(rows["standard"])
        extract_s = st.get("extract", 0.0)
        scan_cpu = cpu(rows["standard"])
        out(f"| {size} | {mb:.0f} | {median(rows['unblob']):.1f} | {scan_s:.1f} | "
            f"{scan_s / median(rows['unblob']):.2f} | {cpu(rows['unblob']):.1f} | {scan_cpu:.1f} | "
            f"{scan_cpu / cpu(rows['unblob']):.2f} | {scan_cpu / mb:.2f} | {extract_s:.1f} | "
            f"{scan_s - extract_s:.1f} | {peak(rows['standard'])} | {loads(rows['standard'])} |")
    out()
    if bytes_read:
        tree = bytes_read["tree_bytes"] or 1
        per_stage = ", ".join(f"{k} {v / tree:.2f}×" for k, v in bytes_read["stages"].items())
        heavy = sorted(bytes_read["checks"].items(), key=lambda kv: -kv[1]["bytes"])[:5]
        cpu_by_stage = bytes_read["cpu"]
        out(f"CPU seconds after extraction ({args.reference}, one check at a time): "
            + ", ".join(f"{k} {v:.1f}" for k, v in cpu_by_stage.items()) + "; costliest checks: "
            + ", ".join(f"{cid} {c['cpu']:.2f}" for cid, c in
                        sorted(bytes_read["checks"].items(), key=lambda kv: -kv[1]["cpu"])[:5]) + ".")
        out(f"Bytes read after extraction ({args.reference}, extracted tree {tree / 1e6:.0f} MB in "
            f"{bytes_read['files']} files; 1× = the tree once): {per_stage}; largest readers among the checks: "
            + ", ".join(f"{cid} {c['bytes'] / tree:.2f}×" for cid, c in heavy) + ".")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
