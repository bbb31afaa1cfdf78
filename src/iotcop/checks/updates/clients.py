"""Update clients found in the image, with where they download from and how they verify.

One UpdateClient per mechanism: opkg feeds, OpenWrt sysupgrade, SWUpdate,
RAUC, Mender, fwupd, vendor shell scripts and CGI upload handlers that fetch
or accept an image and write it to flash, and ELF updater programs.  Each
record carries the evidence chain a finding or a compliance statement needs:
the sources (URLs), the verification seen (with its key, if shipped) and the
install step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from iotcop.checks.secrets.files import TEXT, stored_text
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware, looks_binary
from iotcop.model import Evidence

MAX_SCRIPT = 512 * 1024

URL = re.compile(r"\b(?:https?|ftp|tftp)://[^\s'\"<>`;|)]+", re.I)
_DOWNLOAD = re.compile(r"(?:^|[\s;|&`(])(?:\S*/)?(?:wget|curl|uclient-fetch|tftp|fetch|ftpget)\b[^\n]*")
_FLASH = re.compile(
    r"(?:^|[\s;|&`(])(?:(?:\S*/)?(?:mtd\s+(?:-\S+\s+)*write|sysupgrade|flashcp|nandwrite|flash_erase|fw_upgrade|mtd_write|ubiupdatevol|swupdate|rauc\s+install|mender\s+(?:-install|install))\b|dd\b[^\n]*\bof=/dev/(?:mtd|mmcblk|nand|ubi)\w*)"
)
_VERIFY = re.compile(
    r"(?:^|[\s;|&`(])(?:(?:\S*/)?(?:usign|signify|signify-openbsd)\s+(?:-\S+\s+)*-V\b|openssl\s+(?:dgst|pkeyutl|rsautl|smime|cms)\b[^\n]*-verify\b"
    r"|gpgv?\b[^\n]*--verify\b|gpgv\s|ucert\s+(?:-\S+\s+)*-V|fwtool\s+(?:-\S+\s+)*-s)"
)
_FLASH_WORDS = (b"mtd", b"sysupgrade", b"flashcp", b"nandwrite", b"flash_erase", b"fw_upgrade", b"ubiupdatevol", b"swupdate", b"rauc", b"mender", b"of=/dev/")
_FLASH_WORDS_TEXT = tuple(w.decode() for w in _FLASH_WORDS)
_TLS_OFF = re.compile(r"(?:^|\s)(?:-k|--insecure|--no-check-certificate)(?:\s|$)")
_FW_WORDS = re.compile(r"firmware|upgrade|update|\bfw\b|\.bin\b|\.img\b|\.trx\b|\.itb\b|sysupgrade|ota", re.I)
_SIGN_IMPORTS = frozenset({
    "RSA_verify", "RSA_public_decrypt", "EVP_DigestVerify", "EVP_DigestVerifyFinal", "EVP_DigestVerifyInit", "EVP_VerifyFinal",
    "EVP_PKEY_verify", "ECDSA_verify", "ECDSA_do_verify", "mbedtls_pk_verify", "mbedtls_rsa_pkcs1_verify", "mbedtls_ecdsa_read_signature",
    "wc_RsaSSL_Verify", "wc_SignatureVerify", "ed25519_verify", "crypto_sign_verify_detached", "crypto_sign_open", "gnutls_pubkey_verify_data2",
    "PKCS7_verify", "CMS_verify", "uECC_verify", "br_rsa_pkcs1_vrfy_get_default",
})
_UPDATER_NAME = re.compile(r"upgrade|update|fwupd|ota|firmware|flash", re.I)
_ROLLBACK = re.compile(r"no-downgrad|anti[-_]?rollback|rollback[-_]index|min(?:imum)?[-_]version|security[-_]version", re.I)


@dataclass
class Step:
    path: str
    line: int | None
    text: str

    def evidence(self, detail: str) -> Evidence:
        return Evidence(path=self.path, line=self.line, excerpt=self.text[:200], detail=detail)


@dataclass
class UpdateClient:
    kind: str  # opkg, sysupgrade, swupdate, rauc, mender, fwupd, script, cgi, binary
    path: str  # the file that shows the mechanism
    sources: list[Step] = field(default_factory=list)  # where images or packages come from (with URL)
    verification: list[Step] = field(default_factory=list)  # signature checks seen
    keys: list[str] = field(default_factory=list)  # public keys shipped for the verification (device paths)
    install: list[Step] = field(default_factory=list)  # the step that writes the image
    insecure_tls: list[Step] = field(default_factory=list)
    automatic: list[Step] = field(default_factory=list)  # cron or daemon that runs it without the user
    rollback: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def network(self) -> bool:
        return any(URL.search(s.text) for s in self.sources) or any(s.text.startswith("network:") for s in self.sources)

    @property
    def plain_http(self) -> list[Step]:
        return [s for s in self.sources if re.search(r"\b(?:http|ftp|tftp)://", s.text, re.I) or re.search(r"(?:^|\s)tftp\s", s.text)]

    @property
    def verified(self) -> bool:
        return bool(self.verification)


def _lines(text: str):
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _text(fw: Firmware, entry: FileEntry | str | None) -> str | None:
    if entry is None:
        return None
    data = fw.read_bytes(entry, MAX_SCRIPT)
    if data is None or looks_binary(data):
        return None
    return data.decode("utf-8", errors="replace")


def _existing(fw: Firmware, paths) -> list[str]:
    return [p for p in paths if p and fw.get(p) is not None]


# -- mechanisms ----------------------------------------------------------------------------------


def _opkg(fw: Firmware) -> list[UpdateClient]:
    confs = [e for e in fw.files() if e.path == "/etc/opkg.conf" or (e.path.startswith("/etc/opkg/") and e.name.endswith(".conf"))]
    if not confs:
        return []
    client = UpdateClient("opkg", confs[0].path)
    check_signature = False
    for entry in confs:
        for number, line in _lines(_text(fw, entry) or ""):
            words = line.split()
            if words[0] in ("src", "src/gz") and len(words) >= 3:
                client.sources.append(Step(entry.path, number, line))
            elif words[:2] == ["option", "check_signature"] and (len(words) == 2 or words[2] not in ("0", "false", "no")):
                check_signature = True
                client.verification.append(Step(entry.path, number, line))
    keys = sorted(e.path for e in fw.glob("/etc/opkg/keys/*") if e.kind == "file")
    client.keys = keys
    if check_signature and not keys:
        client.notes.append("check_signature is set but /etc/opkg/keys holds no key")
    return [client] if client.sources else []


def _sysupgrade(fw: Firmware) -> list[UpdateClient]:
    entry = fw.get("/sbin/sysupgrade")
    if entry is None:
        return []
    client = UpdateClient("sysupgrade", entry.path)
    client.install.append(Step(entry.path, None, "sysupgrade (OpenWrt image installer)"))
    for e in [entry, *fw.glob("/lib/upgrade/*.sh")]:
        for number, line in _lines(_text(fw, e) or ""):
            if _VERIFY.search(line):
                client.verification.append(Step(e.path, number, line))
    client.keys = sorted(e.path for e in fw.glob("/etc/opkg/keys/*") if e.kind == "file") if client.verification else []
    client.sources.append(Step(entry.path, None, "local: image uploaded through the web interface or copied to the device"))
    return [client]


def _swupdate(fw: Firmware) -> list[UpdateClient]:
    binary = next((e for e in fw.by_name("swupdate") if e.elf is not None), None)
    cfg = fw.get("/etc/swupdate.cfg") or fw.get("/etc/swupdate/swupdate.cfg")
    if binary is None and cfg is None:
        return []
    client = UpdateClient("swupdate", (binary or cfg).path)
    text = _text(fw, cfg) or ""
    for number, line in _lines(text):
        m = re.match(r'public-key-file\s*=\s*"([^"]+)"', line)
        if m:
            client.verification.append(Step(cfg.path, number, line))
            client.keys.extend(_existing(fw, [m.group(1)]))
        if re.match(r"url\s*=", line):
            client.sources.append(Step(cfg.path, number, line))
        if _ROLLBACK.search(line):
            client.rollback.append(Step(cfg.path, number, line))
    for cmd in boot_commands(fw):
        if cmd.program == "swupdate":
            key = _arg(cmd.args, "-k", "--key")
            if key:
                client.verification.append(Step(cmd.path, cmd.line, cmd.text))
                client.keys.extend(_existing(fw, [key]))
            if "-u" in cmd.args or "--suricatta" in cmd.args or "-d" in cmd.args or "--download" in cmd.args:
                client.sources.append(Step(cmd.path, cmd.line, cmd.text))
                if "-u" in cmd.args or "--suricatta" in cmd.args:
                    client.automatic.append(Step(cmd.path, cmd.line, cmd.text))
            if "-N" in cmd.args or "--no-downgrading" in cmd.args:
                client.rollback.append(Step(cmd.path, cmd.line, cmd.text))
    if not client.sources:
        client.sources.append(Step(client.path, None, "local: image handed to swupdate (web server or USB)"))
    return [client]


def _arg(args, *names):
    for i, a in enumerate(args):
        if a in names and i + 1 < len(args):
            return args[i + 1]
        for n in names:
            if n.startswith("--") and a.startswith(n + "="):
                return a.split("=", 1)[1]
    return None


def _rauc(fw: Firmware) -> list[UpdateClient]:
    conf = fw.get("/etc/rauc/system.conf")
    if conf is None:
        return []
    client = UpdateClient("rauc", conf.path)
    section = None
    for number, line in _lines(_text(fw, conf) or ""):
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "keyring" and line.startswith(("path", "directory")):
            value = line.split("=", 1)[1].strip()
            path = value if value.startswith("/") else f"/etc/rauc/{value}"
            client.verification.append(Step(conf.path, number, line))
            client.keys.extend(_existing(fw, [path]) or [e.path for e in fw.glob(path.rstrip("/") + "/*") if e.kind == "file"])
        elif section == "streaming" or (section == "system" and "bundle" in line):
            if URL.search(line):
                client.sources.append(Step(conf.path, number, line))
    client.sources.append(Step(conf.path, None, "local: RAUC bundle installed with 'rauc install'"))
    return [client]


def _mender(fw: Firmware) -> list[UpdateClient]:
    conf = fw.get("/etc/mender/mender.conf")
    if conf is None:
        return []
    client = UpdateClient("mender", conf.path)
    try:
        data = json.loads(_text(fw, conf) or "{}")
    except ValueError:
        data = {}
    for key in ("ServerURL",):
        if isinstance(data.get(key), str):
            client.sources.append(Step(conf.path, None, f'"{key}": "{data[key]}"'))
    for server in data.get("Servers") or []:
        if isinstance(server, dict) and isinstance(server.get("ServerURL"), str):
            client.sources.append(Step(conf.path, None, f'"ServerURL": "{server["ServerURL"]}"'))
    key = data.get("ArtifactVerifyKey")
    if isinstance(key, str):
        client.verification.append(Step(conf.path, None, f'"ArtifactVerifyKey": "{key}"'))
        client.keys.extend(_existing(fw, [key]))
    if data.get("UpdatePollIntervalSeconds") or client.sources:
        client.automatic.append(Step(conf.path, None, "mender client polls the server (UpdatePollIntervalSeconds)"))
    if data.get("SkipVerify") is True:
        client.insecure_tls.append(Step(conf.path, None, '"SkipVerify": true'))
    return [client]


def _fwupd(fw: Firmware) -> list[UpdateClient]:
    remotes = [e for e in fw.glob("/etc/fwupd/remotes.d/*.conf") if e.kind == "file"]
    if not remotes:
        return []
    client = UpdateClient("fwupd", remotes[0].path)
    for entry in remotes:
        text = _text(fw, entry) or ""
        if re.search(r"^\s*Enabled\s*=\s*false", text, re.M | re.I):
            continue
        for number, line in _lines(text):
            if line.startswith(("MetadataURI", "FirmwareBaseURI")):
                client.sources.append(Step(entry.path, number, line))
    if client.sources:
        # fwupd checks metadata signatures (jcat: PKCS#7 or GPG) against its shipped keyrings.
        keys = sorted(e.path for e in fw.glob("/etc/pki/fwupd*/*") if e.kind == "file")
        if keys:
            client.verification.append(Step(client.path, None, "fwupd verifies metadata signatures (jcat) with the keys in /etc/pki/fwupd*"))
            client.keys = keys
    return [client] if client.sources else []


def _scripts(fw: Firmware) -> list[UpdateClient]:
    """Shell scripts and CGI handlers that fetch or accept an image and write it to flash."""
    from iotcop.checks.surface.debug_pages import in_web_root

    clients = []
    for entry in fw.files():
        if entry.magic not in ("script", "text") or entry.size > MAX_SCRIPT or not entry.path.startswith("/"):
            continue
        if entry.path == "/sbin/sysupgrade" or entry.path.startswith(("/lib/upgrade/", "/usr/share/", "/etc/opkg")):
            continue
        text = stored_text(fw, entry, MAX_SCRIPT)
        if not text or "\x00" in text[:2048] or not any(w in text for w in _FLASH_WORDS_TEXT):
            continue
        if not _FLASH.search(text):
            continue
        cgi = in_web_root(entry.path)
        client = UpdateClient("cgi" if cgi else "script", entry.path)
        for number, line in _lines(text):
            if _DOWNLOAD.search(line) and (URL.search(line) or re.search(r"(?:^|\s)tftp\s", line)) and _FW_WORDS.search(line):
                client.sources.append(Step(entry.path, number, line))
                if _TLS_OFF.search(line):
                    client.insecure_tls.append(Step(entry.path, number, line))
            elif _DOWNLOAD.search(line) and re.search(r"\$\{?\w*(?:url|URL|server|SERVER|host|HOST)", line):
                client.sources.append(Step(entry.path, number, line))
                if _TLS_OFF.search(line):
                    client.insecure_tls.append(Step(entry.path, number, line))
            if _VERIFY.search(line):
                client.verification.append(Step(entry.path, number, line))
                client.keys.extend(_existing(fw, re.findall(r"(/[\w./-]+\.(?:pub|pem|key|gpg|asc))", line)))
            if _FLASH.search(line):
                client.install.append(Step(entry.path, number, line))
            if _ROLLBACK.search(line):
                client.rollback.append(Step(entry.path, number, line))
        if cgi and not client.sources and re.search(r"CONTENT_LENGTH|multipart|upload", text, re.I):
            client.sources.append(Step(entry.path, None, "local: image uploaded through the web interface"))
        # URL held in a variable: resolve NAME=http://... assignments of the same script.
        if client.sources:
            for number, line in _lines(text):
                m = re.match(r"^(?:export\s+)?\w*(?:URL|SERVER|HOST|url|server)\w*=['\"]?(\S+?)['\"]?$", line)
                if m and URL.search(m.group(1)):
                    client.sources.append(Step(entry.path, number, line))
        if client.sources and client.install:
            clients.append(client)
    return clients


def _binaries(fw: Firmware) -> list[UpdateClient]:
    clients = []
    for entry in fw.elf_files():
        if not _UPDATER_NAME.search(entry.name) or entry.elf.elf_type not in ("EXEC", "DYN") or entry.name.endswith(".so") or ".so." in entry.name:
            continue
        data = fw.read_bytes(entry, 32 * 1024 * 1024) or b""
        urls = sorted({u.decode("ascii", "replace") for u in re.findall(rb"(?:https?|ftp|tftp)://[\x21-\x7e]{4,200}", data)})
        flashes = any(w in data for w in (b"/dev/mtd", b"mtd write", b"sysupgrade", b"nandwrite", b"flashcp", b"MEMERASE"))
        if not urls or not flashes:
            continue
        client = UpdateClient("binary", entry.path)
        for url in urls[:10]:
            client.sources.append(Step(entry.path, None, url))
        client.install.append(Step(entry.path, None, "writes to flash (/dev/mtd, mtd write or sysupgrade strings)"))
        verify = sorted(set(entry.elf.imported) & _SIGN_IMPORTS)
        if verify:
            client.verification.append(Step(entry.path, None, "imports " + ", ".join(verify)))
            client.keys.extend(sorted(e.path for e in fw.files() if e.path.startswith("/etc/") and e.magic == "pem" and b"PUBLIC KEY" in (fw.read_bytes(e, 8192) or b"")))
        clients.append(client)
    return clients


def _automatic(fw: Firmware, clients: list[UpdateClient]) -> None:
    """Cron entries that run an update client."""
    crons = [e for e in fw.files() if e.path.startswith(("/etc/crontabs/", "/etc/cron.d/", "/var/spool/cron/")) or e.path == "/etc/crontab"]
    for cron in crons:
        for number, line in _lines(_text(fw, cron) or ""):
            for client in clients:
                name = client.path.rsplit("/", 1)[-1]
                if (client.kind == "opkg" and re.search(r"\bopkg\s+(?:update|upgrade)", line)) or (client.kind in ("script", "binary") and name in line):
                    client.automatic.append(Step(cron.path, number, line))


def _collect(fw: Firmware) -> tuple[UpdateClient, ...]:
    clients = _opkg(fw) + _sysupgrade(fw) + _swupdate(fw) + _rauc(fw) + _mender(fw) + _fwupd(fw) + _scripts(fw) + _binaries(fw)
    _automatic(fw, clients)
    for client in clients:
        client.keys = sorted(set(client.keys))
    return tuple(clients)


UPDATE_CLIENTS = DerivedFact("updates.clients", _collect, uses=(TEXT, BOOT_COMMANDS))


def update_clients(fw: Firmware) -> tuple[UpdateClient, ...]:
    """Every update mechanism found in the image (memoised)."""
    return UPDATE_CLIENTS.of(fw)
