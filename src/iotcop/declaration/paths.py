"""Dotted paths into a declaration ("support.end_date", "ixit.auth_mechanisms[].origin").

One reader for every layer that names declaration fields: the conformance rules, the report and
label views.  It walks dicts and objects alike (a validated Declaration or its raw data).
"""

from __future__ import annotations

from typing import Any


def _child(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    if value is None or isinstance(value, (str, int, float, bool, list)):
        return None
    return getattr(value, key, None)


def values_at(data: Any, dotted: str) -> list[Any] | None:
    """Values at a dotted path: one per item where the path walks a list (`a.b[].c`; None where an item lacks
    the field, [] through an empty list); None when nothing along the path is declared."""
    values = [data]
    for part in dotted.split("."):
        is_list = part.endswith("[]")
        key = part[:-2] if is_list else part
        nxt: list[Any] = []
        for v in values:
            child = _child(v, key)
            if is_list and isinstance(child, list):
                nxt.extend(child)
            else:
                nxt.append(child)
        values = nxt
    if values and all(v is None for v in values):
        return None
    return values


def value_at(data: Any, dotted: str) -> Any:
    """The single value at a path without lists, or None."""
    values = values_at(data, dotted)
    return values[0] if values else None
