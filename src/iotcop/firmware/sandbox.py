"""Confinement of the extraction child: resource limits and unblob's Landlock sandbox.

The child process (iotcop.firmware.unblob_child) and every extractor it starts
inherit these limits, so a hostile image can exhaust neither memory, CPU, file
descriptors nor disk through one huge file, and, where the kernel has Landlock,
can write nowhere but the scan's work directory.
"""

from __future__ import annotations

import json
import os
import resource
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, TypeVar

R = TypeVar("R")

# Whatever the limits say, a single output file may always be this large (small images that
# legitimately expand a lot, e.g. a 100 kB gzip of a kernel).
MIN_FILE_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class ChildLimits:
    memory: int  # bytes of address space (RLIMIT_AS) and data (RLIMIT_DATA) per process
    cpu_seconds: int  # RLIMIT_CPU per process; the wall-clock timeout is enforced by the parent
    open_files: int  # RLIMIT_NOFILE
    file_bytes: int  # RLIMIT_FSIZE: the largest file any extractor may write

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ChildLimits:
        return cls(**json.loads(text))


def child_limits(max_bytes: int, timeout: float, input_size: int, max_ratio: float | None,
                 memory: int, open_files: int = 1024) -> ChildLimits:
    """Limits for one extraction, derived from the scan's Limits and the input size."""
    file_bytes = max_bytes
    if max_ratio:
        # A decompression bomb stops at the first oversized file, between two watchdog polls too.
        file_bytes = min(file_bytes, max(MIN_FILE_BYTES, int(input_size * max_ratio)))
    return ChildLimits(memory=memory, cpu_seconds=max(1, int(timeout * 2) + 5), open_files=open_files,
                       file_bytes=max(1, file_bytes))


def _lower(which: int, value: int) -> None:
    """Soft and hard limit both, so that no extractor can raise it again."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def apply_limits(limits: ChildLimits) -> None:
    """Set the rlimits of the current process (inherited by everything it starts)."""
    _lower(resource.RLIMIT_AS, limits.memory)
    _lower(resource.RLIMIT_DATA, limits.memory)
    _lower(resource.RLIMIT_CPU, limits.cpu_seconds)
    _lower(resource.RLIMIT_NOFILE, limits.open_files)
    _lower(resource.RLIMIT_FSIZE, limits.file_bytes)
    _lower(resource.RLIMIT_CORE, 0)


def run_confined(writable: list[Path], fn: Callable[[], R]) -> tuple[R, bool]:
    """Run fn in a thread restricted by Landlock to reading everything and writing only `writable`.

    Returns fn's result and whether the sandbox was in force (False on kernels without
    Landlock).  Processes forked or started from that thread inherit the restriction.
    """
    try:
        from unblob.sandbox import AccessFS, SandboxError, restrict_access
    except ImportError:  # an unblob without the sandbox module
        return fn(), False

    rules = [AccessFS.read("/"), AccessFS.read_write("/dev/shm")]  # multiprocessing needs /dev/shm
    if os.path.exists("/dev/null"):
        rules.append(AccessFS.read_write("/dev/null"))
    for path in writable:
        rules += [AccessFS.read_write(path), AccessFS.make_dir(path), AccessFS.make_reg(path),
                  AccessFS.remove_dir(path), AccessFS.remove_file(path)]
    outcome: dict = {}

    def confined() -> None:
        try:
            restrict_access(*rules)
            outcome["sandboxed"] = True
        except SandboxError:
            outcome["sandboxed"] = False
        try:
            outcome["result"] = fn()
        except BaseException as exc:  # re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=confined, name="confined-extraction")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result"), bool(outcome.get("sandboxed"))
