"""crypto.private-key: synthetic trees plus the FACT_core crypto_material fixtures."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from support import CORPUS, needs_corpus

from iotcop.checks.crypto.private_keys import PrivateKey
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree

FACT = CORPUS / "FACT_core"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def pem(key, fmt=serialization.PrivateFormat.TraditionalOpenSSL, encryption=None) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption())


def certificate(key) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device.local")])
    import datetime

    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )


def ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def mpint(n: int) -> bytes:
    raw = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return ssh_string(raw)


def dropbear_rsa(key) -> bytes:
    nums = key.private_numbers()
    pub = nums.public_numbers
    return ssh_string(b"ssh-rsa") + mpint(pub.e) + mpint(pub.n) + mpint(nums.d) + mpint(nums.p) + mpint(nums.q)


def encrypted_openssh_ed25519() -> bytes:
    # Built by hand: cryptography needs the optional bcrypt module to encrypt OpenSSH keys.
    import base64
    import os

    pub = ED_KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    blob = (
        b"openssh-key-v1\x00"
        + ssh_string(b"aes256-ctr")
        + ssh_string(b"bcrypt")
        + ssh_string(ssh_string(os.urandom(16)) + struct.pack(">I", 16))
        + struct.pack(">I", 1)
        + ssh_string(ssh_string(b"ssh-ed25519") + ssh_string(pub))
        + ssh_string(os.urandom(144))
    )
    body = base64.encodebytes(blob).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 70] for i in range(0, len(body), 70))
    return b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + lines + b"\n-----END OPENSSH PRIVATE KEY-----\n"


def make_tree(root: Path, files: dict[str, bytes | str]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def run(root: Path):
    result = run_check_inline(PrivateKey, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


def by_path(result):
    return {f.evidence.path: f for f in result.findings}


def test_keys_in_every_supported_format_are_found(tmp_path):
    elf_with_key = b"\x7fELF\x02\x01\x01" + b"\x00" * 100 + pem(EC_KEY) + b"\x00tail"
    make_tree(
        tmp_path,
        {
            "etc/ssl/private/server.key": pem(RSA_KEY),
            "etc/ssh/ssh_host_ed25519_key": pem(ED_KEY, serialization.PrivateFormat.OpenSSH),
            "usr/bin/cloud-agent": elf_with_key,
            "etc/dropbear/dropbear_rsa_host_key": dropbear_rsa(RSA_KEY),
            "opt/app/client.der": RSA_KEY.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            "opt/app/client.p12": pkcs12.serialize_key_and_certificates(
                b"c", RSA_KEY, certificate(RSA_KEY), None, serialization.NoEncryption()
            ),
        },
    )
    found = by_path(run(tmp_path))
    assert set(found) == {
        "/etc/ssl/private/server.key",
        "/etc/ssh/ssh_host_ed25519_key",
        "/usr/bin/cloud-agent",
        "/etc/dropbear/dropbear_rsa_host_key",
        "/opt/app/client.der",
        "/opt/app/client.p12",
    }
    server = found["/etc/ssl/private/server.key"]
    assert server.severity.value == "high" and "RSA 2048-bit" in server.title
    assert server.evidence.line == 1 and server.evidence.excerpt == "-----BEGIN RSA PRIVATE KEY-----"
    assert server.provisions == ["5.4-3", "5.4-4"]
    assert "Ed25519" in found["/etc/ssh/ssh_host_ed25519_key"].title
    embedded = found["/usr/bin/cloud-agent"]
    assert embedded.evidence.offset == 107 and embedded.evidence.line is None and "EC secp256r1" in embedded.title
    assert embedded.provisions == ["5.4-3"]  # not known to protect a service
    assert "dropbear" in found["/etc/dropbear/dropbear_rsa_host_key"].evidence.detail
    assert "PKCS#12" in found["/opt/app/client.p12"].evidence.detail


def test_encrypted_keys_are_medium(tmp_path):
    enc = serialization.BestAvailableEncryption(b"secret")
    make_tree(
        tmp_path,
        {
            "etc/a.pem": pem(RSA_KEY, serialization.PrivateFormat.PKCS8, enc),
            "etc/b.pem": pem(RSA_KEY, serialization.PrivateFormat.TraditionalOpenSSL, enc),
            "etc/c": encrypted_openssh_ed25519(),
            "etc/d.p12": pkcs12.serialize_key_and_certificates(b"c", RSA_KEY, certificate(RSA_KEY), None, enc),
        },
    )
    found = by_path(run(tmp_path))
    assert set(found) == {"/etc/a.pem", "/etc/b.pem", "/etc/c", "/etc/d.p12"}
    assert {f.severity.value for f in found.values()} == {"medium"}
    assert all(f.title.startswith("Encrypted") for f in found.values())


def test_public_material_and_bare_markers_are_not_flagged(tmp_path):
    pub_pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pub_ssh = ED_KEY.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    nums = RSA_KEY.public_key().public_numbers()
    make_tree(
        tmp_path,
        {
            "etc/ssl/certs/device.crt": certificate(RSA_KEY).public_bytes(serialization.Encoding.PEM),
            "etc/ssl/pub.pem": pub_pem,
            "root/.ssh/authorized_keys": pub_ssh,
            "etc/dropbear/dropbear_rsa_host_key.pub": ssh_string(b"ssh-rsa") + mpint(nums.e) + mpint(nums.n),
            "usr/sbin/keycheck.sh": "#!/bin/sh\ngrep -q -- '-----BEGIN RSA PRIVATE KEY-----' \"$1\" && echo key\n",
            "usr/lib/libssl.txt": "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n",
            "etc/garbage.pem": "-----BEGIN RSA PRIVATE KEY-----\nTm90IGEga2V5IGF0IGFsbCwganVzdCB0ZXh0IHBhZGRlZCB0byBsb29rIGxvbmcgZW5vdWdoIQ==\n-----END RSA PRIVATE KEY-----\n",
            "etc/ca.p12": pkcs12.serialize_key_and_certificates(
                None, None, None, [pkcs12.PKCS12Certificate(certificate(RSA_KEY), None)], serialization.NoEncryption()
            ),
        },
    )
    assert run(tmp_path).findings == []


def test_throwaway_keys_in_test_and_doc_dirs_are_not_flagged(tmp_path):
    make_tree(
        tmp_path,
        {
            "usr/lib/python3.11/test/keycert.pem": pem(RSA_KEY),
            "usr/share/doc/openssl/example.key": pem(EC_KEY),
        },
    )
    assert run(tmp_path).findings == []


# -- FACT_core fixtures ---------------------------------------------------------------
# FACT_core src/plugins/analysis/crypto_material/test/test_plugin_crypto_material.py

FACT_PRIVATE = {
    # fixture -> (device path, encrypted)
    "id_rsa": ("root/.ssh/id_rsa", False),  # test_ssh_private: SshRsaPrivateKeyBlock
    "id_rsa_encrypted": ("root/.ssh/id_rsa_encrypted", True),  # test_ssh_private_encrypted
    "pkcs": ("etc/ssl/private/device.key.der", False),  # test_PKCS8: Pkcs8PrivateKey
    "pkcs12": ("etc/ssl/private/device.p12", False),  # test_PKCS12: Pkcs12Certificate
    "ssl.key": ("etc/ssl/private/ssl.key", False),  # test_SSL_key: SSLPrivateKey
}
FACT_NOT_PRIVATE = {
    "0x6C2DF2C5-pub.asc": "etc/keys/0x6C2DF2C5-pub.asc",  # test_gnupg: public key block
    "id_rsa.pub": "root/.ssh/id_rsa.pub",  # test_ssh_public
    "ssl.crt": "etc/ssl/certs/ssl.crt",  # test_SSL_cert
    "generic_public_key": "etc/keys/generic_public_key",  # test_generic_public_key
    "FP_test": "etc/keys/FP_test",  # test_no_false_positives: 0 matches
    "ssl_fp.file": "etc/ssl/ssl_fp.file",  # test_false_positive_ssl_cert: 0 matches
    "pkcs_fp.file": "etc/ssl/pkcs_fp.file",  # test_false_positive_pkcs_cert: 0 matches
}


def place(root: Path, fixture: str, device_path: str) -> None:
    target = root / device_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FACT / f"crypto_material__{fixture}", target)


@needs_corpus
@pytest.mark.corpus
def test_fact_private_key_fixtures_are_all_found(tmp_path):
    for fixture, (device_path, _) in FACT_PRIVATE.items():
        place(tmp_path, fixture, device_path)
    found = by_path(run(tmp_path))
    assert set(found) == {"/" + p for p, _ in FACT_PRIVATE.values()}
    for fixture, (device_path, encrypted) in FACT_PRIVATE.items():
        f = found["/" + device_path]
        assert f.severity.value == ("medium" if encrypted else "high"), fixture
    assert "RSA 8192-bit" in found["/root/.ssh/id_rsa"].title
    assert "RSA 1024-bit" in found["/etc/ssl/private/ssl.key"].title
    assert "RSA 2048-bit" in found["/etc/ssl/private/device.p12"].title


@needs_corpus
@pytest.mark.corpus
def test_fact_public_keys_certificates_and_false_positive_files_are_not_flagged(tmp_path):
    for fixture, device_path in FACT_NOT_PRIVATE.items():
        place(tmp_path, fixture, device_path)
    assert run(tmp_path).findings == []


@needs_corpus
@pytest.mark.corpus
def test_fact_error_der_is_a_real_dsa_key_and_is_reported(tmp_path):
    # Deliberate difference from test_der_error (0 matches upstream): error.der is a complete,
    # self-consistent DSA-2048 private key (g^x mod p == y), so shipping it is a hard-coded key.
    place(tmp_path, "error.der", "etc/ssl/private/error.der")
    (finding,) = run(tmp_path).findings
    assert "DSA 2048-bit" in finding.title
