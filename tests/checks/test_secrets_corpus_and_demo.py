"""The new credential, secret and communication checks on real samples: FACT_core fixtures and the demo images."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from support import corpus_file

from iotcop.checks.discovery import all_checks
from iotcop.checks.runner import run_check_inline, run_checks
from iotcop.context import ScanContext
from iotcop.firmware.extract import extract
from iotcop.firmware.inventory import build_firmware, inventory_tree

FAMILIES = ("credentials", "crypto", "secrets", "comms")
# Checks that judge account files and key material, whose FACT_core fixtures hold real ones (their own tests cover them).
EARLIER = {"credentials.empty-password", "credentials.default-password", "credentials.weak-password-hash", "crypto.private-key",
           "credentials.stored-password", "credentials.root-equivalent-account"}


def family_checks():
    return [c for c in all_checks() if c.ID.split(".")[0] in FAMILIES]


# FACT_core crypto_material and users_and_passwords fixtures, at plausible device paths.
FACT_PLACES = {
    "crypto_material__0x6C2DF2C5-pub.asc": "etc/keys/0x6C2DF2C5-pub.asc",
    "crypto_material__FP_test": "etc/keys/FP_test",
    "crypto_material__generic_public_key": "etc/keys/generic_public_key",
    "crypto_material__id_rsa": "root/.ssh/id_rsa",
    "crypto_material__id_rsa.pub": "root/.ssh/id_rsa.pub",
    "crypto_material__id_rsa_encrypted": "root/.ssh/id_rsa_encrypted",
    "crypto_material__pkcs": "etc/ssl/private/device.key.der",
    "crypto_material__pkcs12": "etc/ssl/private/device.p12",
    "crypto_material__pkcs_fp.file": "etc/ssl/pkcs_fp.file",
    "crypto_material__ssl.crt": "etc/ssl/certs/ssl.crt",
    "crypto_material__ssl.key": "etc/ssl/private/ssl.key",
    "crypto_material__ssl_fp.file": "etc/ssl/ssl_fp.file",
    "users_and_passwords__passwd.bin": "usr/lib/passwd.bin",
    "users_and_passwords__passwd_FP_test": "etc/config/passwd_FP_test",
    "users_and_passwords__passwd_test": "etc/shadow",
}


@pytest.mark.corpus
def test_fact_core_fixtures_raise_nothing_in_the_new_checks(tmp_path):
    for name, device_path in FACT_PLACES.items():
        target = tmp_path / device_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus_file("FACT_core", name), target)
    fw = inventory_tree(tmp_path)
    for cls in family_checks():
        if cls.ID in EARLIER:
            continue
        result = run_check_inline(cls, fw)
        assert result.status == "ran", result.error
        # account files and key material are the earlier checks' business; none of these is a config password,
        # a token, a Wi-Fi key, a plaintext service or a self-signed certificate with its key
        assert result.findings == [], (cls.ID, [(f.title, f.evidence.path) for f in result.findings])
        assert result.compliance == [], cls.ID  # shadow holds usable passwords: no first-use evidence


# -- demo images -----------------------------------------------------------------------------------


def _runs(image) -> dict:
    work = Path(tempfile.mkdtemp(prefix="iotcop-test-"))
    try:
        extraction = extract(image.image, work)
        fw = build_firmware(work, extraction.roots, extraction.extract_dir)
        return {r.check: r for r in run_checks(family_checks(), fw, ScanContext.default())}
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def vulnerable_runs(vulnerable_image):
    return _runs(vulnerable_image)


@pytest.fixture(scope="module")
def clean_runs(clean_image):
    return _runs(clean_image)


def _tail(path: str) -> str:
    return path.rsplit("_extract", 1)[-1] if path.startswith("<image>/") else path


@pytest.mark.slow
def test_vulnerable_demo_image_findings(vulnerable_runs):
    assert {r.status for r in vulnerable_runs.values()} == {"ran"}
    got = {(cid, _tail(f.evidence.path)) for cid, r in vulnerable_runs.items() if cid not in EARLIER for f in r.findings}
    assert got == {
        ("comms.http-admin", "/etc/lighttpd/lighttpd.conf"),
        ("comms.self-signed-cert", "/etc/ssl/certs/server.crt"),
        ("credentials.config-password", "/upper/etc/config/backup/wireless.bak"),
        # vendor factory defaults: a base64 admin password, a fixed WPS PIN, a MAC-derived SSH password
        ("credentials.config-password", "/etc/defaults/factory.xml"),
        ("secrets.wifi-psk", "/etc/defaults/factory.xml"),
        ("credentials.derived-password", "/etc/defaults/factory.xml"),
        ("credentials.authorized-key", "/root/.ssh/authorized_keys"),
        ("secrets.fixed-seed", "/etc/urandom.seed"),
        ("secrets.wifi-psk", "/upper/etc/config/backup/wireless.bak"),
        ("secrets.wifi-psk", "/upper/etc/config/wireless"),
        # The image's own modes (recorded before extraction) leave these secrets readable by every user.
        ("secrets.world-readable", "/etc/lighttpd/.htpasswd"),
        ("secrets.world-readable", "/etc/defaults/factory.xml"),
        ("secrets.world-readable", "/upper/etc/config/backup/wireless.bak"),
        ("secrets.world-readable", "/upper/etc/config/wireless"),
        ("secrets.world-readable", "/usr/share/app/cloud.pem"),
    }
    keys = {f.evidence.path: f for f in vulnerable_runs["crypto.private-key"].findings}
    assert "SSH host key baked into the image" in keys["/etc/dropbear/dropbear_ecdsa_host_key"].title
    assert "belongs to certificate /etc/ssl/certs/server.crt" in keys["/etc/ssl/private/server.key"].evidence.detail


@pytest.mark.slow
def test_clean_demo_image_gives_no_finding(clean_runs):
    assert {r.status for r in clean_runs.values()} == {"ran"}
    findings = [f for r in clean_runs.values() for f in r.findings]
    assert findings == [], [(f.check, f.title, f.evidence.path) for f in findings]
