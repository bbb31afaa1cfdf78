"""Output writers: every file a scan can produce is rendered from the one Assessment.

Each module here defines:
    FORMAT: str            - the name used with `scan --output` ("json", "sarif", ...)
    DEFAULT: bool          - written by `scan --out DIR` when --output is not given
    write(assessment, out_dir, context) -> list[Path]
Writers must write atomically (see iotcop.report.writers.json.write_atomic) so a
reader never sees half a file.
"""

from __future__ import annotations

import functools
import importlib
import multiprocessing
import os
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from iotcop.errors import InputError
from iotcop.model import Assessment


@dataclass
class OutputContext:
    """What a writer may need beyond the assessment (all optional)."""

    firmware: Any = None  # iotcop.firmware.model.Firmware, when a firmware was scanned
    declaration: Any = None  # the manufacturer declaration, when given
    vex: tuple = ()  # the user's VEX statements (iotcop.triage.vex.VexStatement), reflected in the SBOM
    extra: dict = field(default_factory=dict)


@functools.cache
def writers() -> dict[str, ModuleType]:
    found = {}
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        found[module.FORMAT] = module
    return found


def write_outputs(assessment: Assessment, out_dir: Path, formats: tuple[str, ...] = (),
                  context: OutputContext | None = None) -> list[Path]:
    available = writers()
    unknown = [f for f in formats if f not in available]
    if unknown:
        raise InputError(f"unknown output format: {', '.join(unknown)} (known: {', '.join(sorted(available))})")
    chosen = formats or tuple(name for name, w in available.items() if w.DEFAULT)
    out_dir.mkdir(parents=True, exist_ok=True)
    context = context or OutputContext()
    jobs = min(len(chosen), os.cpu_count() or 1)
    if jobs < 2:
        return [path for name in chosen for path in available[name].write(assessment, out_dir, context)]
    # Writers are independent: spread them over the cores (forked, so nothing is pickled on the way in).
    groups = [list(chosen[i::jobs]) for i in range(jobs)]
    ctx = multiprocessing.get_context("fork")
    children = []
    for group in groups[1:]:
        parent_end, child_end = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_write_group, args=(group, assessment, out_dir, context, child_end), daemon=True)
        proc.start()
        child_end.close()
        children.append((group, proc, parent_end))
    failure: BaseException | None = None
    by_writer: dict[str, list[Path]] = {}
    try:
        by_writer = {name: available[name].write(assessment, out_dir, context) for name in groups[0]}
    except BaseException as exc:  # noqa: BLE001 - raised below, once the other writers have stopped
        failure = exc
    for group, proc, conn in children:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            kind, payload = "error", f"the process writing {', '.join(group)} died"
        conn.close()
        proc.join()
        if failure is not None:
            continue
        if kind == "input":
            raise InputError(payload)
        if kind == "oserror":  # a full disk is the user's to fix (the scan turns it into a one-line error)
            raise OSError(*payload)
        if kind == "error":
            raise RuntimeError(f"writing {', '.join(group)}: {payload}")
        by_writer.update({name: [Path(p) for p in paths] for name, paths in payload.items()})
    if failure is not None:
        raise failure
    return [path for name in chosen for path in by_writer[name]]


def _write_group(group: list[str], assessment: Assessment, out_dir: Path, context: OutputContext, conn) -> None:
    try:
        available = writers()
        conn.send(("ok", {name: [str(p) for p in available[name].write(assessment, out_dir, context)]
                          for name in group}))
    except InputError as exc:
        conn.send(("input", str(exc)))
    except OSError as exc:
        conn.send(("oserror", (exc.errno, exc.strerror, exc.filename)))
    except Exception as exc:  # noqa: BLE001 - reported by the parent as an internal error
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
