"""secrets.*: cloud tokens and API keys, Wi-Fi passphrases, secret files readable by every user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from iotcop.checks.runner import run_check_inline
from iotcop.checks.secrets.readable import WorldReadableSecret
from iotcop.checks.secrets.tokens import CloudToken, WifiPsk, high_entropy
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


# Made-up tokens in the real formats (not valid credentials).
AWS_ID = "AKIA2E3XQ4ZL7PV6NR5W"
AWS_SECRET = "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"
GOOGLE = "AIzaSyB3x9Qk2LmN7pR4tV8wZ1cF6hJ0sD5gH2a"

TOKEN_FIRE = {
    "aws-pair-ini": ({"etc/app/aws.ini": f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n"}, 2),
    "aws-in-binary": ({"usr/bin/uploader": b"\x7fELF" + b"\x00" * 60 + AWS_ID.encode() + b"\x00" + AWS_SECRET.encode() + b"\x00"}, 2),
    "google-js": ({"www/js/map.js": f'var key = "{GOOGLE}";\n'}, 1),
    "github": ({"etc/ci.conf": "token=ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6" + "\n"}, 1),
    "generic-api-key": ({"etc/cloud/cloud.conf": "api_key = 9fK2xLq7Vm3ZpR8tW1nB6cY4hJ0sD5gQ\n"}, 1),
    "generic-json-secret": ({"usr/share/app/settings.json": '{"client_secret": "Zx8Kq2Lm9Np4Rt7Vw1Yb5Cd3Fg6Hj0Ks"}\n'}, 1),
    "generic-hex-token": ({"etc/device.cfg": "device_secret=4f9a1c7e2b8d6053a9e1f4c7b2d8e6a0\n"}, 1),
}
TOKEN_QUIET = {
    "aws-doc-example": {"etc/app/aws.ini": "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"},
    "low-entropy": {"etc/app.conf": "api_key = aaaaaaaaaaaaaaaaaaaaaaaa\nsecret = abcdefabcdefabcdefabcdef12\n"},
    "words": {"etc/app.conf": "token = please_set_your_token_here\n"},
    "not-secret-name": {"etc/app.conf": "build_id = 9fK2xLq7Vm3ZpR8tW1nB6cY4hJ0sD5gQ\n"},
    "placeholder": {"etc/app.conf": "api_key = ${API_KEY}\nsecret_key = <your secret key>\n"},
    "python-stdlib": {"usr/lib/python3.11/secrets_demo.py": "api_key = '9fK2xLq7Vm3ZpR8tW1nB6cY4hJ0sD5gQ'\n"},
    "short-hex": {"etc/app.conf": "secret=4f9a1c7e2b8d\n"},
    "uuid-like-version": {"etc/app.conf": "token = 1.2.3.4.5.6.7.8.9.10\n"},
}


@pytest.mark.parametrize("name", sorted(TOKEN_FIRE))
def test_cloud_token_fires(tmp_path, name):
    files, expected = TOKEN_FIRE[name]
    found = run(CloudToken, tmp_path, files).findings
    assert len(found) == expected, [(f.title, f.evidence) for f in found]
    for f in found:  # the evidence never repeats the whole secret
        assert AWS_SECRET not in (f.evidence.excerpt or "") and GOOGLE not in (f.evidence.excerpt or "")


@pytest.mark.parametrize("name", sorted(TOKEN_QUIET))
def test_cloud_token_stays_quiet(tmp_path, name):
    assert run(CloudToken, tmp_path, TOKEN_QUIET[name]).findings == []


def test_aws_finding_names_both_parts(tmp_path):
    titles = sorted(f.title for f in run(CloudToken, tmp_path, TOKEN_FIRE["aws-pair-ini"][0]).findings)
    assert titles == ["AWS access key id in the image", "AWS secret access key in the image"]


@pytest.mark.parametrize("value, expected", [
    ("9fK2xLq7Vm3ZpR8tW1nB6cY4hJ0sD5gQ", True),
    ("4f9a1c7e2b8d6053a9e1f4c7b2d8e6a0", True),
    ("aaaaaaaaaaaaaaaaaaaa", False),
    ("please_set_your_token", False),
    ("1234567890123456", False),
    ("Password1234567890", False),
])
def test_entropy_threshold(value, expected):
    assert high_entropy(value) is expected


PSK_FIRE = {
    "uci": ({"etc/config/wireless": "config wifi-iface 'ap'\n\toption mode 'ap'\n\toption encryption 'psk2'\n\toption key 'SuperSecretWifi2024'\n"}, "high"),
    "hostapd": ({"etc/hostapd/hostapd.conf": "interface=wlan0\nssid=Home\nwpa=2\nwpa_passphrase=Blue-Horse-42\n"}, "high"),
    "wpa_supplicant": ({"etc/wpa_supplicant/wpa_supplicant.conf": 'network={\n\tssid="factory-test"\n\tpsk="T3stPassw0rd"\n}\n'}, "medium"),
    "nvram": ({"etc/nvram.default": "wl0_ssid=Router\nwl0_wpa_psk=12345678abc\n"}, "high"),
    "backup": ({"etc/config/backup/wireless.bak": "ssid=Demo\nwpa_passphrase=SuperSecretWifi2024\n"}, "high"),
}
PSK_QUIET = {
    "open-network": {"etc/config/wireless": "config wifi-iface 'ap'\n\toption encryption 'none'\n\toption ssid 'Guest'\n"},
    "psk-file-path": {"etc/hostapd/hostapd.conf": "wpa_psk_file=/etc/hostapd.wpa_psk\n"},
    "wpa-commented": {"etc/wpa_supplicant/wpa_supplicant.conf": 'network={\n\tssid="x"\n#\tpsk="old-one-123"\n}\n'},
    "psk-outside-wifi": {"etc/ipsec.conf": "psk = SomeIkeSecret99\n"},
    "device-unset": {"etc/config/wireless": "config wifi-device 'radio0'\n\toption disabled '1'\n"},
}


@pytest.mark.parametrize("name", sorted(PSK_FIRE))
def test_wifi_psk_fires(tmp_path, name):
    files, severity = PSK_FIRE[name]
    found = run(WifiPsk, tmp_path, files).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert found[0].severity.value == severity
    assert "every unit" in found[0].evidence.detail


@pytest.mark.parametrize("name", sorted(PSK_QUIET))
def test_wifi_psk_stays_quiet(tmp_path, name):
    assert run(WifiPsk, tmp_path, PSK_QUIET[name]).findings == []


def _key() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_world_readable_secrets_fire_only_for_open_modes(tmp_path):
    found = run(WorldReadableSecret, tmp_path, {
        "etc/shadow": ("root:!:19000::::::\n", 0o644),
        "etc/ssl/private/server.key": (_key(), 0o644),
        "etc/config/wireless": ("config wifi-iface 'a'\n\toption key 'SuperSecretWifi2024'\n", 0o644),
        "etc/passwd": ("root:x:0:0::/root:/bin/sh\n", 0o644),  # not a secret
        "etc/ssl/private/ok.key": (_key(), 0o600),
        "etc/lighttpd/.htpasswd": ("admin:$apr1$4dm1nW3b$NrkJWGYaBFEAaY4fHaOKe/\n", 0o640),
    }).findings
    assert sorted(f.evidence.path for f in found) == ["/etc/config/wireless", "/etc/shadow", "/etc/ssl/private/server.key"]
    assert {f.evidence.path: f.severity.value for f in found}["/etc/shadow"] == "high"


def test_world_readable_says_nothing_when_modes_were_not_recorded(tmp_path):
    # Every file readable by all: what unblob leaves behind; the device's modes are unknown.
    found = run(WorldReadableSecret, tmp_path, {"etc/shadow": ("root:!:19000::::::\n", 0o644), "bin/sh": ("x", 0o755)}).findings
    assert found == []
