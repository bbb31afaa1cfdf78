"""Helpers shared by the tests (import as `from support import ...`; tests/ is on sys.path).

Sub-folder conftest.py files must not be imported by name: pytest loads each of
them as a module called "conftest", so only this module is safe to import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def needs_corpus(test):
    """Marks a test that reads ../shared/corpus: it runs whenever the folder exists and skips only without it."""
    return pytest.mark.corpus(pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")(test))


def corpus_file(*parts: str) -> Path:
    """A file of ../shared/corpus; tests skip only when the corpus folder is absent."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    path = CORPUS.joinpath(*parts)
    assert path.exists(), f"corpus file missing: {path}"
    return path


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict:
        return json.loads(self.stdout)


def run_cli(*args: str | Path, timeout: float = 600, cwd: Path | None = None, env: dict | None = None) -> CliResult:
    """Run the installed `iotcop` console script as a user would."""
    exe = Path(sys.executable).with_name("iotcop")
    env = dict(os.environ, COLUMNS="200", **(env or {}))
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
