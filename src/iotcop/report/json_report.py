"""report.json: the Assessment as versioned, schema-checked JSON."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path

from iotcop.model import Assessment

SCHEMA_PATH = Path(__file__).parent / "schema" / "report-1.schema.json"


@functools.cache
def report_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def render(assessment: Assessment) -> str:
    return json.dumps(assessment.to_json_dict(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            # A file name that is not UTF-8 must not stop a report: such bytes are written as \udcNN escapes.
            fh.write(text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_report(assessment: Assessment, out_dir: Path) -> Path:
    path = out_dir / "report.json"
    write_atomic(path, render(assessment))
    return path
