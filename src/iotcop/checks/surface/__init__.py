"""Attack-surface checks: debug tools, bootloader, permissions, privileges, test pages (EN 303 645 5.6)."""

from __future__ import annotations

from typing import Iterable

LIST_LIMIT = 25


def listing(items: Iterable[str], limit: int = LIST_LIMIT) -> str:
    """A compact, sorted evidence list: 'a, b, c and 12 more'."""
    items = sorted(set(items))
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")
