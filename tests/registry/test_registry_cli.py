"""`iotcop registry ...` and `iotcop publish` as a user runs them, against `uvicorn` on 127.0.0.1."""

from __future__ import annotations

import os

import pytest
from registry_support import label_for, small_report, uvicorn_server
from support import run_cli

pytestmark = pytest.mark.slow


def test_manufacturer_token_publish_and_revoke(tmp_path, key_dirs, monkeypatch):
    from iotcop.label.signing import load_private_key

    db = f"sqlite:///{tmp_path / 'registry.db'}"
    added = run_cli("registry", "manufacturer", "add", "Example Devices Ltd", "--key",
                    key_dirs[0] / "label-signing.pub", "--db", db)
    assert added.code == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("iotcop_") and "\n" not in token and "not shown again" in added.stderr
    dup = run_cli("registry", "manufacturer", "add", "Example Devices Ltd", "--key", key_dirs[1] / "label-signing.pub",
                  "--db", db)
    assert dup.code == 2 and dup.stderr.startswith("iotcop: error:") and "exists already" in dup.stderr

    report = small_report()
    (tmp_path / "report.json").write_bytes(report)
    (tmp_path / "label.json").write_bytes(label_for(report, {"name": "CLI Plug", "model": "P1"}, "1.0",
                                                    load_private_key(key_dirs[0])))
    with uvicorn_server(db, tmp_path) as base:
        monkeypatch.setenv("IOTCOP_TOKEN", token)
        first = run_cli("publish", "--server", base, tmp_path / "label.json", tmp_path / "report.json")
        assert first.code == 0, first.stderr
        assert first.stdout.startswith("published: label 1, firmware 1.0")
        again = run_cli("publish", "--server", base, tmp_path / "label.json", tmp_path / "report.json")
        assert again.code == 0 and again.stdout.startswith("already published: label 1")
        prefix = token[len("iotcop_"):][:8]
        revoked = run_cli("registry", "token", "revoke", prefix, "--db", db)
        assert revoked.code == 0 and "revoked 1 token" in revoked.stdout
        refused = run_cli("publish", "--server", base, tmp_path / "label.json", tmp_path / "report.json")
        assert refused.code == 2 and "refused it (401)" in refused.stderr
        monkeypatch.delenv("IOTCOP_TOKEN")
    listed = run_cli("registry", "manufacturer", "list", "--db", db)
    assert "Example Devices Ltd" in listed.stdout and "active tokens: 0" in listed.stdout
    assert os.environ.get("IOTCOP_TOKEN") is None
