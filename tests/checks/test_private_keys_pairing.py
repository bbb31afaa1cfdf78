"""crypto.private-key: PuTTY keys (made by the real puttygen), keys paired with certificates, SSH host keys."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from iotcop.checks.crypto.certificates import certificates
from iotcop.checks.crypto.private_keys import PrivateKey
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


def write(root: Path, files: dict) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    return root


def run(root: Path):
    result = run_check_inline(PrivateKey, inventory_tree(root))
    assert result.status == "ran", result.error
    return {f.evidence.path: f for f in result.findings}


def cert_pem(key, cn: str, issuer_key=None) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vendor CA")]) if issuer_key else name
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=3650))
            .sign(issuer_key or key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def puttygen(tmp: Path, name: str, *args: str, passphrase: str = "") -> bytes:
    pw = tmp / f"{name}.pw"
    pw.write_text(passphrase + "\n" if passphrase else "")
    out = tmp / name
    subprocess.run(["puttygen", *args, "-o", str(out), "--new-passphrase", str(pw)], check=True, capture_output=True, timeout=60)
    return out.read_bytes()


@pytest.fixture(scope="module")
def ppk_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ppk")
    files = {
        "v3-rsa": puttygen(tmp, "a.ppk", "-t", "rsa", "-b", "2048", "-O", "private"),
        "v2-rsa1024": puttygen(tmp, "b.ppk", "-t", "rsa", "-b", "1024", "--ppk-param", "version=2", "-O", "private"),
        "v3-ed25519-encrypted": puttygen(tmp, "c.ppk", "-t", "ed25519", "-O", "private", passphrase="s3cret"),
    }
    subprocess.run(["puttygen", str(tmp / "a.ppk"), "-O", "public", "-o", str(tmp / "d.pub")], check=True, capture_output=True, timeout=60)
    files["public"] = (tmp / "d.pub").read_bytes()
    return files


def test_putty_keys_are_found_with_type_size_and_encryption(tmp_path, ppk_files):
    write(tmp_path, {f"etc/vpn/{k}.ppk": v for k, v in ppk_files.items()})
    found = run(tmp_path)
    assert set(found) == {"/etc/vpn/v3-rsa.ppk", "/etc/vpn/v2-rsa1024.ppk", "/etc/vpn/v3-ed25519-encrypted.ppk"}
    assert "RSA 2048-bit" in found["/etc/vpn/v3-rsa.ppk"].title
    assert "PuTTY PPK v3" in found["/etc/vpn/v3-rsa.ppk"].evidence.detail
    assert "RSA 1024-bit" in found["/etc/vpn/v2-rsa1024.ppk"].title
    enc = found["/etc/vpn/v3-ed25519-encrypted.ppk"]
    assert enc.severity.value == "medium" and "Ed25519" in enc.title


def test_key_is_paired_with_its_certificate_only(tmp_path):
    write(tmp_path, {
        "etc/ssl/private/server.key": key_pem(RSA_KEY),
        "etc/ssl/certs/server.crt": cert_pem(RSA_KEY, "router.lan"),
        "etc/ssl/certs/other.crt": cert_pem(OTHER_KEY, "other.lan"),
        "etc/ssl/private/lonely.key": key_pem(OTHER_KEY.__class__ and ec.generate_private_key(ec.SECP384R1())),
    })
    found = run(tmp_path)
    detail = found["/etc/ssl/private/server.key"].evidence.detail
    assert "belongs to certificate /etc/ssl/certs/server.crt:1 (CN=router.lan, self-signed, RSA 2048-bit" in detail
    assert "other.crt" not in detail
    assert "belongs to certificate" not in found["/etc/ssl/private/lonely.key"].evidence.detail
    assert "384" in found["/etc/ssl/private/lonely.key"].title


def test_certificates_record_self_signed_and_issued(tmp_path):
    ca = ec.generate_private_key(ec.SECP256R1())
    write(tmp_path, {"etc/ssl/certs/a.crt": cert_pem(RSA_KEY, "self"), "etc/ssl/certs/b.crt": cert_pem(RSA_KEY, "leaf", issuer_key=ca)})
    certs = {c.path: c for c in certificates(inventory_tree(tmp_path))}
    assert certs["/etc/ssl/certs/a.crt"].self_signed is True
    assert certs["/etc/ssl/certs/b.crt"].self_signed is False
    assert certs["/etc/ssl/certs/a.crt"].fingerprint == certs["/etc/ssl/certs/b.crt"].fingerprint


def test_ssh_host_keys_from_real_tools_are_named_as_shared(tmp_path):
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "etc/dropbear").mkdir(parents=True)
    (tmp_path / "etc/keys").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "etc/ssh/ssh_host_ed25519_key")], check=True, timeout=60)
    subprocess.run(["dropbearkey", "-t", "ecdsa", "-s", "256", "-f", str(tmp_path / "etc/dropbear/dropbear_rsa_host_key")],
                   check=True, capture_output=True, timeout=120)
    subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", str(tmp_path / "etc/keys/unit")], check=True, timeout=60)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "root_id")], check=True, timeout=60)
    write(tmp_path, {"etc/ssh/sshd_config": "Port 22\nHostKey /etc/keys/unit\n"})
    (tmp_path / "root/.ssh").mkdir(parents=True)
    (tmp_path / "root_id").rename(tmp_path / "root/.ssh/id_ed25519")
    found = run(tmp_path)
    for path in ("/etc/ssh/ssh_host_ed25519_key", "/etc/dropbear/dropbear_rsa_host_key", "/etc/keys/unit"):
        assert "SSH host key baked into the image" in found[path].title, path
        assert found[path].provisions == ["5.4-3", "5.4-4"]
    assert "HostKey in /etc/ssh/sshd_config:2" in found["/etc/keys/unit"].evidence.detail
    assert "ECDSA nistp256" in found["/etc/dropbear/dropbear_rsa_host_key"].title
    assert "SSH host key" not in found["/root/.ssh/id_ed25519"].title
    assert "/etc/ssh/ssh_host_ed25519_key.pub" not in found


def test_library_self_test_keys_are_not_reported_but_a_single_embedded_key_is(tmp_path):
    def elf(*blobs: bytes) -> bytes:
        return b"\x7fELF\x01\x01\x01" + b"\x00" * 57 + b"\x00".join(blobs) + b"\x00"

    ec_key = ec.generate_private_key(ec.SECP256R1())
    trad = serialization.PrivateFormat.TraditionalOpenSSL
    vectors = [k.private_bytes(serialization.Encoding.PEM, trad, serialization.NoEncryption())
               for k in (RSA_KEY, ec_key, ec.generate_private_key(ec.SECP384R1()))]
    write(tmp_path, {
        "usr/lib/libcrypto-selftest.so.1": elf(*vectors),
        "usr/bin/cloud-agent": elf(key_pem(OTHER_KEY)),
    })
    assert set(run(tmp_path)) == {"/usr/bin/cloud-agent"}
