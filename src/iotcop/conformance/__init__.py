"""ETSI TS 103 701 conformance view: the 109 test cases, their decision rules and coverage.

`load_test_cases()` reads standards/data/ts103701.yaml and validates it against the catalogue, the
check mappings and the declaration schema; `conformance_view(Context(...))` decides every test case
from the evidence of a scan; `coverage_table()` counts what can decide each test case.
"""

from iotcop.conformance.data import TestCases, load_test_cases
from iotcop.conformance.language import Context
from iotcop.conformance.view import conformance_view, coverage_table, view_for_scan

__all__ = ["Context", "TestCases", "conformance_view", "coverage_table", "load_test_cases", "view_for_scan"]
