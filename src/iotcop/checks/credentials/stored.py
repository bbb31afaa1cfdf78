"""Passwords and Wi-Fi passphrases stored as values in configuration files.

Read once per image (memoised through `Firmware.cached`).  Formats:

* OpenWrt UCI (`/etc/config/*`): `option password '...'`, `option key '...'`;
  in `wireless` `wifi-iface` sections `key`/`sae_password` is the Wi-Fi passphrase;
* nvram defaults (`nvram.default`, `*.nvram`, `nvram*.txt`, NUL- or
  newline-separated `name=value`): `http_passwd=`, `*_passwd=`, `wl*_wpa_psk=`;
* hostapd (`wpa_passphrase=`, `wpa_psk=`, `sae_password=`) and wpa_supplicant
  (`psk="..."` inside `network={}`);
* other configuration files (`.conf .cfg .ini .json .xml .yaml .properties
  .bak`, and extension-less files under /etc): `key = value`, `key: value`,
  `"key": "value"`, `<Password>value</Password>` where the key names a password.

Only literal values are kept: variables, templates, paths, booleans, crypt
hashes (the account readers handle those) and placeholder words are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from iotcop.checks.credentials.crypt import classify
from iotcop.checks.secrets.files import TEXT, is_placeholder, logical_path, text_files
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

SecretKind = Literal["password", "wifi-psk"]

_CONFIG_SUFFIXES = (".conf", ".cfg", ".ini", ".json", ".xml", ".yaml", ".yml", ".properties", ".bak", ".txt", ".cnf", ".env", ".default")
_PASSWORD_KEY = re.compile(r"^(?:[a-z0-9]+[_.-])*(?:password|passwd|passwort|passwrd|pwd|pass|passphrase|passcode)$")
_WIFI_KEYS = frozenset({"wpa_passphrase", "wpa_psk", "sae_password", "psk", "wpa2_psk"})
_NVRAM_WIFI = re.compile(r"^wl\d*(?:\.\d+)?_(?:wpa_psk|key\d|wpa_passphrase)$|^wifi_(?:psk|key|passphrase)$")
_NOT_PASSWORD_KEYS = re.compile(r"(?:_file|_path|_len|_length|_min|_max|_type|_hash|_cmd|_command|_prompt|_policy|_url|_mode|_enabled?)$")

_UCI_SECTION = re.compile(r"""^\s*config\s+(\S+)(?:\s+['"]?([^'"\s]+)['"]?)?""")
_UCI_OPTION = re.compile(r"""^\s*option\s+(\S+)\s+(?:'([^']*)'|"([^"]*)"|(\S+))\s*$""")
_KV = re.compile(r"""^\s*["']?([A-Za-z_][\w.-]{0,63})["']?(\s*[=:]|\s)\s*(?:"([^"]*)"|'([^']*)'|([^\s"'#;,]+))\s*[,;]?\s*(?:[#;].*)?$""")
_JSON_KV = re.compile(r"""["']([A-Za-z_][\w.-]{0,63})["']\s*:\s*["']([^"'\n]{1,128})["']""")
_XML_KV = re.compile(r"<([A-Za-z_][\w.-]{0,63})>([^<\n]{1,128})</\1>")


@dataclass(frozen=True, slots=True)
class StoredSecret:
    path: str
    line: int
    key: str
    value: str
    kind: SecretKind
    fmt: str  # uci, nvram, hostapd, wpa_supplicant, config
    excerpt: str
    section: str | None = None  # UCI section type / wpa_supplicant network ssid

    @property
    def masked(self) -> str:
        v = self.value
        return v[:2] + "*" * max(1, len(v) - 4) + v[-2:] if len(v) > 6 else v[:1] + "*" * (len(v) - 1)


# Files whose password-named keys are not passwords (database names, policies).
_NOT_CREDENTIAL_FILES = frozenset({"nsswitch.conf", "login.defs", "pam.conf", "adduser.conf", "deluser.conf", "securetty",
                                   "services", "protocols", "mke2fs.conf", "sysctl.conf"})
_NOT_CREDENTIAL_DIRS = ("/etc/pam.d/", "/etc/security/", "/etc/ssl/", "/etc/default/")


def _literal(value: str) -> bool:
    if is_placeholder(value) or len(value) < 3:
        return False
    return classify(value).scheme in ("unknown", "blank") or (len(value) == 13 and classify(value).scheme != "des")


def _uci(path: str, text: str) -> list[StoredSecret]:
    out = []
    section = None
    wireless = logical_path(path).endswith("/wireless")
    for number, raw in enumerate(text.splitlines(), 1):
        m = _UCI_SECTION.match(raw)
        if m:
            section = m.group(1)
            continue
        m = _UCI_OPTION.match(raw)
        if not m:
            continue
        key = m.group(1).lower()
        value = next(g for g in m.groups()[1:] if g is not None)
        if wireless and section == "wifi-iface" and key in ("key", "sae_password", "key1", "key2", "key3", "key4"):
            if key == "key" and re.fullmatch(r"[1-4]", value):
                continue  # WEP key index
            if _literal(value):
                out.append(StoredSecret(path, number, key, value, "wifi-psk", "uci", raw.strip(), section))
            continue
        if (key == "key" or _PASSWORD_KEY.match(key)) and not _NOT_PASSWORD_KEYS.search(key) and _literal(value):
            out.append(StoredSecret(path, number, key, value, "password", "uci", raw.strip(), section))
    return out


def _kind_of(key: str) -> SecretKind | None:
    k = key.lower()
    if k in _WIFI_KEYS or _NVRAM_WIFI.match(k):
        return "wifi-psk"
    if _PASSWORD_KEY.match(k) and not _NOT_PASSWORD_KEYS.search(k):
        return "password"
    return None


def _key_values(path: str, text: str, fmt: str) -> list[StoredSecret]:
    out = []
    in_network = None
    for number, raw in enumerate(re.split(r"\n|\x00", text), 1):
        line = raw.strip()
        if not line or line[0] in "#;!":
            continue
        if fmt == "wpa_supplicant":
            if line.startswith("network={"):
                in_network = ""
            elif line.startswith("}"):
                in_network = None
            elif in_network is not None and line.startswith("ssid="):
                in_network = line[5:].strip('"')
        m = _KV.match(raw)
        pairs = [(m.group(1), next(g for g in m.groups()[2:] if g is not None))] if m else []
        if m and not m.group(2).strip() and (fmt == "nvram" or logical_path(path).endswith(".txt")):
            pairs = []  # "word word" prose, not a setting
        if not m:
            pairs = _JSON_KV.findall(raw) + _XML_KV.findall(raw)
        for key, value in pairs:
            kind = _kind_of(key)
            if kind is None or not _literal(value):
                continue
            if fmt == "wpa_supplicant" and key == "psk" and in_network is None:
                continue
            if key.lower() == "psk" and fmt not in ("wpa_supplicant", "hostapd"):
                continue
            out.append(StoredSecret(path, number, key, value, kind, fmt, line[:200], in_network or None))
    return out


def _format_of(path: str, text: str) -> str | None:
    lp = logical_path(path)
    name = lp.rsplit("/", 1)[-1].lower()
    if re.search(r"/etc/config/[^/]+$", lp) and re.search(r"^\s*config\s+\S+", text, re.M):
        return "uci"
    if "nvram" in name:
        return "nvram"
    if name.startswith("hostapd") and name.endswith(".conf"):
        return "hostapd"
    if name.startswith("wpa_supplicant") and name.endswith(".conf"):
        return "wpa_supplicant"
    if name.endswith(_CONFIG_SUFFIXES) or (lp.startswith("/etc/") and "." not in name):
        return "config"
    return None


def collect(fw: Firmware) -> tuple[StoredSecret, ...]:
    found: list[StoredSecret] = []
    for entry, text in text_files(fw):
        if entry.magic == "script" or entry.magic == "pem":
            continue
        lp = logical_path(entry.path)
        if entry.name in _NOT_CREDENTIAL_FILES or lp.startswith(_NOT_CREDENTIAL_DIRS):
            continue
        fmt = _format_of(entry.path, text)
        if fmt is None:
            continue
        if fmt == "config" and not re.search(r"(?i)pass|pwd|psk", text):
            continue
        found.extend(_uci(entry.path, text) if fmt == "uci" else _key_values(entry.path, text, fmt))
    # nvram dumps are often binary (NUL-separated); read those too
    for entry in fw.files():
        if entry.magic == "data" and "nvram" in entry.name.lower() and 0 < entry.size <= 1024 * 1024:
            data = fw.read_bytes(entry)
            if data and b"=" in data:
                found.extend(_key_values(entry.path, data.decode("latin-1"), "nvram"))
    return tuple(found)


STORED_SECRETS = DerivedFact("credentials.stored-secrets", collect, uses=(TEXT,))


def stored_secrets(fw: Firmware) -> tuple[StoredSecret, ...]:
    return STORED_SECRETS.of(fw)
