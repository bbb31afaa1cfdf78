import sys
from pathlib import Path

# The hostile image builders and fuzz targets live in fuzz/ (also used by fuzz/run).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
