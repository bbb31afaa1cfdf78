"""Scan profiles: which checks run, per-check options, and that a skipped check never yields PASS."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
from support import run_cli

from iotcop import profiles
from iotcop.checks.base import Check, CheckDoc
from iotcop.checks.credentials.passwords import DefaultPassword
from iotcop.checks.discovery import all_checks
from iotcop.checks.runner import run_check_inline, run_checks
from iotcop.context import ScanContext
from iotcop.firmware.inventory import inventory_tree
from iotcop.scan import ScanOptions, scan

SIGNED_UPDATE = """#!/bin/sh
URL=https://update.vendor.example/router
curl -fsS -o /tmp/fw.bin "$URL/fw.bin" && curl -fsS -o /tmp/fw.sig "$URL/fw.sig"
openssl dgst -sha256 -verify /etc/update/fw.pub -signature /tmp/fw.sig /tmp/fw.bin || exit 1
sysupgrade /tmp/fw.bin
"""


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return root


def _updater_tree(root: Path) -> Path:
    return _tree(root, {
        "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
        "bin/sh": Path("/bin/true").read_bytes(),
        "usr/sbin/fw-update": SIGNED_UPDATE,
        "etc/update/fw.pub": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
        "etc/crontabs/root": "15 4 * * * /usr/sbin/fw-update\n",
    })


def test_profile_data_names_only_existing_checks():
    ids = [c.ID for c in all_checks()]
    profiles.validate(ids)
    assert set(profiles.profiles()) == {"label", "standard", "deep"}
    assert profiles.default_profile() == "standard"
    for p in profiles.profiles().values():
        assert p.summary and p.skips, f"profile {p.name} must say what it is and what it skips"
    run, left_out = profiles.split_checks(all_checks(), "standard")
    assert left_out == [] and len(run) == len(ids)
    run, left_out = profiles.split_checks(all_checks(), "label")
    assert {c.ID for c in left_out} == set(profiles.get_profile("label").exclude) != set()


def test_unknown_check_in_profile_data_is_refused(monkeypatch):
    bad = profiles.Profile(name="x", summary="s", skips="s", exclude=("no.such-check",))
    monkeypatch.setattr(profiles, "_data", lambda: ("x", {"x": bad}))
    with pytest.raises(Exception, match="no.such-check"):
        profiles.validate([c.ID for c in all_checks()])


def test_skipped_check_leaves_its_provisions_not_tested_never_pass(tmp_path, monkeypatch):
    root = _updater_tree(tmp_path / "rootfs")
    only = ("updates.update-mechanism",)
    standard = scan(root, ScanOptions(only_checks=only)).assessment
    verdicts = {v.id: v.verdict.value for v in standard.provisions}
    assert verdicts["5.3-4"] == "PASS"  # the signed updater is positive evidence when the check runs
    assert standard.profile == "standard"

    without = profiles.Profile(name="label", summary="s", skips="the update check",
                               exclude=("updates.update-mechanism",))
    monkeypatch.setattr(profiles, "_data", lambda: ("standard", {"label": without, "standard": without}))
    skipped = scan(root, ScanOptions(only_checks=only, profile="label")).assessment
    assert skipped.profile == "label"
    summary = {c.id: c for c in skipped.checks}
    assert summary["updates.update-mechanism"].status == "skipped"
    assert "not in the 'label' profile" in summary["updates.update-mechanism"].error
    verdicts = {v.id: v.verdict.value for v in skipped.provisions}
    for provision in ("5.3-2", "5.3-4", "5.3-9", "5.3-10"):
        assert verdicts[provision] == "NOT_TESTED"
    assert "PASS" not in verdicts.values()


def _shadow_with(password: str) -> str:
    hashed = subprocess.run(["openssl", "passwd", "-1", "-salt", "k3yS4lt", password], capture_output=True,
                            text=True, check=True).stdout.strip()
    return f"root:{hashed}:19000:0:99999:7:::\n"


def test_label_profile_bounds_cracking_to_known_defaults(tmp_path):
    # "trustno1" is on the common-password list, not the default-credential list.
    root = _tree(tmp_path, {"etc/shadow": _shadow_with("trustno1"), "etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
    fw = inventory_tree(root)
    standard, label = ScanContext(profiles.get_profile("standard")), ScanContext(profiles.get_profile("label"))
    assert any("trustno1" in f.evidence.detail for f in run_check_inline(DefaultPassword, fw, standard).findings)
    fw = inventory_tree(root)
    assert run_check_inline(DefaultPassword, fw, label).findings == []
    # a publicly known default is still found with the label profile
    root2 = _tree(tmp_path / "b", {"etc/shadow": _shadow_with("admin"), "etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
    fw = inventory_tree(root2)
    assert run_check_inline(DefaultPassword, fw, label).findings


def test_options_fall_back_to_the_class_values_without_a_profile():
    default = ScanContext.default()
    assert default.profile.name == "standard"
    assert default.option("credentials.default-password", "slow_budget", 24) == 24
    deep = ScanContext(profiles.get_profile("deep"))
    assert deep.option("credentials.default-password", "slow_budget", 24) > 24


class _Sleeps(Check):
    ID = "test.profile-sleeps"
    PROVISIONS = ("5.6-7",)
    TIMEOUT = 60.0
    DOC = CheckDoc(title="t", why="t", fix="t")

    def run(self, fw, ctx):
        time.sleep(30)
        yield


def test_profile_timeouts_replace_a_checks_budget(tmp_path):
    fw = inventory_tree(_tree(tmp_path, {"etc/passwd": "x\n"}))
    start = time.monotonic()
    profile = dataclasses.replace(profiles.get_profile("standard"), timeouts={"test.profile-sleeps": 0.5})
    [run] = run_checks([_Sleeps], fw, ScanContext(profile))
    assert run.status == "timeout" and "0.5 s" in run.error
    assert time.monotonic() - start < 20


def test_cli_profile_in_report_and_schema(tmp_path):
    from iotcop.report.writers.json import report_schema

    root = _updater_tree(tmp_path / "rootfs")
    out = tmp_path / "out"
    result = run_cli("scan", root, "--profile", "label", "--out", out, "--output", "json", "--quiet",
                     "--check", "updates", "--check", "privacy")
    assert result.code in (0, 1), result.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    assert report["profile"] == "label"
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["privacy.cloud-endpoints"] == "skipped" and statuses["updates.secure-boot"] == "skipped"
    assert statuses["updates.update-mechanism"] == "ran"
    bad = run_cli("scan", root, "--profile", "fastest", "--quiet")
    assert bad.code == 2
