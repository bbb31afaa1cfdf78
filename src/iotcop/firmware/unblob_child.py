"""Runs unblob on one file; started by extract.py as a separate, killable process.

usage: python -m iotcop.firmware.unblob_child INPUT EXTRACT_ROOT REPORT_JSON MAX_DEPTH PROCESSES

Optional environment, set by extract.py:
  IOTCOP_CHILD_LIMITS  JSON of sandbox.ChildLimits: rlimits set before unblob starts
  IOTCOP_MODES_FILE    JSON lines [path, mode, uid, gid]: every file's mode as the extractor wrote it,
                       before unblob widens it (unblob makes every file 0644 or more)
  IOTCOP_SANDBOX_FILE  JSON written by this process: whether Landlock was in force, and the limits
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
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


def record_modes(extract_root: Path, modes_file: Path) -> None:
    """Record each path's mode before unblob's fix_permission widens it (shadow 0600 -> 0644)."""
    import unblob.extractor as unblob_extractor

    original = unblob_extractor.fix_permission
    out: dict = {}

    def recording_fix_permission(path: Path):
        try:
            st = os.lstat(path)
        except OSError:
            return original(path)
        if out.get("pid") != os.getpid():  # unblob forks workers: one append handle each
            out["pid"], out["fh"] = os.getpid(), open(modes_file, "a", buffering=1, encoding="utf-8")
        try:
            rel = os.path.relpath(path, extract_root)
        except ValueError:
            rel = str(path)
        out["fh"].write(json.dumps([rel, st.st_mode, st.st_uid, st.st_gid]) + "\n")
        return original(path)

    unblob_extractor.fix_permission = recording_fix_permission


def main(argv: list[str]) -> int:
    input_path, extract_root, report_path = (Path(a) for a in argv[:3])
    max_depth, processes = int(argv[3]), int(argv[4])
    drop_mknod()
    limits = os.environ.get("IOTCOP_CHILD_LIMITS")
    if limits:
        from iotcop.firmware.sandbox import ChildLimits, apply_limits

        apply_limits(ChildLimits.from_json(limits))
    quiet_logging()
    from unblob.processing import ExtractionConfig, process_file

    if os.environ.get("IOTCOP_MODES_FILE"):
        record_modes(extract_root, Path(os.environ["IOTCOP_MODES_FILE"]))

    from iotcop.firmware.readers import handlers

    config = ExtractionConfig(
        extract_root=extract_root,
        randomness_depth=1,
        max_depth=max_depth,
        process_num=processes,
        handlers=handlers(),
        verbose=0,
    )
    sandbox_file = os.environ.get("IOTCOP_SANDBOX_FILE")
    if not sandbox_file:
        process_file(config, input_path, report_path)
        return 0
    from iotcop.firmware.sandbox import run_confined

    # Writes go only to the work directory: the extraction, the report, TMPDIR.
    work_dir = report_path.parent
    Path(sandbox_file).write_text(json.dumps({"landlock": None, "limits": json.loads(limits or "null")}))
    _, sandboxed = run_confined([work_dir], lambda: process_file(config, input_path, report_path))
    Path(sandbox_file).write_text(json.dumps({"landlock": sandboxed, "limits": json.loads(limits or "null")}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
