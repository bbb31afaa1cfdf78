"""The analysis cache: reused check runs must equal fresh ones, and only checks whose inputs changed re-run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from batch_support import make_rootfs

import iotcop.declaration
from iotcop.cache.store import AnalysisCache
from iotcop.scan import ScanOptions, scan

CHECKS = ("credentials", "services", "surface.file-permissions", "vulns")


def _scan(root, cache):
    return scan(root, ScanOptions(only_checks=CHECKS, jobs=2, cache=cache)).assessment


def _findings(assessment):
    return sorted((f.id, f.title) for f in assessment.findings)


def test_cache_reuses_unchanged_checks_and_matches_a_fresh_scan(tmp_path):
    v1 = make_rootfs(tmp_path / "v1", 1)
    cache = AnalysisCache(tmp_path / "cache", min_reuse_seconds=0)
    first = _scan(v1, cache)
    assert cache.hits == 0 and cache.misses > 5
    checks = cache.misses

    cache.hits = cache.misses = 0
    again = _scan(v1, cache)
    assert (cache.hits, cache.misses) == (checks, 0)
    assert _findings(again) == _findings(first)
    assert [(v.id, v.verdict) for v in again.provisions] == [(v.id, v.verdict) for v in first.provisions]

    # Version 2 fixes the empty root password and nothing else.
    v2 = tmp_path / "v2"
    shutil.copytree(v1, v2, symlinks=True)
    shadow = (v2 / "etc/shadow").read_text().replace("root::", "root:$6$saltsalt$" + "y" * 86 + ":")
    (v2 / "etc/shadow").write_text(shadow)
    cache.hits = cache.misses = 0
    cached_v2 = _scan(v2, cache)
    assert 0 < cache.hits < checks, "checks not reading /etc/shadow are reused, the others re-run"
    assert cache.misses >= 1
    fresh_v2 = _scan(v2, None)
    assert _findings(cached_v2) == _findings(fresh_v2)
    assert "Account 'root' has an empty password" in {t for _, t in _findings(first)}
    assert "Account 'root' has an empty password" not in {t for _, t in _findings(cached_v2)}


def test_a_file_added_or_a_mode_changed_is_seen(tmp_path):
    v1 = make_rootfs(tmp_path / "v1", 1, telnet=False)
    cache = AnalysisCache(tmp_path / "cache", min_reuse_seconds=0)
    base = _scan(v1, cache)
    v2 = tmp_path / "v2"
    shutil.copytree(v1, v2, symlinks=True)
    (v2 / "etc/shadow").chmod(0o666)  # metadata only: same bytes, same sha256
    (v2 / "etc/inetd.conf").write_text("telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n")
    cached = _scan(v2, cache)
    fresh = _scan(v2, None)
    assert _findings(cached) == _findings(fresh)
    assert _findings(cached) != _findings(base)


def test_whole_image_results_and_stats(tmp_path):
    cache = AnalysisCache(tmp_path / "c")
    assert cache.get_image("ab" * 32, "k") is None
    cache.put_image("ab" * 32, "k", {"x": 1})
    assert cache.get_image("ab" * 32, "k") == {"x": 1}
    assert cache.get_image("ab" * 32, "other") is None
    assert cache.stats()["images"] == 1


def test_tracing_records_what_a_check_asked(tmp_path):
    from iotcop.cache.trace import Recorder, Replayer
    from iotcop.firmware.inventory import inventory_tree

    root = make_rootfs(tmp_path / "fw", 1)
    fw = inventory_tree(root)
    other = inventory_tree(root)
    recorder = Recorder()
    fw.observe(recorder)
    assert fw.get("/etc/shadow") is not None
    fw.read_text("/etc/passwd")
    assert [e.magic for e in fw.files()]  # the observer hands every file on
    _ = fw.roots
    answers = recorder.answers
    kinds = {json.loads(k)[0] for k in answers}
    assert {"get", "read", "files", "roots"} <= kinds
    assert recorder.cacheable
    assert Replayer(other).matches(answers)
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/ash\n")
    assert not Replayer(inventory_tree(root)).matches(answers)
    _ = fw.work_dir  # a place in this scan's work directory: nothing another scan could compare
    assert not recorder.cacheable


def test_a_run_without_a_declaration_is_not_reused_with_one(tmp_path):
    from iotcop.cache.store import check_environment
    from iotcop.checks.discovery import get_check
    from iotcop.context import ScanContext
    from iotcop.declaration import load_declaration

    cls = get_check("surface.started-services")  # reads the declaration when one is given
    path = tmp_path / "decl.yaml"
    path.write_text((Path(iotcop.declaration.__file__).parent / "template.yaml").read_text())
    declaration = load_declaration(path)
    plain = ScanContext.default()
    declared = ScanContext(profile=plain.profile, declaration=declaration)
    assert check_environment(cls, plain) == check_environment(cls, ScanContext.default())
    assert check_environment(cls, plain) != check_environment(cls, declared)


def test_cheap_checks_are_run_again_not_traced(tmp_path):
    v1 = make_rootfs(tmp_path / "v1", 1)
    cache = AnalysisCache(tmp_path / "cache", min_reuse_seconds=3600)  # every check is "cheap"
    first = _scan(v1, cache)
    assert cache.stats()["check_runs"] == 0  # costs recorded, no run kept
    checks = cache.misses
    cache.hits = cache.misses = 0
    again = _scan(v1, cache)
    assert (cache.hits, cache.misses) == (0, checks)
    assert _findings(again) == _findings(first)
