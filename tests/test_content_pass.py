"""The content pass: every file read once by the inventory, its bytes shared by the content scanners.

On the vulnerable demo image's root filesystem (built from Debian packages): the content checks
read nothing after the inventory, their results equal those of a check reading the files itself,
the parallel inventory equals the serial one, a scanner's failure or overrun becomes the check's
error or timeout, and the per-file cache answers unchanged files of a second version.
"""

from __future__ import annotations

import shutil

import pytest

from iotcop.boot import BOOT_MODEL
from iotcop.cache.store import AnalysisCache
from iotcop.checks.base import CheckDoc, ContentCheck
from iotcop.checks.discovery import all_checks
from iotcop.checks.runner import run_check_inline, run_checks
from iotcop.context import ScanContext
from iotcop.firmware import inventory
from iotcop.firmware.content import ContentPass
from iotcop.firmware.inventory import build_firmware
from iotcop.scan import content_pass

CONTENT_CHECKS = [c for c in all_checks() if issubclass(c, ContentCheck)]


def _rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


class _ReadRecorder:
    """Firmware observer: the size of every file read through the Firmware."""

    def __init__(self):
        self.sizes: dict[str, int] = {}

    def answered(self, fw, query, answer):
        if query[0] == "read" and answer is not None and answer.kind == "file":
            self.sizes[answer.path] = answer.size
        return answer


def _inventory(root, plan=None):
    return build_firmware(root, [("rootfs", root)], content=plan)


@pytest.fixture(scope="module")
def rootfs(vulnerable_image, tmp_path_factory):
    tree = tmp_path_factory.mktemp("content") / "rootfs"
    shutil.copytree(vulnerable_image.rootfs, tree, symlinks=True)
    return tree


def test_the_heavy_content_checks_exist():
    names = {c.ID for c in CONTENT_CHECKS}
    assert {"credentials.binary-password", "secrets.cloud-token", "comms.tls-verification-disabled",
            "crypto.private-key"} <= names


def test_content_checks_read_nothing_after_the_inventory(rootfs):
    plan = content_pass(CONTENT_CHECKS, ScanContext.default(), jobs=1)  # one process: its read counter sees all
    before = _rchar()
    fw = _inventory(rootfs, plan)
    inventory_bytes = _rchar() - before
    tree_bytes = sum(e.size for e in fw.files())
    assert inventory_bytes <= tree_bytes * 1.02 + 1_000_000  # each file read once (plus directory listings)
    # The boot model, built once per scan before the checks fork, reads the scripts it walks and the programs it
    # follows (BusyBox applet tables, strings of manager programs): each of those once, nothing else.
    reads = _ReadRecorder()
    fw.observe(reads)
    before = _rchar()
    BOOT_MODEL.of(fw)
    boot_bytes = _rchar() - before
    fw.observe(None)
    assert reads.sizes and boot_bytes <= sum(reads.sizes.values()) * 1.02 + 100_000
    assert boot_bytes < 0.5 * tree_bytes
    before = _rchar()
    runs = [run_check_inline(c, fw) for c in CONTENT_CHECKS]
    from iotcop.sbom import components_as_dicts

    components_as_dicts(fw)
    assert _rchar() - before < 0.05 * tree_bytes, "content checks and components read the tree again"
    assert all(r.status == "ran" for r in runs)
    assert sum(len(r.findings) for r in runs) >= 4  # the planted key, token, password and curl -k are found


def test_results_equal_those_of_checks_reading_files_themselves(rootfs):
    with_pass = _inventory(rootfs, content_pass(CONTENT_CHECKS, ScanContext.default(), jobs=2))
    without = _inventory(rootfs)  # no content pass: each check reads the files it wants
    for cls in CONTENT_CHECKS:
        a = run_check_inline(cls, with_pass)
        b = run_check_inline(cls, without)
        assert [f.model_dump() for f in a.findings] == [f.model_dump() for f in b.findings], cls.ID


def test_parallel_inventory_equals_the_serial_one(rootfs, monkeypatch):
    monkeypatch.setattr(inventory, "_PARALLEL_MIN_BYTES", 0)
    serial = _inventory(rootfs, content_pass(CONTENT_CHECKS, ScanContext.default(), jobs=1))
    parallel = _inventory(rootfs, content_pass(CONTENT_CHECKS, ScanContext.default(), jobs=2))
    facts = lambda fw: [(e.path, e.kind, e.sha256, e.magic, e.elf) for e in fw.entries]  # noqa: E731
    assert facts(serial) == facts(parallel)
    for scanner in content_pass(CONTENT_CHECKS, ScanContext.default()).scanners:
        name = scanner.CONTENT_NAME
        assert serial.content_report(name).files == parallel.content_report(name).files, name
        assert ([(e.path, r) for e, r in serial.content_results(scanner)]
                == [(e.path, r) for e, r in parallel.content_results(scanner)]), name


class _Raising(ContentCheck):
    ID = "test.raising-scanner"
    PROVISIONS = ("5.1-1",)
    DOC = CheckDoc(title="t", why="w", fix="f")

    def content_limit(self, entry, ctx):
        return 1024 if entry.magic == "elf" else 0

    def scan_content(self, entry, data):
        raise ValueError("broken scanner")

    def run(self, fw, ctx):
        yield from ()


class _Slow(_Raising):
    ID = "test.slow-scanner"
    TIMEOUT = 0.05

    def scan_content(self, entry, data):
        import time

        time.sleep(0.01)
        return None


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_or_overrunning_scanner_stops_its_check_only(rootfs, monkeypatch, jobs):
    monkeypatch.setattr(inventory, "_PARALLEL_MIN_BYTES", 0)
    checks = [_Raising, _Slow] + CONTENT_CHECKS[:1]
    fw = _inventory(rootfs, ContentPass(ScanContext.default(), scanners=[c() for c in checks], jobs=jobs))
    runs = {r.check: r for r in run_checks(checks, fw, ScanContext.default(), jobs=2)}
    assert runs["test.raising-scanner"].status == "error"
    assert "broken scanner" in runs["test.raising-scanner"].error
    assert runs["test.slow-scanner"].status == "timeout"
    assert runs[CONTENT_CHECKS[0].ID].status == "ran"
    assert all(e.sha256 for e in fw.files())  # the inventory itself is complete


def test_per_file_cache_answers_unchanged_files_of_a_second_version(rootfs, tmp_path):
    cached = ScanContext(ScanContext.default().profile, cache=AnalysisCache(tmp_path / "cache"))
    plan = lambda: content_pass(CONTENT_CHECKS, ScanContext.default(), jobs=1)  # noqa: E731
    names = [s.CONTENT_NAME for s in plan().scanners]

    def inventory_with_cache(root):
        return _inventory(root, content_pass(CONTENT_CHECKS, cached, jobs=1))

    v1 = inventory_with_cache(rootfs)
    first = {k: (v1.content_report(k).files, v1.content_report(k).cached) for k in names}
    assert all(cached == 0 for _, cached in first.values())
    v2_root = tmp_path / "v2"
    shutil.copytree(rootfs, v2_root, symlinks=True)
    binary = v2_root / "usr/sbin/lighttpd"
    data = binary.read_bytes()
    binary.unlink()
    binary.write_bytes(data + b"\x00password=Secret123\x00")  # a changed file with a new compiled-in password
    v2 = inventory_with_cache(v2_root)
    status = v2.content_report("check:credentials.binary-password")
    assert status.files == 1 and status.cached == first["check:credentials.binary-password"][0] - 1
    fresh = _inventory(v2_root, plan())  # the same version without a cache
    for cls in CONTENT_CHECKS:
        cached_run, fresh_run = run_check_inline(cls, v2), run_check_inline(cls, fresh)
        assert [f.model_dump() for f in cached_run.findings] == [f.model_dump() for f in fresh_run.findings], cls.ID
    found = run_check_inline(CONTENT_CHECKS[[c.ID for c in CONTENT_CHECKS].index("credentials.binary-password")], v2)
    assert any(f.evidence.path == "/usr/sbin/lighttpd" and "Secret123" in (f.evidence.excerpt or "")
               for f in found.findings)


def test_a_shared_scanner_stopped_in_the_pass_is_answered_by_reading_the_files(rootfs):
    from iotcop.checks.credentials.accounts import AccountRecords, collect_accounts

    class BrokenAccounts(AccountRecords):
        def scan_content(self, entry, data):
            raise RuntimeError("broken")

    fw = _inventory(rootfs, ContentPass(ScanContext.default(), scanners=[BrokenAccounts()], jobs=1))
    assert fw.content_failure("accounts")[0] == "error"
    fresh = _inventory(rootfs)
    found = collect_accounts(fw)
    assert found and found == collect_accounts(fresh)  # not the partial results of the stopped pass
