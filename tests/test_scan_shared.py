"""The scan derives facts that several checks read (account records) once, before the checks fork."""

from __future__ import annotations

from pathlib import Path

from iotcop.checks.credentials.accounts import ACCOUNTS
from iotcop.scan import ScanOptions, scan


def _rootfs(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc" / "passwd").write_text("root::0:0::/root:/bin/sh\nadmin:x:1000:1000::/home:/bin/sh\n")
    (root / "etc" / "shadow").write_text("admin:$1$k3yS4lt$N9mfoTc5cVBdY7PMQvNdS/:19000:0:99999:7:::\n")
    return root


def test_account_records_are_parsed_once_in_the_parent_and_findings_are_unchanged(tmp_path):
    root = _rootfs(tmp_path / "rootfs")
    shared = scan(root, ScanOptions(only_checks=("credentials.empty-password", "credentials.shared-password-hash")))
    assert shared.firmware.peek_cached(ACCOUNTS.name) != "<absent>"  # made before the fork, inherited by both
    assert "shared" in shared.assessment.timings
    alone = scan(root, ScanOptions(only_checks=("credentials.empty-password",)))
    assert alone.firmware.peek_cached(ACCOUNTS.name) == "<absent>"  # one reader: it parses in its own child
    found = [f.title for f in shared.assessment.findings if f.check == "credentials.empty-password"]
    assert found == [f.title for f in alone.assessment.findings] == ["Account 'root' has an empty password"]
