"""Rendered answers kept in memory, keyed by what they show.

A key always holds the registry's write generation, read from the database on the request (every publication,
revocation or new manufacturer adds one), so a page changed by another server process is never served stale:
only the rendering is saved, never the question of whether the data changed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class RenderCache:
    """Least recently used first out, bounded by entries and by bytes."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            body = self._items.get(key)
            if body is not None:
                self._items.move_to_end(key)
            return body

    def put(self, key: tuple, body: bytes) -> None:
        if len(body) > self.max_bytes // 16:
            return  # one huge answer must not push out everything else
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes += len(body) - (len(old) if old is not None else 0)
            self._items[key] = body
            while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)
