"""Checks that compare the firmware with the manufacturer declaration.

The scan puts the validated declaration into the firmware's cache under DECLARATION_KEY
before the checks fork, so each check reads it like any other derived fact.  These checks
only ever report contradictions (FAIL with both sides as evidence); without a declaration
they are not run, and if run anyway they yield nothing.
"""

from __future__ import annotations

from iotcop.firmware.model import Firmware

DECLARATION_KEY = "declaration"


def attach_declaration(fw: Firmware, declaration) -> None:
    """Make a declaration available to the checks that run on this firmware."""
    fw._cache[DECLARATION_KEY] = declaration


def declaration_of(fw: Firmware):
    """The declaration given with the scan, or None."""
    return fw.cached(DECLARATION_KEY, lambda _fw: None)
