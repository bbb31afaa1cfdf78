"""Passwords, Wi-Fi keys and WPS PINs stored as values in configuration files, read by format.

Read once per image.  Every text file that is not a script, documentation or web content is parsed by the
format its text shows (`settings.py`: XML, JSON, UCI, INI, flat key=value such as nvram defaults and
shell-variable defaults); binary nvram dumps are read as NUL-separated key=value and the tables of SQLite
databases row by row (a web user table with user and password columns).  A setting's meaning comes
from the words of its name and of its record (`settings.role_of`), and a password is paired with the user
name of the same record.

Values are judged after decoding: base64 and hex that decode to text are reported as the decoded
password, and values encrypted with a key the image ships (`secrets/ciphers.py`, keys from
`secrets/keys.py`) are decrypted.  Templates that the device expands from its MAC address or serial number
(`%{mac1}`, `${SERIAL}`) are kept apart as derived values for `credentials.derived-password`; other
variables, paths, booleans, crypt hashes and placeholder words are dropped.  Wi-Fi keys and WPS PINs of
interfaces marked as not in use or disabled are not kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from iotcop.checks.credentials.crypt import classify
from iotcop.checks.credentials.settings import (
    Field,
    Record,
    format_of,
    qualifier,
    records,
    role_of,
    sqlite_records,
    words,
)
from iotcop.checks.secrets.ciphers import ImageKey, decode, decrypt_value, printable
from iotcop.checks.secrets.files import (
    TEXT,
    is_placeholder,
    is_reference_material,
    is_shell_script,
    logical_path,
    text_files,
)
from iotcop.checks.secrets.keys import SYMMETRIC_KEYS, image_keys
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

SecretKind = Literal["password", "wifi-psk", "wps-pin"]
MAX_DB_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StoredSecret:
    path: str
    line: int
    key: str
    value: str  # the password as the device uses it (decoded / decrypted); "" for an empty password
    kind: SecretKind
    fmt: str  # xml, json, uci, ini, keyvalue, nvram, hostapd, wpa_supplicant
    excerpt: str
    section: str | None = None  # the record: INI section, XML element path, key prefix, UCI section, wpa network
    user: str | None = None  # the user name stored beside it
    raw: str | None = None  # the value as written, when it was decoded or decrypted
    stored_as: str | None = None  # base64, hex, or the cipher and key that decrypt it
    decrypted_with: ImageKey | None = None
    service: str | None = None  # a remote service the credential logs in to (DDNS, TR-069 ACS, PPP ...)
    derived_from: str | None = None  # identifier a device-side template expands (MAC address, serial number)

    @property
    def masked(self) -> str:
        v = self.value
        if not v:
            return "(empty)"
        return v[:2] + "*" * max(1, len(v) - 4) + v[-2:] if len(v) > 6 else v[:1] + "*" * (len(v) - 1)


# Files whose password-named keys are not passwords (database names, policies).
_NOT_CREDENTIAL_FILES = frozenset({"nsswitch.conf", "login.defs", "pam.conf", "adduser.conf", "deluser.conf", "securetty",
                                   "services", "protocols", "mke2fs.conf", "sysctl.conf", "mime.types", "magic"})
_NOT_CREDENTIAL_DIRS = ("/etc/pam.d/", "/etc/security/", "/etc/ssl/", "/etc/default/")
# Web content carries form field names and scripts, not the device's settings.
_WEB_SUFFIXES = (".htm", ".html", ".shtml", ".js", ".javascript", ".css", ".asp", ".php", ".jsp", ".lua", ".svg", ".map", ".cgi",
                 ".gz", ".tmpl", ".tpl", ".po", ".pot", ".md", ".rst")
_CANDIDATE_TEXT = re.compile(r"(?i)pass|pwd|psw|psk|wps|pin|key")

# Record words naming a remote service the device logs in to with the credential (a hard-coded credential
# for the vendor's or operator's service rather than a password of the device itself).
_SERVICES = (
    ("DDNS", {"ddns", "dyndns", "noip", "dns"}),
    ("TR-069 ACS", {"tr", "cwmp", "acs", "management", "managementserver", "tr069"}),
    ("PPP/WAN", {"ppp", "pppoe", "pptp", "l2tp", "wanppp", "wan", "isp"}),
    ("e-mail", {"smtp", "email", "mail", "sender", "pop3", "imap"}),
    ("VoIP", {"sip", "voip", "voice"}),
    ("cloud", {"cloud", "p2p", "tutk", "mqtt", "broker", "iot", "aws", "azure"}),
    ("streaming", {"rtmp", "push", "stream", "rtsp"}),
)
_FALSE = frozenset({"false", "0", "no", "off", "disable", "disabled"})
_TEMPLATE = re.compile(r"%\{([A-Za-z_][\w-]*)\}|\$\{([A-Za-z_]\w*)\}|\$\(([^)]*)\)|`([^`]*)`|\$([A-Za-z_]\w*)")
_IDENTIFIERS = (("MAC address", re.compile(r"(?i)mac|hwaddr|ethaddr|ether|/sys/class/net/[^/\s]+/address")),
                ("serial number", re.compile(r"(?i)serial|^sn\d*$|\bsn\b|_sn\d*$")),
                ("SSID", re.compile(r"(?i)ssid")))


def service_of(record: Record, key: str) -> str | None:
    ws = set(record.context) | set(words(key))
    for name, markers in _SERVICES:
        if ws & markers:
            return name
    return None


def _in_use(record: Record, kind: SecretKind) -> bool:
    """False when the record or its enclosing interface says it is not in use (or, for Wi-Fi/WPS, disabled)."""
    scopes = [{f.key.lower(): f.value.strip().lower() for f in record.fields}]
    scopes += [{k.lower(): v.strip().lower() for k, v in a.items()} for a in record.ancestors[:2]]
    for scope in scopes:
        if scope.get("isinuse", scope.get("inuse")) in _FALSE:
            return False
        if kind in ("wifi-psk", "wps-pin") and scope.get("enable", scope.get("enabled")) in _FALSE:
            return False
    return True


def template_identifier(value: str) -> str | None:
    """The device identifier a template value expands (`%{mac1}` -> MAC address), or None."""
    for m in _TEMPLATE.finditer(value):
        name = next(g for g in m.groups() if g is not None)
        for what, rx in _IDENTIFIERS:
            if rx.search(name):
                return what
    return None


def _hash_like(value: str) -> bool:
    return classify(value).scheme not in ("unknown", "blank", "locked")


def _decoded(value: str, keys: list[ImageKey], hinted: bool) -> tuple[str, str | None, ImageKey | None]:
    """(password, how it was stored, key) for a literal value: decrypted, base64 or hex decoded, or as is."""
    raw = decode(value, "base64") if len(value) >= 8 else None
    hexed = decode(value, "hex") if len(value) >= 16 else None
    if keys and ((raw and printable(raw) is None) or (hexed and printable(hexed) is None)):
        found = decrypt_value(value, keys)
        if found is not None:
            return found.plaintext, found.describe(), found.key
    if raw is None and len(value) >= 4:
        raw = decode(value, "base64")
    text = printable(raw) if raw else None
    if text and len(text) >= 3 and (value.endswith("=") or hinted):
        return text, "base64", None
    hexed = hexed or (decode(value, "hex") if len(value) >= 8 else None)
    text = printable(hexed) if hexed else None
    if text and len(text) >= 4 and re.search(r"[A-Za-z]", text):
        return text, "hex", None
    return value, None, None


def _hinted(f: Field) -> bool:
    """The setting's attributes say its value is encoded or encrypted (Encryption=, Crypt_len=)."""
    return any(k.lower() in ("encryption", "encrypt", "encode", "encoded", "crypt_len", "cryptlen") for k, _ in f.attrs)


def _user_for(record: Record, password_key: str, keys: list[ImageKey]) -> str | None:
    users = [f for f in record.fields if role_of(f.key, record.context) == "user"]
    if not users:  # a record with a password and a plain "name" names the account by it
        users = [f for f in record.fields if f.key.lower() == "name"]
    if not users:
        return None
    want = qualifier(_leaf(password_key))
    chosen = next((f for f in users if qualifier(_leaf(f.key)) == want), users[0] if len(users) == 1 else None)
    if chosen is None or not chosen.value.strip():
        return chosen.value.strip() if chosen is not None else None
    return _decoded(chosen.value.strip(), keys, _hinted(chosen))[0]


def _leaf(key: str) -> str:
    m = re.match(r"^.*[_.\-](?=[A-Za-z])(.+)$", key)
    return m.group(1) if m else key


def _record_secrets(path: str, record: Record, keys: list[ImageKey], fmt: str) -> list[StoredSecret]:
    out = []
    for f in record.fields:
        role = role_of(f.key, record.context)
        if fmt == "uci" and f.key == "key" and role is None:
            role = "wifi-psk" if {"wifi", "iface"} <= set(record.context) else "password"
        if fmt == "uci" and role == "wifi-psk" and re.fullmatch(r"[1-4]", f.value):
            continue  # WEP key index
        if fmt in ("keyvalue", "nvram") and f.key.lower() == "psk":
            continue  # a bare psk= outside hostapd/wpa_supplicant is not a Wi-Fi setting
        if role not in ("password", "wifi-psk", "wps-pin") or not _in_use(record, role):
            continue
        value = f.value.strip()
        user = _user_for(record, f.key, keys)
        user = None if user is None or is_placeholder(user) and user.lower() not in ("admin", "root", "user", "guest") else user
        service = service_of(record, f.key)
        base = dict(path=path, line=f.line, key=f.key, kind=role, fmt=fmt, excerpt=f.excerpt,
                    section=record.name or None, user=user, service=service)
        derived = template_identifier(value)
        if derived is not None:
            out.append(StoredSecret(value=value, derived_from=derived, **base))
            continue
        if value == "":
            if role == "password" and user and service is None:
                out.append(StoredSecret(value="", **base))
            continue
        if " " in value and not any(q in f.excerpt for q in "'\"<"):
            continue  # unquoted words: prose, not a value
        if re.search(r"[A-Za-z_]\w*\(", value):
            continue  # an expression of a script or template, not a value
        if is_placeholder(value) or len(value) < 3 or _hash_like(value):
            continue
        plain, stored_as, key = _decoded(value, keys, _hinted(f))
        if stored_as is not None and (is_placeholder(plain) and plain.lower() not in ("admin", "root")):
            continue
        out.append(StoredSecret(value=plain, raw=value if stored_as else None, stored_as=stored_as,
                                decrypted_with=key, **base))
    return out


def _wpa_supplicant(path: str, text: str) -> list[StoredSecret]:
    out = []
    network = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("network={"):
            network = ""
        elif line.startswith("}"):
            network = None
        elif network is not None and line.startswith("ssid="):
            network = line[5:].strip('"')
        elif network is not None and re.match(r"(?:psk|sae_password)=", line):
            value = line.split("=", 1)[1].strip().strip('"')
            if not is_placeholder(value) and len(value) >= 3:
                out.append(StoredSecret(path, number, line.split("=", 1)[0], value, "wifi-psk", "wpa_supplicant",
                                        line[:200], network or None))
    return out


def secrets_in_text(path: str, text: str, keys: list[ImageKey] = ()) -> list[StoredSecret]:
    """Every stored password, Wi-Fi key and WPS PIN of one configuration file's text."""
    name = logical_path(path).rsplit("/", 1)[-1].lower()
    if name.startswith("wpa_supplicant") and name.endswith(".conf"):
        return _wpa_supplicant(path, text)
    fmt = format_of(text)
    if "nvram" in name and fmt in ("keyvalue", "ini"):
        fmt = "nvram"
    label = "hostapd" if name.startswith("hostapd") and fmt == "keyvalue" else fmt
    found = []
    for record in records(text, "keyvalue" if fmt == "nvram" else fmt):
        found.extend(_record_secrets(path, record, list(keys), label))
    return found


def _candidate(path: str, name: str) -> bool:
    lp = logical_path(path)
    if name in _NOT_CREDENTIAL_FILES or lp.startswith(_NOT_CREDENTIAL_DIRS):
        return False
    return not name.lower().endswith(_WEB_SUFFIXES)


def collect(fw: Firmware) -> tuple[StoredSecret, ...]:
    keys = list(image_keys(fw))
    found: list[StoredSecret] = []
    for entry, text in text_files(fw):
        if entry.magic in ("script", "pem") or not _candidate(entry.path, entry.name):
            continue
        if not _CANDIDATE_TEXT.search(text) or is_shell_script(entry, text):
            continue
        found.extend(secrets_in_text(entry.path, text, keys))
    # nvram dumps are often binary (NUL-separated); read those too, and the user tables of SQLite databases
    for entry in fw.files():
        if entry.magic == "sqlite" and 0 < entry.size <= MAX_DB_BYTES and not is_reference_material(entry.path):
            for record in sqlite_records(str(entry.host_path)):
                found.extend(_record_secrets(entry.path, record, keys, "sqlite"))
            continue
        if entry.magic == "data" and "nvram" in entry.name.lower() and 0 < entry.size <= 1024 * 1024:
            data = fw.read_bytes(entry)
            if data and b"=" in data:
                for record in records(data.decode("latin-1"), "keyvalue"):
                    found.extend(_record_secrets(entry.path, record, keys, "nvram"))
    return tuple(found)


STORED_SECRETS = DerivedFact("credentials.stored-secrets", collect, uses=(TEXT, SYMMETRIC_KEYS))


def all_stored(fw: Firmware) -> tuple[StoredSecret, ...]:
    return STORED_SECRETS.of(fw)


def stored_secrets(fw: Firmware) -> tuple[StoredSecret, ...]:
    """Literal values: the same on every unit that runs the image."""
    return tuple(s for s in STORED_SECRETS.of(fw) if s.derived_from is None)


def derived_settings(fw: Firmware) -> tuple[StoredSecret, ...]:
    """Templates the device fills from its MAC address, serial number or SSID."""
    return tuple(s for s in STORED_SECRETS.of(fw) if s.derived_from is not None)
