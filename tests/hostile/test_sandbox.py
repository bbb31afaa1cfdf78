"""Resource limits and the Landlock sandbox of the extraction child."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from iotcop.firmware.sandbox import MIN_FILE_BYTES, ChildLimits, child_limits


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_limits_stop_huge_files_memory_and_descriptors(tmp_path):
    limits = ChildLimits(memory=512 * 1024**2, cpu_seconds=30, open_files=64, file_bytes=1024**2)
    proc = _run(f"""
        import errno, resource
        from iotcop.firmware.sandbox import ChildLimits, apply_limits
        apply_limits(ChildLimits.from_json({limits.to_json()!r}))
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (64, 64)
        assert resource.getrlimit(resource.RLIMIT_CPU) == (30, 30)
        try:
            resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024**2, 2 * 1024**2))
            print("raised")
        except (ValueError, OSError):
            print("cannot raise")
        with open({str(tmp_path / 'big')!r}, "wb") as fh:
            try:
                fh.write(b"x" * (2 * 1024**2)); fh.flush()
                print("wrote")
            except OSError as exc:
                print("EFBIG" if exc.errno == errno.EFBIG else exc)
        try:
            block = bytearray(1024**3)
            print("allocated")
        except MemoryError:
            print("MemoryError")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["cannot", "raise", "EFBIG", "MemoryError"], proc.stdout
    assert (tmp_path / "big").stat().st_size <= 1024**2


def test_ratio_bounds_every_single_file():
    # a 1 MB input with ratio 200 may write 200 MB files; a 10 kB one at least the floor
    assert child_limits(4 * 1024**3, 60, 1_000_000, 200, 1024**3).file_bytes == 200_000_000
    assert child_limits(4 * 1024**3, 60, 10_000, 200, 1024**3).file_bytes == MIN_FILE_BYTES
    assert child_limits(10_000_000, 60, 1_000_000, 200, 1024**3).file_bytes == 10_000_000
    assert child_limits(4 * 1024**3, 60, 1_000_000, None, 1024**3).file_bytes == 4 * 1024**3


def test_landlock_confines_writes_to_the_work_dir(tmp_path):
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    proc = _run(f"""
        import subprocess
        from pathlib import Path
        from iotcop.firmware.sandbox import run_confined
        def attempt():
            Path({str(work / 'inside')!r}).write_text("ok")
            try:
                Path({str(outside / 'python')!r}).write_text("escaped")
            except PermissionError:
                print("python blocked")
            # a program started from the sandbox is confined as well
            done = subprocess.run(["touch", {str(outside / 'tool')!r}], capture_output=True)
            print("tool blocked" if done.returncode else "tool wrote")
        _, sandboxed = run_confined([Path({str(work)!r})], attempt)
        print("sandboxed" if sandboxed else "unsandboxed")
    """)
    assert proc.returncode == 0, proc.stderr
    if "unsandboxed" in proc.stdout and _landlock_abi() < 1:
        pytest.skip("this kernel has no Landlock")  # only then may extraction run unconfined
    assert proc.stdout.split() == ["python", "blocked", "tool", "blocked", "sandboxed"], proc.stdout
    assert (work / "inside").read_text() == "ok"
    assert list(outside.iterdir()) == []


def _landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none), asked of the kernel itself, not of the code under test."""
    import ctypes
    import platform

    numbers = {"x86_64": 444, "aarch64": 444}
    if platform.machine() not in numbers:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(numbers[platform.machine()], None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return max(0, version)
