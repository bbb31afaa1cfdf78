"""Shared fixtures: the real corpus, the real CLI, demo images built from Debian packages."""

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


def run_cli(*args: str | Path, timeout: float = 600, cwd: Path | None = None) -> CliResult:
    """Run the installed `iotcop` console script as a user would."""
    exe = Path(sys.executable).with_name("iotcop")
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env=env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def cli():
    return run_cli


def _build(variant: str):
    from iotcop.demo.builder import build_image

    return build_image(variant)


@pytest.fixture(scope="session")
def vulnerable_image():
    return _build("vulnerable")


@pytest.fixture(scope="session")
def clean_image():
    return _build("clean")


def pytest_collection_modifyitems(config, items):
    # Tests that build demo images share one xdist worker so each image is built once.
    for item in items:
        if {"vulnerable_image", "clean_image"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("demo-images"))
