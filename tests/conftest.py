"""Shared fixtures: the real CLI and demo images built from Debian packages (helpers live in support.py)."""

from __future__ import annotations

import pytest
from support import CORPUS, REPO, CliResult, corpus_file, run_cli  # noqa: F401 - re-exported for old imports


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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups off the items
def pytest_collection_modifyitems(config, items):
    # Tests that build demo images share one xdist worker so each image is built once.
    for item in items:
        if {"vulnerable_image", "clean_image"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("demo-images"))
