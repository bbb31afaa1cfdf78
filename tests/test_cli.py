"""The CLI as a user meets it: help, catalogue browsing, bad input, exit codes."""

from __future__ import annotations

import json
import os

import pytest
from support import corpus_file


@pytest.mark.parametrize("args", [
    ["--help"], ["scan", "--help"], ["standards", "--help"], ["standards", "list", "--help"],
    ["standards", "show", "--help"], ["checks", "--help"], ["checks", "list", "--help"], ["demo", "--help"],
])
def test_every_command_has_help(cli, args):
    result = cli(*args)
    assert result.code == 0, result.stderr
    assert "Usage:" in result.stdout


def test_version(cli):
    result = cli("--version")
    assert result.code == 0 and "iotcop" in result.stdout


def test_standards_list_has_all_68_provisions(cli):
    result = cli("standards", "list", "--format", "json")
    assert result.code == 0
    rows = result.json()
    assert len(rows) == 68
    assert rows[0]["id"] == "4-1" and rows[-1]["id"] == "6-5"


def test_standards_show_provision_names_its_checks(cli):
    result = cli("standards", "show", "5.1-1", "--format", "json")
    assert result.code == 0
    data = result.json()
    assert data["status"] == "M C" and data["conditions"] == {"1": "The device uses passwords."}
    assert "credentials.default-password" in data["checks"]
    assert "psti:psti-1" in data["in"]


def test_standards_show_psti_requirement(cli):
    result = cli("standards", "show", "psti-2")
    assert result.code == 0 and "5.2-1" in result.stdout


def test_standards_show_unknown_is_a_one_line_error(cli):
    result = cli("standards", "show", "9.9-9")
    assert result.code == 2
    assert result.stderr.strip().count("\n") == 0 and "unknown" in result.stderr
    assert "Traceback" not in result.stderr


def test_checks_list(cli):
    result = cli("checks", "list", "--format", "json")
    assert result.code == 0
    ids = {c["id"] for c in result.json()}
    assert {"credentials.default-password", "crypto.private-key", "services.telnet-at-boot"} <= ids


def _assert_one_line_error(result, code=2):
    assert result.code == code, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("iotcop: error:")


def test_missing_file(cli, tmp_path):
    _assert_one_line_error(cli("scan", tmp_path / "nope.bin"))


def test_empty_file(cli, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    result = cli("scan", empty)
    _assert_one_line_error(result)
    assert "empty" in result.stderr


def test_random_bytes_are_not_a_firmware_image(cli, tmp_path):
    blob = tmp_path / "random.bin"
    blob.write_bytes(os.urandom(256 * 1024))
    out = tmp_path / "out"
    result = cli("scan", blob, "--out", out)
    _assert_one_line_error(result)
    report = json.loads((out / "report.json").read_text())
    assert report["extraction"]["status"] == "failed"
    verdicts = {v["verdict"] for v in report["provisions"]}
    assert verdicts == {"NOT_TESTED"}, verdicts


def test_unknown_check_is_a_usage_error(cli, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "bin").mkdir()
    _assert_one_line_error(cli("scan", tmp_path, "--check", "no.such-check"))


def test_bad_option_value(cli, tmp_path):
    result = cli("scan", tmp_path, "--jobs", "0")
    assert result.code == 2 and "Traceback" not in result.stderr


def test_directory_without_root_filesystem_exits_2_with_a_failed_report(cli, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "readme.txt").write_text("hello\n")
    out = tmp_path / "out"
    result = cli("scan", tmp_path / "docs", "--out", out)
    assert result.code == 2, result.stderr
    assert "not a root filesystem" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    report = json.loads((out / "report.json").read_text())
    assert report["extraction"]["status"] == "failed"
    assert {v["verdict"] for v in report["provisions"]} == {"NOT_TESTED"}


def test_empty_file_exits_2_and_writes_the_failed_report(cli, tmp_path):
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    result = cli("scan", empty, "--out", out)
    assert result.code == 2
    assert result.stderr.strip() == f"iotcop: error: {empty}: the file is empty; nothing was assessed"
    report = json.loads((out / "report.json").read_text())
    assert report["extraction"]["status"] == "failed" and report["extraction"]["errors"] == ["the file is empty"]
    assert {v["verdict"] for v in report["provisions"]} == {"NOT_TESTED"}
    assert all(c["status"] == "skipped" for c in report["checks"])


def test_corpus_tar_of_files_scans(cli, tmp_path):
    tar = corpus_file("fact_extractor", "fact_extractor__container__test_zip.tar.gz")
    result = cli("scan", tar, "--format", "json", "--quiet")
    assert result.code in (0, 1), result.stderr
    assert result.json()["extraction"]["status"] in ("complete", "partial")
