"""Credential checks: synthetic trees plus the FACT_core users_and_passwords fixtures."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from support import CORPUS, needs_corpus

from iotcop.checks.credentials import crypt
from iotcop.checks.credentials.accounts import accounts
from iotcop.checks.credentials.passwords import (
    DefaultPassword,
    EmptyPassword,
    WeakPasswordHash,
)
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree

FACT = CORPUS / "FACT_core"

# Hashes made with libxcrypt for these tests.
SHA512_ADMIN = crypt.crypt("admin", "$6$abcdefgh")  # a Mirai default password
SHA512_STRONG = crypt.crypt("k7#Vq9!zR2@pLm", "$6$saltsalt")
YESCRYPT_STRONG = crypt.crypt("k7#Vq9!zR2@pLm", "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$")
MD5_STRONG_PW = crypt.crypt("k7#Vq9!zR2@pLm", "$1$saltsalt")


def make_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    return root


def run(cls, root: Path):
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "admin:x:1000:1000::/home/admin:/bin/sh\n"
)


# -- crypt ---------------------------------------------------------------------


def test_libxcrypt_is_used_and_supports_the_schemes_firmware_ships():
    assert crypt.libxcrypt_available()
    for setting in ("ab", "_J9..salt", "$1$salt", "$5$salt", "$6$salt", "$2b$05$" + "a" * 22, "$y$j9T$salt"):
        out = crypt.crypt("pw", setting)
        assert out is not None, setting
        assert crypt.verify("pw", out) is True
        assert crypt.verify("wrong", out) is False


@pytest.mark.parametrize(
    "field, scheme",
    [
        ("", "blank"),
        ("*", "locked"),
        ("!", "locked"),
        ("!!", "locked"),
        ("!$6$x$y", "locked"),
        ("x", "locked"),
        ("ST0P8z9dZb6Jg", "des"),
        ("_J9..CCCCXBrJUJV154M", "bsdi"),
        ("$1$12345678$hj0uLpdidjPhbMMZeno8X/", "md5"),
        ("$apr1$nMebU24m$ofpVAehRJU5Jq8KUcsVYj1", "apr1"),
        ("{SHA}0DPiKuNIrrVmD8IUCuw1hQxNqZc=", "sha1"),
        ("$2y$05$Eoj2qF43EErrJix4Gtmuq..0FA8AFdqUUmjEqlWsUFzda8.n6OFgW", "bcrypt"),
        ("$.su.encrypt,encryptParam", "unknown"),
        ("$n,shares", "unknown"),
    ],
)
def test_classify(field, scheme):
    assert crypt.classify(field).scheme == scheme


def test_classify_modern_schemes_and_costs():
    assert crypt.classify(SHA512_ADMIN).scheme == "sha512"
    assert crypt.classify(SHA512_ADMIN).cost == 5000
    assert crypt.classify(YESCRYPT_STRONG).scheme == "yescrypt"
    assert crypt.classify(crypt.crypt("x", "$5$rounds=1000$salt")).cost == 1000
    assert crypt.classify("$2b$12$" + "a" * 53).cost == 12


def test_crypt_r_is_thread_safe():
    # Each thread has its own crypt_data; interleaved calls must not mix results.
    expected = {pw: crypt.crypt(pw, "$6$threads") for pw in ("a", "b", "c", "d")}
    errors = []

    def worker(pw):
        for _ in range(50):
            if crypt.crypt(pw, "$6$threads") != expected[pw]:
                errors.append(pw)

    threads = [threading.Thread(target=worker, args=(pw,)) for pw in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# -- empty password --------------------------------------------------------------


def test_empty_password_in_shadow_fires(tmp_path):
    make_tree(tmp_path, {"etc/passwd": PASSWD, "etc/shadow": "root::19000:0:99999:7:::\ndaemon:*:19000::::::\n"})
    result = run(EmptyPassword, tmp_path)
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.evidence.path == "/etc/shadow" and f.evidence.line == 1
    assert "root" in f.title and f.severity.value == "critical"


def test_empty_password_field_in_passwd_fires(tmp_path):
    make_tree(tmp_path, {"etc/passwd": "root::0:0:root:/root:/bin/ash\n"})
    result = run(EmptyPassword, tmp_path)
    assert [(f.evidence.path, f.evidence.line) for f in result.findings] == [("/etc/passwd", 1)]


def test_empty_password_not_fired_for_locked_shadowed_or_nologin(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/passwd": PASSWD + "nobody:x:65534:65534::/nonexistent:/bin/false\n",
            "etc/shadow": f"root:{SHA512_STRONG}:1::::::\ndaemon:*:1::::::\nadmin:!:1::::::\nnobody::1::::::\n",
        },
    )
    assert run(EmptyPassword, tmp_path).findings == []


def test_empty_password_in_lighttpd_plain_file(tmp_path):
    make_tree(tmp_path, {"etc/lighttpd/lighttpd.user": "admin:\n"})
    result = run(EmptyPassword, tmp_path)
    assert len(result.findings) == 1 and "admin" in result.findings[0].title


# -- default password ---------------------------------------------------------------


def test_default_password_is_cracked_with_account_and_password_in_detail(tmp_path):
    make_tree(tmp_path, {"etc/passwd": PASSWD, "etc/shadow": f"root:{SHA512_STRONG}:1::::::\nadmin:{SHA512_ADMIN}:1::::::\n"})
    result = run(DefaultPassword, tmp_path)
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.evidence.path == "/etc/shadow" and f.evidence.line == 2
    assert "'admin'" in f.evidence.detail and "recovered password 'admin'" in f.evidence.detail
    assert f.severity.value == "critical"
    assert result.compliance == []  # uniqueness cannot be shown from one image


def test_user_name_as_password_is_found(tmp_path):
    make_tree(tmp_path, {"etc/shadow": f"ubnt7x:{crypt.crypt('ubnt7x', '$5$salt')}:1::::::\n"})
    result = run(DefaultPassword, tmp_path)
    assert len(result.findings) == 1 and "user name" in result.findings[0].title


def test_plaintext_default_in_lighttpd_user_file(tmp_path):
    make_tree(tmp_path, {"etc/lighttpd.user": "admin:1234\n"})
    result = run(DefaultPassword, tmp_path)
    assert len(result.findings) == 1 and "recovered password '1234'" in result.findings[0].evidence.detail


def test_strong_unknown_password_is_not_reported(tmp_path):
    make_tree(tmp_path, {"etc/passwd": PASSWD, "etc/shadow": f"root:{SHA512_STRONG}:1::::::\nadmin:{YESCRYPT_STRONG}:1::::::\n"})
    assert run(DefaultPassword, tmp_path).findings == []


def test_slow_hashes_get_a_small_candidate_budget(tmp_path):
    # "vizxv" is early in the list: found even for bcrypt.  "password1" is only in the common list.
    make_tree(
        tmp_path,
        {
            "etc/shadow": (
                f"root:{crypt.crypt('vizxv', '$2b$10$' + 'b' * 22)}:1::::::\n"
                f"admin:{crypt.crypt('password1', '$2b$10$' + 'c' * 22)}:1::::::\n"
            )
        },
    )
    result = run(DefaultPassword, tmp_path)
    assert [f.evidence.line for f in result.findings] == [1]


def test_hash_embedded_in_a_binary_is_cracked(tmp_path):
    blob = b"\x7fELF\x01\x02\x00" + b"\x00" * 40 + b"root:" + SHA512_ADMIN.encode() + b"\x00more\x00"
    make_tree(tmp_path, {"usr/sbin/setup_accounts": blob})
    result = run(DefaultPassword, tmp_path)
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.evidence.path == "/usr/sbin/setup_accounts" and f.evidence.offset == 47 and f.evidence.line is None


def test_passwd_program_binary_is_not_read_as_account_file(tmp_path):
    make_tree(tmp_path, {"usr/bin/passwd": b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64 + b"root::0:0\x00"})
    assert accounts(inventory_tree(tmp_path)) == ()


def test_example_hash_in_documentation_is_ignored(tmp_path):
    make_tree(tmp_path, {"usr/share/doc/shadow/README": f"e.g. root:{SHA512_ADMIN}\n"})
    assert run(DefaultPassword, tmp_path).findings == []


# -- weak hash -----------------------------------------------------------------------


def test_weak_hash_schemes_are_reported_per_account(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/shadow": f"root:ST0P8z9dZb6Jg:1::::::\nadmin:{MD5_STRONG_PW}:1::::::\nok:{SHA512_STRONG}:1::::::\n",
            "www/.htpasswd": "web:{SHA}0DPiKuNIrrVmD8IUCuw1hQxNqZc=\nplain:hunter2\n",
        },
    )
    result = run(WeakPasswordHash, tmp_path)
    got = {(f.evidence.path, f.evidence.line, f.severity.value) for f in result.findings}
    assert got == {
        ("/etc/shadow", 1, "high"),
        ("/etc/shadow", 2, "high"),
        ("/www/.htpasswd", 1, "high"),
        ("/www/.htpasswd", 2, "high"),
    }
    assert any("plain text" in f.title for f in result.findings)
    assert result.compliance == []
    assert [c.condition for c in result.conditions if c.holds] == [1]


def test_low_cost_modern_hash_is_medium(tmp_path):
    make_tree(tmp_path, {"etc/shadow": f"root:{crypt.crypt('x9!', '$6$rounds=1000$salt')}:1::::::\n"})
    result = run(WeakPasswordHash, tmp_path)
    assert [f.severity.value for f in result.findings] == ["medium"]


def test_strong_hashes_give_positive_evidence_for_5_1_3(tmp_path):
    make_tree(tmp_path, {"etc/passwd": PASSWD, "etc/shadow": f"root:{SHA512_STRONG}:1::::::\nadmin:{YESCRYPT_STRONG}:1::::::\ndaemon:*:1::::::\n"})
    result = run(WeakPasswordHash, tmp_path)
    assert result.findings == []
    assert len(result.compliance) == 1
    c = result.compliance[0]
    assert c.provision == "5.1-3" and "All 2" in c.statement and c.evidence[0].path == "/etc/shadow"
    assert [c.condition for c in result.conditions] == [1]


def test_no_positive_evidence_when_a_hash_is_unrecognised_or_no_passwords(tmp_path):
    make_tree(tmp_path, {"etc/shadow": f"root:{SHA512_STRONG}:1::::::\nweird:$9$zzz:1::::::\n"})
    assert run(WeakPasswordHash, tmp_path).compliance == []
    other = tmp_path / "other"
    make_tree(other, {"etc/passwd": PASSWD, "etc/shadow": "root:*:1::::::\n"})
    result = run(WeakPasswordHash, other)
    assert result.compliance == [] and result.conditions == []


# -- FACT_core fixtures ---------------------------------------------------------------------

# FACT_core src/plugins/analysis/users_and_passwords/test/test_plugin_password_file_analyzer.py,
# test_process_object_shadow_file: these accounts are found, and these passwords recovered.
FACT_CRACKED = {
    "johndoe": "123456",  # sha512-crypt
    "max": "dragon",  # Apache MD5 apr1 (htpasswd)
    "test": "123456",  # Mosquitto $6$
    "admin": "admin",  # {SHA} (htpasswd)
    "root": "root",  # DES
    "user": "1234",  # bcrypt
    "user2": "secret",  # MD5-crypt
    "nosalt": "root",  # MD5-crypt without salt
}
FACT_UNCRACKED = {"vboxadd", "mongodb", "clamav", "pulse"}  # locked: no password


@pytest.fixture
def fact_passwd_tree(tmp_path):
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    (tmp_path / "etc").mkdir()
    shutil.copyfile(FACT / "users_and_passwords__passwd_test", tmp_path / "etc" / "shadow")
    return tmp_path


@needs_corpus
@pytest.mark.corpus
def test_fact_passwd_test_all_twelve_accounts_found(fact_passwd_tree):
    found = {a.user: a for a in accounts(inventory_tree(fact_passwd_tree))}
    assert set(found) == set(FACT_CRACKED) | FACT_UNCRACKED
    assert found["test"].kind == "mosquitto" and found["max"].kind == "http" and found["root"].kind == "unix"
    assert found["max"].scheme == "apr1" and found["admin"].scheme == "sha1"
    assert all(found[u].scheme == "locked" for u in FACT_UNCRACKED)


@needs_corpus
@pytest.mark.corpus
def test_fact_passwd_test_eight_passwords_recovered(fact_passwd_tree):
    result = run(DefaultPassword, fact_passwd_tree)
    recovered = {}
    for f in result.findings:
        user = f.evidence.detail.split("'")[1]
        recovered[user] = f.evidence.detail.split("recovered password '")[1].split("'")[0]
    assert recovered == FACT_CRACKED


@needs_corpus
@pytest.mark.corpus
def test_fact_passwd_test_weak_schemes(fact_passwd_tree):
    result = run(WeakPasswordHash, fact_passwd_tree)
    by_line = {f.evidence.line: f.severity.value for f in result.findings}
    # max apr1, test mosquitto $6$, admin {SHA}, root DES, user bcrypt cost 5, user2 MD5, nosalt MD5
    assert by_line == {6: "high", 7: "medium", 8: "high", 9: "high", 10: "medium", 11: "high", 12: "high"}
    assert result.compliance == []
    assert run(EmptyPassword, fact_passwd_tree).findings == []


@needs_corpus
@pytest.mark.corpus
@pytest.mark.parametrize("device_path", ["etc/shadow", "www/js/app.js"])
def test_fact_passwd_fp_test_gives_no_accounts_or_findings(tmp_path, device_path):
    # test_process_object_fp_file: no unix, http or mosquitto entries, empty summary.
    target = tmp_path / device_path
    target.parent.mkdir(parents=True)
    shutil.copyfile(FACT / "users_and_passwords__passwd_FP_test", target)
    assert not any(a.has_password_hash for a in accounts(inventory_tree(tmp_path)))
    for cls in (EmptyPassword, DefaultPassword, WeakPasswordHash):
        result = run(cls, tmp_path)
        assert result.findings == [] and result.compliance == [] and result.conditions == []


@needs_corpus
@pytest.mark.corpus
def test_fact_passwd_bin_embedded_hashes_cracked(tmp_path):
    # test_process_object_password_in_binary_file: johndoe:123456 (unix) and max:dragon (http).
    (tmp_path / "usr" / "lib").mkdir(parents=True)
    shutil.copyfile(FACT / "users_and_passwords__passwd.bin", tmp_path / "usr" / "lib" / "passwd.bin")
    found = accounts(inventory_tree(tmp_path))
    assert sorted((a.user, a.scheme) for a in found) == [("johndoe", "sha512"), ("max", "apr1")]
    result = run(DefaultPassword, tmp_path)
    details = sorted(f.evidence.detail.split(":")[0] + "=" + f.evidence.detail.split("recovered password ")[1].split(" ")[0] for f in result.findings)
    assert details == ["http account 'max'='dragon'", "unix account 'johndoe'='123456'"]
    assert all(f.evidence.path == "/usr/lib/passwd.bin" and f.evidence.offset is not None for f in result.findings)
