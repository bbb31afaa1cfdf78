"""Scan images as a user would and judge the reports: one image, or a corpus of images with expected results."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from iotcop.errors import InputError
from iotcop.evaluation.expected import Expected, load_expected
from iotcop.evaluation.match import ImageResult, evaluate

SCAN_TIMEOUT = 1800.0


@dataclass
class ScanOutcome:
    report: dict
    seconds: float
    exit_code: int


def iotcop_command() -> list[str]:
    """The installed console script next to this interpreter (a virtual environment's bin/), else PATH."""
    beside = Path(sys.executable).with_name("iotcop")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("iotcop")
    if found:
        return [found]
    raise InputError("the 'iotcop' command is not installed (run scripts/setup)")


def scan_with_cli(image: Path, extra: tuple[str, ...] = (), timeout: float = SCAN_TIMEOUT) -> ScanOutcome:
    """`iotcop scan IMAGE --format json --quiet`, timed; exit codes 0 and 1 are results, others an error."""
    cmd = [*iotcop_command(), "scan", str(image), "--format", "json", "--quiet", *extra]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InputError(f"{image}: scan did not finish within {timeout:g} s") from None
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise InputError(f"{image}: scan failed with exit code {proc.returncode}: {last}")
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise InputError(f"{image}: the scan printed no JSON report") from None
    return ScanOutcome(report, round(seconds, 2), proc.returncode)


def load_report(path: Path) -> dict:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(f"{path}: not a JSON report") from None
    if not isinstance(report, dict) or not str(report.get("schema", "")).startswith("iotcop.report/"):
        raise InputError(f"{path}: not an iotcop JSON report (no \"schema\": \"iotcop.report/...\")")
    return report


def stage_seconds(report: dict) -> float | None:
    """Time a saved report records for its stages (wall time without start-up; per-check times are inside "checks")."""
    stages = [v for k, v in (report.get("timings") or {}).items() if not k.startswith("check:") and isinstance(v, (int, float))]
    return round(sum(stages), 2) if stages else None


def expected_files(directory: Path, only: tuple[str, ...] = ()) -> list[Expected]:
    """Every *.yaml of a directory, validated; `only` keeps the images whose name (without .yaml) is listed."""
    paths = sorted(Path(directory).glob("*.yaml"))
    if only:
        unknown = sorted(set(only) - {p.stem for p in paths})
        if unknown:
            raise InputError(f"no expected results for: {', '.join(unknown)} (in {directory})")
        paths = [p for p in paths if p.stem in only]
    if not paths:
        raise InputError(f"{directory}: no expected-results files (*.yaml)")
    return [load_expected(p) for p in paths]


def evaluate_corpus(expected: list[Expected], corpus: Path, *, reports_from: Path | None = None,
                    save_reports: Path | None = None, progress=None) -> list[ImageResult]:
    """Scan each expected image found in `corpus` (or read `reports_from/<name>.json`, named like the YAML file)."""
    results = []
    for exp in expected:
        if reports_from is not None:
            report = load_report(reports_from / f"{exp.path.stem}.json")
            outcome = ScanOutcome(report, stage_seconds(report), None)
        else:
            image = corpus / exp.image
            if not image.exists():
                raise InputError(f"{image}: corpus image missing")
            if progress:
                progress(f"scanning {exp.image}")
            outcome = scan_with_cli(image)
            if save_reports is not None:
                save_reports.mkdir(parents=True, exist_ok=True)
                (save_reports / f"{exp.path.stem}.json").write_text(json.dumps(outcome.report, indent=1) + "\n", encoding="utf-8")
        results.append(evaluate(exp, outcome.report, seconds=outcome.seconds, exit_code=outcome.exit_code))
    return results
