"""Passwords computed from public device identifiers, and evidence that first use forces a new password.

* `credentials.derived-password`: a provisioning script computes a password or
  Wi-Fi key from the MAC address, serial number or SSID.  Unique per device,
  but anyone who knows the identifier (printed on the label, broadcast on the
  air) computes it too.  PSTI accepts such derivation only through a keyed
  hash (HMAC) or encryption with a secret; those are not reported.
* `credentials.first-use-password`: positive evidence for 5.1-1 when the image
  ships no usable password at all and a boot or login path forces the user to
  set one.
"""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.accounts import accounts
from iotcop.checks.credentials.hardcoded import script_credentials
from iotcop.checks.credentials.settings import role_of
from iotcop.checks.credentials.stored import STORED_SECRETS, derived_settings, stored_secrets
from iotcop.checks.secrets.files import TEXT, is_shell_script, logical_path, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

_IDENTIFIER = re.compile(
    r"/sys/class/net/[^/\s]+/address"
    r"|\bnvram\s+get\s+\w*(?:mac|hwaddr|macaddr|serial|serial_no|sn)\w*"
    r"|\bfw_printenv\s+(?:-n\s+)?\w*(?:ethaddr|mac|serial|sn)\w*"
    r"|/proc/cpuinfo[^\n]*[Ss]erial|[Ss]erial[^\n]*/proc/cpuinfo"
    r"|/sys/firmware/devicetree/base/serial-number|/sys/class/dmi/id/product_serial"
    r"|\b(?:ifconfig|ip\s+link\s+show)\s+\S+[^\n]*(?:HWaddr|link/ether)"
    r"|\buci\s+(?:-q\s+)?get\s+wireless\.[\w@\[\]-]+\.(?:ssid|macaddr)"
    r"|\bmtd_get_mac\w*|\bget_mac_binary\b|\bmacaddr_\w+"
    # any command substitution that asks a vendor tool for an identifier (`pzinfo serial`, $(getmib wanmac))
    r"|(?:`|\$\()[^`)\n]{0,120}?[\s/-](?:serial(?:_?no|num(?:ber)?)?|sn|\w*mac(?:addr)?|hwaddr|ethaddr)\b"
)
_KEYED = re.compile(r"-hmac\b|\bhmac\b|-mac\s+HMAC|openssl\s+enc\b|\bopenssl\s+pkeyutl\b|-macopt\b", re.I)
_SINK = re.compile(
    r"\bchpasswd\b|\|\s*(?:\S*/)?passwd\b|\bpasswd\s+--stdin"
    r"|\buci\s+set\s+[\w.@\[\]-]*\.(?:key|password|sae_password)="
    r"|\bnvram\s+set\s+\w*(?:passwd|password|psk|key\d?)="
    r"|\bwpa_passphrase\b|\bhtpasswd\b|\bmosquitto_passwd\b|(?:passwd|password|psk)\w*="
)
_ASSIGN = re.compile(r"^\s*(?:export\s+|local\s+)?([A-Za-z_]\w*)=(.*)$")
_VARREF = re.compile(r"\$\{?([A-Za-z_]\w*)")
_SOURCE_NAMES = {"mac address": r"mac|hwaddr|ethaddr|address|ether", "serial number": r"serial|\bsn\b", "SSID": r"ssid"}


def _what(text: str) -> str:
    for name, rx in _SOURCE_NAMES.items():
        if re.search(rx, text, re.I):
            return name
    return "device identifier"


_CREDENTIAL_SINK = re.compile(r"""([A-Za-z_][\w.\[\]@-]*)(?:\s+|=)["']?\$\{?([A-Za-z_]\w*)""")


def _credential_sink(line: str, tainted: dict) -> bool:
    """A setting named as a password, Wi-Fi key or PIN given a derived variable (`sset WPADefaultKey $KEY`)."""
    for m in _CREDENTIAL_SINK.finditer(line):
        name = re.split(r"[.\[]", m.group(1))[-1] or m.group(1)
        if m.group(2) in tainted and role_of(name) in ("password", "wifi-psk", "wps-pin"):
            return True
    return False


_DERIVED = ("5.1-1", "5.1-2")  # PSTI Schedule 1 paragraph 1(3): unique, but not from public identifiers
# Settings of a description that UPnP/DLNA/SSDP/mDNS/SNMP hand out to anyone on the network.
_PUBLISHED_NAME = re.compile(r"(?i)^(?:serial(?:_?number|no|num)?|sn|udn|sysdescr|friendly_?name)$")
_PUBLISHING = re.compile(r"(?i)upnp|dlna|ssdp|description|mdns|avahi|bonjour|snmp|txt-record")


def _publication_sink(line: str, tainted: dict) -> bool:
    """A description setting that unauthenticated discovery protocols serve, given an identifier variable."""
    if not _PUBLISHING.search(line):
        return False
    for m in _CREDENTIAL_SINK.finditer(line):
        name = re.split(r"[.\[]", m.group(1))[-1] or m.group(1)
        if m.group(2) in tainted and _PUBLISHED_NAME.match(name):
            return True
    return False


def derivations(text: str, publishing: bool = False) -> list[tuple[int, str, bool, list[tuple[int, str]]]]:
    """(sink line, identifier kind, keyed, chain of (line, text)) for passwords derived from identifiers; with
    `publishing`, for identifiers handed to a description that discovery protocols serve instead."""
    tainted: dict[str, tuple[bool, list[tuple[int, str]], str]] = {}
    out = []
    for number, raw in enumerate(re.sub(r"\\\n", " ", text).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        source = _IDENTIFIER.search(line)
        refs = [tainted[v] for v in _VARREF.findall(line) if v in tainted]
        if not source and not refs:
            continue
        keyed = bool(_KEYED.search(line)) or any(k for k, _, _ in refs)
        chain = [step for _, c, _ in refs for step in c] + [(number, line)]
        kind = _what(source.group()) if source else refs[0][2]
        m = _ASSIGN.match(line)
        if m and not _SINK.search(m.group(2)):
            tainted[m.group(1)] = (keyed, chain, kind)
            continue
        if publishing:
            if _publication_sink(line, tainted):
                out.append((number, kind, keyed, chain))
        elif _SINK.search(line) or _credential_sink(line, tainted):
            out.append((number, kind, keyed, chain))
    return out


class DerivedPassword(Check):
    ID = "credentials.derived-password"
    VERSION = "1.1.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (TEXT, STORED_SECRETS)
    DOC = CheckDoc(
        title="Password derived from a public device identifier",
        why=(
            "A password or Wi-Fi key computed from the MAC address, serial number or SSID is unique per device but "
            "not secret: the identifier is on the label or on the air, the algorithm is in the image, so an "
            "attacker computes every unit's password. The PSTI regulations accept derivation only through a keyed "
            "hash or encryption whose key is not in the image."
        ),
        fix=(
            "Generate per-device passwords randomly at manufacture, or derive them with an HMAC/encryption keyed "
            "by a secret held outside the firmware."
        ),
        references=("UK PSTI Regulations 2023, Schedule 1 paragraph 1(3)(c)",
                    "CWE-1391: Use of Weak Credentials"),
        limitations=(
            "Configuration defaults whose password, Wi-Fi key or WPS PIN is a template the device fills from its "
            "MAC address, serial number or SSID (%{mac1}, ${SERIAL}, $(cat .../address)) are reported from the "
            "configuration readers.  Shell scripts are read line by line: a value is followed through variable "
            "assignments in the same file from an identifier source (/sys/class/net/*/address, nvram get "
            "*mac*/serial, fw_printenv ethaddr, the CPU serial, the SSID, a command substitution that asks a vendor "
            "tool for a serial or MAC) to a password sink (chpasswd, passwd, uci/nvram set of a key or password, "
            "htpasswd, any setting named as a password or key given the derived variable). Derivations in "
            "compiled programs, or across files, are not seen. A chain that passes through an HMAC or openssl enc "
            "is treated as keyed and not reported, without judging where the key is."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        sources: set[str] = set()
        for finding in self._derived(fw):
            sources.add(finding.title.rsplit(" from the ", 1)[-1].lower())
            yield finding
        if not sources:
            return
        for entry, text in text_files(fw):
            if not is_shell_script(entry, text) or not _PUBLISHING.search(text) or not _IDENTIFIER.search(text):
                continue
            for number, kind, _keyed, chain in derivations(text, publishing=True):
                if kind.lower() not in sources:
                    continue
                steps = "; ".join(f"line {n}: {t[:80]}" for n, t in chain)
                yield self.finding(
                    entry,
                    title=f"The {kind}, from which a credential is derived, is published on the network",
                    line=number,
                    excerpt=chain[-1][1],
                    detail=(f"the {kind} goes into a description that discovery protocols (UPnP/DLNA/SSDP/mDNS/SNMP) "
                            f"hand out without authentication ({steps}); the image derives a password or key from "
                            f"the same {kind}, so anyone on the network reads its source"),
                    provisions=("5.6-2",),
                    severity=Severity.medium,
                )

    def _derived(self, fw: Firmware) -> Iterator[CheckOutput]:
        for s in derived_settings(fw):
            what = {"password": "password", "wifi-psk": "Wi-Fi key", "wps-pin": "WPS PIN"}[s.kind]
            yield self.finding(
                s.path,
                title=f"{what[0].upper() + what[1:]} derived from the {s.derived_from}",
                line=s.line,
                excerpt=s.excerpt,
                detail=(f"{s.fmt} setting '{s.key}'" + (f" in '{s.section}'" if s.section else "")
                        + (f" for user '{s.user}'" if s.user else "")
                        + f" is the template '{s.value}', which the device fills with its {s.derived_from}. Unique "
                        f"per device, but the {s.derived_from} is public (on the label or on the network), so anyone "
                        "computes the credential; no keyed secret is involved"),
                provisions=_DERIVED,
            )
        for entry, text in text_files(fw):
            if not is_shell_script(entry, text) or not _IDENTIFIER.search(text):
                continue
            for number, kind, keyed, chain in derivations(text):
                if keyed:
                    continue
                steps = "; ".join(f"line {n}: {t[:80]}" for n, t in chain)
                hashed = any(re.search(r"md5sum|sha\d+sum|cksum|base64|openssl\s+dgst", t) for _, t in chain)
                yield self.finding(
                    entry,
                    title=f"Password derived from the {kind}",
                    line=number,
                    excerpt=chain[-1][1],
                    detail=(
                        f"the password set at line {number} is computed from the {kind} "
                        f"({'through an unkeyed hash' if hashed else 'directly'}): {steps}. Unique per device, but "
                        "anyone who reads the identifier computes it; no keyed hash or encryption is used."
                    ),
                    provisions=_DERIVED,
                )


# -- first use -------------------------------------------------------------------------------

_FIRSTBOOT_PATHS = re.compile(r"^/etc/uci-defaults/|^/lib/preinit/|firstboot|first_boot|first-boot|^/etc/profile(?:\.d/|$)|^/etc/init\.d/|^/etc/rc\.local$|^/etc/rcS$")
_INTERACTIVE_PASSWD = re.compile(r"(?:^|&&|;|\bthen\b|\bdo\b|\|\||\bwhile\b|\buntil\b|\bif\b)\s*(?:!\s*)?(?:exec\s+)?(?:\S*/)?passwd(?:\s+(?!--stdin)[\w-]+)?\s*(?:;|&&|\|\||$|#)")
_EXPIRE = re.compile(r"\b(?:passwd\s+-e|chage\s+-d\s*0)\s+([A-Za-z_][\w.-]*)")


def _shadow_lastchg(fw: Firmware) -> dict[str, str]:
    out = {}
    entry = fw.get("/etc/shadow")
    text = fw.read_text(entry) if entry else None
    for line in (text or "").splitlines():
        parts = line.split(":")
        if len(parts) >= 3:
            out[parts[0]] = parts[2]
    return out


class FirstUsePassword(Check):
    ID = "credentials.first-use-password"
    VERSION = "1.0.0"
    SEVERITY = Severity.info
    TIMEOUT = 60.0
    USES = (TEXT,)
    DOC = CheckDoc(
        title="First use forces the user to set a password",
        why="A device that ships with no usable password and makes the user set one meets 5.1-1 by construction.",
        fix="Lock every account in the image and force password creation on first use (setup wizard or first login).",
        limitations=(
            "Gives positive evidence only, never a finding, and only when all of these hold: /etc/shadow exists; "
            "every account with a login shell is locked or its password is expired (last-change field 0); no "
            "usable, empty or plain-text password is stored anywhere else (htpasswd, configuration, scripts); no "
            "Wi-Fi passphrase ships; and a first-boot or login script runs an interactive passwd (not fed from a "
            "pipe) or expires the password (passwd -e, chage -d 0). A setup wizard in a web UI is not recognised."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        if fw.get("/etc/shadow") is None:
            return
        lastchg = _shadow_lastchg(fw)
        # The cheap conditions first: a forcing mechanism in a first-boot or login script.
        mechanism = None
        for entry, text in text_files(fw):
            lp = logical_path(entry.path)
            if not _FIRSTBOOT_PATHS.search(lp) or "passwd" not in text or not is_shell_script(entry, text):
                continue
            if script_credentials(text):
                return  # a script sets a literal password
            for number, line in enumerate(text.splitlines(), 1):
                s = line.strip()
                if s.startswith("#"):
                    continue
                if _INTERACTIVE_PASSWD.search(s) or _EXPIRE.search(s):
                    mechanism = mechanism or (entry.path, number, s)
        if mechanism is None:
            return
        login_accounts = []
        for acc in accounts(fw):
            if acc.kind == "unix" and acc.login_disabled:
                continue
            if acc.source in ("shadow",) and (acc.scheme == "locked" or lastchg.get(acc.user) == "0"):
                login_accounts.append(acc)
                continue
            if acc.scheme == "locked":
                continue
            return  # a usable, empty or plain-text password ships somewhere
        if not login_accounts or any(stored_secrets(fw)):
            return
        if any(script_credentials(text) for entry, text in text_files(fw) if is_shell_script(entry, text)):
            return  # some script sets or passes a literal password
        path, number, line = mechanism
        users = ", ".join(sorted({a.user for a in login_accounts}))
        yield self.compliant(
            "5.1-1",
            "No usable password ships in the image and first use forces the user to set one: every account with "
            f"a login shell ({users}) is locked or expired in /etc/shadow, no other password store, configuration "
            f"or script holds a password, and {path}:{number} runs '{line}' on first boot or first login. Every "
            "password in use after the factory default state is therefore defined by the user.",
            Evidence(path="/etc/shadow", detail=f"locked or expired: {users}"),
            Evidence(path=path, line=number, excerpt=line, detail="forces the user to set a password"),
        )
