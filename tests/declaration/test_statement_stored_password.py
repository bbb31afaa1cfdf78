"""The PSTI statement is refused when the firmware ships a password hash: Schedule 1 paragraph 1 is not met
even when the declaration says passwords are user-defined."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from iotcop.checks.credentials import crypt
from iotcop.declaration import load_declaration
from iotcop.scan import ScanOptions, scan
from iotcop.statement.build import StatementRefused, build_statement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "label"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from test_level_four import declaration, make_rootfs  # noqa: E402

STRONG_HASH = crypt.crypt("k7#Vq9!zR2@pLm", "$6$saltsalt")


def test_statement_refused_for_a_stored_root_hash(tmp_path):
    path = tmp_path / "decl.yaml"
    path.write_text(yaml.safe_dump(declaration("https://127.0.0.1:9"), sort_keys=False))
    decl = load_declaration(path)
    root = make_rootfs(tmp_path / "rootfs")
    shadow = root / "etc/shadow"
    shadow.write_text(shadow.read_text().replace("root:!:", f"root:{STRONG_HASH}:", 1))
    assessment = scan(root, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment
    with pytest.raises(StatementRefused) as refused:
        build_statement(assessment, decl, signatory="A. Smith, Head of Product Security", place="London")
    psti_1 = [r for r in refused.value.reasons if r.startswith("psti-1 (Passwords) is FAIL")]
    assert psti_1 and "5.1-1 FAIL" in psti_1[0], refused.value.reasons
