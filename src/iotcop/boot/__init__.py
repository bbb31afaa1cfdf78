"""What a firmware image starts at boot: one model per scan, built by following the vendor's init chain.

A layer above iotcop.firmware and below the checks: `build_boot_model(fw)` is a pure function of the
image's files; checks, outputs and the probe correlation read the BootModel it returns.
"""

from iotcop.boot.build import build_boot_model
from iotcop.boot.model import (BootModel, BootMount, BootWrite, Condition, MissingProgram, ScriptRun,
                               StartedProgram, Step)
from iotcop.boot.walk import Limits

__all__ = ["BootModel", "BootMount", "BootWrite", "Condition", "Limits", "MissingProgram", "ScriptRun",
           "StartedProgram", "Step", "build_boot_model"]
