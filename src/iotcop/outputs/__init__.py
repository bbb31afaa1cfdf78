"""Output writers: every file a scan can produce is rendered from the one Assessment.

Each module here defines:
    FORMAT: str            - the name used with `scan --output` ("json", "sarif", ...)
    DEFAULT: bool          - written by `scan --out DIR` when --output is not given
    write(assessment, out_dir, context) -> list[Path]
Writers must write atomically (see iotcop.report.json_report.write_atomic) so a
reader never sees half a file.
"""

from __future__ import annotations

import functools
import importlib
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
    written: list[Path] = []
    for name in chosen:
        written.extend(available[name].write(assessment, out_dir, context or OutputContext()))
    return written
