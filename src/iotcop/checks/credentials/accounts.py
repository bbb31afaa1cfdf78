"""Account records from every password store in the image.

Read once per image (memoised through `Firmware.cached`) and shared by the
credential checks.  Sources:

* Unix account files: `passwd`, `shadow`, their `-` backups, `master.passwd`,
  `*.passwd`, `*.shadow`, wherever they lie (/etc/config/..., /var/...);
* web and broker password files: `.htpasswd`, `htpasswd`, `*.htpasswd`,
  `.htdigest`/`*.htdigest`, lighttpd `lighttpd.user` (plain text) and
  `lighttpd-htdigest.user`, Mosquitto password files;
* `user:hash` pairs embedded in any other file (a binary or script that
  writes /etc/shadow at first boot), matched only in the strict,
  self-identifying crypt formats so that loose `name:$...` text is not taken
  for a hash.
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

AccountSource = Literal["passwd", "shadow", "htpasswd", "htdigest", "plain", "mosquitto", "embedded"]


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
        """unix, http or mosquitto: the service the password guards."""
        if self.scheme.startswith("mosquitto") or self.source == "mosquitto":
            return "mosquitto"
        if self.source in ("htpasswd", "htdigest", "plain") or self.scheme in _WEB_ONLY_SCHEMES:
            return "http"
        return "unix"

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
        if kind == "htdigest":
            if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{32}", parts[2]):
                continue
            realm, field = parts[1], parts[2]
            info = HashInfo("md5-digest", salted=False)
        else:
            field = parts[1]
            if kind == "plain":
                # lighttpd's plain back end stores the password itself; a colon may be part of it
                field = line.split(":", 1)[1]
                info = HashInfo("blank" if field == "" else "plaintext", salted=False)
            else:
                info = classify(field)
                if info.scheme == "unknown" and kind == "htpasswd":
                    # Apache accepts only the recognised hash formats or the password itself
                    info = HashInfo("plaintext", salted=False)
        uid = shell = None
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
    VERSION = "1"

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
        if kind is not None and not looks_binary(data):
            found = _parse_store(entry, kind, data.decode("utf-8", errors="replace"))
        else:
            found = _scan_embedded(entry, data)
        # Without the path (the same bytes elsewhere give the same records); run() puts it back.
        return [_record(a) for a in found] or None


def _record(acc: Account) -> dict:
    row = {f.name: getattr(acc, f.name) for f in dataclasses.fields(acc) if f.name not in ("path", "info")}
    row["info"] = dataclasses.asdict(acc.info)
    return row


def _account(entry: FileEntry, row: dict) -> Account:
    fields = dict(row)
    fields["info"] = HashInfo(**fields["info"])
    return Account(path=entry.path, **fields)


def collect_accounts(fw: Firmware) -> tuple[Account, ...]:
    accounts: list[Account] = []
    for entry, rows in fw.content_results(AccountRecords()):
        accounts.extend(_account(entry, row) for row in rows)
    linked = _attach_login_shells(accounts)
    # passwd lines with "x" only point to shadow; they were kept for their login shells
    return tuple(a for a in linked if not (a.source == "passwd" and a.secret == "x"))


ACCOUNTS = DerivedFact("credentials.accounts", collect_accounts, scanners=(AccountRecords,))


def accounts(fw: Firmware) -> tuple[Account, ...]:
    """Every account record in the image, memoised per image."""
    return ACCOUNTS.of(fw)
