"""Runs schemathesis against the registry's OpenAPI schema in one pytest process.

The generated cases share one node id, which pytest-xdist cannot distribute, and the last case counts
what all of them tried; so they run together in a child pytest without xdist.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CASES = Path(__file__).with_name("schemathesis_cases.py")


def test_schemathesis_finds_no_server_errors(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(CASES), "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "-s",
         "--basetemp", str(tmp_path / "base")],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = re.search(r"schemathesis: (\d+) requests over (\d+) operations, (\d+) server errors", proc.stdout)
    assert summary, proc.stdout[-2000:]
    requests, operations, errors = map(int, summary.groups())
    assert requests >= 200 and operations >= 10 and errors == 0
