import pytest
from render_tools import scan_demo_images


@pytest.fixture(scope="session")
def demo_scans(cli, tmp_path_factory, vulnerable_image, clean_image):
    return scan_demo_images(cli, tmp_path_factory, vulnerable_image, clean_image)
