"""Helpers shared by tests/report and tests/label: real scans, Chromium, pdftotext."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
_SCANS: dict[tuple[str, str], dict[str, Path]] = {}


def scan_demo_images(cli, tmp_path_factory, vulnerable_image, clean_image) -> dict[str, Path]:
    """Scan both demo images once per test process with every output the tests read."""
    key = (str(vulnerable_image.image), str(clean_image.image))
    if key in _SCANS:
        return _SCANS[key]
    out = {}
    for variant, built in (("vulnerable", vulnerable_image), ("clean", clean_image)):
        folder = tmp_path_factory.mktemp(f"scan-{variant}")
        res = cli("scan", built.image, "--out", folder, "--output", "json,sarif,html,consumer,pdf", "--quiet")
        assert res.code in (0, 1), res.stderr
        assert (folder / "report.json").is_file()
        out[variant] = folder
    _SCANS[key] = out
    return out


def load_report(folder: Path):
    from iotcop.model import Assessment

    return Assessment.model_validate(json.loads((folder / "report.json").read_text()))


def chromium(args: list[str], tmp_path: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install -y chromium (scripts/setup installs it)")
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout)


def screenshot(url: str, png: Path, size: str, tmp_path: Path) -> bytes:
    proc = chromium([f"--screenshot={png}", f"--window-size={size}", url], tmp_path)
    assert png.is_file(), proc.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
