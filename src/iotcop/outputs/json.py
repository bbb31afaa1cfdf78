"""report.json (schema iotcop.report/1)."""

from __future__ import annotations

from pathlib import Path

from iotcop.model import Assessment
from iotcop.report.json_report import write_report

FORMAT = "json"
DEFAULT = True


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    return [write_report(assessment, out_dir)]
