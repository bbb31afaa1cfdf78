"""What a firmware image starts at boot: one model per scan, built by following the vendor's init chain.

A layer above iotcop.firmware and below the checks: `build_boot_model(fw)` is a pure function of the
image's files; checks, outputs and the probe correlation read the BootModel it returns, through the
derived fact `BOOT_MODEL` so that a scan computes it once.
"""

from iotcop.boot.build import BOOT_MODEL, build_boot_model
from iotcop.boot.model import (BootModel, BootMount, BootWrite, Condition, MissingProgram, ScriptRun,
                               StartedProgram, Step)
from iotcop.boot.walk import Limits

__all__ = ["BOOT_MODEL", "BootModel", "BootMount", "BootWrite", "Condition", "Limits", "MissingProgram", "ScriptRun",
           "StartedProgram", "Step", "build_boot_model"]
