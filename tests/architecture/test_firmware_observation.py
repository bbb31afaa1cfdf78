"""Every question a reader can ask the Firmware reaches its observer, so a cached result can never
rest on an input nobody recorded; and each check declares the derived facts it reads."""

from __future__ import annotations

import json

import pytest

from iotcop.cache.trace import Recorder
from iotcop.checks.discovery import all_checks
from iotcop.checks.runner import run_check_inline
from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.inventory import inventory_tree
from iotcop.firmware.model import Firmware


class _Lines(ContentScanner):
    CONTENT_NAME = "test.lines"

    def content_limit(self, entry, ctx):
        return 1024

    def scan_content(self, entry, data):
        return data.count(b"\n")


# Each public name of Firmware with the arguments to ask it; names that change the object instead of
# asking it anything are listed apart.  A new public name fails the test until it is placed here.
QUESTIONS = {
    "work_dir": None, "roots": None, "partitions": None, "entries": None, "file_count": None,
    "get": ("/etc/passwd",), "exists": ("/etc/passwd",), "files": (), "glob": ("/etc/*",), "by_name": ("passwd",),
    "elf_files": (), "read_bytes": ("/etc/passwd",), "read_text": ("/etc/passwd",),
    "cached": ("test.key", lambda fw: 1), "peek_cached": ("test.key",),
    "content_results": (_Lines(),), "content_for": ("test.lines", "ENTRY"), "content_failure": ("test.lines",),
    "content_scanned": ("test.lines",), "content_seconds": ("test.lines",), "content_report": ("test.lines",),
}
NOT_QUESTIONS = {"observe", "attach_content"}


@pytest.fixture
def fw(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    return inventory_tree(tmp_path)


def test_every_public_accessor_reports_to_the_observer(fw):
    public = {n for n in dir(Firmware) if not n.startswith("_")}
    assert public - NOT_QUESTIONS == set(QUESTIONS), "place each public name of Firmware in QUESTIONS or NOT_QUESTIONS"
    entry = fw.get("/etc/passwd")
    for name, args in QUESTIONS.items():
        recorder = Recorder()
        fw.observe(recorder)
        value = getattr(fw, name)
        if args is not None:
            value = value(*[entry if a == "ENTRY" else a for a in args])
        if hasattr(value, "__next__"):
            list(value)
        fw.observe(None)
        asked = [json.loads(q)[0] for q in recorder.answers]
        assert asked, f"Firmware.{name} answered without telling the observer"


def test_an_observed_iterator_still_yields_every_item(fw):
    plain = [e.path for e in fw.files()]
    fw.observe(Recorder())
    assert [e.path for e in fw.files()] == plain


def _facts_read(recorder: Recorder, facts: dict[str, DerivedFact], scanner_of: dict[str, str]) -> set[str]:
    read = set()
    for query in map(json.loads, recorder.answers):
        if query[0] == "cached" and query[1] in facts:
            read.add(query[1])
        elif query[0] in ("content_results", "content_for") and query[1] in scanner_of:
            read.add(scanner_of[query[1]])
    return read


def _all_facts() -> dict[str, DerivedFact]:
    import gc

    return {o.name: o for o in gc.get_objects() if isinstance(o, DerivedFact)}


def test_each_check_and_fact_declares_the_derived_facts_it_reads(vulnerable_image):
    fw = inventory_tree(vulnerable_image.rootfs)
    checks = all_checks()
    facts = _all_facts()
    scanner_of = {make().CONTENT_NAME: f.name for f in facts.values() for make in f.scanners}
    ctx = ScanContext.default()
    undeclared = []
    for cls in checks:
        if cls.REQUIRES_DECLARATION:
            continue
        fresh = inventory_tree(vulnerable_image.rootfs) if cls.USES else fw
        recorder = Recorder()
        fresh.observe(recorder)
        assert run_check_inline(cls, fresh, ctx).status == "ran", cls.ID
        declared = {f.name for used in cls.USES for f in used.closure()}
        missing = _facts_read(recorder, facts, scanner_of) - declared
        if missing:
            undeclared.append(f"{cls.ID} reads {sorted(missing)}")
    for fact in facts.values():
        if fact.compute is None:
            continue
        fresh = inventory_tree(vulnerable_image.rootfs)
        recorder = Recorder()
        fresh.observe(recorder)
        fact.of(fresh)
        declared = {f.name for f in fact.closure()}
        missing = _facts_read(recorder, facts, scanner_of) - declared
        if missing:
            undeclared.append(f"fact {fact.name} reads {sorted(missing)}")
    assert undeclared == []
