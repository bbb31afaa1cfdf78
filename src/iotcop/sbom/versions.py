"""Version spellings and ordering across vendors, distributions and advisories.

Handles the spellings seen in firmware and advisories: `1.2.3`, `1.2.3-r4` (Alpine/OpenWrt
revision), `1_36_1` and `curl-7_36_0` (git tags), `2022.83` (Dropbear), `1.1.1w` and
`1.0.2zb` (OpenSSL letters), `9.2p1` (OpenSSH), `v4.18-rc1` (kernel tags),
`1:1.35.0-4+deb12u1` (Debian epoch and revision), `0.94.14rc21`.
"""

from __future__ import annotations

import functools
import re

from debian.debian_support import Version as DebianVersion

_PRE_RELEASE = {"dev": -4, "devel": -4, "alpha": -3, "beta": -2, "pre": -1, "rc": -1}
_TOKEN = re.compile(r"\d+|[a-z]+")
_TAG_PREFIX = re.compile(r"^[a-z][a-z0-9+]*?[-_](?=\d)")  # "curl-7_36_0", "openssl-3.0.1", "hostap_2_10"
_UNDERSCORE_VERSION = re.compile(r"^\d+(?:_\d+)+[a-z]?$")
_DEBIAN_REVISION = re.compile(r"-[0-9A-Za-z.+~]+$")
_REPACK = re.compile(r"[.+~](?:dfsg|ds|repack|really)\d*.*$", re.I)


def upstream_version(version: str, scheme: str = "generic") -> str:
    """The upstream part of a package version: no epoch, no packaging revision, no repack tag.

    scheme: "deb" (Debian/opkg `epoch:upstream-revision`), "apk" (`upstream-rN`) or "generic".
    """
    v = version.strip()
    if scheme in ("deb", "opkg"):
        v = re.sub(r"^\d+:", "", v)
        if "-" in v:
            v = _DEBIAN_REVISION.sub("", v)
    v = re.sub(r"-r\d+$", "", v)
    v = _REPACK.sub("", v)
    return v


def normalise(version: str) -> str:
    """One spelling for comparison: lower case, no 'v', tag prefixes and underscores resolved."""
    v = version.strip().lower()
    v = _TAG_PREFIX.sub("", v) if not v[:1].isdigit() and not re.match(r"^v\d", v) else v
    if v.startswith("v") and v[1:2].isdigit():
        v = v[1:]
    if _UNDERSCORE_VERSION.match(v):
        v = v.replace("_", ".")
    return v


# Hand-written on purpose: univers 32.0.1's GenericVersion (aboutcode, the maintained purl-vers library) orders
# 9 of the 18 firmware spellings in tests/vulns wrongly (2.6.30 before 2.6.8, 5.15.167 before 5.15.20, 1.4.69
# before 1.4.7, 1.2 before 1.2.0, 1_36_1 after 1.36.1, 4.18-rc1 after 4.18, 0.94.14rc21 after 0.94.14); this key
# orders all 18 right.  Distribution versions use python-debian (compare(..., "deb")).
@functools.lru_cache(maxsize=65536)
def version_key(version: str) -> tuple:
    """A sortable key.  Pre-release words sort below the release; other letters above it.

    Each item is (kind, value): numbers (2, n); letters after a release (1, word), e.g. OpenSSL's
    'a'..'zz' or OpenSSH's 'p'; pre-releases (-1..-4, ""), the end of the version (0, "").
    A package revision (`-r4`) comes last, compared numerically.
    """
    v = normalise(version)
    revision = 0
    m = re.search(r"-r(\d+)$", v)
    if m:
        revision = int(m.group(1))
        v = v[: m.start()]
    items: list[tuple[int, object]] = []
    for tok in _TOKEN.findall(v):
        if tok.isdigit():
            items.append((2, int(tok)))
        elif tok in _PRE_RELEASE:
            items.append((_PRE_RELEASE[tok], ""))
        else:
            # OpenSSL: 'z' < 'za' < 'zb'; comparing the strings does that.
            items.append((1, tok))
    while items and items[-1] == (2, 0):  # 1.2 == 1.2.0
        items.pop()
    items.append((0, ""))
    items.append((2, revision))
    return tuple(items)


def compare(a: str, b: str, scheme: str = "generic") -> int:
    """-1/0/1.  scheme "deb" (Debian, opkg) orders as dpkg does (python-debian); anything else by version_key."""
    if scheme in ("deb", "opkg"):
        da, db = _debian_version(a), _debian_version(b)
        if da is not None and db is not None:
            return (da > db) - (da < db)
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


@functools.lru_cache(maxsize=16384)
def _debian_version(value: str) -> DebianVersion | None:
    try:
        return DebianVersion(value.strip())
    except ValueError:
        return None


def looks_like_version(value: str | None) -> bool:
    return bool(value) and value not in ("*", "-", "0") and bool(re.search(r"\d", value))


def in_range(version: str, *, introduced: str | None = None, fixed: str | None = None,
             last_affected: str | None = None, start_excluding: str | None = None) -> bool:
    """introduced <= version < fixed (or <= last_affected); missing bounds are open."""
    if introduced and looks_like_version(introduced) and compare(version, introduced) < 0:
        return False
    if start_excluding and compare(version, start_excluding) <= 0:
        return False
    if fixed and looks_like_version(fixed) and compare(version, fixed) >= 0:
        return False
    if last_affected and looks_like_version(last_affected) and compare(version, last_affected) > 0:
        return False
    return True


def same_version(a: str, b: str) -> bool:
    return version_key(a) == version_key(b)


def series_floor(version: str) -> str:
    """The first release of a version's series: '3.5.1' -> '3.5', '1.1.1w' -> '1.1.1', '2.38-27-gabc' -> '2.38'.

    Bounds packaging-history records from below: a packager's bump from 3.5.0 to 3.5.1 says nothing
    about the 3.0 branch.
    """
    v = normalise(version)
    v = re.split(r"[-+~]", v, maxsplit=1)[0]
    nums = re.findall(r"\d+", re.match(r"^[\d.]*", v).group(0))
    if len(nums) >= 3 and re.search(r"\d[a-z]+$", v):  # OpenSSL letter releases: 1.1.1 is the series
        return ".".join(nums[:3])
    if len(nums) <= 2:  # 2.90, 2022.83: each release is its own series
        return ".".join(nums)
    return ".".join(nums[: len(nums) - 1])


def release_series(version: str, parts: int = 2) -> str:
    """'5.15.167' -> '5.15' (the stable branch of a kernel, for example)."""
    nums = re.findall(r"\d+", normalise(version))
    return ".".join(nums[:parts])
