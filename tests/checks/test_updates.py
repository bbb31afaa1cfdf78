"""Update mechanism and secure boot: fixtures that fail, pass and stay silent; FIT images made with mkimage."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from surface_helpers import make_tree, run

from iotcop.checks.updates.clients import update_clients
from iotcop.checks.updates.secure_boot import SecureBoot, secure_boot_facts
from iotcop.checks.updates.update_mechanism import UpdateMechanism
from iotcop.firmware.inventory import inventory_tree

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}

HTTP_SCRIPT = """#!/bin/sh
# nightly firmware check
FW_URL=http://update.vendor.example/router/fw.bin
wget -q -O /tmp/fw.bin "$FW_URL"
md5sum /tmp/fw.bin
mtd -r write /tmp/fw.bin firmware
"""

SIGNED_SCRIPT = """#!/bin/sh
URL=https://update.vendor.example/router
curl -fsS -o /tmp/fw.bin "$URL/fw.bin" && curl -fsS -o /tmp/fw.sig "$URL/fw.sig"
openssl dgst -sha256 -verify /etc/update/fw.pub -signature /tmp/fw.sig /tmp/fw.bin || exit 1
sysupgrade /tmp/fw.bin
"""


def _facts(result):
    return {(c.condition, c.holds) for c in result.conditions}


def test_http_download_without_signature_fails_with_the_chain(tmp_path):
    make_tree(tmp_path, {**BASE, "usr/sbin/fw-check": HTTP_SCRIPT, "etc/crontabs/root": "0 3 * * * /usr/sbin/fw-check\n"})
    result = run(UpdateMechanism, tmp_path)
    assert _facts(result) == {(11, True), (12, True)}
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.severity.value == "high" and f.evidence.path == "/usr/sbin/fw-check"
    assert "Updates downloaded without encryption or signature check" in f.title
    assert "fetch:" in f.evidence.detail and "verify: no signature check found" in f.evidence.detail
    assert "install: /usr/sbin/fw-check:6 mtd -r write" in f.evidence.detail
    assert set(f.provisions) == {"5.3-2", "5.3-7", "5.3-9", "5.3-10"}
    assert result.compliance == []


def test_signed_https_update_is_compliant(tmp_path):
    make_tree(tmp_path, {**BASE, "usr/sbin/fw-update": SIGNED_SCRIPT, "etc/update/fw.pub": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
                         "etc/crontabs/root": "15 4 * * * /usr/sbin/fw-update\n"})
    result = run(UpdateMechanism, tmp_path)
    assert result.findings == []
    assert _facts(result) == {(11, True), (12, True)}
    assert {c.provision for c in result.compliance} == {"5.3-2", "5.3-4", "5.3-9", "5.3-10"}
    assert any(e.path == "/etc/update/fw.pub" for c in result.compliance for e in c.evidence)


def test_signature_check_without_a_shipped_key_is_not_compliance(tmp_path):
    make_tree(tmp_path, {**BASE, "usr/sbin/fw-update": SIGNED_SCRIPT})
    result = run(UpdateMechanism, tmp_path)
    assert result.findings == [] and result.compliance == []


def test_https_without_signature_is_a_medium_finding(tmp_path):
    make_tree(tmp_path, {**BASE, "usr/sbin/fw-update": SIGNED_SCRIPT.replace("openssl dgst", "echo skipped openssl")})
    result = run(UpdateMechanism, tmp_path)
    assert [(f.severity.value, f.title) for f in result.findings] == [("medium", "Updates installed without a signature check (update script)")]


def test_https_with_certificate_checks_off_counts_as_plain(tmp_path):
    script = SIGNED_SCRIPT.replace("curl -fsS", "curl -k -fsS").replace("openssl dgst", "echo no")
    make_tree(tmp_path, {**BASE, "usr/sbin/fw-update": script})
    assert [f.severity.value for f in run(UpdateMechanism, tmp_path).findings] == ["high"]


def test_opkg_feeds(tmp_path):
    feeds = "src/gz core http://downloads.vendor.example/packages/core\nsrc/gz base http://downloads.vendor.example/packages/base\n"
    make_tree(tmp_path / "plain", {**BASE, "etc/opkg.conf": "dest root /\nlists_dir ext /var/opkg-lists\n", "etc/opkg/distfeeds.conf": feeds})
    make_tree(tmp_path / "signed", {**BASE, "etc/opkg.conf": "dest root /\noption check_signature\n", "etc/opkg/distfeeds.conf": feeds,
                                     "etc/opkg/keys/b5043e70f9a75cde": "untrusted comment: public key b5043e70f9a75cde\nRWS1BD5w+adc3mqnbtG8kGx5bGiTMcLb1IOxbCpuFrOm8JbS2dWzSCp\n"})
    make_tree(tmp_path / "nokey", {**BASE, "etc/opkg.conf": "option check_signature\n", "etc/opkg/distfeeds.conf": feeds})
    plain = run(UpdateMechanism, tmp_path / "plain")
    assert [f.evidence.path for f in plain.findings] == ["/etc/opkg/distfeeds.conf"] and plain.findings[0].severity.value == "high"
    signed = run(UpdateMechanism, tmp_path / "signed")
    assert signed.findings == [] and {c.provision for c in signed.compliance} == {"5.3-2", "5.3-9", "5.3-10"}
    nokey = run(UpdateMechanism, tmp_path / "nokey")
    assert [(f.severity.value, f.title) for f in nokey.findings] == [("low", "opkg signature checking has no key to check against")]
    assert nokey.compliance == []


def test_rauc_mender_and_swupdate(tmp_path):
    make_tree(tmp_path / "rauc", {**BASE, "etc/rauc/system.conf": "[system]\ncompatible=demo\n[keyring]\npath=ca.cert.pem\n", "etc/rauc/ca.cert.pem": "cert"})
    make_tree(tmp_path / "mender", {**BASE, "etc/mender/mender.conf": '{"ServerURL": "https://hosted.mender.io", "ArtifactVerifyKey": "/etc/mender/artifact-verify-key.pem", "UpdatePollIntervalSeconds": 1800}',
                                     "etc/mender/artifact-verify-key.pem": "key"})
    make_tree(tmp_path / "swu", {**BASE, "etc/swupdate.cfg": 'globals : {\n  public-key-file = "/etc/swupdate/public.pem";\n};\n'})
    rauc = run(UpdateMechanism, tmp_path / "rauc")
    assert rauc.findings == [] and {c.provision for c in rauc.compliance} == {"5.3-2", "5.3-9"}
    mender = run(UpdateMechanism, tmp_path / "mender")
    assert mender.findings == [] and {c.provision for c in mender.compliance} == {"5.3-2", "5.3-4", "5.3-9", "5.3-10"}
    swu = run(UpdateMechanism, tmp_path / "swu")
    assert swu.findings == [] and swu.compliance == []  # the key file is not in the image
    assert _facts(swu) == {(12, True)}


def test_cgi_upload_handler_is_a_local_mechanism(tmp_path):
    cgi = "#!/bin/sh\n[ \"$CONTENT_LENGTH\" -gt 0 ] && cat > /tmp/upload.bin\nmtd write /tmp/upload.bin firmware\n"
    make_tree(tmp_path, {**BASE, "www/cgi-bin/upgrade.cgi": cgi})
    result = run(UpdateMechanism, tmp_path)
    assert [c.kind for c in update_clients(inventory_tree(tmp_path))] == ["cgi"]
    assert _facts(result) == {(12, True)} and result.findings == []


def test_elf_updater_with_http_url_and_no_verification(tmp_path):
    src = tmp_path / "u.c"
    src.write_text('#include <stdlib.h>\nint main(void){ system("wget -O /tmp/f http://fw.vendor.example/latest.bin"); '
                   'return system("cat /tmp/f > /dev/mtdblock3"); }\n')
    make_tree(tmp_path / "root", BASE)
    (tmp_path / "root/usr/bin").mkdir(parents=True)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "root/usr/bin/fwupgrade"), str(src)], check=True, timeout=60)
    result = run(UpdateMechanism, tmp_path / "root")
    assert [(f.evidence.path, f.severity.value, f.confidence) for f in result.findings] == [("/usr/bin/fwupgrade", "high", "likely")]


def test_no_update_mechanism_says_nothing(tmp_path):
    make_tree(tmp_path, {**BASE, "etc/init.d/backup": "#!/bin/sh\nmtd read config /tmp/config.bak\n",
                         "usr/share/doc/upgrade.txt": "run: wget http://example.com/fw.bin; mtd write fw.bin firmware\n"})
    result = run(UpdateMechanism, tmp_path)
    assert result.findings == [] and result.compliance == [] and result.conditions == []


# -- secure boot -----------------------------------------------------------------------------------

ITS = """/dts-v1/;
/ {
    description = "test";
    #address-cells = <1>;
    images {
        kernel-1 {
            data = /incbin/("kernel.bin");
            type = "kernel"; arch = "arm"; os = "linux"; compression = "none";
            load = <0x8000>; entry = <0x8000>;
            hash-1 { algo = "sha256"; };
        };
    };
    configurations {
        default = "conf-1";
        conf-1 {
            kernel = "kernel-1";
            SIGNATURE
        };
    };
};
"""


@pytest.fixture(scope="module")
def fit_images(tmp_path_factory):
    for tool in ("mkimage", "dtc", "openssl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (scripts/setup installs it)")
    d = tmp_path_factory.mktemp("fit")
    (d / "kernel.bin").write_bytes(bytes(range(256)) * 16)
    subprocess.run(["openssl", "genrsa", "-out", str(d / "dev.key"), "2048"], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "req", "-batch", "-new", "-x509", "-key", str(d / "dev.key"), "-out", str(d / "dev.crt"), "-subj", "/CN=dev"],
                   check=True, capture_output=True, timeout=60)
    (d / "signed.its").write_text(ITS.replace("SIGNATURE", 'signature-1 { algo = "sha256,rsa2048"; key-name-hint = "dev"; sign-images = "kernel"; };'))
    (d / "plain.its").write_text(ITS.replace("SIGNATURE", ""))
    (d / "ub.dts").write_text('/dts-v1/;\n/ { model = "u-boot"; };\n')
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "u-boot.dtb"), str(d / "ub.dts")], check=True, capture_output=True, timeout=60)
    subprocess.run(["mkimage", "-f", "signed.its", "-k", ".", "-K", "u-boot.dtb", "-r", "signed.itb"], cwd=d, check=True, capture_output=True, timeout=60)
    subprocess.run(["mkimage", "-f", "plain.its", "plain.itb"], cwd=d, check=True, capture_output=True, timeout=60)
    return d


def test_required_verified_boot_key_is_compliance(tmp_path, fit_images):
    root = make_tree(tmp_path, BASE)
    (root / "boot").mkdir()
    for name in ("signed.itb", "u-boot.dtb"):
        shutil.copy(fit_images / name, root / "boot" / name)
    result = run(SecureBoot, root)
    assert result.findings == []
    assert [c.provision for c in result.compliance] == ["5.7-1"]
    assert "required=conf" in result.compliance[0].statement


def test_unsigned_fit_and_verify_off_fire(tmp_path, fit_images):
    root = make_tree(tmp_path, {**BASE, "boot/uEnv.txt": "bootdelay=0\nverify=n\nbootcmd=bootm 0x80000000\n"})
    shutil.copy(fit_images / "plain.itb", root / "boot/kernel.itb")
    result = run(SecureBoot, root)
    assert sorted(f.title for f in result.findings) == ["FIT image is not signed", "U-Boot image verification switched off (verify=n)"]
    assert result.compliance == []


def test_signed_fit_alone_is_not_enough_for_compliance(tmp_path, fit_images):
    root = make_tree(tmp_path, BASE)
    shutil.copy(fit_images / "signed.itb", root / "kernel.itb")
    fits, keys = secure_boot_facts(inventory_tree(root))
    assert [(f.path, f.signatures) for f in fits] == [("/kernel.itb", ["/configurations/conf-1/signature-1"])] and keys == []
    result = run(SecureBoot, root)
    assert result.findings == [] and result.compliance == []
