"""Detection on real vendor firmware: scan every image of ../shared/corpus/realworld as a user would
(`iotcop scan IMAGE --format json --quiet`) and match each report against tests/data/realworld/<image>.yaml.

    .venv/bin/python benchmarks/realworld.py                   # all six images, table on stdout
    .venv/bin/python benchmarks/realworld.py --json out.json   # also the figures as JSON
    .venv/bin/python benchmarks/realworld.py --image netis-n5  # one image (repeatable)
    .venv/bin/python benchmarks/realworld.py --save-reports DIR / --reports DIR   # keep / re-judge reports

Prints per image and in total: facts found / partially found / missed, recall, negatives hit, the
confirmed or likely findings that match no fact or negative (listed, for a reviewer), vulnerability
matches and the scan time.  Exit code 0; 1 when a ratchet recorded in the YAML files is broken; 2 on
bad input (a missing corpus, an invalid expected-results file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPECTED_DIR = REPO / "tests" / "data" / "realworld"
CORPUS_DIR = REPO.parent / "shared" / "corpus" / "realworld"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="folder holding the <image>.tar.gz files")
    parser.add_argument("--expected", type=Path, default=EXPECTED_DIR, help="folder holding the <image>.yaml files")
    parser.add_argument("--image", action="append", default=[], help="only this image (name without .tar.gz.yaml)")
    parser.add_argument("--json", dest="json_file", type=Path, help="write the figures as JSON to this file")
    parser.add_argument("--reports", type=Path, help="judge saved reports <image>.json from this folder instead of scanning")
    parser.add_argument("--save-reports", type=Path, help="keep each scan's JSON report in this folder")
    parser.add_argument("--brief", action="store_true", help="the table only, without the per-image lists")
    args = parser.parse_args()

    from rich.console import Console

    from iotcop.errors import IotcopError
    from iotcop.evaluation import evaluate_corpus, expected_files
    from iotcop.evaluation.render import as_json, print_results, stdout_console
    from iotcop.files import write_atomic

    console = stdout_console()
    err = Console(stderr=True, highlight=False)
    try:
        only = tuple(name.removesuffix(".yaml").removesuffix(".tar.gz") for name in args.image)
        expected = expected_files(args.expected, only)
        if args.reports is None and not args.corpus.is_dir():
            raise IotcopError(f"{args.corpus}: corpus folder not found (put ../shared beside the repository)")
        results = evaluate_corpus(expected, args.corpus, reports_from=args.reports, save_reports=args.save_reports,
                                  progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    except IotcopError as exc:
        print(f"realworld: error: {exc}", file=sys.stderr)
        return 2
    print_results(console, results, details=not args.brief)
    if args.json_file:
        write_atomic(args.json_file, as_json(results))
    broken = [line for r in results for line in r.ratchet_problems()[0]]
    stale = [line for r in results for line in r.ratchet_problems()[1]]
    for line in stale:
        err.print(f"ratchet: {line}", markup=False)
    for line in broken:
        err.print(f"[red]ratchet broken[/red]: {line}")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
