"""Credentials the way vendors ship them: stored hashes are universal passwords, stores read by format,
encodings and vendor encryption, derived templates, binaries, seeds.  Small trees written here; ELF files
with key symbols are built with gcc."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from iotcop.checks.credentials import crypt
from iotcop.checks.credentials.derived import DerivedPassword
from iotcop.checks.credentials.hardcoded import BinaryPassword, ConfigPassword, ScriptPassword
from iotcop.checks.credentials.passwords import (
    EmptyPassword,
    RootEquivalentAccount,
    StoredPassword,
    WeakPasswordHash,
)
from iotcop.checks.credentials.settings import records, role_of, words
from iotcop.checks.runner import run_check_inline
from iotcop.checks.secrets.ciphers import SchemeError, decrypt_value, encrypt, known_keys, schemes
from iotcop.checks.secrets.cleartext import PasswordWrittenInClear
from iotcop.checks.secrets.keys import image_keys
from iotcop.checks.secrets.seeds import FixedRandomSeed
from iotcop.checks.secrets.symmetric import SymmetricKey
from iotcop.checks.secrets.tokens import WifiPsk
from iotcop.firmware.inventory import inventory_tree

STRONG = "k7#Vq9!zR2@pLm"  # in no word list: only the stored-password rule can report it
SHA512 = crypt.crypt(STRONG, "$6$saltsalt")
MD5 = crypt.crypt(STRONG, "$1$abcdefgh")


def tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    return root


def findings(cls, root: Path, files: dict | None = None):
    if files is not None:
        tree(root, files)
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result.findings


def gcc_library(folder: Path, source: str, name: str = "libvendor.so") -> bytes:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required (scripts/setup installs it)")
    src = folder / "vendor.c"
    src.write_text(source)
    out = folder / name
    subprocess.run(["gcc", "-shared", "-fPIC", "-O0", "-o", str(out), str(src)], check=True, capture_output=True,
                   timeout=60)
    data = out.read_bytes()
    out.unlink()
    src.unlink()
    return data


# -- rule 1: a stored hash of a login account is a universal default password ---------------------------------


def test_uncracked_root_hash_is_a_confirmed_universal_password_with_the_weak_hash_beside_it(tmp_path):
    files = {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/shadow": f"root:{MD5}:19000:0:99999:7:::\n"}
    stored = findings(StoredPassword, tmp_path, files)
    assert [(f.evidence.path, f.evidence.line, f.confidence, f.provisions) for f in stored] == \
        [("/etc/shadow", 1, "confirmed", ["5.1-1"])]
    assert stored[0].severity.value == "critical"
    weak = findings(WeakPasswordHash, tmp_path)
    assert [f.provisions for f in weak] == [["5.1-3"]]


def test_strong_hash_is_still_a_stored_password(tmp_path):
    found = findings(StoredPassword, tmp_path, {"etc/passwd": "root:x:0:0::/root:/bin/sh\n",
                                                "etc/shadow": f"root:{SHA512}:19000::::::\n"})
    assert len(found) == 1 and "whether or not it is cracked" in found[0].evidence.detail


@pytest.mark.parametrize("field", ["*", "!", "!!", f"!{SHA512}", "*LK*"])
def test_locked_accounts_give_no_finding(tmp_path, field):
    files = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/shadow": f"root:{field}:19000::::::\n"}
    assert findings(StoredPassword, tmp_path, files) == []
    assert findings(EmptyPassword, tmp_path) == []


def test_x_without_shadow_entry_and_nologin_accounts_give_no_finding(tmp_path):
    files = {"etc/passwd": ("root:x:0:0::/root:/bin/sh\n"
                            f"daemon:{MD5}:1:1::/:/usr/sbin/nologin\n"
                            "dropbear:x:500:500::/var/dropbear:/bin/sh\n")}
    assert findings(StoredPassword, tmp_path, files) == []


def test_commented_out_account_lines_give_no_finding(tmp_path):
    files = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/shadow": f"#root:{MD5}:19000::::::\nroot:*:19000::::::\n"}
    assert findings(StoredPassword, tmp_path, files) == []


@pytest.mark.parametrize("name", ["etc/passwd.bak", "etc/passwd_orig", "etc/pam/passwd", "var/defaults/pw.template"])
def test_account_files_are_recognised_by_content_whatever_their_name(tmp_path, name):
    found = findings(StoredPassword, tmp_path, {name: f"admin:{MD5}:0:0:root:/:/bin/sh\nnobody:*:65534:65534::/:/bin/false\n"})
    assert [(f.evidence.path, f.evidence.line) for f in found] == [("/" + name, 1)]
    assert "uid 0" in found[0].title and "second root" in found[0].title


def test_shadow_template_by_content(tmp_path):
    found = findings(StoredPassword, tmp_path, {"etc/shadow.sample": f"root:{MD5}:14587:0:99999:7:::\nnobody:*:14495:0:99999:7:::\n"})
    assert [(f.evidence.path, f.evidence.line) for f in found] == [("/etc/shadow.sample", 1)]


def test_empty_root_password_in_a_template_by_content(tmp_path):
    found = findings(EmptyPassword, tmp_path, {"etc/passwd_orig": "root::0:0:root:/:/bin/sh\nnobody:x:0:0::/:/dev/null\n"})
    assert [(f.evidence.path, f.evidence.line) for f in found] == [("/etc/passwd_orig", 1)]


def test_smbpasswd_nt_hash_is_stored_and_weak(tmp_path):
    files = {"etc/samba/smbpasswd_ori": (
        "root:0:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:41083D79D52BF485A04663361D557C8D:[U          ]:LCT-00000001:\n"
        "guest:1000:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:NO PASSWORDXXXXXXXXXXXXXXXXXXXXX:[NU         ]:LCT-00000001:\n")}
    stored = findings(StoredPassword, tmp_path, files)
    assert [(f.evidence.line, "Samba" in f.evidence.detail) for f in stored] == [(1, True)]
    weak = findings(WeakPasswordHash, tmp_path)
    assert len(weak) == 1 and "MD4" in weak[0].title


def test_passwd_lines_written_by_a_program_at_boot(tmp_path):
    binary = (b"\x7fELF\x01\x01\x01" + b"\x00" * 100 + b"echo \"root::0:0:root:/:/bin/sh\" > /var/passwd\x00"
              b"echo \"%s::0:0:guest:/:/bin/sh\" >> /var/passwd\x00echo root:%s | chpasswd -m\x00" + b"\x00" * 64)
    empty = findings(EmptyPassword, tmp_path, {"bin/cscripts": binary})
    assert [(f.evidence.offset is not None, f.confidence) for f in empty] == [(True, "likely")]
    assert "root" in empty[0].title
    second = findings(RootEquivalentAccount, tmp_path)
    assert [f.title for f in second] == ["A uid 0 account is created at run time (a second root)"]
    assert second[0].provisions == ["5.6-7"]


def test_script_writing_a_uid0_account_is_named(tmp_path):
    script = '#!/bin/sh\nadd_user() {\n  echo "$user::0:0:$user:/:$shell" >> /var/passwd\n}\n'
    found = findings(RootEquivalentAccount, tmp_path, {"etc/user.d/diag": script})
    assert [(f.evidence.path, f.evidence.line) for f in found] == [("/etc/user.d/diag", 3)]


def test_a_hash_in_an_account_file_and_loose_in_a_stream_is_one_finding(tmp_path):
    line = f"admin:{MD5}:0:0:root:/:/bin/sh\n"
    found = findings(StoredPassword, tmp_path, {"etc/passwd.bak": line, "var/blob.bin": b"\x00\x01" + line.encode() + b"\xff"})
    assert [f.evidence.path for f in found] == ["/etc/passwd.bak"]


# -- rule 2: vendor stores parsed as formats -------------------------------------------------------------------

BOA_CONF = "Port 80\nUser root\nUserFile /etc/conf.d/boa/userlist.conf\n"


def test_boa_user_list_named_by_its_server_config_has_empty_passwords(tmp_path):
    found = findings(EmptyPassword, tmp_path, {"app/edvr/boa.conf": BOA_CONF, "app/edvr/userlist.conf": "admin:\ndefault:\n"})
    assert sorted((f.evidence.path, f.evidence.line) for f in found) == [("/app/edvr/userlist.conf", 1),
                                                                          ("/app/edvr/userlist.conf", 2)]


def test_a_colon_list_without_a_server_naming_it_is_not_a_user_file(tmp_path):
    assert findings(EmptyPassword, tmp_path, {"app/edvr/userlist.conf": "admin:\ndefault:\n"}) == []


@pytest.mark.parametrize("key, role", [
    ("DefaultPasswd", "password"), ("superpass", "password"), ("Password_12", "password"), ("PassWord", "password"),
    ("Services_TR069_ACSPassword", "password"), ("WLANInterface_1_Config_WPADefaultKey", "wifi-psk"),
    ("UserName_12", "user"), ("ACSLogin", "user"), ("wps_pin", "wps-pin"), ("KeyPassphrase", "wifi-psk"),
    ("PasswordLength", None), ("password_file", None), ("bypass", None), ("DoMainName_12", None)])
def test_setting_roles_come_from_the_words_of_the_name(key, role):
    assert role_of(key) == role, words(key)


def test_xml_records_keep_lines_and_enclosing_settings():
    text = "<a>\n <Users>\n  <Username>admin</Username>\n  <Password></Password>\n </Users>\n</a>\n"
    rec = [r for r in records(text) if r.name == "a/Users"][0]
    assert [(f.key, f.value, f.line) for f in rec.fields] == [("Username", "admin", 3), ("Password", "", 4)]


def test_xml_refuses_entity_declarations():
    bomb = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx"><!ENTITY y "&x;&x;&x;">]><a><Password>&y;</Password></a>'
    assert records(bomb) == []


INI = """[DEFAULT_PASSWD]
bDefaultFromCfg=0
DefaultPasswd=admin

[USR]
WorkMode=1
superpass=909776

[DDNS_Cfg]
UserName_10=
Password_10=
UserName_12=vendoracct
Password_12=*963./8520
DoMainName_12=cam.example.org
"""


def test_ini_defaults_and_the_vendor_ddns_account(tmp_path):
    found = findings(ConfigPassword, tmp_path, {"app/edvr/Edvr.default": INI})
    got = {f.evidence.line: f for f in found}
    assert sorted(got) == [3, 7, 13]  # the empty template fields of slot 10 give nothing
    assert got[3].provisions == ["5.1-1", "5.4-1"] and "'admin'" in got[3].evidence.detail
    assert got[13].provisions == ["5.1-1", "5.4-1", "5.4-3"]
    assert "'vendoracct'" in got[13].evidence.detail and "DDNS" in got[13].evidence.detail


def test_shell_variable_defaults_pair_users_and_passwords(tmp_path):
    conf = ("User_List='1,2'\nUser_1_Username='root'\nUser_1_Password='AD0FCB4878A5B152'\n"
            "User_2_Username='admin'\nUser_2_Password='6277B1A647CBFCFC'\n"
            "Services_TR069_ACSLogin='acsclient'\nServices_TR069_ACSPassword='724EA2761D694C2C'\n"
            "Services_TR069_SrvLogin=''\nServices_TR069_SrvPassword=''\n")
    found = findings(ConfigPassword, tmp_path, {"etc/vendor/config.default/router.conf": conf})
    got = {f.evidence.line: f.evidence.detail for f in found}
    assert sorted(got) == [3, 5, 7]
    assert "for user 'root'" in got[3] and "for user 'admin'" in got[5]
    assert "for user 'acsclient'" in got[7] and "TR-069" in got[7]


def test_json_nested_objects(tmp_path):
    text = '{"cloud": {"mqtt": {"username": "dev01", "password": "Mq77!secret"}}, "ui": {"password_min": 8}}\n'
    found = findings(ConfigPassword, tmp_path, {"usr/share/app/settings.json": text})
    assert len(found) == 1 and found[0].evidence.line == 1 and "5.4-3" in found[0].provisions


def test_xml_account_with_an_empty_password_and_empty_templates(tmp_path):
    xml = ("<cfg>\n<Users>\n<Username>admin</Username>\n<Password></Password>\n</Users>\n"
           "<SIP>\n<UserName></UserName>\n<Password></Password>\n</SIP>\n</cfg>\n")
    found = findings(ConfigPassword, tmp_path, {"etc/defaults.xml": xml})
    assert [(f.evidence.line, f.title) for f in found] == [(4, "Account 'admin' with an empty password in the defaults")]


def test_no_finding_for_comments_placeholders_and_web_content(tmp_path):
    files = {
        "etc/app.ini": "[a]\n;password=hunter22\n# passwd=hunter22\npassword=${ADMIN_PW}\npassword=changeme_placeholder\n",
        "www/login.js": "var password = 'hunter22';\n",
        "etc/doc/model.xml": "<Device><Username/><Password/><ConnectionRequestPassword/></Device>\n",
    }
    assert findings(ConfigPassword, tmp_path, files) == []


WLAN_XML = """<WLAN>
<Interface>
<Isinuse>true</Isinuse><Enable>true</Enable>
<WPS><Enable>true</Enable><DevicePassword>12345678</DevicePassword></WPS>
<WPA><KeyPassphrase>%{SN2}</KeyPassphrase></WPA>
</Interface>
<Interface>
<Isinuse>false</Isinuse><Enable>false</Enable>
<WPS><Enable>true</Enable><DevicePassword>12345678</DevicePassword></WPS>
<WPA><KeyPassphrase>Fixed-Key-99</KeyPassphrase></WPA>
</Interface>
</WLAN>
"""


def test_fixed_wps_pin_reported_and_interfaces_not_in_use_quiet(tmp_path):
    found = findings(WifiPsk, tmp_path, {"etc/wlan.xml": WLAN_XML})
    assert [(f.evidence.line, f.title) for f in found] == [(4, "Fixed WPS PIN in the defaults")]


def test_shell_history_is_read_as_script_lines(tmp_path):
    found = findings(ScriptPassword, tmp_path, {"root/.ash_history": "ls\necho root:S3cr3t99 | chpasswd\nreboot\n"})
    assert [(f.evidence.path, f.evidence.line) for f in found] == [("/root/.ash_history", 2)]


# -- rule 3: encodings and vendor encryption --------------------------------------------------------------------


def test_base64_and_hex_values_are_reported_decoded(tmp_path):
    files = {"etc/config/luci": "config security 'admin'\n\toption username 'admin'\n\toption password 'YWRtaW4='\n",
             "etc/app.conf": "admin_password=53757065724d616e21\nservice_password=abcd1234\n"}
    found = findings(ConfigPassword, tmp_path, files)
    details = {f.evidence.path + f":{f.evidence.line}": f.evidence.detail for f in found}
    assert "literal password 'admin'" in details["/etc/config/luci:3"] and "base64" in details["/etc/config/luci:3"]
    assert "literal password 'SuperMan!'" in details["/etc/app.conf:1"]
    assert "literal password 'abcd1234'" in details["/etc/app.conf:2"]  # valid base64 of bytes, but not text: as is


def _des_b64(key: bytes, text: str) -> str:
    data = text.encode()
    data += b"\x00" * (-len(data) % 8)
    return base64.b64encode(encrypt("des-ecb", key, data)).decode()


def test_des_ecb_values_are_decrypted_with_the_key_of_a_library_symbol(tmp_path):
    key = b"k3y!Ab9z"
    lib = gcc_library(tmp_path, 'const unsigned char gEcbKey1[8] = {' + ",".join(str(b) for b in key) + '};\n'
                                'unsigned char gAesKey[32] = "0123456789abcdefFEDCBA9876543210";\n')
    xml = ("<cfg>\n<ManagementServer>\n<EnableCWMP>1</EnableCWMP>\n"
           f'<Username Encryption="0" Crypt_len="8">{_des_b64(key, "acs")}</Username>\n'
           f'<Password Encryption="0" Crypt_len="8">{_des_b64(key, "acs-Pw1")}</Password>\n'
           "</ManagementServer>\n</cfg>\n")
    root = tree(tmp_path / "fw", {"usr/lib/libvos.so": lib, "etc/defaults.xml": xml})
    found = findings(ConfigPassword, root)
    assert len(found) == 1
    f = found[0]
    assert f.evidence.line == 5 and "literal password 'acs-Pw1' for user 'acs'" in f.evidence.detail
    assert "gEcbKey1" in f.evidence.detail and "5.4-3" in f.provisions
    keys = findings(SymmetricKey, root)
    confidence = {f.evidence.excerpt.split(" ")[0]: f.confidence for f in keys if "data symbol" in f.title}
    assert confidence == {"gEcbKey1": "confirmed", "gAesKey": "likely"}  # only the first decrypts something
    config = [f for f in keys if f.evidence.path == "/etc/defaults.xml"]
    assert [(f.evidence.line, f.provisions) for f in config] == [(5, ["5.4-3"])]  # the config itself: 5.4-3


def test_encrypted_blob_in_a_binary_opens_with_the_image_key(tmp_path):
    key = b"k3y!Ab9z"
    lib = gcc_library(tmp_path, 'const unsigned char g_cfg_key[8] = {' + ",".join(str(b) for b in key) + '};\n')
    blob = _des_b64(key, "hidden(pw)")
    telnetd = b"\x7fELF\x01\x01\x01" + b"\x00" * 64 + b"Login as: \x00Password: \x00" + blob.encode() + b"\x00" + b"\x00" * 64
    root = tree(tmp_path / "fw", {"usr/lib/libcfg.so": lib, "bin/telnetd": telnetd})
    found = findings(BinaryPassword, root)
    assert [(f.title, f.confidence) for f in found] == [("Encrypted password compiled into a binary", "likely")]
    assert "'hidden(pw)'" in found[0].evidence.detail and found[0].evidence.offset is not None


def test_aes_ecb_scheme(tmp_path):
    key = b"0123456789abcdefFEDCBA9876543210"
    lib = gcc_library(tmp_path, 'unsigned char gAesKey[32] = "0123456789abcdefFEDCBA9876543210";\n')
    plain = b"Wifi-Secret-77"
    plain += bytes([16 - len(plain) % 16]) * (16 - len(plain) % 16)
    value = encrypt("aes-ecb", key, plain).hex()
    root = tree(tmp_path / "fw", {"lib/libc2.so": lib, "etc/wifi.conf": f"wpa_passphrase={value}\n"})
    opened = decrypt_value(value, list(image_keys(inventory_tree(root))))
    assert opened is not None and opened.plaintext == "Wifi-Secret-77" and opened.scheme.id == "aes-ecb-data-symbol"


def test_wrong_key_gives_no_plaintext(tmp_path):
    lib = gcc_library(tmp_path, 'const unsigned char gEcbKey1[8] = "other!!k";\n')
    root = tree(tmp_path / "fw", {"usr/lib/libvos.so": lib})
    assert decrypt_value(_des_b64(b"k3y!Ab9z", "acs-Pw1"), list(image_keys(inventory_tree(root)))) is None


def test_configuration_encrypted_with_a_published_vendor_key(tmp_path):
    import random

    key = known_keys()["tplink-config-des"].key
    rng = random.Random(7)  # settings with repeated values, as a real configuration has
    tokens = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8)) for _ in range(600)]
    xml = "".join(f"<v{i % 10}>{rng.choice(tokens)}{rng.choice(tokens)}</v{i % 10}>\n" for i in range(3000)).encode()
    xml += b"\x00" * (-len(xml) % 8)
    program = b"\x7fELF\x01\x01\x01" + b"\x00" * 200 + key + b"\x00" * 200
    root = tree(tmp_path / "fw", {"lib/libcmm.so": program, "etc/default_config.xml": encrypt("des-ecb", key, xml)})
    found = findings(SymmetricKey, root)
    by_path = {f.evidence.path: f for f in found}
    assert by_path["/lib/libcmm.so"].provisions == ["5.4-3"] and by_path["/lib/libcmm.so"].confidence == "confirmed"
    blob = by_path["/etc/default_config.xml"]
    assert blob.confidence == "confirmed" and "decrypts to text" in blob.evidence.detail


def test_random_data_is_not_an_encrypted_configuration(tmp_path):
    import os

    program = b"\x7fELF\x01\x01\x01" + b"\x00" * 200 + known_keys()["tplink-config-des"].key + b"\x00" * 200
    root = tree(tmp_path / "fw", {"lib/libcmm.so": program, "etc/blob.bin": os.urandom(64 * 1024)})
    assert [f.evidence.path for f in findings(SymmetricKey, root)] == ["/lib/libcmm.so"]


def test_scheme_data_is_validated():
    assert {s.id for s in schemes()} >= {"des-ecb-data-symbol", "aes-ecb-data-symbol", "tplink-config-des"}
    from iotcop.checks.secrets import ciphers

    with pytest.raises(SchemeError):
        ciphers._cipher("rot13", b"k", None)


# -- rule 4: derived and placeholder values ---------------------------------------------------------------------


def test_mac_and_serial_templates_go_to_the_derived_check(tmp_path):
    xml = ("<cfg>\n<Users>\n<Username>useradmin</Username>\n<Password>%{mac1}</Password>\n</Users>\n"
           "<WPA><KeyPassphrase>%{SN2}</KeyPassphrase></WPA>\n<X><Password>%{foo}</Password></X>\n</cfg>\n")
    found = findings(DerivedPassword, tmp_path, {"etc/defaults.xml": xml})
    assert sorted((f.evidence.line, f.title) for f in found) == [(4, "Password derived from the MAC address"),
                                                                  (6, "Wi-Fi key derived from the serial number")]
    assert all(f.provisions == ["5.1-1", "5.1-2"] for f in found)
    assert findings(ConfigPassword, tmp_path) == []  # templates and placeholders are not literal passwords


def test_vendor_tool_serial_into_a_wifi_key_setting(tmp_path):
    script = ("#!/bin/sh\nlocal SERIAL=`pzinfo serial`\nlocal KEY=`echo $SERIAL | cut -c1-10`\n"
              "cli -q <<EOF\n  sset WPADefaultKey $KEY\nEOF\n")
    found = findings(DerivedPassword, tmp_path, {"etc/vendor/factory.d/S10-wifi": script})
    assert [(f.evidence.line, f.title) for f in found] == [(5, "Password derived from the serial number")]


# -- rule 5: binaries ---------------------------------------------------------------------------------------------


def test_password_file_written_in_clear_into_a_world_writable_folder(tmp_path):
    lib = (b"\x7fELF\x01\x01\x01" + b"\x00" * 64 + b"uname = %s, pswd = %s\n\x00/var/tmp/sshd/sshdpwd\x00"
           b"username:%s\n\x00password:%s\n\x00" + b"\x00" * 64)
    rcs = "#!/bin/sh\n/bin/mkdir -m 0777 -p /var/tmp/sshd\n"
    found = findings(PasswordWrittenInClear, tmp_path, {"lib/libcmm.so": lib, "etc/init.d/rcS": rcs})
    titles = sorted(f.title for f in found)
    assert titles == ["Format string prints a user name and password (log or debug output)",
                      "Password written in clear text to /var/tmp/sshd/sshdpwd in a world-writable folder"]
    assert all(f.evidence.offset is not None and f.confidence == "likely" for f in found)


def test_url_queries_and_lone_formats_are_not_cleartext_files(tmp_path):
    lib = (b"\x7fELF\x01\x01\x01" + b"\x00" * 64 + b"http://%s/login?user=%s&password=%s\x00"
           b"password=%s\x00/usr/share/www\x00" + b"\x00" * 64)
    assert findings(PasswordWrittenInClear, tmp_path, {"usr/bin/webd": lib}) == []


# -- rule 6: leftovers ---------------------------------------------------------------------------------------------


def test_fixed_entropy_seed_copied_at_boot(tmp_path):
    seed = bytes(range(7, 7 + 21 * 11, 11))
    files = {"app/entropy.bin": seed, "app/initrun.sh": "#!/bin/sh\ncp /app/entropy.bin /tmp/entropy.bin\n"}
    found = findings(FixedRandomSeed, tmp_path, files)
    assert [(f.evidence.path, f.provisions, f.confidence) for f in found] == [("/app/entropy.bin", ["5.4-3"], "likely")]
    assert "/app/initrun.sh:2" in found[0].evidence.detail


def test_seed_fed_to_the_pool_whatever_its_name_and_no_finding_for_zeros_or_text(tmp_path):
    import os

    files = {"etc/boot.dat": os.urandom(512), "etc/init.d/S01seed": "#!/bin/sh\ncat /etc/boot.dat > /dev/urandom\n",
             "etc/random-seed": b"\x00" * 512, "etc/urandom.seed": "not random at all, just text\n" * 10}
    assert [f.evidence.path for f in findings(FixedRandomSeed, tmp_path, files)] == ["/etc/boot.dat"]


# -- authorized keys --------------------------------------------------------------------------------------------


def _ssh_public(comment: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " " + comment


def test_vendor_key_authorised_for_root_in_any_partition(tmp_path):
    from iotcop.checks.credentials.authorized_keys import AuthorizedKey

    key = _ssh_public("support@vendor")
    files = {"root/.ssh/authorized_keys": f"# vendor support\n{key}\n",
             "etc/dropbear/authorized_keys": f'no-pty,command="/bin/diag" {key}\n',
             "home/admin/.ssh/id_ed25519.pub": key + "\n",
             "root/.ssh/known_hosts": "192.168.1.1 " + key.rsplit(" ", 1)[0] + "\n",
             "etc/ssh/keys.disabled": f"#{key}\n",
             "overlay/upper/etc/vendor/support_keys": key + "\n"}
    found = findings(AuthorizedKey, tmp_path, files)
    assert sorted((f.evidence.path, f.title, f.confidence) for f in found) == [
        ("/etc/dropbear/authorized_keys", "SSH key authorised for 'root' ships in the image", "confirmed"),
        ("/overlay/upper/etc/vendor/support_keys", "SSH keys authorised to log in ship in the image", "likely"),
        ("/root/.ssh/authorized_keys", "SSH key authorised for 'root' ships in the image", "confirmed")]
    assert all(f.provisions == ["5.1-1", "5.5-4"] and "SHA256:" in f.evidence.detail for f in found)


def test_a_forged_key_line_is_not_a_key(tmp_path):
    from iotcop.checks.credentials.authorized_keys import parse_authorized_keys

    assert parse_authorized_keys("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIO7x comment\n") is None  # blob says ed25519


# -- private keys compiled into programs ----------------------------------------------------------------------


def test_der_and_pem_private_keys_compiled_into_a_program(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from iotcop.checks.crypto.private_keys import PrivateKey

    der = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    c_pem = pem.replace("\n", "\\n")
    lib = gcc_library(tmp_path, "const unsigned char device_key[] = {" + ",".join(str(b) for b in der) + "};\n"
                                f'const char *cloud_key = "{c_pem}";\n'
                                'const char *marker = "-----BEGIN RSA PRIVATE KEY-----";\n')
    found = findings(PrivateKey, tmp_path / "fw", {"usr/lib/libcloud.so": lib})
    assert sorted(f.evidence.excerpt[:10] for f in found) == sorted([der[:16].hex()[:10], "-----BEGIN"])
    assert all(f.confidence == "likely" and f.evidence.offset and "compiled into a program" in f.evidence.detail
               for f in found)
    assert lib[found[0].evidence.offset:found[0].evidence.offset + 2] in (der[:2], b"--")


# -- databases: web users and personal data ----------------------------------------------------------------------


def _sqlite(path: Path, script: str) -> bytes:
    import sqlite3

    con = sqlite3.connect(path)
    con.executescript(script)
    con.commit()
    con.close()
    data = path.read_bytes()
    path.unlink()
    return data


def test_web_user_table_in_sqlite(tmp_path):
    db = _sqlite(tmp_path / "x.db", "CREATE TABLE users (id INTEGER, username TEXT, password TEXT, level INT);"
                                    "INSERT INTO users VALUES (1, 'admin', 'Adm1n!2020', 9), (2, 'guest', '', 1);")
    found = findings(ConfigPassword, tmp_path / "fw", {"var/lib/web/users.db": db})
    got = {f.evidence.line: f for f in found}
    assert "'Adm1n!2020' for user 'admin'" in got[1].evidence.detail
    assert got[2].title == "Account 'guest' with an empty password in the defaults" and len(got) == 2


def test_personal_data_tables_and_no_finding_for_device_tables(tmp_path):
    from iotcop.checks.privacy.personal_data import PersonalDataAtRest

    people = _sqlite(tmp_path / "p.db", "CREATE TABLE customer (first_name TEXT, last_name TEXT, email TEXT, phone TEXT);"
                                        "INSERT INTO customer VALUES ('Ann', 'Lee', 'ann@example.com', '+44 20 0000 0000');")
    empty = _sqlite(tmp_path / "e.db", "CREATE TABLE customer (name TEXT, email TEXT, birthday TEXT);")
    devices = _sqlite(tmp_path / "d.db", "CREATE TABLE lease (hostname TEXT, mac TEXT, ip TEXT);"
                                         "INSERT INTO lease VALUES ('tv', '00:11:22:33:44:55', '192.168.1.9');")
    files = {"usr/share/app/crm.db": people, "usr/share/app/empty.db": empty, "usr/share/app/leases.db": devices,
             "root/export.csv": "Name;E-mail;Date of birth\nAnn Lee;ann@example.com;1980-01-01\n",
             "etc/models.csv": "model,firmware\nR1,1.0\n"}
    found = findings(PersonalDataAtRest, tmp_path / "fw", files)
    assert sorted((f.evidence.path, f.title) for f in found) == [
        ("/root/export.csv", "Personal data shipped in the image (birth date, e-mail, name)"),
        ("/usr/share/app/crm.db", "Personal data shipped in the image (e-mail, name, phone)")]
    assert all(f.provisions == ["5.8-1", "6-1"] and f.confidence == "likely" for f in found)


# -- end-of-life platforms ----------------------------------------------------------------------------------------


def test_kernel_branches_against_the_end_of_life_table():
    import datetime as dt

    from iotcop.checks.vulns.end_of_life import eol_table, kernel_branch_end

    table = eol_table()
    assert table.families["linux"]["source"] and table.as_of >= dt.date(2026, 1, 1)
    assert kernel_branch_end("3.10.90", table) == ("3.10", dt.date(2017, 11, 4))
    assert kernel_branch_end("2.6.36", table) == ("2.6.36", None)  # never longterm: ended with its successors
    assert kernel_branch_end("4.9.37", table)[1] == dt.date(2023, 1, 7)
    assert kernel_branch_end("99.1", table) is None


def test_end_of_life_distribution_and_a_declared_period_past_it(tmp_path):
    import yaml

    from iotcop.checks.vulns.end_of_life import EndOfLifePlatform
    from iotcop.context import ScanContext
    from iotcop.declaration import load_declaration

    root = tree(tmp_path / "fw", {"etc/openwrt_release": 'DISTRIB_ID="OpenWrt"\nDISTRIB_DESCRIPTION="OpenWrt Barrier Breaker 14.07"\n',
                                  "bin/busybox": b"\x7fELF placeholder"})
    fw = inventory_tree(root)
    plain = run_check_inline(EndOfLifePlatform, fw)
    assert [(f.title, f.provisions, f.confidence) for f in plain.findings] == [
        ("OpenWrt 14.07 is past the end of its upstream security support", ["5.3-8"], "likely")]

    decl = {"schema": "iotcop.declaration/1", "product": {"name": "R", "type": "router", "batch": "b1"},
            "manufacturer": {"name": "M", "address": "A"}, "model_designation": "X", "firmware_version": "1",
            "support": {"end_date": "2030-12-31", "published_url": "https://example.com/support"}}
    (tmp_path / "decl.yaml").write_text(yaml.safe_dump(decl))
    ctx = ScanContext(profile=ScanContext.default().profile, declaration=load_declaration(tmp_path / "decl.yaml"))
    declared = run_check_inline(EndOfLifePlatform, fw, ctx)
    assert sorted(f.provisions[0] for f in declared.findings) == ["5.3-13", "5.3-8"]


def test_maintained_releases_give_no_finding(tmp_path):
    from iotcop.checks.vulns.end_of_life import EndOfLifePlatform

    root = tree(tmp_path / "fw", {"etc/debian_version": "12.5\n", "bin/busybox": b"\x7fELF placeholder"})
    assert findings(EndOfLifePlatform, root) == []


# -- leftovers --------------------------------------------------------------------------------------------------------


def test_build_leftovers_and_copies_a_boot_script_installs(tmp_path):
    from iotcop.checks.surface.leftovers import LeftoverFiles

    files = {
        "etc/passwd": "root:x:0:0::/root:/bin/sh\n", "etc/passwd-": "root:ab8nBoH3mb8.g:0:0::/root:/bin/sh\n",
        "etc/passwd.bak": "admin:x:0:0::/:/bin/sh\n",  # rcS installs it: in use, not a leftover
        "etc/init.d/rcS": "#!/bin/sh\ncp -p /etc/passwd.bak /var/passwd\n",
        "etc/lighttpd.conf": "server.port = 80\n", "etc/lighttpd.conf.orig": "server.port = 8080\n",
        "etc/notes.old": "no base file beside it\n",
        "root/.bash_history": "ls\n", "www/.git/config": "[core]\n", "www/.git/HEAD": "ref: refs/heads/main\n",
        "setup.sh": "#!/bin/sh\nmake install\n", "bin/busybox": b"\x7fELF placeholder",
    }
    found = findings(LeftoverFiles, tmp_path, files)
    assert sorted((f.evidence.path, f.provisions[0]) for f in found) == [
        ("/etc/lighttpd.conf.orig", "5.6-6"), ("/etc/passwd-", "5.6-6"), ("/root/.bash_history", "5.6-6"),
        ("/setup.sh", "5.6-6"), ("/www/.git/HEAD", "5.6-6")]


def test_identifier_of_a_derived_key_published_by_discovery_protocols(tmp_path):
    files = {"etc/factory.d/S10-wifi": ("#!/bin/sh\nSERIAL=`pzinfo serial`\nKEY=`echo $SERIAL | cut -c1-10`\n"
                                        "cli -q <<EOF\nsset WPADefaultKey $KEY\nEOF\n"),
             "etc/factory.d/S70dlna": ("#!/bin/sh\nserial_number=$(pzinfo serial)\n"
                                       "echo \"cd _Services_DLNA_Description; sset SerialNumber $serial_number\" | cli -q\n")}
    found = findings(DerivedPassword, tmp_path, files)
    published = [f for f in found if f.provisions == ["5.6-2"]]
    assert [(f.evidence.path, f.evidence.line) for f in published] == [("/etc/factory.d/S70dlna", 3)]


def test_published_identifier_alone_is_not_reported(tmp_path):
    files = {"etc/factory.d/S70dlna": ("#!/bin/sh\nserial_number=$(pzinfo serial)\n"
                                       "echo \"cd _Services_DLNA_Description; sset SerialNumber $serial_number\" | cli -q\n")}
    assert findings(DerivedPassword, tmp_path, files) == []


def test_repeated_blocks_are_rows_goahead_user_table(tmp_path):
    umconfig = ("TABLE=users\nROW=0\nname=admin\npassword=Adm1nPass\ngroup=administrators\n"
                "ROW=1\nname=user\npassword=Us3rPass\ngroup=users\n")
    found = findings(ConfigPassword, tmp_path, {"etc/goahead/umconfig.txt": umconfig})
    got = {f.evidence.line: f.evidence.detail for f in found}
    assert "'Adm1nPass' for user 'admin'" in got[4] and "'Us3rPass' for user 'user'" in got[8]


def test_certificates_alone_give_no_key_or_secret_finding(tmp_path):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from iotcop.checks.crypto.private_keys import PrivateKey

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca.example")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    files = {"etc/ssl/certs/ca.pem": cert.public_bytes(serialization.Encoding.PEM),
             "etc/ssl/certs/ca.der": cert.public_bytes(serialization.Encoding.DER)}
    for cls in (PrivateKey, SymmetricKey, ConfigPassword, StoredPassword):
        assert findings(cls, tmp_path, files) == [], cls.ID


def test_missing_decrypter_means_stored_passwords_are_used_as_written(tmp_path):
    base = ('#!/bin/sh\nget_password() {\n  local cipher="$1"\n  if [ -f "/bin/aes_decrypt" ]; then\n'
            '    aes_decrypt "$cipher"\n  else\n    echo "$cipher"\n  fi\n}\n')
    found = findings(ConfigPassword, tmp_path, {"etc/vendor/lib/base": base})
    assert [(f.evidence.line, f.provisions) for f in found] == [(4, ["5.4-1"])]
    assert "/bin/aes_decrypt" in found[0].evidence.detail and "line 7" in found[0].evidence.detail
    # with the decrypter in the image the stored values are ciphertext indeed: nothing to report
    tree(tmp_path, {"bin/aes_decrypt": b"\x7fELF placeholder"})
    assert findings(ConfigPassword, tmp_path) == []


def test_shell_style_identifier_templates_in_configuration(tmp_path):
    files = {"etc/app/wifi.conf": "ssid=Home\nwpa_passphrase=$(cat /sys/class/net/eth0/address)\n",
             "etc/app/users.conf": "[admin]\nusername=admin\npassword=${ADMIN_PW}\n"}
    found = findings(DerivedPassword, tmp_path, files)
    assert [(f.evidence.path, f.title) for f in found] == [("/etc/app/wifi.conf", "Wi-Fi key derived from the MAC address")]


def test_flat_defaults_of_a_disabled_interface_are_quiet():
    from iotcop.checks.credentials.stored import secrets_in_text

    conf = ("WLANInterface_1_Enable=1\nWLANInterface_1_Config_WPADefaultKey='Fixed-Key-1'\n"
            "WLANInterface_2_Enable=0\nWLANInterface_2_Config_WPADefaultKey='Fixed-Key-2'\n")
    found = secrets_in_text("/etc/router.conf", conf)
    assert [(s.line, s.kind, s.value) for s in found] == [(2, "wifi-psk", "Fixed-Key-1")]


# -- account files the boot chain puts in place -------------------------------------------------------------------


def test_copies_installed_at_boot_are_confirmed_and_unused_samples_likely(tmp_path):
    files = {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS1::askfirst:/bin/login\n",
        "etc/init.d/rcS": ("#!/bin/sh\nmount -a\ncp -p /etc/passwd.bak /var/passwd\n"
                           "if [ -f /config/.DebugFlag ]; then\n  cp -v /app/passwd/* /etc/\nfi\n"),
        "etc/passwd.bak": f"admin:{MD5}:0:0:root:/:/bin/sh\n",
        "etc/shadow.sample": f"root:{MD5}:14587:0:99999:7:::\n",
        "app/passwd/shadow": f"root:{SHA512}:10933:0:99999:7:::\n",
        "bin/busybox": b"\x7fELF placeholder", "bin/login": b"\x7fELF placeholder", "sbin/init": b"\x7fELF placeholder",
    }
    root = tree(tmp_path / "fw", files)
    (root / "etc/passwd").symlink_to("/var/passwd")
    found = {f.evidence.path: f for f in findings(StoredPassword, root)}
    assert found["/etc/passwd.bak"].confidence == "confirmed"
    assert "/etc/init.d/rcS:3 installs it as /var/passwd at boot" in found["/etc/passwd.bak"].evidence.detail
    assert found["/app/passwd/shadow"].confidence == "confirmed"
    assert "installs it as /etc/shadow at boot when" in found["/app/passwd/shadow"].evidence.detail
    assert found["/etc/shadow.sample"].confidence == "likely"  # shipped, but nothing installs it
    assert "no script on the boot path installs this file" in found["/etc/shadow.sample"].evidence.detail
