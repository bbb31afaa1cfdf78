"""Build the starter database shipped in the package from ../shared/vulndata (real records only).

    python -m iotcop.vulns.build_starter [--vulndata DIR] [--out FILE]

Every record keeps its source and source_ref (repository, commit, path).  The NVD field
extracts in verified/ are imported as well; they are already in vulns.json as records.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from iotcop.vulns.db import STARTER_DB, staged_copy
from iotcop.vulns.importers import store, vulndata_records

DEFAULT_VULNDATA = Path(__file__).resolve().parents[4] / "shared" / "vulndata"


def build(vulndata: Path, out: Path) -> int:
    records = json.loads((vulndata / "vulns.json").read_text())
    if out.exists():
        out.unlink()
    with staged_copy(out) as conn:
        count = store(conn, vulndata_records(records))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('source', ?)", (f"vulndata ({len(records)} records)",))
        conn.commit()
        conn.execute("VACUUM")
    return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vulndata", type=Path, default=DEFAULT_VULNDATA)
    ap.add_argument("--out", type=Path, default=STARTER_DB)
    args = ap.parse_args(argv)
    if not (args.vulndata / "vulns.json").is_file():
        print(f"no vulns.json under {args.vulndata}; starter database not rebuilt", file=sys.stderr)
        return 2
    count = build(args.vulndata, args.out)
    print(f"{args.out}: {count} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
