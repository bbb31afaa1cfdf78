"""SSH public keys authorised to log in, shipped in the image: whoever holds the private key logs in to every unit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
import struct
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.accounts import ACCOUNTS, accounts
from iotcop.checks.secrets.files import TEXT, logical_path, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

_KEY_TYPES = r"ssh-rsa|ssh-dss|ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com"
_LINE = re.compile(rf"""^(?:(?P<options>(?:[\w-]+(?:="(?:[^"\\]|\\.)*")?,?)+)\s+)?(?P<type>{_KEY_TYPES})\s+(?P<blob>AAAA[A-Za-z0-9+/]+={{0,2}})(?:\s+(?P<comment>.*))?$""")


def parse_authorized_keys(text: str) -> list[tuple[int, str, str, str, str]] | None:
    """(line, key type, SHA256 fingerprint, comment, options) per key when the text is an authorized_keys file
    (every non-comment line a valid key whose blob names its own type); None otherwise."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            return None
        try:
            blob = base64.b64decode(m.group("blob"), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(blob) < 4:
            return None
        (n,) = struct.unpack(">I", blob[:4])
        if blob[4:4 + n].decode("ascii", "replace") != m.group("type"):
            return None
        fingerprint = "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        out.append((number, m.group("type"), fingerprint, (m.group("comment") or "").strip(), m.group("options") or ""))
    return out or None


class AuthorizedKey(Check):
    ID = "credentials.authorized-key"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (TEXT, ACCOUNTS)
    DOC = CheckDoc(
        title="SSH key authorised to log in ships in the image",
        why=(
            "An authorized_keys entry in the image lets whoever holds the matching private key (the vendor, a "
            "contractor, anyone it leaked to) log in to every unit: remote access shared by all devices, which "
            "the user cannot see or change."
        ),
        fix="Ship no authorised keys; let the user add their own key, or provision per-device keys for support access.",
        references=("CWE-798: Use of Hard-coded Credentials",),
        limitations=(
            "Text files in any partition or overlay whose every line is an OpenSSH public key entry (options, type, "
            "base64 blob naming the same type, comment); .pub files of key pairs are not authorisations and are "
            "skipped.  The account is taken from the path (/root, /home/<user>, a passwd home folder; dropbear's "
            "/etc/dropbear/authorized_keys is root's).  Whether an SSH server runs is not judged here."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        homes = {}
        for acc in accounts(fw):
            if acc.source == "passwd" and acc.excerpt.count(":") >= 6:
                homes.setdefault(acc.excerpt.split(":")[5].rstrip("/"), acc.user)
        for entry, text in text_files(fw):
            if entry.name.endswith(".pub") or ("ssh-" not in text and "ecdsa-" not in text):
                continue
            keys = parse_authorized_keys(text)
            if not keys:
                continue
            lp = logical_path(entry.path)
            user = _owner(lp, homes)
            named = entry.name in ("authorized_keys", "authorized_keys2") or "/.ssh/" in lp
            listed = "; ".join(f"{t} {fp}" + (f" ({c})" if c else "") for _, t, fp, c, _ in keys[:5])
            yield self.finding(
                entry,
                title=f"SSH key authorised for '{user}' ships in the image" if user else
                "SSH keys authorised to log in ship in the image",
                line=keys[0][0],
                excerpt=listed[:200],
                detail=(f"{len(keys)} public key(s) may log in" + (f" as '{user}'" if user else "")
                        + f": {listed}. Every unit accepts the holder of the private key, which is not on the device"),
                severity=Severity.critical if user == "root" else Severity.high,
                confidence="confirmed" if named else "likely",
            )


def _owner(path: str, homes: dict[str, str]) -> str | None:
    folder = posixpath.dirname(path)
    if folder.endswith("/.ssh"):
        folder = folder[: -len("/.ssh")]
    for prefix in sorted(homes, key=len, reverse=True):
        if prefix and (path.startswith(prefix + "/") or folder.endswith(prefix)):
            return homes[prefix]
    if re.search(r"(?:^|/)root$", folder) or "/dropbear" in folder:
        return "root"
    m = re.search(r"/home/([^/]+)$", folder)
    return m.group(1) if m else None
