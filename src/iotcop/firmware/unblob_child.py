"""Runs unblob on one file; started by extract.py as a separate, killable process.

usage: python -m iotcop.firmware.unblob_child INPUT EXTRACT_ROOT REPORT_JSON MAX_DEPTH PROCESSES
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path

PR_CAPBSET_DROP = 24
CAP_MKNOD = 27


def drop_mknod() -> None:
    """External extractors run as root would create device nodes from the image: forbid it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def quiet_logging() -> None:
    # unblob logs at debug level by default, which makes carving many times slower.
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    logging.getLogger().setLevel(logging.CRITICAL)


def main(argv: list[str]) -> int:
    input_path, extract_root, report_path = (Path(a) for a in argv[:3])
    max_depth, processes = int(argv[3]), int(argv[4])
    drop_mknod()
    quiet_logging()
    from unblob.processing import ExtractionConfig, process_file

    from iotcop.firmware.readers import handlers

    config = ExtractionConfig(
        extract_root=extract_root,
        randomness_depth=1,
        max_depth=max_depth,
        process_num=processes,
        handlers=handlers(),
        verbose=0,
    )
    process_file(config, input_path, report_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
