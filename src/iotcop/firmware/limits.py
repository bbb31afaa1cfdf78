"""How much extraction may do before it stops: the one place the defaults are written (the CLI shows them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 4 * 1024**3
    max_files: int = 200_000
    max_depth: int = 8
    timeout: float = 900.0
    # Output bytes per input byte before extraction counts as a decompression bomb (None: no bound).
    max_ratio: float | None = 200.0
    max_memory: int = 4 * 1024**3  # address space of the extraction child and each extractor
    max_open_files: int = 1024

    def ratio_bytes(self, input_size: int) -> int | None:
        """Output bytes the ratio allows for an input; small inputs may always grow to 64 MiB."""
        if not self.max_ratio:
            return None
        return max(RATIO_FLOOR_BYTES, int(input_size * self.max_ratio))


RATIO_FLOOR_BYTES = 64 * 1024**2
