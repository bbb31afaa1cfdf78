"""The batch journal and result store: what makes an interrupted batch resumable.

journal.jsonl is append-only; every line is written with one write() and fsync'd
before the batch goes on, so after a crash it holds every completed image (a
torn last line is ignored).  Results are written into a temporary folder, fsync'd,
then renamed to results/<sha256>-<version>/: a result folder is either complete
or absent, and a second write for the same key is dropped, so a retried job
leaves exactly one result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from iotcop.errors import InputError

JOURNAL_NAME = "journal.jsonl"
RESULTS_NAME = "results"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{out_dir}: cannot create the batch folder ({exc.strerror})") from None
        self.path = self.out_dir / JOURNAL_NAME

    def append(self, event: str, **data) -> dict:
        record = {"event": event, "t": round(time.time(), 3), **data}
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = b"\n" + line  # close a line torn by a crash so it cannot swallow this one
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return record

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"

    def records(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for raw in fh:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a line torn by a crash
                if isinstance(record, dict) and "event" in record:
                    yield record

    def finished(self) -> dict[str, dict]:
        """The last finishing record (done or failed) of every image, by sha256."""
        out: dict[str, dict] = {}
        for r in self.records():
            if r["event"] in ("done", "failed"):
                out[r["sha256"]] = r
        return out


@dataclass
class ResultStore:
    out_dir: Path
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.out_dir) / RESULTS_NAME
        self.root.mkdir(parents=True, exist_ok=True)

    def folder(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        return (self.root / key / "report.json").is_file()

    def write(self, key: str, files: dict[str, bytes]) -> bool:
        """Write one result; False when it already exists (the first complete write wins)."""
        final = self.root / key
        if final.exists():
            return False
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:16]}-", dir=self.root))
        try:
            for name, data in files.items():
                if "/" in name or name.startswith("."):
                    raise ValueError(f"unexpected result file name {name!r}")
                with open(tmp / name, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            _fsync_dir(tmp)
            try:
                os.rename(tmp, final)  # atomic; fails if another writer got there first
            except OSError:
                if final.exists():
                    return False
                raise
            _fsync_dir(self.root)
            return True
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def clean_temporaries(self) -> int:
        """Remove half-written folders left by a crash; they never count as results."""
        removed = 0
        for p in self.root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
        return removed
