"""Recording what a check asked the firmware, and asking the same of another firmware.

While a check runs in its forked child, a `Recorder` observes the Firmware (Firmware.observe): every
question (get, glob, files, reads, memoised values, content-pass results ...) is kept with a digest
of its answer.  An entry's digest covers its identity (root, path) and every fact of it (type, size,
mode, owners, link target, sha256, content type, ELF facts), so reading an entry's bytes is covered
by the sha256 in the answer that handed it out.  `Replayer` asks the recorded questions of a new
firmware: when every answer has the same digest, the check would see exactly the same inputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from iotcop.firmware.model import FileEntry, Firmware

_UNSTABLE_REPR = " at 0x"  # an object whose repr names its address cannot be compared across runs
_UNCOMPARABLE = object()


def _entry_facts(entry: FileEntry) -> list:
    return [entry.root, entry.path, entry.kind, entry.size, entry.mode, entry.uid, entry.gid, entry.link_target,
            entry.sha256, entry.magic, repr(entry.elf)]


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for an answer; _UNCOMPARABLE when it cannot be compared across scans."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, FileEntry):
        return ["entry", *_entry_facts(value)]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        if any(i is _UNCOMPARABLE for i in items):
            return _UNCOMPARABLE
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        items = {str(k): _plain(v) for k, v in value.items()}
        return _UNCOMPARABLE if any(v is _UNCOMPARABLE for v in items.values()) else items
    if isinstance(value, Path):
        return _UNCOMPARABLE  # a place in this scan's work directory: another scan has another one
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain({f.name: getattr(value, f.name) for f in dataclasses.fields(value)
                       if not isinstance(getattr(value, f.name), Path)})
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump(mode="json"))
    text = repr(value)
    return _UNCOMPARABLE if _UNSTABLE_REPR in text else ["repr", type(value).__name__, text]


def answer_digest(answer: Any) -> str | None:
    """The digest of one answer; None when it cannot be compared (the check's result is then never reused)."""
    plain = _plain(answer)
    if plain is _UNCOMPARABLE:
        return None
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).hexdigest()


def _materialised(answer: Any) -> Any:
    # Iterators are read once here and handed on as a list, so the reader still gets every item.
    if isinstance(answer, (list, tuple, dict, str, bytes, FileEntry)) or answer is None:
        return answer
    if hasattr(answer, "__next__"):
        return list(answer)
    return answer


class Recorder:
    """A FirmwareObserver that keeps (question, answer digest) pairs, each question once."""

    def __init__(self) -> None:
        self._answers: dict[str, str | None] = {}

    def answered(self, fw: Firmware, query: tuple, answer: Any) -> Any:
        answer = _materialised(answer)
        key = json.dumps(query)
        if key not in self._answers:
            self._answers[key] = answer_digest(answer)
        return iter(answer) if isinstance(answer, list) and query[0] in _ITERATING else answer

    @property
    def cacheable(self) -> bool:
        return all(d is not None for d in self._answers.values())

    @property
    def answers(self) -> dict[str, str | None]:
        return dict(self._answers)


_ITERATING = frozenset({"files", "glob", "by_name", "elf_files"})


class Replayer:
    """Asks recorded questions of a new firmware, each question once per scan."""

    def __init__(self, fw: Firmware) -> None:
        self.fw = fw
        self.memo: dict[str, str | None] = {}
        self._index: dict[tuple, FileEntry] | None = None

    def digest(self, query_text: str) -> str | None:
        if query_text not in self.memo:
            self.memo[query_text] = answer_digest(_materialised(self._ask(json.loads(query_text))))
        return self.memo[query_text]

    def _entry(self, named: list | None) -> Any:
        if named is None:
            return None
        root, path = named
        if root is None:
            return path  # asked by path: the firmware resolves it
        if self._index is None:
            self._index = {}
            for e in self.fw.entries:
                self._index.setdefault((e.root, e.path), e)
        return self._index.get((root, path))

    def _ask(self, query: list) -> Any:
        fw, kind, args = self.fw, query[0], query[1:]
        if kind in ("work_dir", "roots", "partitions", "entries", "file_count"):
            return getattr(fw, kind)
        if kind == "cached":
            return fw.peek_cached(args[0])
        if kind == "read":
            target = self._entry(args[0])
            return fw.get(target) if isinstance(target, str) else target
        if kind == "content_for":
            entry = self._entry(args[1])
            return (entry, fw.content_for(args[0], entry) if isinstance(entry, FileEntry) else None)
        if kind == "content_results":
            # Only what the new scan's content pass found: replaying never scans files.
            return fw.content_results(_Named(args[0])) if fw.content_scanned(args[0]) else "<not scanned>"
        method = getattr(fw, kind, None)
        return method(*args) if callable(method) else "<unknown question>"

    def matches(self, answers: dict[str, str | None]) -> bool:
        return all(d is not None and self.digest(q) == d for q, d in answers.items())


class _Named:
    """Stands for a content scanner when only its name is known: replay never scans, it only reads results."""

    def __init__(self, name: str) -> None:
        self.CONTENT_NAME = name

    def content_limit(self, entry, context) -> int:
        return 0
