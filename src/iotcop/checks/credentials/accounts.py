"""Account records from every password store in the image.

Read once per image (memoised through `Firmware.cached`) and shared by the
credential checks.  Sources:

* Unix account files: `passwd`, `shadow`, their `-` backups, `master.passwd`,
  `*.passwd`, `*.shadow`, wherever they lie (/etc/config/..., /var/...);
* web and broker password files: `.htpasswd`, `htpasswd`, `*.htpasswd`,
  `.htdigest`/`*.htdigest`, lighttpd `lighttpd.user` (plain text) and
  `lighttpd-htdigest.user`, Mosquitto password files;
* the same formats recognised by their content wherever they lie and whatever
  their name (`passwd_orig`, `shadow.sample`, `passwd.bak`, `/etc/pam/passwd`):
  passwd, shadow and Samba `smbpasswd` (LM/NT hashes) lines;
* web user lists that a web server's configuration names (Boa `UserFile`,
  lighttpd `auth.backend.*.userfile`, Mosquitto `password_file`): the file at
  that path, or, when the path is only filled at boot, a shipped file of the
  same name (the defaults a start script copies there);
* `user:hash` pairs embedded in any other file (a binary or script that
  writes /etc/shadow at first boot), matched only in the strict,
  self-identifying crypt formats so that loose `name:$...` text is not taken
  for a hash, and whole passwd lines written by a program or script
  (`echo "root::0:0:root:/:/bin/sh" > /var/passwd`).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from iotcop.checks.credentials.crypt import HashInfo, classify, verify
from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware, looks_binary

AccountSource = Literal["passwd", "shadow", "htpasswd", "htdigest", "plain", "mosquitto", "smbpasswd", "userlist",
                        "embedded", "embedded-passwd"]


# Files bigger than this are not account files, nor scanned for embedded hashes.
MAX_SCAN_BYTES = 16 * 1024 * 1024

# Shells with which no interactive login is possible.
NO_LOGIN_SHELLS = frozenset(
    {"/bin/false", "/usr/bin/false", "/sbin/nologin", "/usr/sbin/nologin", "/bin/nologin", "/usr/bin/nologin", "/dev/null"}
)

# Example hashes in documentation and headers are not shipped credentials.
_NOT_ACCOUNT_DIRS = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/include/")

# Formats only web servers use, wherever the line was found.
_WEB_ONLY_SCHEMES = frozenset({"apr1", "sha1", "ssha", "md5-digest"})

_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?$")

_EMBEDDED = re.compile(
    rb"([A-Za-z_][A-Za-z0-9_.-]{0,31}):("
    rb"\$(?:1|apr1)\$[./0-9A-Za-z]{0,8}\$[./0-9A-Za-z]{22}"
    rb"|\$5\$(?:rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{43}"
    rb"|\$6\$(?:rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}"
    rb"|\$2[abxy]\$\d\d\$[./0-9A-Za-z]{53}"
    rb"|\$g?y\$[./0-9A-Za-z]+\$[./0-9A-Za-z]*\$[./0-9A-Za-z]{43}"
    rb")(?![./0-9A-Za-z$])"
)


@dataclass(frozen=True, slots=True)
class Account:
    user: str
    secret: str  # the stored password field, as is
    info: HashInfo
    source: AccountSource
    path: str  # device path of the file it was read from
    line: int | None
    offset: int | None
    excerpt: str
    uid: int | None = None
    shell: str | None = None
    realm: str | None = None  # HTTP digest realm

    @property
    def scheme(self) -> str:
        return self.info.scheme

    @property
    def kind(self) -> str:
        """unix, http, mosquitto or smb: the service the password guards."""
        if self.scheme.startswith("mosquitto") or self.source == "mosquitto":
            return "mosquitto"
        if self.source == "smbpasswd":
            return "smb"
        if self.source in ("htpasswd", "htdigest", "plain", "userlist") or self.scheme in _WEB_ONLY_SCHEMES:
            return "http"
        return "unix"

    @property
    def template(self) -> bool:
        """The user name is filled in at run time (`%s`, `$user`): a line a program or script writes."""
        return any(ch in self.user for ch in "%$")

    @property
    def has_password_hash(self) -> bool:
        """A usable stored password (not locked, not empty, not plain text, not unparsed)."""
        return self.scheme not in ("blank", "locked", "unknown", "plaintext")

    @property
    def login_disabled(self) -> bool:
        return self.shell is not None and self.shell.strip() in NO_LOGIN_SHELLS

    def matches(self, candidate: str) -> bool | None:
        """Whether `candidate` is this account's password; None if it cannot be tested."""
        if self.scheme == "plaintext":
            return self.secret == candidate
        prefix = f"{self.user}:{self.realm}" if self.realm is not None else None
        return verify(candidate, self.secret, self.info, digest_prefix=prefix)


def _store_kind(entry: FileEntry) -> AccountSource | None:
    """Which kind of password store a file is, judged by its device path."""
    name = entry.name
    if entry.path.startswith(_NOT_ACCOUNT_DIRS):
        return None
    if name in ("shadow", "shadow-") or name.endswith(".shadow"):
        return "shadow"
    if name in ("passwd", "passwd-", "master.passwd") or name.endswith(".passwd"):
        if "/mosquitto/" in entry.path:
            return "mosquitto"
        return "passwd"
    if name in (".htdigest", "htdigest", "lighttpd-htdigest.user") or name.endswith(".htdigest"):
        return "htdigest"
    if name in ("lighttpd.user", "lighttpd-plain.user"):
        return "plain"
    if name in (".htpasswd", "htpasswd") or name.endswith(".htpasswd"):
        return "htpasswd"
    if "/mosquitto/" in entry.path and ("passw" in name or name.endswith(".pwfile")):
        return "mosquitto"
    return None


_PASSWD_LINE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?:[^:\s]*:\d{1,10}:\d{1,10}:[^:\n]*:[^:\n]*:[^:\s]*$")
_SHADOW_LINE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}\$?:[^:\s]*:\d*:\d*:\d*:\d*:\d*:\d*:[^:\s]*$")
_SMBPASSWD_LINE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@$-]{0,63}:\d+:(?:[0-9A-Fa-f]{32}|X{32}|\*{32}|NO PASSWORDX+):"
                             r"(?:[0-9A-Fa-f]{32}|X{32}|\*{32}|NO PASSWORDX+):\[[A-Z ]{1,11}\]:LCT-[0-9A-Fa-f]{8}:")
MAX_SNIFF_BYTES = 256 * 1024


def sniff_store(text: str) -> AccountSource | None:
    """passwd, shadow or smbpasswd when every non-comment line of the text is in that format."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines or len(lines) > 5000:
        return None
    for kind, rx in (("passwd", _PASSWD_LINE), ("shadow", _SHADOW_LINE), ("smbpasswd", _SMBPASSWD_LINE)):
        if all(rx.match(line) for line in lines):
            return kind
    return None


def _parse_store(entry: FileEntry, kind: AccountSource, text: str) -> list[Account]:
    accounts: list[Account] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line[0] in "+-" or ":" not in line:
            continue
        parts = line.split(":")
        user = parts[0]
        if not _USER.match(user):
            continue
        realm = None
        if kind == "smbpasswd":
            accounts.extend(_smbpasswd_accounts(entry, parts, number, line))
            continue
        if kind == "userlist" and len(parts) > 2:
            continue
        if kind == "htdigest":
            if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{32}", parts[2]):
                continue
            realm, field = parts[1], parts[2]
            info = HashInfo("md5-digest", salted=False)
        else:
            field = parts[1]
            if kind in ("plain", "userlist") and classify(field).scheme not in ("des", "md5", "apr1", "sha256", "sha512",
                                                                                 "bcrypt", "yescrypt", "sha1", "ssha"):
                # lighttpd's plain back end and Boa user lists store the password itself
                field = line.split(":", 1)[1]
                info = HashInfo("blank" if field == "" else "plaintext", salted=False)
            else:
                info = classify(field)
                if info.scheme == "unknown" and kind == "htpasswd":
                    # Apache accepts only the recognised hash formats or the password itself
                    info = HashInfo("plaintext", salted=False)
        uid = shell = None
        if kind == "passwd" and (len(parts) != 7 or not parts[2].isdigit()):
            continue
        if kind == "passwd" and len(parts) >= 7:
            uid = int(parts[2]) if parts[2].isdigit() else None
            shell = parts[6]
        accounts.append(
            Account(
                user=user,
                secret=field,
                info=info,
                source=kind,
                path=entry.path,
                line=number,
                offset=None,
                excerpt=line,
                uid=uid,
                shell=shell,
                realm=realm,
            )
        )
    return accounts


def _smbpasswd_accounts(entry: FileEntry, parts: list[str], number: int, line: str) -> list[Account]:
    """The LM and NT hashes of one smbpasswd line (X.../NO PASSWORD... fields hold none)."""
    out = []
    for scheme, field in (("nt", parts[3]), ("lm", parts[2])):
        if not re.fullmatch(r"[0-9A-Fa-f]{32}", field):
            continue
        disabled = "D" in parts[4] if len(parts) > 4 else False
        out.append(Account(user=parts[0], secret=field.upper(), info=HashInfo("locked" if disabled else scheme, salted=False),
                           source="smbpasswd", path=entry.path, line=number, offset=None, excerpt=line,
                           uid=int(parts[1]) if parts[1].isdigit() else None))
    return out


# Where a hash of a self-identifying scheme starts; the user name is then read backwards from it.
_EMBEDDED_ANCHOR = re.compile(rb":\$(?:1|apr1|5|6|2[abxy]|g?y)\$")
_USER_TAIL = re.compile(rb"[A-Za-z_][A-Za-z0-9_.-]{0,31}$")


def _embedded_matches(data: bytes):
    """The `_EMBEDDED` matches in `data`, found from their anchors (a scan of every byte with the full pattern is slow)."""
    last_end = 0
    for anchor in _EMBEDDED_ANCHOR.finditer(data):
        if anchor.start() < last_end:
            continue
        head = data[max(last_end, anchor.start() - 32): anchor.start()]
        tail = _USER_TAIL.search(head)
        if tail is None:
            continue
        m = _EMBEDDED.match(data, anchor.start() - len(head) + tail.start())
        if m is not None:
            last_end = m.end()
            yield m


def _scan_embedded(entry: FileEntry, data: bytes) -> list[Account]:
    accounts: list[Account] = []
    if b":$" not in data:
        return accounts
    text_like = not looks_binary(data)
    for m in _embedded_matches(data):
        user = m.group(1).decode("ascii")
        secret = m.group(2).decode("ascii")
        info = classify(secret)
        if info.scheme in ("unknown", "blank", "locked"):
            continue
        line = data.count(b"\n", 0, m.start()) + 1 if text_like else None
        accounts.append(
            Account(
                user=user,
                secret=secret,
                info=info,
                source="embedded",
                path=entry.path,
                line=line,
                offset=m.start(),
                excerpt=m.group(0).decode("ascii"),
            )
        )
    return accounts


# A whole passwd line inside a program or script: what it writes to the account file at run time.
_EMBEDDED_PASSWD = re.compile(
    rb"(?<![\w%$:])((?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|%s|\$\{?[A-Za-z_]\w*\}?)):([^:\s\x00\"'$%]*):(\d{1,6}):(\d{1,6}):"
    rb"([^:\n\x00\"']{0,64}):([^:\n\x00\"' ]{0,64}):((?:/[\w.-]+)+|\$\{?[A-Za-z_]\w*\}?|%s)(?=[\s\"'\x00>;]|$)")


_UID_GID = re.compile(rb":\d{1,6}:\d{1,6}:")  # a literal first: fast over whole programs


def _scan_embedded_passwd(data: bytes, text_like: bool) -> list[Account]:
    out = []
    seen: set[int] = set()
    for anchor in _UID_GID.finditer(data):
        lo = max(0, anchor.start() - 110)
        base = max(data.rfind(d, lo, anchor.start()) + 1 for d in (b"\x00", b"\n", b'"', b"'", b" ", b">"))
        m = _EMBEDDED_PASSWD.search(data, max(lo, base), min(len(data), anchor.end() + 200))
        if m is None or m.start() in seen or not m.start() <= anchor.start() <= m.end():
            continue
        seen.add(m.start())
        user, secret = m.group(1).decode("ascii"), m.group(2).decode("ascii", "replace")
        if secret in ("x", "*") and m.group(3) != b"0":
            continue  # a system account pointing to shadow: nothing to judge unless it is a second root
        info = classify(secret)
        if info.scheme == "unknown":
            continue
        line_no = data.count(b"\n", 0, m.start()) + 1 if text_like else None
        out.append(Account(user=user, secret=secret, info=info, source="embedded-passwd", path="", line=line_no,
                           offset=m.start(), excerpt=m.group(0).decode("ascii", "replace"), uid=int(m.group(3)),
                           shell=m.group(7).decode("ascii", "replace")))
    return out


# Web servers and brokers that name their user file in their configuration.
_USERFILE_DIRECTIVE = re.compile(
    r"""^\s*(?:UserFile|AuthUserFile|auth\.backend\.(?:plain|htpasswd|htdigest)\.userfile|password_file)\s*[= ]\s*["']?([^"'\s]+)""",
    re.M)
_USERLIST_LINE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}:[^:\s]*$")


def _userlist_lines(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return 0 < len(lines) <= 1000 and all(_USERLIST_LINE.match(line) for line in lines)


def _attach_login_shells(accounts: list[Account]) -> list[Account]:
    """Give shadow records the uid and shell of the passwd line beside them."""
    by_dir: dict[tuple[str, str], Account] = {}
    for acc in accounts:
        if acc.source == "passwd" and acc.shell is not None:
            by_dir.setdefault((posixpath.dirname(acc.path), acc.user), acc)
    result = []
    for acc in accounts:
        if acc.source == "shadow":
            pw = by_dir.get((posixpath.dirname(acc.path), acc.user))
            if pw is not None:
                acc = dataclasses.replace(acc, uid=pw.uid, shell=pw.shell)
        result.append(acc)
    return result


class AccountRecords(ContentScanner):
    """Account records in each file, found during the inventory's single read of it."""

    CONTENT_NAME = "accounts"
    CONTENT_BUDGET = 300.0
    VERSION = "2"

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        if entry.size > MAX_SCAN_BYTES or entry.size == 0:
            return 0
        if _store_kind(entry) is None and entry.path.startswith(_NOT_ACCOUNT_DIRS):
            return 0
        return MAX_SCAN_BYTES

    def content_variant(self, entry: FileEntry) -> str:
        return _store_kind(entry) or ""

    def scan_content(self, entry: FileEntry, data: bytes):
        kind = _store_kind(entry)
        binary = looks_binary(data)
        found: list[Account] = []
        extra: dict = {}
        if not binary and len(data) <= MAX_SNIFF_BYTES:
            text = data.decode("utf-8", errors="replace")
            kind = sniff_store(text) or kind
            refs = _USERFILE_DIRECTIVE.findall(text) if ("serFile" in text or "userfile" in text or "password_file" in text) else []
            if refs:
                extra["userfile_refs"] = refs
            if kind is None and b":" in data and _userlist_lines(text):
                extra["userlist"] = [_record(a) for a in _parse_store(entry, "userlist", text)]
        if kind is not None and not binary:
            found = _parse_store(entry, kind, data.decode("utf-8", errors="replace"))
        else:
            found = _scan_embedded(entry, data) + _scan_embedded_passwd(data, not binary)
        # Without the path (the same bytes elsewhere give the same records); run() puts it back.
        if not found and not extra:
            return None
        return {"accounts": [_record(a) for a in found], **extra}


def _record(acc: Account) -> dict:
    row = {f.name: getattr(acc, f.name) for f in dataclasses.fields(acc) if f.name not in ("path", "info")}
    row["info"] = dataclasses.asdict(acc.info)
    return row


def _account(entry: FileEntry, row: dict) -> Account:
    fields = dict(row)
    fields["info"] = HashInfo(**fields["info"])
    return Account(path=entry.path, **fields)


def _referenced_userlists(found: list[tuple[FileEntry, dict]]) -> list[Account]:
    """Web user lists that a server configuration names: the file at that path, else a shipped file of that name."""
    refs = {ref for _, result in found for ref in result.get("userfile_refs", ())}
    if not refs:
        return []
    lists = {entry.path: (entry, result["userlist"]) for entry, result in found if result.get("userlist")}
    out = []
    for ref in sorted(refs):
        chosen = [lists[ref]] if ref in lists else [v for p, v in lists.items() if posixpath.basename(p) == posixpath.basename(ref)]
        for entry, rows in chosen:
            out.extend(_account(entry, row) for row in rows)
    return out


def collect_accounts(fw: Firmware) -> tuple[Account, ...]:
    accounts: list[Account] = []
    found = fw.content_results(AccountRecords())
    for entry, result in found:
        accounts.extend(_account(entry, row) for row in result.get("accounts", ()))
    seen = {(a.path, a.line, a.user) for a in accounts}
    accounts.extend(a for a in _referenced_userlists(found) if (a.path, a.line, a.user) not in seen)
    linked = _attach_login_shells(accounts)
    # passwd lines with "x" only point to shadow; they were kept for their login shells (a second uid 0 stays)
    return tuple(a for a in linked if not (a.source == "passwd" and a.secret == "x" and not (a.uid == 0 and a.user != "root")))


ACCOUNTS = DerivedFact("credentials.accounts", collect_accounts, scanners=(AccountRecords,))


def accounts(fw: Firmware) -> tuple[Account, ...]:
    """Every account record in the image, memoised per image."""
    return ACCOUNTS.of(fw)
