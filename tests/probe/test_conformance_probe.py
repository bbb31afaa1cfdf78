"""TS 103 701 test cases decided by the probe's evidence, on real daemons."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402
from iotcop.conformance import view_for_scan  # noqa: E402
from iotcop.probe.engine import ProbeOptions, run_probe  # noqa: E402
from iotcop.probe.report import device_assessment  # noqa: E402


@pytest.mark.parametrize("delay, verdict", [(1, "PASS"), (0, "FAIL")])
def test_brute_force_protection_decides_5_1_5_1(tmp_path, delay, verdict):
    telnetd = daemons.start_telnetd(tmp_path, "admin", daemons.strong_password(), delay=delay)
    try:
        result = run_probe("127.0.0.1", ProbeOptions(budget=60, ports=str(telnetd.port), udp={}))
    finally:
        telnetd.stop()
    assessment = device_assessment("127.0.0.1", result)
    view = view_for_scan(assessment, result.runs)
    case = next(c for c in view.test_cases if c.id == "5.1-5-1")
    assert case.verdict == verdict, case
    assert case.coverage == "automated" and case.units[0].source == "probe"
    assert "decided by the probe evidence" in case.units[0].note
