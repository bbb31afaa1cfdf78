"""Secret files that every local user can read."""

from __future__ import annotations

from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.credentials.accounts import ACCOUNTS, accounts
from iotcop.checks.credentials.stored import STORED_SECRETS, stored_secrets
from iotcop.checks.crypto.private_keys import MAX_DER_FILE_BYTES, private_keys
from iotcop.checks.secrets.files import is_reference_material
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

_SHADOW_NAMES = frozenset({"shadow", "shadow-", "gshadow", "gshadow-", "master.passwd"})
_KEY_MAGICS = frozenset({"pem", "der", "data", "text"})


def _secret_files(fw: Firmware) -> dict[str, tuple[FileEntry, str, Severity]]:
    found: dict[str, tuple[FileEntry, str, Severity]] = {}

    def add(entry: FileEntry | None, what: str, severity: Severity) -> None:
        if entry is not None and entry.path not in found:
            found[entry.path] = (entry, what, severity)

    for entry in fw.files():
        if entry.name in _SHADOW_NAMES and not is_reference_material(entry.path):
            add(entry, "password hashes (shadow file)", Severity.high)
    for acc in accounts(fw):
        if acc.source in ("htpasswd", "htdigest", "plain", "mosquitto") and acc.scheme not in ("locked", "blank"):
            add(fw.get(acc.path), f"{acc.kind} password store", Severity.medium)
    for s in stored_secrets(fw):
        add(fw.get(s.path), "Wi-Fi passphrase" if s.kind == "wifi-psk" else "password in configuration", Severity.medium)
    for entry, keys in private_keys(fw):
        if entry.path in found or is_reference_material(entry.path):
            continue
        if entry.magic not in _KEY_MAGICS or not (entry.mode & 0o004):
            continue
        if entry.magic in ("data", "text") and entry.size > MAX_DER_FILE_BYTES:
            continue
        keys = [k for k in keys if not k.encrypted]
        if keys:
            add(entry, f"unencrypted {keys[0].describe()} private key ({keys[0].format})", Severity.high)
    return found


def modes_recorded(fw: Firmware) -> bool:
    """Whether read permissions survived extraction: some file is not readable by others.

    unblob adds read permission to every file it extracts, so an image where every
    file is world-readable says nothing about the modes on the device.
    """
    return any(not entry.mode & 0o004 for entry in fw.files())


class WorldReadableSecret(Check):
    ID = "secrets.world-readable"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS, STORED_SECRETS)
    DOC = CheckDoc(
        title="Secret file readable by every user",
        why=(
            "Password hashes, private keys and passphrases that every local user can read are exposed to any "
            "compromised daemon running as an unprivileged user; the operating system's access control is the "
            "secure storage 5.4-1 asks for."
        ),
        fix="Make secret files owned by root (or the one service that needs them) with mode 0600 or 0640.",
        references=("CWE-732: Incorrect Permission Assignment",),
        limitations=(
            "Judged from the permission bits the extractor recorded: file systems that store no modes (FAT, some "
            "vendor containers) or extractors that do not restore them can make every file look world-readable. "
            "Secrets are shadow files, htpasswd/Mosquitto password files, configuration files holding passwords "
            "or Wi-Fi passphrases and unencrypted private keys (PEM anywhere in text files, whole-file DER, "
            "PKCS#12, dropbear). When every file of the image is world-readable (unblob adds read permission to "
            "everything it extracts) the modes are taken as not recorded and nothing is judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        if not modes_recorded(fw):
            return
        for path, (entry, what, severity) in sorted(_secret_files(fw).items()):
            if not entry.mode & 0o004:
                continue
            yield self.finding(
                entry,
                title=f"World-readable secret: {what}",
                excerpt=f"mode {entry.mode:04o} uid {entry.uid} gid {entry.gid}",
                detail=f"{path} holds {what} and its mode {entry.mode:04o} lets every user read it",
                severity=severity,
            )
