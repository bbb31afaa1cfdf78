"""`iotcop diff` on the demo images and on small root filesystems; `iotcop rematch` with a newer database."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from batch_support import make_rootfs


def _starter_db():
    from iotcop.vulns.db import active_db_path

    path = active_db_path()
    if path is None or not path.is_file():
        pytest.skip("no vulnerability database available")
    return path


@pytest.mark.slow
def test_diff_vulnerable_to_clean_demo_image(cli, tmp_path, vulnerable_image, clean_image):
    old, new = tmp_path / "old", tmp_path / "new"
    for img, out in ((vulnerable_image, old), (clean_image, new)):
        res = cli("scan", img.image, "--out", out, "--output", "json,cyclonedx", "-q")
        assert res.code in (0, 1), res.stderr
    res = cli("diff", old, new, "--out", tmp_path / "d", "--format", "json")
    assert res.code == 0, res.stderr  # the clean image brings no new finding
    d = res.json()
    fixed_titles = {f["title"] for f in d["findings"]["fixed"]}
    assert "Account 'guest' has an empty password" in fixed_titles
    assert any(t.startswith("Telnet server") for t in fixed_titles)
    assert d["findings"]["new"] == []
    for pair in d["findings"]["changed"]:  # aggregate findings whose count changed are paired, not new
        assert pair["old"]["check"] == pair["new"]["check"]
    assert d["findings"]["unchanged"], "shared components keep their findings"
    changed = {p["id"]: (p["old"], p["new"], p["direction"]) for p in d["provisions"]}
    assert changed["5.1-1"][0] == "FAIL" and changed["5.1-1"][2] == "improved"
    assert all(direction != "regressed" for _, _, direction in changed.values())
    assert (tmp_path / "d" / "diff.json").is_file()
    html = (tmp_path / "d" / "diff.html").read_text()
    assert "Fixed findings" in html and "empty password" in html

    # The other way round: the findings come back as new and the exit code says so.
    back = cli("diff", new, old, "--format", "json")
    assert back.code == 1
    assert {f["title"] for f in back.json()["findings"]["new"]} == fixed_titles


@pytest.mark.slow
def test_diff_components_and_verdicts_between_versions(cli, tmp_path):
    v1 = make_rootfs(tmp_path / "v1", 1, dnsmasq="2.85-1")
    v2 = make_rootfs(tmp_path / "v2", 2, dnsmasq="2.90-1", empty_root_password=False, telnet=False)
    v3 = make_rootfs(tmp_path / "v3", 3, dnsmasq="2.80-1")
    checks = ["--check", "credentials.empty-password", "--check", "services.telnet-at-boot"]
    for v in (v1, v2, v3):
        res = cli("scan", v, "--out", tmp_path / f"r{v.name}", "--output", "json", "-q", *checks)
        assert res.code in (0, 1), res.stderr
    res = cli("diff", tmp_path / "rv1" / "report.json", tmp_path / "rv2", "--format", "json")
    assert res.code == 0, res.stderr
    d = res.json()
    assert d["components"]["upgraded"] == [{"name": "dnsmasq", "type": "application", "old": "2.85", "new": "2.90"}]
    assert {f["title"] for f in d["findings"]["fixed"]} >= {"Account 'root' has an empty password"}
    assert {p["id"] for p in d["psti"]} >= {"psti-1"}
    res = cli("diff", tmp_path / "rv1", tmp_path / "rv3")
    assert res.code == 0 and "dnsmasq: 2.85 -> 2.80" in res.stdout
    assert "0 upgraded, 1 downgraded" in res.stdout
    # Images can be given directly: they are scanned (here a folder is not a report, so it is scanned).
    res = cli("diff", tmp_path / "rv1", v2, "--check", "credentials.empty-password", "--format", "json")
    assert res.code == 0, res.stderr
    res = cli("diff", tmp_path / "missing", v2)
    assert res.code == 2 and res.stderr.startswith("iotcop: error:")


def _db_without(source: Path, dest: Path, product: str) -> Path:
    shutil.copy(source, dest)
    with sqlite3.connect(dest) as conn:
        conn.execute("DELETE FROM affects WHERE product = ? OR product LIKE ?", (product, product + "%"))
    return dest


@pytest.mark.slow
def test_rematch_finds_new_vulnerabilities_without_extracting(cli, tmp_path, monkeypatch):
    starter = _starter_db()
    old_db = _db_without(starter, tmp_path / "old.sqlite", "dnsmasq")
    root = make_rootfs(tmp_path / "fw", 1, dnsmasq="2.85-1")
    out = tmp_path / "r"
    monkeypatch.setenv("IOTCOP_VULNDB", str(old_db))
    res = cli("scan", root, "--out", out, "--output", "json,cyclonedx", "-q", "--check", "vulns")
    assert res.code in (0, 1), res.stderr
    before = json.loads((out / "report.json").read_text())
    assert not [f for f in before["findings"] if "dnsmasq" in f["title"]]
    shutil.rmtree(root)  # rematching needs no firmware

    res = cli("rematch", out, "--db", starter, "--format", "json")
    assert res.code == 0, res.stderr
    [change] = res.json()
    assert change["new"] and all(t.startswith("dnsmasq 2.85: ") for t in change["new"])
    assert change["gone"] == [] and not change["written"]

    res = cli("rematch", out / "report.json", "--db", starter, "--write")
    assert res.code == 0 and "(report updated)" in res.stdout
    after = json.loads((out / "report.json").read_text())
    vuln = [f for f in after["findings"] if f["check"] == "vulns.known-vulnerability"]
    assert len(vuln) == len(change["new"])
    assert {v["id"]: v["verdict"] for v in after["provisions"]}["5.3-8"] == "FAIL"
    assert any("vulnerability matching redone" in n for n in after["notes"])
    from iotcop.report.load import read_report

    read_report(out / "report.json")  # still a valid report

    # Same database again: nothing changes; the old one: every match is gone again.
    res = cli("rematch", out, "--db", starter, "--format", "json")
    assert res.json()[0]["new"] == [] and res.json()[0]["gone"] == []
    res = cli("rematch", out, "--db", old_db, "--format", "json")
    assert sorted(res.json()[0]["gone"]) == sorted(change["new"])
    res = cli("rematch", tmp_path / "nothing-here")
    assert res.code == 2
