import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from render_tools import scan_demo_images  # noqa: E402


@pytest.fixture(scope="session")
def demo_scans(cli, tmp_path_factory, vulnerable_image, clean_image):
    return scan_demo_images(cli, tmp_path_factory, vulnerable_image, clean_image)
