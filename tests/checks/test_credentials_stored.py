"""Credentials outside the account files: configuration, scripts, binaries, shared hashes, derivation, first use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iotcop.checks.credentials import crypt
from iotcop.checks.credentials.derived import DerivedPassword, FirstUsePassword
from iotcop.checks.credentials.hardcoded import (
    BinaryPassword,
    ConfigPassword,
    ScriptPassword,
    SharedPasswordHash,
    binary_credentials,
    script_credentials,
)
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree


def make_tree(root: Path, files: dict) -> Path:
    for rel, content in files.items():
        mode = None
        if isinstance(content, tuple):
            content, mode = content
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        if mode is not None:
            os.chmod(target, mode)
    return root


def run(cls, root: Path, files: dict):
    result = run_check_inline(cls, inventory_tree(make_tree(root, files)))
    assert result.status == "ran", result.error
    return result


PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/usr/sbin:/bin/false\n"

# -- fixtures: (files, expected findings) ------------------------------------------------------

CONFIG_FIRE = {
    "uci-password": ({"etc/config/ddns": "config service 'myddns'\n\toption username 'me'\n\toption password 'Dyn4mic!'\n"}, 1),
    "uci-key": ({"etc/config/cloud": "config cloud 'main'\n\toption key 'k3yV4lue9'\n"}, 1),
    "nvram-default": ({"etc/nvram.default": "lan_ipaddr=192.168.0.1\nhttp_username=admin\nhttp_passwd=admin\npppoe_passwd=isp1234\n"}, 2),
    "nvram-binary": ({"etc/default.nvram": b"lan_ipaddr=192.168.0.1\x00http_passwd=R0uter#1\x00"}, 1),
    "ini": ({"etc/app/app.ini": "[server]\nadmin_password = Sup3rAdm1n\n"}, 1),
    "json": ({"usr/share/app/config.json": '{"user": "admin", "password": "hunter22"}\n'}, 1),
    "xml": ({"etc/web/users.xml": "<User><Name>admin</Name><Password>1234abcd</Password></User>\n"}, 1),
    "backup": ({"etc/config/backup/system.bak": "admin_password=admin\n"}, 1),
}
CONFIG_QUIET = {
    "nsswitch": {"etc/nsswitch.conf": "passwd: files\nshadow: files\n"},
    "placeholder": {"etc/app/app.ini": "password = ${ADMIN_PASSWORD}\npasswd=\npassword = changeme_placeholder\n"},
    "path": {"etc/app/app.conf": "password_file = /etc/app/pw\npassword = /run/secret\n"},
    "hash": {"etc/app/app.conf": "password = $6$saltsalt$" + "a" * 86 + "\n"},
    "comment": {"etc/config/ddns": "config service 'x'\n#\toption password 'old'\n"},
    "prose": {"etc/notes.txt": "Password is required before use\n"},
    "wifi-only": {"etc/config/wireless": "config wifi-iface 'a'\n\toption key 'WifiPass123'\n"},
    "wep-index": {"etc/config/wireless": "config wifi-iface 'a'\n\toption encryption 'wep'\n\toption key '1'\n"},
    "policy": {"etc/login.defs": "PASS_MAX_DAYS 99999\nPASS_MIN_LEN 8\n"},
}


@pytest.mark.parametrize("name", sorted(CONFIG_FIRE))
def test_config_password_fires(tmp_path, name):
    files, expected = CONFIG_FIRE[name]
    found = run(ConfigPassword, tmp_path, files).findings
    assert len(found) == expected, [f.evidence for f in found]
    assert all("universal default password" in f.evidence.detail for f in found)


@pytest.mark.parametrize("name", sorted(CONFIG_QUIET))
def test_config_password_stays_quiet(tmp_path, name):
    assert run(ConfigPassword, tmp_path, CONFIG_QUIET[name]).findings == []


def test_config_password_known_default_is_critical(tmp_path):
    found = run(ConfigPassword, tmp_path, CONFIG_FIRE["nvram-default"][0]).findings
    sev = {f.evidence.line: f.severity.value for f in found}
    assert sev == {3: "critical", 4: "high"}  # 'admin' is a public default, 'isp1234' is not


SCRIPT_FIRE = {
    "chpasswd": ("echo root:admin | chpasswd\n", "admin"),
    "chpasswd-quoted": ("echo 'support:S3cret!x' | /usr/sbin/chpasswd\n", "S3cret!x"),
    "passwd-pipe": ('echo -e "toor99\\ntoor99" | passwd root\n', "toor99"),
    "passwd-twice": ("(echo Pa55w0rd; echo Pa55w0rd) | passwd admin\n", "Pa55w0rd"),
    "passwd-stdin": ("echo hunter2 | passwd --stdin admin\n", "hunter2"),
    "htpasswd": ("htpasswd -cb /etc/httpd.users admin W3bAdmin\n", "W3bAdmin"),
    "sshpass": ("sshpass -p r3mote ssh support@10.0.0.1 uptime\n", "r3mote"),
    "curl-user": ("curl -u admin:Cl0udPw https://example.invalid/api\n", "Cl0udPw"),
    "variable": ("PW=Fact0ry1\necho \"root:$PW\" | chpasswd\n", "Fact0ry1"),
    "nvram-set": ("nvram set http_passwd=admin123\n", "admin123"),
    "usermod": ("usermod -p '$1$abc$0123456789012345678901' root\n", "$1$abc$0123456789012345678901"),
}
SCRIPT_QUIET = {
    "runtime-value": 'PW=$(cat /sys/class/net/eth0/address)\necho "root:$PW" | chpasswd\n',
    "interactive": "passwd root\n",
    "read-var": 'read -s PW\necho "root:$PW" | chpasswd\n',
    "comment": "# echo root:admin | chpasswd\n",
    "curl-no-user": "curl -s https://example.invalid/x -o /tmp/x\n",
    "unrelated-p": "mkdir -p /var/run\nhttpd -p 80 -h /www\n",
}


@pytest.mark.parametrize("name", sorted(SCRIPT_FIRE))
def test_script_password_fires(tmp_path, name):
    body, password = SCRIPT_FIRE[name]
    found = run(ScriptPassword, tmp_path, {"etc/init.d/S10setup": "#!/bin/sh\n" + body}).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert password in found[0].evidence.detail


@pytest.mark.parametrize("name", sorted(SCRIPT_QUIET))
def test_script_password_stays_quiet(tmp_path, name):
    assert run(ScriptPassword, tmp_path, {"etc/init.d/S10setup": "#!/bin/sh\n" + SCRIPT_QUIET[name]}).findings == []


def test_script_credentials_reports_line_and_account():
    hits = script_credentials("#!/bin/sh\nset -e\necho root:admin | chpasswd\n")
    assert hits == [(3, "chpasswd", "root", "admin", "echo root:admin | chpasswd")]


# -- binaries ----------------------------------------------------------------------------------


def _elf(*strings: bytes) -> bytes:
    body = b"\x00".join(strings)
    return b"\x7fELF\x01\x01\x01" + b"\x00" * 57 + b"\x00" * 64 + b"\x00" + body + b"\x00" + b"\x00" * 64


BINARY_FIRE = {
    "mirai-pair": _elf(b"Enter password:", b"root", b"xc3511", b"login ok"),
    "inline": _elf(b"GET /login.cgi", b"password=Backd00r!", b"Location: /"),
}
BINARY_QUIET = {
    "no-marker": _elf(b"root", b"xc3511", b"hello world"),
    "prompt-only": _elf(b"Password:", b"Login incorrect", b"root"),
    "format-string": _elf(b"password=%s", b"login"),
    "word-password": _elf(b"login", b"admin", b"password"),
    "bypassword": _elf(b"login", b"bypassword=abcd1234"),
}


@pytest.mark.parametrize("name", sorted(BINARY_FIRE))
def test_binary_password_fires(tmp_path, name):
    found = run(BinaryPassword, tmp_path, {"usr/sbin/webd": BINARY_FIRE[name]}).findings
    assert len(found) == 1, [f.evidence for f in found]


@pytest.mark.parametrize("name", sorted(BINARY_QUIET))
def test_binary_password_stays_quiet(tmp_path, name):
    assert run(BinaryPassword, tmp_path, {"usr/sbin/webd": BINARY_QUIET[name]}).findings == []


def test_binary_pair_names_user_and_password():
    hits = binary_credentials(_elf(b"Password:", b"root", b"xc3511"))
    assert [(k, u, p) for _, k, u, p in hits] == [("pair", "root", "xc3511")]


# -- shared hashes -----------------------------------------------------------------------------


def test_shared_hash_fires_for_two_accounts(tmp_path):
    h = crypt.crypt("k7#Vq9!zR2@pLm", "$6$saltsalt")
    found = run(SharedPasswordHash, tmp_path, {
        "etc/passwd": PASSWD + "admin:x:1000:1000::/home/admin:/bin/sh\n",
        "etc/shadow": f"root:{h}:19000::::::\nadmin:{h}:19000::::::\n",
    }).findings
    assert len(found) == 1 and "'admin', 'root'" in found[0].title


def test_shared_hash_quiet_for_backup_copy_and_distinct_salts(tmp_path):
    h1 = crypt.crypt("k7#Vq9!zR2@pLm", "$6$saltsalt")
    h2 = crypt.crypt("k7#Vq9!zR2@pLm", "$6$othersal")
    found = run(SharedPasswordHash, tmp_path, {
        "etc/shadow": f"root:{h1}:19000::::::\nadmin:{h2}:19000::::::\n",
        "etc/shadow-": f"root:{h1}:19000::::::\n",
    }).findings
    assert found == []


# -- derived -----------------------------------------------------------------------------------

DERIVED_FIRE = {
    "mac-md5-chpasswd": (
        "MAC=$(cat /sys/class/net/eth0/address)\n"
        "PW=$(echo -n \"$MAC\" | md5sum | cut -c1-8)\n"
        "echo \"root:$PW\" | chpasswd\n", "mac address"),
    "nvram-mac-wifi": (
        "KEY=$(nvram get et0macaddr | tr -d ':' | tail -c 9)\n"
        "uci set wireless.@wifi-iface[0].key=$KEY\n", "mac address"),
    "serial-direct": (
        "SN=$(fw_printenv -n serial)\n"
        "nvram set http_passwd=$SN\n", "serial number"),
    "one-line": ("echo \"admin:$(cat /sys/class/net/br-lan/address | sha256sum | cut -c1-10)\" | chpasswd\n", "mac address"),
}
DERIVED_QUIET = {
    "hmac": (
        "MAC=$(cat /sys/class/net/eth0/address)\n"
        "PW=$(echo -n \"$MAC\" | openssl dgst -sha256 -hmac \"$(cat /factory/secret)\" | cut -c1-12)\n"
        "echo \"root:$PW\" | chpasswd\n"),
    "mac-not-password": ("MAC=$(cat /sys/class/net/eth0/address)\nlogger \"booting $MAC\"\n"),
    "random": ("PW=$(head -c 12 /dev/urandom | base64)\necho \"root:$PW\" | chpasswd\n"),
}


@pytest.mark.parametrize("name", sorted(DERIVED_FIRE))
def test_derived_password_fires(tmp_path, name):
    body, kind = DERIVED_FIRE[name]
    found = run(DerivedPassword, tmp_path, {"etc/uci-defaults/99-pw": "#!/bin/sh\n" + body}).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert kind in found[0].title and "no keyed hash" in found[0].evidence.detail


@pytest.mark.parametrize("name", sorted(DERIVED_QUIET))
def test_derived_password_stays_quiet(tmp_path, name):
    assert run(DerivedPassword, tmp_path, {"etc/uci-defaults/99-pw": "#!/bin/sh\n" + DERIVED_QUIET[name]}).findings == []


# -- first use ---------------------------------------------------------------------------------

FIRSTBOOT = {
    "etc/passwd": PASSWD,
    "etc/shadow": "root:!:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    "etc/uci-defaults/10-setpw": "#!/bin/sh\necho 'Set the administrator password'\nwhile ! passwd root; do :; done\n",
}


def test_first_use_compliance_when_locked_and_forced(tmp_path):
    result = run(FirstUsePassword, tmp_path, FIRSTBOOT)
    assert result.findings == []
    assert [c.provision for c in result.compliance] == ["5.1-1"]
    statement = result.compliance[0].statement
    assert "locked or expired" in statement and "/etc/uci-defaults/10-setpw:3" in statement


def test_first_use_expired_password_counts_as_forced(tmp_path):
    files = dict(FIRSTBOOT)
    files["etc/uci-defaults/10-setpw"] = "#!/bin/sh\npasswd -e root\n"
    assert len(run(FirstUsePassword, tmp_path, files).compliance) == 1


@pytest.mark.parametrize("change", [
    {"etc/shadow": "root:$1$Vz9nR2kq$TqOtA2z.O5QOSso/DwZyg.:19000:0:99999:7:::\n"},  # a usable hash ships
    {"etc/shadow": "root::19000:0:99999:7:::\n"},  # empty password
    {"etc/uci-defaults/10-setpw": "#!/bin/sh\necho 'root:admin' | chpasswd\n"},  # literal password set instead
    {"etc/uci-defaults/10-setpw": "#!/bin/sh\n# passwd root\n"},  # only a comment
    {"etc/config/wireless": "config wifi-iface 'a'\n\toption key 'WifiPass123'\n"},  # a Wi-Fi password ships
    {"www/.htpasswd": "admin:$apr1$4dm1nW3b$NrkJWGYaBFEAaY4fHaOKe/\n"},  # web password ships
])
def test_first_use_no_compliance_without_solid_evidence(tmp_path, change):
    files = dict(FIRSTBOOT)
    files.update(change)
    assert run(FirstUsePassword, tmp_path, files).compliance == []


def test_first_use_silent_image_gives_nothing(tmp_path):
    result = run(FirstUsePassword, tmp_path, {"etc/passwd": PASSWD, "etc/shadow": "root:!:19000::::::\n"})
    assert result.compliance == [] and result.findings == []
