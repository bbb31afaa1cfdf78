"""Hard-coded cloud, telemetry and analytics endpoints in the device's configuration and scripts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.surface import listing
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Evidence, Severity

MAX_BYTES = 256 * 1024
ENCRYPTED = frozenset({"https", "mqtts", "wss", "coaps", "amqps", "ssl", "tls"})
_URL = re.compile(r"\b(https?|mqtts?|wss?|coaps?|amqps?|ssl|tls|tcp)://([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?([^\s'\"<>`,;)}\]]*)")
# The setting a URL is assigned to must say it is an endpoint (keeps documentation and licence links out).
_ENDPOINT_KEY = re.compile(
    r"(?:url|uri|endpoint|server|host|broker|api|cloud|telemetry|analytics|report|upload|collector|ingest|push|metric|stat|log|track|notify|webhook|address|remote|backend|mqtt)",
    re.I,
)
# UPnP device-description links (UPnP Device Architecture: manufacturerURL, modelURL, presentationURL) are
# advertised to control points for people to open; the device itself sends nothing there.
_DESCRIPTION_LINK = re.compile(r"^(?:manufacturer|model|presentation)_?url$", re.I)
_ASSIGNMENT = re.compile(r"^\s*(?:export\s+|option\s+|list\s+|set\s+)?[\"']?([A-Za-z_][\w.-]*)[\"']?\s*(?:=|:|\s)\s*")
_TELEMETRY = re.compile(
    r"telemetry|analytics|metrics|tracking|tracker|stats?\.|crash|sentry|mixpanel|segment\.io|google-analytics|googletagmanager|amplitude|datadog|newrelic|"
    r"bugsnag|firebase|appcenter|umeng|flurry|app-measurement|data-?collect|heartbeat|usage",
    re.I,
)
_SKIP_DIRS = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/locale/", "/usr/lib/python", "/usr/share/perl", "/usr/lib/perl", "/etc/ssl/", "/usr/share/ca-certificates/", "/etc/opkg/", "/usr/share/mime/", "/usr/share/zoneinfo/")
_SKIP_HOSTS = re.compile(r"(?:^|\.)(?:w3\.org|xmlsoap\.org|openssl\.org|gnu\.org|kernel\.org|debian\.org|openwrt\.org|busybox\.net|apache\.org|mozilla\.org|python\.org|ietf\.org)$", re.I)


@dataclass(frozen=True)
class Endpoint:
    path: str
    line: int
    url: str
    scheme: str
    host: str
    port: int | None
    key: str  # the setting it is assigned to
    telemetry: bool

    @property
    def encrypted(self) -> bool:
        return self.scheme.lower() in ENCRYPTED or self.port in (443, 8883, 8443, 5671, 5684)


def _local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in ("localhost", "") or host.endswith((".lan", ".local", ".localdomain", ".home")):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare name resolves on the local network
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast


def _candidate(entry: FileEntry) -> bool:
    return (
        entry.path.startswith("/")
        and entry.magic in ("text", "script")
        and entry.size <= MAX_BYTES
        and not entry.path.startswith(_SKIP_DIRS)
        and not entry.name.endswith((".py", ".pyc", ".pm", ".pl", ".html", ".htm", ".js", ".css", ".md", ".txt", ".h"))
    )


def _collect(fw: Firmware) -> tuple[Endpoint, ...]:
    out = []
    for entry in fw.files():
        if not _candidate(entry):
            continue
        data = fw.read_bytes(entry, MAX_BYTES) or b""
        if b"://" not in data and b"address " not in data:
            continue
        text = data.decode("utf-8", errors="replace")
        mosquitto_bridge = False
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "//", ";")):
                continue
            if stripped.startswith("connection "):
                mosquitto_bridge = True
            m = re.match(r"^address(?:es)?\s+([A-Za-z0-9.-]+)(?::(\d+))?", stripped)
            if mosquitto_bridge and m and not _local(m.group(1)):
                port = int(m.group(2)) if m.group(2) else 1883
                out.append(Endpoint(entry.path, number, stripped, "mqtts" if port == 8883 else "mqtt", m.group(1), port, "address", bool(_TELEMETRY.search(stripped))))
                continue
            key_m = _ASSIGNMENT.match(stripped)
            for u in _URL.finditer(stripped):
                scheme, host, port = u.group(1).lower(), u.group(2), u.group(3)
                key = key_m.group(1) if key_m and key_m.end() <= u.start() else ""
                is_json_value = re.search(r'"([\w.-]+)"\s*:\s*"[^"]*$', stripped[: u.start()])
                if is_json_value:
                    key = is_json_value.group(1)
                if not key or not _ENDPOINT_KEY.search(key) or _DESCRIPTION_LINK.match(key) or _local(host) or _SKIP_HOSTS.search(host) or "$" in host or "%" in host:
                    continue
                url = u.group(0)
                out.append(Endpoint(entry.path, number, url, scheme, host.lower(), int(port) if port else None, key, bool(_TELEMETRY.search(url) or _TELEMETRY.search(key))))
    return tuple(out)


CLOUD_ENDPOINTS = DerivedFact("privacy.cloud-endpoints", _collect)


def cloud_endpoints(fw: Firmware) -> tuple[Endpoint, ...]:
    """Remote endpoints assigned to settings in configuration files and scripts (memoised)."""
    return CLOUD_ENDPOINTS.of(fw)


class CloudEndpoints(Check):
    ID = "privacy.cloud-endpoints"
    VERSION = "1.0.1"
    SEVERITY = Severity.medium
    TIMEOUT = 90.0
    USES = (CLOUD_ENDPOINTS,)
    DOC = CheckDoc(
        title="Cloud or telemetry endpoint over an unencrypted protocol",
        why=(
            "Data the device sends to a cloud or telemetry service over http, mqtt or ws travels in clear text: "
            "anyone on the path reads it (often personal data: names, locations, usage) and can change it."
        ),
        fix="Use https, mqtts (8883) or wss with certificate verification for every remote endpoint.",
        references=("CWE-319",),
        limitations=(
            "Reads configuration files and scripts (not binaries, documentation or language libraries); a URL is "
            "taken as an endpoint only when it is assigned to a setting whose name says so (url, server, "
            "endpoint, broker ...) and points outside the local network; UPnP device-description links "
            "(manufacturerURL, modelURL, presentationURL) are advertised, not contacted, and are not endpoints.  Whether personal data is actually "
            "sent there is not known.  Telemetry is recognised by names (telemetry, analytics, metrics, crash "
            "reporting services) and establishes Annex B condition 6; comparing it with the declaration is "
            "left to the declaration input."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        endpoints = cloud_endpoints(fw)
        telemetry = [e for e in endpoints if e.telemetry]
        if telemetry:
            t = telemetry[0]
            yield self.condition(6, True, Evidence(path=t.path, line=t.line, excerpt=t.url, detail=f"telemetry endpoints: {listing(e.url for e in telemetry)}"))
        for e in endpoints:
            if e.encrypted:
                continue
            yield self.finding(
                e.path, title=f"{'Telemetry' if e.telemetry else 'Cloud'} endpoint over {e.scheme} ({e.host})", line=e.line, excerpt=e.url,
                detail=f"setting '{e.key}' sends data to {e.host}{':' + str(e.port) if e.port else ''} without encryption",
            )
