"""Detection measured against expected results: a reviewer's facts and negatives for an image, as data.

    load_expected(path)           -> Expected (validated against expected.schema.yaml)
    evaluate(expected, report)    -> ImageResult (found / partial / missed, negatives hit, unmatched findings)
    scan_with_cli(image)          -> the JSON report of `iotcop scan IMAGE --format json`, timed

Used by `iotcop evaluate`, by benchmarks/realworld.py and by the corpus ratchet tests, so all three judge
a report the same way.
"""

from iotcop.evaluation.expected import Expected, ExpectedError, load_expected, parse_expected
from iotcop.evaluation.match import ImageResult, evaluate, totals
from iotcop.evaluation.run import evaluate_corpus, expected_files, load_report, scan_with_cli

__all__ = [
    "Expected", "ExpectedError", "ImageResult", "evaluate", "evaluate_corpus", "expected_files", "load_expected",
    "load_report", "parse_expected", "scan_with_cli", "totals",
]
