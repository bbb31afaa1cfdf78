"""Extraction: firmware image (or archive, or directory) -> root filesystem(s).

unblob runs in a separate process group so that limits on time, output bytes
and file count can stop it; whatever it produced by then is kept and the
report says the extraction was partial.  Root filesystems are found by shape
(a tree with etc/, bin/, ...), so images holding several partitions work.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from iotcop.errors import InputError
from iotcop.firmware.inventory import printable_name, walk
from iotcop.firmware.limits import RATIO_FLOOR_BYTES, Limits  # noqa: F401 - Limits is part of this module's API
from iotcop.firmware.sandbox import child_limits
from iotcop.firmware.tree_safety import (
    load_recorded_modes,
    refused_entries,
    save_modes,
    secure_tree,
)
from iotcop.model import ExtractionReport

ROOT_MARKERS = {"etc", "bin", "sbin", "lib", "usr", "var", "dev", "proc", "www", "root", "tmp", "mnt", "sys"}
KEY_MARKERS = {"etc", "bin", "sbin"}
NO_ROOTFS = "no root filesystem (a tree with etc/, bin/ ...) found; only checks that read loose files ran"
NOT_A_ROOTFS = ("not a root filesystem: no tree with etc/, bin/ ... was found in the folder; give the firmware image, "
                "an extracted root filesystem, or a .tar/.zip of one")
# An image where more than this share of bytes was not identified is reported partial.
UNKNOWN_PARTIAL_RATIO = 0.5


# Neutralised entries that only a booby-trapped image holds: the extraction is then not complete.
HOSTILE_KINDS = ("path-traversal", "link-escape", "hardlink-escape")
# Readers that keep the image's file modes (firmware/image_modes.py puts them back for cpio, ext, JFFS2, UBIFS
# and cramfs; 7-Zip for FAT, ISO and DOS zip entries invents them).
MODE_KEEPING_READERS = ("squashfs", "tar", "cpio", "jffs2", "extfs", "romfs", "yaffs", "ubifs", "cramfs")


# unblob handlers whose output is a mounted-style filesystem (a partition of the device).
FILESYSTEM_READERS = ("squashfs", "jffs2", "ubifs", "yaffs", "cramfs", "romfs", "extfs", "fat", "ntfs",
                      "iso9660", "erofs")


@dataclass
class Extraction:
    report: ExtractionReport
    extract_dir: Path | None  # everything unblob wrote (None for directory input)
    roots: list[tuple[str, Path]] = field(default_factory=list)  # root filesystems, primary first
    partitions: list[tuple[str, Path]] = field(default_factory=list)  # other filesystems (config, data)


def looks_like_rootfs(path: Path) -> bool:
    try:
        names = {e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False)}
    except OSError:
        return False
    return len(names & ROOT_MARKERS) >= 2 and bool(names & KEY_MARKERS)


def find_roots(top: Path) -> list[Path]:
    """Directories under top that look like a root filesystem, largest first.

    Below a root only unblob's own extraction folders are searched, so a
    root's /usr is not taken for another root.
    """
    found: list[Path] = []

    def search(path: Path, inside_root: bool) -> None:
        if not inside_root and looks_like_rootfs(path):
            found.append(path)
            inside_root = True
        try:
            children = sorted((e for e in os.scandir(path) if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)
        except OSError:
            return
        for child in children:
            if inside_root and not child.name.endswith("_extract"):
                # Only nested extractions can hold another root; skip the rest.
                if not _contains_extract_dir(Path(child.path)):
                    continue
            search(Path(child.path), inside_root and not child.name.endswith("_extract"))

    search(top, False)
    sizes = {root: _count_files(root) for root in found}
    return sorted(found, key=lambda r: (-sizes[r], str(r)))


def _contains_extract_dir(path: Path) -> bool:
    for sub, st in walk(path):
        if sub.name.endswith("_extract"):
            return True
    return False


def _count_files(path: Path) -> int:
    return sum(1 for _ in walk(path))


def _tree_size(path: Path) -> tuple[int, int]:
    files = total = 0
    for _, st in walk(path):
        files += 1
        total += st.st_size
    return files, total


def extract(
    source: Path,
    work_dir: Path,
    limits: Limits = Limits(),
    *,
    processes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Extraction:
    """Extract source into work_dir/extract and locate its root filesystem(s)."""
    started = time.monotonic()
    if source.is_dir():
        return _from_directory(source, started)
    _check_readable(source)

    extract_root = work_dir / "extract"
    extract_root.mkdir(parents=True, exist_ok=True)
    report_path = work_dir / "unblob-report.json"
    errors: list[str] = []
    stopped = _run_unblob(source, extract_root, report_path, limits, processes or os.cpu_count() or 1, progress)
    if stopped:
        errors.append(stopped)
    tasks = _load_report(report_path, errors)
    safety = secure_tree(extract_root, load_recorded_modes(work_dir / "child-modes.jsonl", extract_root))
    refused_entries(tasks, safety)
    save_modes(work_dir, safety.modes)
    hostile = sorted({n["kind"] for n in safety.neutralised if n["kind"] in HOSTILE_KINDS})
    if hostile:
        errors.append(f"hostile entries neutralised ({', '.join(hostile)}): see extraction.neutralised")
    files, total = _tree_size(extract_root)
    unknown_ratio, readers = _chunks(tasks, source, extract_root)
    errors.extend(_unblob_errors(tasks))

    roots = [(printable_name(r.relative_to(extract_root).as_posix()), r) for r in find_roots(extract_root)]
    partitions = find_partitions(extract_root, readers, {path for _, path in roots})
    if files == 0:
        status = "failed"
        errors.append("nothing could be extracted: no known firmware format was found")
    elif not roots:
        status = "partial"
        errors.append(NO_ROOTFS)
    elif stopped or any(not e.startswith("note:") for e in errors) or unknown_ratio > UNKNOWN_PARTIAL_RATIO:
        status = "partial"
    else:
        status = "complete"
    report = ExtractionReport(
        status=status,
        files=files,
        bytes=total,
        unknown_ratio=round(unknown_ratio, 4),
        roots=[label for label, _ in roots],
        partitions=[label for label, _ in partitions],
        errors=sorted(set(errors)),
        readers=readers,
        seconds=round(time.monotonic() - started, 3),
        neutralised=safety.neutralised,
        neutralised_count=safety.count,
        modes_from_image=_modes_kept(extract_root, readers, roots + partitions) if roots or partitions else None,
        sandbox=_sandbox_state(work_dir),
    )
    return Extraction(report=report, extract_dir=extract_root, roots=roots, partitions=partitions)


def _modes_kept(extract_root: Path, readers: list[dict], trees: list[tuple[str, Path]]) -> bool:
    """Whether every root filesystem and partition came from a reader that keeps file modes."""
    outputs = []
    for r in readers:
        chunk = extract_root / r["path"]
        for out in (chunk.with_name(chunk.name + "_extract"),
                    chunk.with_name(chunk.name + "_extract") / f"{r['start']}-{r['end']}.{r['handler']}_extract"):
            outputs.append((out, str(r.get("reader") or r.get("handler") or "")))
    for _, tree in trees:
        # The reader whose output folder is the nearest ancestor of the tree made it.
        made_by = [(len(out.parts), name) for out, name in outputs if out == tree or out in tree.parents]
        if not made_by or not max(made_by)[1].startswith(MODE_KEEPING_READERS):
            return False
    return True


def _sandbox_state(work_dir: Path) -> dict | None:
    try:
        return json.loads((work_dir / "sandbox.json").read_text())
    except (OSError, ValueError):
        return None


def find_partitions(extract_root: Path, readers: list[dict], roots: set[Path]) -> list[tuple[str, Path]]:
    """Filesystem chunks that are not root filesystems, e.g. a JFFS2 configuration partition.

    Their files get device-like paths relative to the partition (/upper/etc/config/wireless).
    """
    found = []
    for r in readers:
        if not str(r.get("reader", "")).startswith(FILESYSTEM_READERS):
            continue
        chunk_file = extract_root / r["path"]
        whole = r.get("start") == 0 and chunk_file.is_file() and r.get("end") == chunk_file.stat().st_size
        if r.get("depth", 0) == 0 and not chunk_file.exists():
            chunk_file = extract_root / Path(r["path"]).name  # the input file itself lies outside
        candidates = [chunk_file.with_name(chunk_file.name + "_extract")] if whole else []
        candidates.append(chunk_file.with_name(chunk_file.name + "_extract")
                          / f"{r['start']}-{r['end']}.{r['reader']}_extract")
        for path in candidates:
            if path.is_dir() and path not in roots and not any(root in path.parents for root in roots):
                found.append((f"{r['reader']}@0x{r['start']:x}", path))
                break
    return found


class EmptyInput(InputError):
    """The input file has no bytes: the scan writes a `failed` report and exits 2."""


def _check_readable(source: Path) -> None:
    try:
        st = source.stat()
    except FileNotFoundError:
        raise InputError(f"{source}: no such file or directory") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None
    if not source.is_file():
        raise InputError(f"{source}: not a regular file or directory")
    if st.st_size == 0:
        raise EmptyInput(f"{source}: the file is empty")
    try:
        with open(source, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputError(f"{source}: cannot read ({exc.strerror})") from None


def _from_directory(source: Path, started: float) -> Extraction:
    source = source.resolve()
    try:
        os.listdir(source)
    except OSError as exc:
        raise InputError(f"{source}: cannot read directory ({exc.strerror})") from None
    roots = [source] if looks_like_rootfs(source) else find_roots(source)
    files, total = _tree_size(source)
    labels = [(printable_name(r.relative_to(source).as_posix()) if r != source else ".", r) for r in roots]
    # A folder is taken as an extracted image.  One with no root filesystem and not even a part of one at its
    # top (bin/, etc/, lib/ ...) is not something iotcop can assess: a folder of documents would otherwise
    # "pass" with a few loose-file checks.  A partial tree (only bin/) keeps its loose-file checks.
    try:
        part_of_one = any(e.is_dir() and e.name in ROOT_MARKERS for e in os.scandir(source))
    except OSError:
        part_of_one = False
    status = "complete" if roots else "partial" if files and part_of_one else "failed"
    errors = ([] if roots else ["the directory is empty"] if not files else [NO_ROOTFS] if part_of_one
              else [NOT_A_ROOTFS])
    report = ExtractionReport(
        status=status,
        files=files,
        bytes=total,
        unknown_ratio=0.0,
        roots=[label for label, _ in labels],
        errors=errors,
        readers=[{"path": ".", "reader": "directory"}],
        seconds=round(time.monotonic() - started, 3),
    )
    # Without a root filesystem the loose files are still inventoried.
    return Extraction(report=report, extract_dir=None if roots else source, roots=labels)


def _run_unblob(
    source: Path,
    extract_root: Path,
    report_path: Path,
    limits: Limits,
    processes: int,
    progress: Callable[[int, int], None] | None,
) -> str | None:
    """Run the unblob child under limits; returns why it was stopped, or None."""
    cmd = [sys.executable, "-m", "iotcop.firmware.unblob_child", str(source.resolve()), str(extract_root),
           str(report_path), str(limits.max_depth), str(processes)]
    # Extractors installed with iotcop (jefferson, ubireader) live beside this interpreter.
    # Temporary files of unblob and its tools stay inside the work directory too.
    tmp = extract_root.parent / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               TMPDIR=str(tmp))
    # Resource limits, Landlock and mode recording in the child (see sandbox.py, unblob_child.py).
    input_size = source.stat().st_size
    confined = child_limits(limits.max_bytes, limits.timeout, input_size, limits.max_ratio, limits.max_memory,
                            limits.max_open_files)
    env.update(IOTCOP_CHILD_LIMITS=confined.to_json(),
               IOTCOP_MODES_FILE=str(extract_root.parent / "child-modes.jsonl"),
               IOTCOP_SANDBOX_FILE=str(extract_root.parent / "sandbox.json"))
    ratio_bytes = limits.ratio_bytes(input_size)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                            env=env)
    deadline = time.monotonic() + limits.timeout
    reason = None
    interval = 0.25
    while True:
        try:
            proc.wait(timeout=interval)
            break
        except subprocess.TimeoutExpired:
            pass
        interval = min(interval * 1.5, 3.0)
        files, total = _tree_size(extract_root)
        if progress:
            progress(files, total)
        if total > limits.max_bytes:
            reason = f"extraction stopped: output exceeded {limits.max_bytes} bytes"
        elif ratio_bytes is not None and total > ratio_bytes:
            reason = (f"extraction stopped: output exceeded {limits.max_ratio:g} times the input size "
                      "(a decompression bomb?)")
        elif files > limits.max_files:
            reason = f"extraction stopped: more than {limits.max_files} files"
        elif time.monotonic() > deadline:
            reason = f"extraction stopped: time limit of {limits.timeout:g} s reached"
        if reason:
            _kill_group(proc)
            break
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if reason is None and proc.returncode not in (0, None):
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {proc.returncode}"
        reason = f"extractor crashed: {last[:300]}"
    return reason


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _load_report(report_path: Path, errors: list[str]) -> list[dict]:
    try:
        with open(report_path) as fh:
            data = json.load(fh)
        return data if isinstance(data, list) else []
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        errors.append(f"extraction report unreadable: {exc}")
        return []


def _walk_reports(reports: list[dict]):
    for report in reports:
        yield report
        yield from _walk_reports(report.get("extraction_reports") or [])


def _chunks(tasks: list[dict], source: Path, extract_root: Path) -> tuple[float, list[dict]]:
    """Share of unidentified bytes in the input, and which reader opened each chunk."""
    size = source.stat().st_size
    unknown = 0
    readers = []
    for task in tasks:
        path = task.get("task", {}).get("path", "")
        depth = task.get("task", {}).get("depth", 0)
        try:
            shown = printable_name(Path(path).relative_to(extract_root).as_posix())
        except ValueError:
            shown = printable_name(Path(path).name)
        for report in task.get("reports", []):
            kind = report.get("__typename__")
            if kind == "UnknownChunkReport" and depth == 0:
                unknown += report.get("size", 0)
            elif kind == "ChunkReport":
                used = next((r.get("reader") for r in report.get("extraction_reports") or []
                             if r.get("__typename__") == "ReaderReport"), None)
                readers.append({
                    "path": shown,
                    "reader": used or report.get("handler_name"),
                    "handler": report.get("handler_name"),
                    "start": report.get("start_offset"),
                    "end": report.get("end_offset"),
                    "depth": depth,
                })
    top_chunks = [r for r in readers if r["depth"] == 0 and r["reader"] != "padding"]
    if not tasks or (not top_chunks and unknown == 0):
        unknown = size  # nothing identified at all
    readers.sort(key=lambda r: (r["depth"], r["path"], r["start"] or 0))
    return (min(1.0, unknown / size) if size else 1.0), readers


def _unblob_errors(tasks: list[dict]) -> list[str]:
    out = []
    for task in tasks:
        for report in _walk_reports(task.get("reports", [])):
            kind = report.get("__typename__", "")
            if kind.endswith("Report") and report.get("severity") in ("ERROR", "Severity.ERROR") or kind in (
                "ExtractCommandFailedReport", "ExtractorDependencyNotFoundReport", "ExtractorTimedOut",
                "CalculateChunkExceptionReport", "UnknownError", "MaliciousSymlinkRemoved",
            ):
                out.append(_describe_error(kind, report))
    return out


def _command_output(value) -> str:
    """unblob's JSON report carries a command's stderr base64-encoded."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    text = str(value or "")
    try:
        return base64.b64decode(text, validate=True).decode(errors="replace")
    except (ValueError, binascii.Error):
        return text


def _describe_error(kind: str, report: dict) -> str:
    if kind == "ExtractorDependencyNotFoundReport":
        return f"extractor not installed: {', '.join(report.get('dependencies', []))}"
    if kind == "ExtractCommandFailedReport":
        cmd = report.get("command", "")
        tail = _command_output(report.get("stderr"))
        tail = tail.strip().splitlines()[-1][:200] if tail.strip() else f"exit code {report.get('exit_code')}"
        return f"extractor failed: {cmd.split()[0] if cmd else '?'}: {tail}"
    if kind == "MaliciousSymlinkRemoved":
        return f"note: unsafe symlink removed: {report.get('link')} -> {report.get('target')}"
    if kind == "ReaderFailedReport":
        return f"reader failed: {report.get('reader')}: {report.get('message')}"
    if kind == "ExtractorTimedOut":
        return f"extractor timed out: {report.get('cmd', '')[:100]}"
    detail = report.get("exception") or report.get("message") or ""
    return f"{kind}: {str(detail).strip().splitlines()[-1][:200] if str(detail).strip() else ''}".rstrip(": ")
