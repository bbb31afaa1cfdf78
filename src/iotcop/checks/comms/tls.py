"""TLS done badly: verification switched off, weak protocol versions or ciphers, self-signed certificates shipped with their key."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput, ContentCheck
from iotcop.checks.crypto.certificates import CERTIFICATES, certificates
from iotcop.checks.crypto.private_keys import _is_throwaway, private_keys
from iotcop.checks.secrets.files import (
    MAX_TEXT_BYTES,
    TEXT,
    TEXT_MAGICS,
    is_reference_material,
    logical_path,
    text_files,
)
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

_REFS = ("CWE-295: Improper Certificate Validation",)

# Each pattern names what it found; all are matched on one logical line of a script or configuration.
_INSECURE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("curl -k / --insecure", re.compile(r"\bcurl\b[^\n|;&]*?\s(?:--insecure\b|-[a-zA-Z]*k[a-zA-Z]*\b)")),
    ("wget --no-check-certificate", re.compile(r"\b(?:wget|uclient-fetch)\b[^\n|;&]*?\s--no-check-certificate\b")),
    ("SSL_VERIFY_NONE", re.compile(r"\bSSL_(?:CTX_)?set_verify\s*\([^,]+,\s*SSL_VERIFY_NONE\b")),
    ("CURLOPT_SSL_VERIFYPEER off", re.compile(r"CURLOPT_SSL_VERIFY(?:PEER|HOST)\s*,\s*(?:0|0L|false|FALSE)\b")),
    ("requests verify=False", re.compile(r"\bverify\s*=\s*False\b")),
    ("Python unverified SSL context", re.compile(r"\bssl\._create_unverified_context\b|\bcheck_hostname\s*=\s*False\b|\bverify_mode\s*=\s*ssl\.CERT_NONE\b")),
    ("Node.js rejectUnauthorized false", re.compile(r"\brejectUnauthorized\s*:\s*false\b|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*['\"]?0")),
    ("Lua/LuCI verify none", re.compile(r"verify\s*=\s*[\"']none[\"']")),
    ("Mosquitto bridge_insecure", re.compile(r"^\s*bridge_insecure\s+true\b", re.M)),
    ("tls_insecure / insecure_skip_verify", re.compile(r"\b(?:tls_insecure|insecure_skip_verify|insecureSkipVerify|tls_insecure_skip_verify)\s*[=:]?\s*['\"]?(?:true|1|yes)\b", re.I)),
    ("ssl_verify off", re.compile(r"\b(?:ssl_?verify(?:_?peer)?|verify_?ssl|sslverify|tls_?verify)\s*[=:]\s*['\"]?(?:0|false|no|off)\b", re.I)),
)
# Every pattern needs one of these substrings on its line: files and lines without any are skipped cheaply.
_LITERALS = ("insecure", "Insecure", "no-check-certificate", "VERIFY", "verify", "rejectUnauthorized", "unverified",
             "check_hostname", "CERT_NONE", "curl", "InsecureSkip")
# Command strings compiled into programs ("wget --no-check-certificate -O /tmp/fw %s").
_BINARY_COMMAND = re.compile(rb"(?:curl|wget|uclient-fetch)\s[\x20-\x7e]{0,200}?(?:--insecure|--no-check-certificate|\s-k\s|\s-[a-jl-zA-Z]*k[a-zA-Z]*\s)[\x20-\x7e]{0,200}")
MAX_BINARY_BYTES = 32 * 1024 * 1024


class TlsVerificationDisabled(ContentCheck):
    ID = "comms.tls-verification-disabled"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    DOC = CheckDoc(
        title="TLS certificate verification switched off",
        why=(
            "A connection made with certificate checks turned off (curl -k, wget --no-check-certificate, "
            "verify=False, SSL_VERIFY_NONE) is encrypted but not authenticated: anyone on the path can impersonate "
            "the server, serve a forged update or collect credentials."
        ),
        fix="Verify the server certificate against a pinned CA bundle shipped in the image; never disable verification.",
        references=_REFS,
        limitations=(
            "Shell, Lua, Python, JavaScript and configuration text is read line by line; compiled programs only "
            "where a curl/wget command line with -k/--insecure/--no-check-certificate is stored as a string. "
            "Calls such as SSL_CTX_set_verify or curl_easy_setopt inside compiled code are not judged (their "
            "arguments are not visible without disassembly); language libraries and documentation are skipped."
        ),
    )

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        if entry.size == 0 or is_reference_material(entry.path):
            return 0
        if entry.magic in TEXT_MAGICS:
            return MAX_TEXT_BYTES if entry.size <= MAX_TEXT_BYTES else 0
        if entry.magic != "elf" or entry.size > MAX_BINARY_BYTES:
            return 0
        if entry.name in ("curl", "wget", "uclient-fetch", "busybox") or entry.name.startswith("libcurl"):
            return 0  # the tools' own help text
        return MAX_BINARY_BYTES

    def scan_content(self, entry: FileEntry, data: bytes):
        """[[kind, line or offset, what, excerpt]]: kind "text" (a script or configuration line) or "binary"."""
        if entry.magic == "elf":
            if b"--no-check-certificate" not in data and b"--insecure" not in data and b" -k" not in data:
                return None
            return [["binary", m.start(), "", m.group().decode("ascii", "replace")]
                    for m in _BINARY_COMMAND.finditer(data)] or None
        text = data.decode("utf-8", errors="replace")
        if not any(lit in text for lit in _LITERALS):
            return None
        out = []
        for number, raw in enumerate(text.splitlines(), 1):
            if not any(lit in raw for lit in _LITERALS):
                continue
            line = raw.strip()
            if line.startswith(("#", "//", "--")):
                continue
            for what, rx in _INSECURE:
                if rx.search(line):
                    out.append(["text", number, what, line])
                    break
        return out or None

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, found in self.results(fw, ctx):
            for kind, where, what, excerpt in found:
                if kind == "binary":
                    yield self.finding(
                        entry,
                        title="TLS verification disabled in a command compiled into a program",
                        offset=where,
                        excerpt=excerpt,
                        detail="the program runs a download command that accepts any certificate",
                    )
                    continue
                url = re.search(r"https://[^\s'\"]+", excerpt)
                yield self.finding(
                    entry,
                    title=f"TLS verification disabled ({what})",
                    line=where,
                    excerpt=excerpt,
                    detail=f"{what}: the connection" + (f" to {url.group()}" if url else "")
                           + " accepts any certificate, so a man-in-the-middle is not detected",
                )


# -- weak protocols and ciphers ---------------------------------------------------------------

_WEAK_CIPHER = re.compile(r"(?:^|[-_+])(RC4|DES|3DES|DES-CBC3|NULL|eNULL|aNULL|EXPORT|EXP|MD5|ADH|AECDH|IDEA|RC2)(?:$|[-_+])", re.I)
_WEAK_PROTOCOLS = {"sslv2": "SSLv2", "sslv3": "SSLv3", "tlsv1": "TLS 1.0", "tlsv1.0": "TLS 1.0", "tlsv1.1": "TLS 1.1", "tlsv1_1": "TLS 1.1"}


def weak_ciphers(cipher_list: str) -> list[str]:
    """Cipher-string entries that enable a broken cipher (exclusions with ! or - are ignored)."""
    out = []
    for token in re.split(r"[:,\s]+", cipher_list.strip("'\" ")):
        if not token or token[0] in "!-" or token.startswith("@"):
            continue
        body = token.lstrip("+")
        if _WEAK_CIPHER.search(body) and not re.fullmatch(r"(?i)(?:HIGH|MEDIUM|DEFAULT|ALL)", body):
            out.append(token)
    return out


def _protocols(value: str) -> list[str]:
    out = []
    for token in re.split(r"[\s,:]+", value.strip("'\" ").lower()):
        if token.startswith(("!", "-")):
            continue
        name = _WEAK_PROTOCOLS.get(token.lstrip("+"))
        if name and name not in out:
            out.append(name)
    return out


# (server, file test, [(setting regex, kind)]) kind: "protocols", "ciphers", "minversion", "enable-sslv3", "bits"
_SETTINGS: tuple[tuple[str, re.Pattern[str], tuple[tuple[re.Pattern[str], str], ...]], ...] = (
    ("lighttpd", re.compile(r"/lighttpd/.*\.conf$"), (
        (re.compile(r"^\s*ssl\.use-sslv[23]\s*=\s*\"enable\"", re.M), "enable-ssl"),
        (re.compile(r"^\s*ssl\.cipher-list\s*=\s*\"([^\"]+)\"", re.M), "ciphers"),
        (re.compile(r"\"(?:MinProtocol)\"\s*=>\s*\"([^\"]+)\"", re.M), "minversion"),
        (re.compile(r"\"(?:CipherString)\"\s*=>\s*\"([^\"]+)\"", re.M), "ciphers"),
        (re.compile(r"\"Protocol\"\s*=>\s*\"([^\"]+)\"", re.M), "protocols"),
    )),
    ("nginx", re.compile(r"/nginx/"), (
        (re.compile(r"^\s*ssl_protocols\s+([^;]+);", re.M), "protocols"),
        (re.compile(r"^\s*ssl_ciphers\s+([^;]+);", re.M), "ciphers"),
    )),
    ("stunnel", re.compile(r"stunnel[^/]*\.conf$|/stunnel/"), (
        (re.compile(r"^\s*sslVersion\s*=\s*(\S+)", re.M), "protocols"),
        (re.compile(r"^\s*sslVersionMin\s*=\s*(\S+)", re.M), "minversion"),
        (re.compile(r"^\s*ciphers\s*=\s*(\S+)", re.M), "ciphers"),
    )),
    ("mosquitto", re.compile(r"mosquitto[^/]*\.conf$|/mosquitto/.*\.conf$"), (
        (re.compile(r"^\s*tls_version\s+(\S+)", re.M), "minversion"),
        (re.compile(r"^\s*ciphers\s+(\S+)", re.M), "ciphers"),
    )),
    ("uhttpd", re.compile(r"/etc/config/uhttpd$"), (
        (re.compile(r"^\s*option\s+bits\s+['\"]?(\d+)", re.M), "bits"),
        (re.compile(r"^\s*option\s+tls_ciphers?\s+['\"]?([^'\"\n]+)", re.M), "ciphers"),
    )),
)


class WeakTlsConfig(Check):
    ID = "comms.weak-tls"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (TEXT,)
    DOC = CheckDoc(
        title="TLS server allows broken protocol versions or ciphers",
        why=(
            "SSLv3 and TLS 1.0/1.1 and RC4, DES/3DES, NULL, EXPORT and anonymous cipher suites have practical "
            "attacks (POODLE, BEAST, SWEET32, downgrade); allowing them lets an attacker on the path weaken or "
            "break the encryption."
        ),
        fix="Allow only TLS 1.2 and 1.3 with AEAD cipher suites (for example Mozilla's 'intermediate' profile); RSA keys of 2048 bits or more.",
        references=("RFC 8996 (deprecating TLS 1.0 and 1.1)", "Mozilla Server Side TLS"),
        limitations=(
            "Reads lighttpd (ssl.use-sslv3, ssl.cipher-list, ssl.openssl.ssl-conf-cmd), nginx (ssl_protocols, "
            "ssl_ciphers), stunnel (sslVersion, sslVersionMin, ciphers), Mosquitto (tls_version, ciphers) and "
            "uhttpd (certificate bits, tls ciphers). Library defaults are not judged: a server that sets nothing "
            "gets what its TLS library allows. Cipher exclusions (!RC4, -DES) are honoured."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, text in text_files(fw):
            lp = logical_path(entry.path)
            for server, path_rx, settings in _SETTINGS:
                if not path_rx.search(lp):
                    continue
                for rx, kind in settings:
                    for m in rx.finditer(text):
                        problem = self._problem(kind, m.group(1) if m.groups() else m.group(0))
                        if problem:
                            yield self.finding(
                                entry,
                                title=f"{server}: {problem}",
                                line=text.count("\n", 0, m.start()) + 1 + (1 if text[m.start()] == "\n" else 0),
                                excerpt=m.group(0).strip(),
                                detail=f"{server} setting '{m.group(0).strip()}': {problem}",
                            )
                break

    @staticmethod
    def _problem(kind: str, value: str) -> str | None:
        if kind == "enable-ssl":
            return "SSLv2/SSLv3 enabled"
        if kind == "ciphers":
            weak = weak_ciphers(value)
            return f"weak ciphers allowed ({', '.join(weak[:6])})" if weak else None
        if kind == "protocols":
            weak = _protocols(value)
            return f"broken protocol versions allowed ({', '.join(weak)})" if weak else None
        if kind == "minversion":
            v = value.strip("'\" ").lower().replace("_", ".")
            if v in ("sslv3", "tlsv1", "tlsv1.0", "tlsv1.1", "tls1", "tls1.0", "tls1.1"):
                return f"minimum protocol version {value.strip()} (TLS 1.2 is the lowest safe version)"
            return None
        if kind == "bits":
            return f"generated RSA certificate key of only {value} bits" if int(value) < 2048 else None
        return None


# -- self-signed certificates with their key ---------------------------------------------------


class SelfSignedCertificate(Check):
    ID = "comms.self-signed-cert"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (CERTIFICATES,)
    DOC = CheckDoc(
        title="Self-signed certificate shipped with its private key",
        why=(
            "A self-signed server certificate whose private key is in the image is the same on every unit: users "
            "learn to accept it, and anyone with the image can impersonate any unit with it."
        ),
        fix="Generate the key and certificate on the device at first boot (or per device at manufacture); ship no server key.",
        references=("CWE-321: Use of Hard-coded Cryptographic Key",),
        limitations=(
            "Reports a certificate only when it is self-signed (issuer equals subject and its own key verifies the "
            "signature) and an unencrypted private key with the same public key is in the image. Self-signed CA "
            "certificates without their key (trust anchors such as the CA bundle) are not reported."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        signed = [c for c in certificates(fw) if c.self_signed]
        if not signed:
            return
        keys: dict[str, tuple[str, str]] = {}
        for entry, found in private_keys(fw):
            if _is_throwaway(entry.path):
                continue
            if entry.magic not in ("pem", "text", "der", "data") or (entry.magic in ("data", "text") and entry.size > 1024 * 1024):
                continue
            for key in found:
                if key.fingerprint and not key.encrypted:
                    keys.setdefault(key.fingerprint, (entry.path, key.describe()))
        for cert in signed:
            key = keys.get(cert.fingerprint)
            if key is None:
                continue
            key_path, key_desc = key
            yield self.finding(
                cert.path,
                title=f"Self-signed certificate shipped with its private key ({cert.subject or 'no subject'})",
                line=cert.line,
                excerpt=cert.subject[:200],
                detail=(f"self-signed certificate {cert.subject or '(no subject)'} ({cert.key}, signed with "
                        f"{cert.signature_hash or 'unknown hash'}, valid until {cert.not_after}); its private key "
                        f"({key_desc}) is {key_path}. Every unit built from this image serves the same identity."),
            )
