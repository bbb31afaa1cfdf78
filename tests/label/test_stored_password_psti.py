"""A password hash shipped in the image is a universal default password: 5.1-1 fails, so PSTI Schedule 1
paragraph 1 fails and the label drops to level 0, however strong the hash and whether or not it is cracked."""

from __future__ import annotations

from pathlib import Path

import yaml
from test_level_four import declaration, make_rootfs

from iotcop.checks.credentials import crypt
from iotcop.declaration import load_declaration
from iotcop.label.level import label_level
from iotcop.scan import ScanOptions, scan

STRONG_HASH = crypt.crypt("k7#Vq9!zR2@pLm", "$6$saltsalt")  # cracked by no word list


def _with_root_field(root: Path, field: str) -> Path:
    shadow = root / "etc/shadow"
    shadow.write_text(shadow.read_text().replace("root:!:", f"root:{field}:", 1))
    return root


def _credentials_only(root: Path):
    return scan(root, ScanOptions(jobs=2, only_checks=("credentials",))).assessment


def test_stored_root_hash_fails_5_1_1_and_psti_1(tmp_path):
    a = _credentials_only(_with_root_field(make_rootfs(tmp_path / "fw"), STRONG_HASH))
    stored = [f for f in a.findings if f.check == "credentials.stored-password"]
    assert [(f.evidence.path, f.confidence) for f in stored] == [("/etc/shadow", "confirmed")]
    assert not [f for f in a.findings if f.check == "credentials.default-password"]  # not cracked, still a finding
    assert {v.id: v.verdict.value for v in a.provisions}["5.1-1"] == "FAIL"
    assert {g.id: g.verdict.value for g in a.psti}["psti-1"] == "FAIL"


def test_locked_root_gives_no_password_finding(tmp_path):
    a = _credentials_only(make_rootfs(tmp_path / "fw"))
    assert not [f for f in a.findings if "5.1-1" in f.provisions]
    assert {g.id: g.verdict.value for g in a.psti}["psti-1"] != "FAIL"


def test_label_drops_to_level_0_with_a_stored_root_hash(tmp_path):
    path = tmp_path / "decl.yaml"
    path.write_text(yaml.safe_dump(declaration("https://127.0.0.1:9"), sort_keys=False))  # nothing is fetched
    decl = load_declaration(path)
    root = make_rootfs(tmp_path / "rootfs")
    before = scan(root, ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment
    assert {g.id: g.verdict.value for g in before.psti}["psti-1"] != "FAIL"
    assert not any("not met: Passwords" in r for r in label_level(before).reasons)

    after = scan(_with_root_field(root, STRONG_HASH), ScanOptions(declaration=decl, fetch=False, jobs=2)).assessment
    assert {g.id: g.verdict.value for g in after.psti}["psti-1"] == "FAIL"
    level = label_level(after)
    assert level.value == 0 and "UK PSTI requirement not met: Passwords" in level.reasons
