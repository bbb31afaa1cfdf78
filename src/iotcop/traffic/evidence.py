"""Captures -> traffic reports and check runs: what `iotcop traffic` and `scan --traffic` call."""

from __future__ import annotations

import time
from pathlib import Path

from iotcop.model import CheckRun, DeviceReport, TrafficReport
from iotcop.traffic.analyse import analyse
from iotcop.traffic.checks import traffic_runs
from iotcop.traffic.correlate import with_firmware, with_probe
from iotcop.traffic.dissect import capture_format, check_capture, tshark_version


def traffic_evidence(captures: list[Path], device: str | None = None, declaration=None, firmware=None,
                     probe: DeviceReport | None = None, decode_as: tuple[str, ...] = (),
                     update_window: float | None = None) -> tuple[list[TrafficReport], list[CheckRun], list[str]]:
    """One report per capture, the traffic check runs over all of them, and one warning line per partial capture.

    An unreadable capture raises InputError before any analysis (every capture is checked first).
    """
    for path in captures:
        check_capture(path)
    from iotcop.files import file_sha256

    started = time.monotonic()
    dissector = tshark_version()
    reports, warnings = [], []
    for path in captures:
        report, secrets = analyse(path, device=device or (probe.address if probe is not None else None),
                                  decode_as=decode_as)
        with open(path, "rb") as fh:
            report.format = capture_format(fh.read(4)) or ""
        report.size = path.stat().st_size
        report.sha256 = file_sha256(path)
        report.dissector = dissector
        if firmware is not None:
            with_firmware(report, secrets, firmware)
        if probe is not None:
            with_probe(report, probe)
        if not report.complete:
            warnings.append(f"{path}: {report.partial_reason}; analysed the first {report.packets} packets (partial)")
        reports.append(report)
    window = {} if update_window is None else {"update_window": update_window}
    runs = traffic_runs(reports, declaration, seconds=time.monotonic() - started, **window)
    return reports, runs, warnings
