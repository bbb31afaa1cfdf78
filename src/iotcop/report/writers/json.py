"""report.json: the Assessment as versioned, schema-checked JSON (schema iotcop.report/1)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from iotcop.files import write_atomic
from iotcop.model import Assessment

SCHEMA_PATH = Path(__file__).parents[1] / "schema" / "report-1.schema.json"


@functools.cache
def report_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def render(assessment: Assessment) -> str:
    return json.dumps(assessment.to_json_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_report(assessment: Assessment, out_dir: Path) -> Path:
    path = out_dir / "report.json"
    write_atomic(path, render(assessment))
    return path


FORMAT = "json"
DEFAULT = True


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    return [write_report(assessment, out_dir)]
