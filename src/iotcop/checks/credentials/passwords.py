"""Password checks: empty passwords, publicly known or guessable passwords, weak hash schemes."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.boot import BOOT_MODEL
from iotcop.checks.credentials.accounts import ACCOUNTS, Account, accounts
from iotcop.checks.credentials.installed import AccountFileUse, account_file_use
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

_REFERENCES = ("ETSI TR 103 621",)


def _excerpt(acc: Account) -> str:
    return acc.excerpt if len(acc.excerpt) <= 200 else acc.excerpt[:197] + "..."


def _where(acc: Account) -> str:
    return f"{acc.path}:{acc.line}" if acc.line is not None else f"{acc.path}@{acc.offset}"


class EmptyPassword(Check):
    ID = "credentials.empty-password"
    VERSION = "1.1.0"
    SEVERITY = Severity.critical
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS, BOOT_MODEL)
    DOC = CheckDoc(
        title="Account without a password",
        why=(
            "An account whose password field is empty lets anyone who reaches a login (serial console, "
            "telnet, SSH, web) in without a password, on every device that runs this image."
        ),
        fix=(
            "Lock the account ('*' or '!' in the password field) or set a password that is unique per device "
            "or chosen by the user at first use."
        ),
        references=_REFERENCES,
        limitations=(
            "Only stored account data is read (passwd, shadow, htpasswd, lighttpd plain files); a password "
            "check that a program skips at run time is not seen.  Unix accounts whose login shell is "
            "/bin/false or nologin are not reported, as no interactive login is possible with them."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        use = account_file_use(fw)
        for acc in accounts(fw):
            if acc.scheme != "blank" or acc.source == "embedded" or acc.template:
                continue
            if acc.kind == "unix" and acc.login_disabled:
                continue
            where = "web" if acc.kind == "http" else acc.kind
            written = acc.source == "embedded-passwd"
            yield self.finding(
                acc.path,
                title=f"Account '{acc.user}' has an empty password" + (" in an account file written at run time" if written else ""),
                line=acc.line,
                offset=acc.offset if acc.line is None else None,
                excerpt=_excerpt(acc),
                detail=(f"{where} account '{acc.user}': the program or script writes the account line '{acc.excerpt}' "
                        "with an empty password field; until something sets a password, logging in needs none"
                        if written else
                        f"{where} account '{acc.user}' in {acc.source} file: the password field is empty")
                + (f"; login shell {acc.shell}" if acc.shell else "") + ("" if written else _boot_note(acc, use)),
                confidence="likely" if written else _boot_confidence(acc, use),
            )


# -- stored hashes ---------------------------------------------------------------

# Account stores whose use at boot the boot model tells (web and broker files are read by their servers).
_SYSTEM_STORES = ("passwd", "shadow", "smbpasswd")


def _boot_confidence(acc: Account, use: AccountFileUse) -> str:
    return use.confidence(acc.path) if acc.source in _SYSTEM_STORES else "confirmed"


def _boot_note(acc: Account, use: AccountFileUse) -> str:
    return use.note(acc.path) if acc.source in _SYSTEM_STORES else ""


_STORED_SCHEMES_EXCLUDED = ("blank", "locked", "unknown", "plaintext")


def can_log_in(acc: Account) -> bool:
    """The stored password opens a login: a unix account with a login shell, or a web, broker or SMB user."""
    if acc.scheme in _STORED_SCHEMES_EXCLUDED or acc.template:
        return False
    return not (acc.kind == "unix" and acc.login_disabled)


class StoredPassword(Check):
    ID = "credentials.stored-password"
    VERSION = "1.1.0"
    SEVERITY = Severity.critical
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS, BOOT_MODEL)
    DOC = CheckDoc(
        title="Password hash shipped in the image",
        why=(
            "A usable password hash in the image's account files is the same on every unit built from it: whoever "
            "cracks it once, or recovers it from any unit, logs in to all of them.  It is a universal default "
            "password whether or not a word list cracks it."
        ),
        fix=(
            "Ship every login account locked ('*' or '!') and set a unique password per device at manufacture, or "
            "make the user choose one at first use; never ship a hash in the image."
        ),
        references=("ETSI TR 103 621", "UK PSTI Regulations 2023, Schedule 1 paragraph 1"),
        limitations=(
            "Judges the account stores that credentials.accounts reads (passwd, shadow, their backups and "
            "templates, smbpasswd, htpasswd/htdigest, Mosquitto files, web user lists named by a server "
            "configuration, and user:hash strings in programs, confidence likely).  Unix accounts whose shell "
            "is /bin/false or nologin, locked accounts and fields in an unknown format are not reported.  "
            "credentials.default-password adds the cleartext when its word lists crack the hash."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        seen: set[tuple[str, str, int | None, int | None]] = set()
        use = account_file_use(fw)
        all_accounts = accounts(fw)
        # A hash found loose in a program or stream is the same credential as the account file holding it.
        in_stores = {(a.user, a.secret) for a in all_accounts if a.source not in ("embedded", "embedded-passwd")}
        for acc in all_accounts:
            if not can_log_in(acc) or (acc.path, acc.user, acc.line, acc.offset) in seen:
                continue
            if acc.source in ("embedded", "embedded-passwd") and (acc.user, acc.secret) in in_stores:
                continue
            seen.add((acc.path, acc.user, acc.line, acc.offset))
            second_root = acc.uid == 0 and acc.user != "root"
            embedded = acc.source in ("embedded", "embedded-passwd")
            where = {"unix": "login", "http": "web", "mosquitto": "MQTT broker", "smb": "Samba (SMB)"}[acc.kind]
            yield self.finding(
                acc.path,
                title=f"Password hash of '{acc.user}' ships in the image"
                + (" (uid 0: a second root account)" if second_root else ""),
                line=acc.line,
                offset=acc.offset if acc.line is None else None,
                excerpt=_excerpt(acc),
                detail=(
                    f"{where} account '{acc.user}' has a stored {acc.scheme} password hash in {acc.source} data at "
                    f"{_where(acc)}"
                    + (f" (uid 0: a root account under another name)" if second_root else "")
                    + ". Every unit built from this image ships the same hash, so the password is a universal "
                    "default, whether or not it is cracked here"
                    + ("; the hash is written by a program or script at run time" if embedded else _boot_note(acc, use))
                ),
                severity=Severity.critical if acc.uid == 0 or acc.user == "root" else Severity.high,
                confidence="likely" if embedded else _boot_confidence(acc, use),
            )


class RootEquivalentAccount(Check):
    ID = "credentials.root-equivalent-account"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS,)
    DOC = CheckDoc(
        title="Account other than root with uid 0",
        why=(
            "An account with user id 0 has every right root has, whatever its name: a service or diagnostic "
            "account created this way runs with full privileges, and a restricted shell or chroot does not "
            "confine a process running as root."
        ),
        fix="Give every account except root its own unprivileged user id, and grant only the rights it needs.",
        references=("CWE-250: Execution with Unnecessary Privileges",),
        limitations=(
            "Reads shipped passwd files (wherever they lie) and passwd lines that programs and scripts write at "
            "run time, with a user name filled in at run time ('%s', '$user') named as such.  An account created "
            "through useradd/adduser options is not seen."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        seen: set[tuple[str, str, int | None, int | None]] = set()
        for acc in accounts(fw):
            if acc.uid != 0 or acc.user == "root" or acc.source not in ("passwd", "embedded-passwd"):
                continue
            if (acc.path, acc.user, acc.line, acc.offset) in seen:
                continue
            seen.add((acc.path, acc.user, acc.line, acc.offset))
            who = "an account whose name is filled in at run time" if acc.template else f"account '{acc.user}'"
            written = acc.source == "embedded-passwd"
            login = "no login shell" if acc.login_disabled else f"login shell {acc.shell}" if acc.shell else "a login"
            yield self.finding(
                acc.path,
                title=(f"Account '{acc.user}' has uid 0" if not acc.template else
                       "A uid 0 account is created at run time") + " (a second root)",
                line=acc.line,
                offset=acc.offset if acc.line is None else None,
                excerpt=_excerpt(acc),
                detail=(f"{who} is {'written' if written else 'defined'} with user id 0 and {login}: it is root under "
                        f"another name ({acc.path}" + (f":{acc.line}" if acc.line else f" at offset {acc.offset}") + ")"),
                severity=Severity.medium if acc.login_disabled or acc.scheme == "locked" else Severity.high,
                provisions=("5.6-7",),
            )


# -- candidate passwords -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    password: str
    origin: str  # "blank", "user-name", "default", "common"


@cache
def default_credentials() -> tuple[tuple[str, str], ...]:
    """(user, password) pairs from the built-in list of publicly known IoT defaults."""
    text = resources.files("iotcop.checks").joinpath("data/default-credentials.txt").read_text("utf-8")
    pairs = []
    for line in text.splitlines():
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, password = line.split(":", 1)
        pairs.append((user, password))
    return tuple(pairs)


@cache
def common_passwords() -> tuple[str, ...]:
    text = resources.files("iotcop.checks").joinpath("data/common-passwords.txt").read_text("utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def candidates_for(user: str) -> list[Candidate]:
    """Candidates, most likely first: blank, the user name, this user's known defaults, other defaults, common."""
    out: list[Candidate] = []
    seen: set[str] = set()

    def add(password: str, origin: str) -> None:
        if password not in seen:
            seen.add(password)
            out.append(Candidate(password, origin))

    add("", "blank")
    add(user, "user-name")
    for known_user, password in default_credentials():
        if known_user.lower() == user.lower():
            add(password, "default")
    for _, password in default_credentials():
        add(password, "default")
    for password in common_passwords():
        add(password, "common")
    return out


_ORIGIN_TITLE = {
    "blank": "Account '{user}' has a password hash of the empty password",
    "user-name": "Account '{user}' uses its user name as password",
    "default": "Account '{user}' uses a publicly known default password",
    "common": "Account '{user}' uses a common, easily guessed password",
}

_ORIGIN_DETAIL = {
    "blank": "the hash is of an empty password",
    "user-name": "the password equals the user name",
    "default": "the password is in the built-in list of publicly known IoT default credentials",
    "common": "the password is among the most common passwords in leaked-password surveys",
}


class DefaultPassword(Check):
    ID = "credentials.default-password"
    VERSION = "1.0.0"
    SEVERITY = Severity.critical
    TIMEOUT = 180.0
    NEEDS_ROOTFS = False

    # Candidates tried per hash: every candidate for fast schemes, a short head of the list for slow ones.
    FAST_BUDGET = 1000
    SLOW_BUDGET = 24
    PER_HASH_SECONDS = 10.0
    TOTAL_SECONDS = 120.0

    USES = (ACCOUNTS,)
    DOC = CheckDoc(
        title="Password is publicly known or guessable",
        why=(
            "A password that appears in public default-credential lists (the ones Mirai and its successors "
            "try) or that equals the user name is the same on every device running this image and is "
            "found by automated attacks within minutes."
        ),
        fix=(
            "Ship no usable password in the image: give each device a unique password at manufacture, or "
            "require the user to set one before the service is reachable."
        ),
        references=_REFERENCES + ("SecLists Passwords/Default-Credentials, Passwords/Malware/mirai-botnet.txt",),
        limitations=(
            "Dictionary attack bounded in work: for each stored hash it tries the empty password, the user "
            "name, the defaults listed for that user, every other password of the built-in default "
            "list (about 150, derived from SecLists) and about 100 common passwords.  Slow schemes "
            "(bcrypt with cost 8 or more, yescrypt, scrypt, SHA-crypt above 5000 rounds, PBKDF2 above 10000 "
            "iterations) get "
            f"only the first {SLOW_BUDGET} candidates; each hash gets at most {PER_HASH_SECONDS:g} s and "
            f"the whole check {TOTAL_SECONDS:g} s.  A password not in the list is not found, so silence "
            "proves nothing about uniqueness (no compliance is claimed)."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        # The scan profile may bound the work (label) or widen it (deep); standard keeps the class budgets.
        self.slow_budget = ctx.option(self.ID, "slow_budget", self.SLOW_BUDGET)
        self.per_hash_seconds = ctx.option(self.ID, "per_hash_seconds", self.PER_HASH_SECONDS)
        self.with_common = ctx.option(self.ID, "common_passwords", True)
        deadline = time.monotonic() + ctx.option(self.ID, "total_seconds", self.TOTAL_SECONDS)
        # Accounts sharing a hash are cracked once.
        groups: dict[tuple[str, str, str | None], list[Account]] = defaultdict(list)
        for acc in accounts(fw):
            if acc.scheme in ("blank", "locked", "unknown"):
                continue
            groups[(acc.secret, acc.user, acc.realm)].append(acc)
        for (_, user, _), members in groups.items():
            if time.monotonic() >= deadline:
                return
            found = self._crack(members[0], deadline)
            if found is None:
                continue
            for acc in members:
                shown = "(empty)" if found.password == "" else f"'{found.password}'"
                yield self.finding(
                    acc.path,
                    title=_ORIGIN_TITLE[found.origin].format(user=user),
                    line=acc.line,
                    offset=acc.offset,
                    excerpt=_excerpt(acc),
                    detail=(
                        f"{acc.kind} account '{user}': recovered password {shown} "
                        f"({acc.scheme} hash); {_ORIGIN_DETAIL[found.origin]}"
                    ),
                )

    def _crack(self, acc: Account, deadline: float) -> Candidate | None:
        budget = getattr(self, "slow_budget", self.SLOW_BUDGET) if acc.info.slow else self.FAST_BUDGET
        stop = min(deadline, time.monotonic() + getattr(self, "per_hash_seconds", self.PER_HASH_SECONDS))
        tried = candidates_for(acc.user)
        if not getattr(self, "with_common", True):
            tried = [c for c in tried if c.origin != "common"]
        for candidate in tried[:budget]:
            if time.monotonic() >= stop:
                return None
            result = acc.matches(candidate.password)
            if result is None:
                return None  # scheme not computable here
            if result:
                return candidate
        return None


# -- hash schemes --------------------------------------------------------------

_WEAK_SCHEMES: dict[str, tuple[Severity, str]] = {
    "plaintext": (Severity.high, "stored in plain text"),
    "des": (Severity.high, "traditional DES crypt (only 8 characters count, 12-bit salt)"),
    "bsdi": (Severity.high, "BSDi extended DES crypt"),
    "md5": (Severity.high, "MD5-crypt ($1$)"),
    "apr1": (Severity.high, "Apache MD5 ($apr1$)"),
    "sun-md5": (Severity.high, "Sun MD5-crypt"),
    "sha1": (Severity.high, "unsalted SHA-1 ({SHA})"),
    "md5-digest": (Severity.high, "HTTP digest: unsalted MD5 of user:realm:password"),
    "ssha": (Severity.medium, "one round of salted SHA-1 ({SSHA})"),
    "mosquitto-sha512": (Severity.medium, "one round of salted SHA-512 (Mosquitto $6$)"),
    "nt": (Severity.high, "NT hash (unsalted MD4)"),
    "lm": (Severity.high, "LM hash (DES of the upper-cased password in two 7-character halves)"),
}

# Minimum work factors below which a modern scheme is still weak.
MIN_SHA_CRYPT_ROUNDS = 5000
MIN_BCRYPT_COST = 10
MIN_PBKDF2_ITERATIONS = 10000

STRONG_SCHEMES = ("sha256", "sha512", "bcrypt", "yescrypt", "gost-yescrypt", "scrypt", "mosquitto-pbkdf2")


def weakness(acc: Account) -> tuple[Severity, str] | None:
    """Severity and reason when the account's stored password is weakly protected; None if not."""
    scheme, cost = acc.scheme, acc.info.cost
    if scheme == "md5" and not acc.info.salted:
        return Severity.high, "MD5-crypt ($1$) without salt"
    if scheme in _WEAK_SCHEMES:
        return _WEAK_SCHEMES[scheme]
    if scheme in ("sha256", "sha512") and cost is not None and cost < MIN_SHA_CRYPT_ROUNDS:
        return Severity.medium, f"SHA-{scheme[3:]}-crypt with only {cost} rounds"
    if scheme == "bcrypt" and cost is not None and cost < MIN_BCRYPT_COST:
        return Severity.medium, f"bcrypt with cost {cost} (below {MIN_BCRYPT_COST})"
    if scheme == "mosquitto-pbkdf2" and cost is not None and cost < MIN_PBKDF2_ITERATIONS:
        return Severity.medium, f"PBKDF2-SHA512 with only {cost} iterations"
    return None


class WeakPasswordHash(Check):
    ID = "credentials.weak-password-hash"
    VERSION = "1.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (ACCOUNTS,)
    DOC = CheckDoc(
        title="Password stored with a weak hash scheme",
        why=(
            "Passwords kept in plain text, or hashed with DES, MD5 or a single round of SHA, are recovered "
            "from a copy of the image or a dumped flash by ordinary cracking tools in seconds to hours."
        ),
        fix=(
            "Store passwords with a slow, salted scheme: yescrypt, bcrypt (cost 10 or more) or SHA-512-crypt "
            "with at least the default 5000 rounds; for Mosquitto use PBKDF2 with many iterations."
        ),
        references=_REFERENCES + ("OWASP Password Storage Cheat Sheet",),
        limitations=(
            "Judges the stored form only, one finding per account.  Hashes in a format it does not "
            "recognise are not reported, but they prevent the positive statement for 5.1-3."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        all_accounts = accounts(fw)
        with_password = [a for a in all_accounts if a.has_password_hash or a.scheme == "plaintext"]
        if with_password:
            first = with_password[0]
            yield self.condition(
                1,
                True,
                Evidence(path=first.path, line=first.line, offset=first.offset, excerpt=_excerpt(first),
                         detail=f"account '{first.user}' has a stored password ({first.scheme})"),
            )
        weak_found = False
        for acc in with_password:
            weak = weakness(acc)
            if weak is None:
                continue
            weak_found = True
            severity, reason = weak
            yield self.finding(
                acc.path,
                title=f"Password of '{acc.user}' {reason}" if acc.scheme == "plaintext" else f"Password of '{acc.user}' hashed with {reason}",
                line=acc.line,
                offset=acc.offset,
                excerpt=_excerpt(acc),
                detail=f"{acc.kind} account '{acc.user}' ({acc.source} at {_where(acc)}): {reason}",
                severity=severity,
            )
        if weak_found or not with_password:
            return
        unrecognised = [a for a in all_accounts if a.scheme == "unknown"]
        blank = [a for a in all_accounts if a.scheme == "blank"]
        if unrecognised or blank or any(a.scheme not in STRONG_SCHEMES for a in with_password):
            return
        schemes = sorted({a.scheme for a in with_password})
        files = sorted({a.path for a in with_password})
        yield self.compliant(
            "5.1-3",
            f"All {len(with_password)} stored password hashes use a slow, salted scheme "
            f"({', '.join(schemes)}); none is in plain text.",
            *(Evidence(path=p, detail=", ".join(sorted({f'{a.user}: {a.scheme}' for a in with_password if a.path == p})))
              for p in files),
        )
