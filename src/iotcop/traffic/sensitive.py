"""Credentials, tokens and personal data in clear text: what a passive observer of the traffic reads.

Input is text a dissector already decoded (an HTTP header or body, an MQTT payload, a CoAP payload,
a query string).  Structured bodies are read as what they are: JSON by `json`, form and query strings
by `urllib.parse`; free text only by the key=value and value patterns below.  Values are masked in
everything reported (`mask`); the clear value is kept only in memory, to be matched against the
firmware (the MQTT password in clear is the one in /etc/mqtt.conf).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

# key names (normalised: lower case, no '-', '_' or '.') -> kind
_CREDENTIAL_KEYS = {"password", "passwd", "pwd", "pass", "passphrase", "secret", "clientsecret", "pin", "psk",
                    "wifipassword", "wpakey"}
_TOKEN_KEYS = {"token", "accesstoken", "refreshtoken", "authtoken", "apikey", "apitoken", "sessionid", "session",
               "sid", "auth", "authorization", "bearer", "jwt", "key", "devicekey", "devicesecret", "signature", "otp"}
# personal data categories (EN 303 645 6, GDPR Art. 4(1)); the "sensitive" ones as in 5.8-2
_PERSONAL_KEYS = {
    "email": "contact", "mail": "contact", "phone": "contact", "mobile": "contact", "tel": "contact",
    "name": "identity", "firstname": "identity", "lastname": "identity", "fullname": "identity", "surname": "identity",
    "username": "identity", "user": "identity", "owner": "identity", "birthday": "identity", "dob": "identity",
    "dateofbirth": "identity", "address": "address", "street": "address", "postcode": "address", "zip": "address",
    "city": "address", "lat": "location", "latitude": "location", "lon": "location", "lng": "location",
    "longitude": "location", "gps": "location", "location": "location", "geo": "location", "position": "location",
    "heartrate": "health", "pulse": "health", "bloodpressure": "health", "weight": "health", "glucose": "health",
    "spo2": "health", "sleep": "health", "steps": "health", "ssid": "network", "bssid": "network",
    "mac": "network", "macaddress": "network", "imei": "identity", "serial": "device",
}
SENSITIVE_CATEGORIES = frozenset({"health", "location"})
# sensor readings (EN 303 645 5.8-3): a key that carries a measurement, named by the declaration's sensor types
SENSOR_KEYS = {
    "temperature": "temperature", "temp": "temperature", "humidity": "humidity", "pressure": "pressure",
    "motion": "motion", "pir": "motion", "occupancy": "motion", "presence": "motion", "audio": "microphone",
    "sound": "microphone", "noise": "microphone", "volume": "microphone", "image": "camera", "snapshot": "camera",
    "video": "camera", "lux": "light", "light": "light", "illuminance": "light", "co2": "other",
    "voc": "other", "pm25": "other", "door": "proximity", "proximity": "proximity", "accel": "accelerometer",
    "accelerometer": "accelerometer", "gyro": "gyroscope", "lat": "location", "latitude": "location",
    "lon": "location", "longitude": "location", "gps": "location", "heartrate": "other", "pulse": "other",
}
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
_PHONE = re.compile(r"(?<![\w.])\+[1-9][0-9 ()-]{7,17}[0-9](?![\w.])")
_KV = re.compile(r"(?i)\b([A-Za-z][A-Za-z0-9_.-]{1,40})\s*[=:]\s*\"?([^\s\"&;,]{1,200})")
MAX_TEXT = 64 * 1024


@dataclass(frozen=True)
class Item:
    kind: str  # credential, token, personal
    key: str  # the field name, or what the value looked like
    value: str  # the clear value (never reported; see mask)
    category: str = ""  # personal: contact, identity, location, health ...

    @property
    def masked(self) -> str:
        return mask(self.value)


def mask(value: str) -> str:
    if len(value) <= 4:
        return "*" * len(value)
    return value[:2] + "*" * min(len(value) - 4, 12) + value[-2:]


def _norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower().rsplit(".", 1)[-1])


def classify_key(key: str) -> tuple[str, str] | None:
    k = _norm(key)
    if not k:
        return None
    if k in _CREDENTIAL_KEYS or k.endswith("password") or k.endswith("passwd"):
        return "credential", ""
    if k in _TOKEN_KEYS or k.endswith("token") or k.endswith("apikey") or k.endswith("secret"):
        return "token", ""
    if k in _PERSONAL_KEYS:
        return "personal", _PERSONAL_KEYS[k]
    return None


def sensor_of(key: str) -> str | None:
    return SENSOR_KEYS.get(_norm(key))


def _pairs_from_json(value, prefix: str = "", depth: int = 0):
    if depth > 8:
        return
    if isinstance(value, dict):
        for k, v in list(value.items())[:500]:
            name = str(k)
            if isinstance(v, (dict, list)):
                yield from _pairs_from_json(v, name, depth + 1)
            else:
                yield name, "" if v is None else str(v)
    elif isinstance(value, list):
        for v in value[:500]:
            yield from _pairs_from_json(v, prefix, depth + 1)
    elif prefix:
        yield prefix, str(value)


def pairs(text: str) -> list[tuple[str, str]]:
    """key/value pairs of a JSON document, a form or query string, or key=value text."""
    text = text[:MAX_TEXT]
    stripped = text.strip()
    if stripped[:1] in "{[":
        try:
            return list(_pairs_from_json(json.loads(stripped)))
        except ValueError:
            pass
    if "=" in stripped and " " not in stripped and "\n" not in stripped:
        got = parse_qsl(stripped.lstrip("?"), keep_blank_values=False)
        if got:
            return got
    return [(m.group(1), m.group(2)) for m in _KV.finditer(text)]


def scan_text(text: str) -> list[Item]:
    """Credentials, tokens and personal data in one piece of clear text."""
    if not text:
        return []
    out: list[Item] = []
    seen: set[tuple[str, str]] = set()
    for key, value in pairs(text):
        value = value.strip()
        if not value or value.lower() in ("null", "none", "true", "false", "0", ""):
            continue
        got = classify_key(key)
        if got is None:
            continue
        kind, category = got
        if (key, value) in seen:
            continue
        seen.add((key, value))
        out.append(Item(kind, key, value, category))
    values = {i.value for i in out}
    for m in _EMAIL.finditer(text[:MAX_TEXT]):
        if m.group(0) not in values:
            out.append(Item("personal", "e-mail address", m.group(0), "contact"))
            values.add(m.group(0))
    for m in _PHONE.finditer(text[:MAX_TEXT]):
        if m.group(0) not in values:
            out.append(Item("personal", "phone number", m.group(0), "contact"))
            values.add(m.group(0))
    return out


def sensors_in(text: str) -> set[str]:
    return {s for key, _ in pairs(text) if (s := sensor_of(key))}


def http_authorization(header: str) -> Item | None:
    """An Authorization header in clear: Basic carries the password itself, Bearer/token a reusable token."""
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest.strip() + "==", validate=False).decode("utf-8", "replace")
        except ValueError:
            decoded = rest
        user, _, password = decoded.partition(":")
        return Item("credential", f"HTTP Basic password of '{user}'", password or decoded)
    if scheme == "digest":
        return None  # the password itself does not cross the wire
    if rest:
        return Item("token", f"HTTP {scheme.capitalize()} token", rest.strip())
    return Item("token", "HTTP Authorization", header.strip())


def cookie_tokens(header: str) -> list[Item]:
    out = []
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        got = classify_key(name)
        if value and (got is not None and got[0] in ("token", "credential") or "sess" in name.lower()):
            out.append(Item("token", f"cookie {name}", value))
    return out
