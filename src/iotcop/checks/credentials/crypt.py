"""Password hash schemes: classify a stored hash and test a candidate against it.

crypt(3) schemes go to the system's libxcrypt through `crypt_r`, which keeps
all its state in a caller-owned `struct crypt_data`, so each thread gets its
own buffer and no lock is needed.  Schemes libxcrypt does not know (Apache
`$apr1$`, `{SHA}`, `{SSHA}`, Mosquitto, HTTP digest) are computed here with
hashlib.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import re
import threading
from dataclasses import dataclass

# sizeof(struct crypt_data) in libxcrypt: output 384 + setting 384 + input 512
# + reserved 767 + initialized 1 + internal 30720.
CRYPT_DATA_SIZE = 32768

_B64 = r"[./0-9A-Za-z]"
_STD_B64 = r"[+/0-9A-Za-z]"


@dataclass(frozen=True, slots=True)
class HashInfo:
    scheme: str  # des, bsdi, md5, apr1, sha256, sha512, bcrypt, yescrypt, ... (see classify)
    cost: int | None = None  # rounds / log2 cost / iterations where the hash states it
    salted: bool = True

    @property
    def slow(self) -> bool:
        if self.scheme in ("yescrypt", "gost-yescrypt", "scrypt"):
            return True
        if self.scheme == "bcrypt":
            return self.cost is None or self.cost >= 8  # below 8 one try takes under ~10 ms
        if self.scheme in ("sha256", "sha512") and self.cost is not None and self.cost > 5000:
            return True
        if self.scheme == "mosquitto-pbkdf2" and self.cost is not None and self.cost > 10000:
            return True
        return False


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("md5", re.compile(rf"^\$1\${_B64}{{0,8}}\${_B64}{{22}}$")),
    ("apr1", re.compile(rf"^\$apr1\${_B64}{{0,8}}\${_B64}{{22}}$")),
    ("sha256", re.compile(rf"^\$5\$(?:rounds=(\d+)\$)?{_B64}{{0,16}}\${_B64}{{43}}$")),
    ("sha512", re.compile(rf"^\$6\$(?:rounds=(\d+)\$)?{_B64}{{0,16}}\${_B64}{{86}}$")),
    ("bcrypt", re.compile(rf"^\$2[abxy]?\$(\d\d)\${_B64}{{53}}$")),
    ("yescrypt", re.compile(rf"^\$y\${_B64}+\${_B64}*\${_B64}{{43}}$")),
    ("gost-yescrypt", re.compile(rf"^\$gy\${_B64}+\${_B64}*\${_B64}{{43}}$")),
    ("scrypt", re.compile(rf"^\$7\${_B64}{{11,}}\${_B64}{{43}}$")),
    ("sun-md5", re.compile(r"^\$md5(?:,rounds=\d+)?\$")),
    ("bsdi", re.compile(rf"^_{_B64}{{19}}$")),
    ("des", re.compile(rf"^{_B64}{{13}}$")),
    ("sha1", re.compile(r"^\{SHA\}[+/0-9A-Za-z]{27}=$")),
    ("ssha", re.compile(r"^\{SSHA\}[+/0-9A-Za-z]{28,}={0,2}$")),
    # Mosquitto: $6$ = one salted SHA-512, $7$ = PBKDF2-SHA512, both standard base64.
    ("mosquitto-sha512", re.compile(rf"^\$6\${_STD_B64}+={{0,2}}\${_STD_B64}{{86}}==$")),
    ("mosquitto-pbkdf2", re.compile(rf"^\$7\$(\d+)\${_STD_B64}+={{0,2}}\${_STD_B64}{{86}}==$")),
)

LIBXCRYPT_SCHEMES = frozenset({"des", "bsdi", "md5", "sha256", "sha512", "bcrypt", "yescrypt", "gost-yescrypt", "scrypt", "sun-md5"})


def classify(field: str) -> HashInfo:
    """The scheme of a password field as stored in shadow/passwd/htpasswd.

    Returns `blank` for an empty field, `locked` for `*`, `!`, `!!`, `!<hash>`,
    `*LK*` and friends, `unknown` when it matches no known scheme.
    """
    if field == "":
        return HashInfo("blank", salted=False)
    if field[0] in "!*" or field in ("x", "NP", "LK"):
        return HashInfo("locked", salted=False)
    for scheme, pattern in _PATTERNS:
        m = pattern.match(field)
        if not m:
            continue
        cost = None
        if m.groups() and m.group(1):
            cost = int(m.group(1))
        if scheme == "md5" or scheme == "apr1":
            return HashInfo(scheme, salted=field.split("$")[2] != "")
        if scheme in ("sha256", "sha512") and cost is None:
            cost = 5000  # the scheme's default when no rounds= is given
        return HashInfo(scheme, cost=cost, salted=scheme not in ("sha1",))
    return HashInfo("unknown", salted=False)


# -- libxcrypt ----------------------------------------------------------------

_local = threading.local()
_lib_lock = threading.Lock()
_crypt_r = None
_lib_error: str | None = None


def _load():
    global _crypt_r, _lib_error
    with _lib_lock:
        if _crypt_r is not None or _lib_error is not None:
            return _crypt_r
        for name in ("libcrypt.so.1", ctypes.util.find_library("crypt")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
                fn = lib.crypt_r
            except (OSError, AttributeError) as exc:
                _lib_error = str(exc)
                continue
            fn.restype = ctypes.c_char_p
            fn.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
            _crypt_r, _lib_error = fn, None
            return fn
        _lib_error = _lib_error or "libcrypt not found"
        return None


def libxcrypt_available() -> bool:
    return _load() is not None


def crypt(password: str | bytes, setting: str) -> str | None:
    """crypt_r(3); None when the library refuses the setting (unsupported scheme)."""
    fn = _load()
    if fn is None:
        return None
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    pw = password.encode() if isinstance(password, str) else password
    if b"\x00" in pw:
        return None
    out = fn(pw, setting.encode("ascii"), buf)
    if not out or out.startswith(b"*"):
        return None  # libxcrypt's failure token ("*0" / "*1")
    return out.decode("ascii", "replace")


# -- schemes computed here -----------------------------------------------------

_CRYPT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _to64(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CRYPT_ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(out)


def md5_crypt(password: bytes, salt: bytes, magic: bytes = b"$1$") -> str:
    """The FreeBSD MD5-crypt algorithm; Apache's `$apr1$` is the same with another magic."""
    salt = salt[:8]
    alt = hashlib.md5(password + salt + password).digest()
    ctx = hashlib.md5(password + magic + salt)
    n = len(password)
    while n > 0:
        ctx.update(alt[: min(16, n)])
        n -= 16
    n = len(password)
    while n:
        ctx.update(b"\x00" if n & 1 else password[:1])
        n >>= 1
    digest = ctx.digest()
    for i in range(1000):
        step = hashlib.md5()
        step.update(password if i & 1 else digest)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(digest if i & 1 else password)
        digest = step.digest()
    d = digest
    encoded = (
        _to64((d[0] << 16) | (d[6] << 8) | d[12], 4)
        + _to64((d[1] << 16) | (d[7] << 8) | d[13], 4)
        + _to64((d[2] << 16) | (d[8] << 8) | d[14], 4)
        + _to64((d[3] << 16) | (d[9] << 8) | d[15], 4)
        + _to64((d[4] << 16) | (d[10] << 8) | d[5], 4)
        + _to64(d[11], 2)
    )
    return f"{magic.decode()}{salt.decode('ascii', 'replace')}${encoded}"


def _b64decode(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError:
        return None


def verify(password: str, stored: str, info: HashInfo | None = None, *, digest_prefix: str | None = None) -> bool | None:
    """Whether `password` produces `stored`.  None when the scheme cannot be computed here.

    `digest_prefix` is "user:realm" for HTTP digest (htdigest) entries.
    """
    info = info or classify(stored)
    pw = password.encode("utf-8")
    scheme = info.scheme
    if scheme in LIBXCRYPT_SCHEMES:
        out = crypt(pw, stored)
        return None if out is None else hmac.compare_digest(out, stored)
    if scheme == "apr1":
        salt = stored.split("$")[2]
        return hmac.compare_digest(md5_crypt(pw, salt.encode(), b"$apr1$"), stored)
    if scheme == "sha1":
        return hmac.compare_digest(base64.b64encode(hashlib.sha1(pw).digest()).decode(), stored[5:])
    if scheme == "ssha":
        raw = _b64decode(stored[6:])
        if raw is None or len(raw) <= 20:
            return None
        return hmac.compare_digest(hashlib.sha1(pw + raw[20:]).digest(), raw[:20])
    if scheme == "mosquitto-sha512":
        _, _, salt_b64, hash_b64 = stored.split("$")
        salt, want = _b64decode(salt_b64), _b64decode(hash_b64)
        if salt is None or want is None:
            return None
        return hmac.compare_digest(hashlib.sha512(pw + salt).digest(), want)
    if scheme == "mosquitto-pbkdf2":
        _, _, iterations, salt_b64, hash_b64 = stored.split("$")
        salt, want = _b64decode(salt_b64), _b64decode(hash_b64)
        if salt is None or want is None:
            return None
        return hmac.compare_digest(hashlib.pbkdf2_hmac("sha512", pw, salt, int(iterations)), want)
    if scheme == "md5-digest" and digest_prefix is not None:
        return hmac.compare_digest(hashlib.md5(f"{digest_prefix}:{password}".encode()).hexdigest(), stored.lower())
    return None
