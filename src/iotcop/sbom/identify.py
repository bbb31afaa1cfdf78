"""Which software components an image holds, and the evidence for each.

Two sources, merged per (component, version):
* package databases (dpkg, opkg, apk): name and version as the packager recorded them;
* version signatures: compiled byte regexes from data/components.yaml, run on the content of every
  file of the types a rule reads (ELF by default), found by a literal anchor first; a component found in
  a program that is not its own file (OpenSSL compiled into wscd, dropbear renamed sshd) is reported with
  that host file.

Read them through COMPONENTS (a derived fact) so the work is done once per scan.
"""

from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass, field

from packageurl import PackageURL

from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.sbom.packages import Package, installed_packages
from iotcop.sbom.rules import Rule, load_rules, rule_named, rules_by_package
from iotcop.sbom.versions import upstream_version

IMAGE_PREFIX = "<image>/"
_MAX_SCAN_BYTES = 64 * 1024 * 1024
_MAX_DECOMPRESSED = 64 * 1024 * 1024
_EXCERPT = 120
# A version string lies near the anchor that names its project (the farthest seen: json-c, 280 bytes);
# patterns run on this much around each anchor, not on whole files.
_WINDOW = 16 * 1024
_MAX_HITS = 64


@dataclass
class Component:
    name: str
    version: str | None  # upstream version, used for matching
    vendor: str | None = None
    product: str | None = None
    type: str = "application"
    purl: str | None = None
    package: str | None = None  # package name when a package database recorded it
    package_version: str | None = None  # the full packaged version: epoch, upstream and distribution revision
    manager: str | None = None
    evidence: list[dict] = field(default_factory=list)
    sha256: str | None = None  # of the first file that proved it
    source_package: str | None = None  # the distribution's source package (Debian: glibc for libc6)
    distro: str | None = None  # "debian", "alpine", "openwrt" when the build is a distribution's
    distro_release: str | None = None  # "12", "bookworm" ... when the image says which release

    @property
    def cpe(self) -> str | None:
        if not (self.vendor and self.product):
            return None
        part = "o" if self.type == "operating-system" else "a"  # NVD lists the Linux kernel as an OS
        return "cpe:2.3:{}:{}:{}:{}:*:*:*:*:*:*:*".format(part,
            _cpe_escape(self.vendor), _cpe_escape(self.product), _cpe_escape(self.version) if self.version else "*")

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version or ''}"

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "version": self.version,
            "type": self.type,
            "purl": self.purl,
            "cpe": self.cpe,
            "evidence": self.evidence,
        }
        if self.package or self.package_version:
            out["package"] = {"name": self.package, "version": self.package_version, "manager": self.manager}
            if self.source_package:
                out["package"]["source"] = self.source_package
            if self.distro:
                out["package"]["distro"] = self.distro + (f" {self.distro_release}" if self.distro_release else "")
        if self.sha256:
            out["sha256"] = self.sha256
        return out


def _cpe_escape(value: str) -> str:
    return re.sub(r"([^A-Za-z0-9._\-])", r"\\\1", value)


def _purl(kind: str, name: str, version: str | None, namespace: str | None = None,
          qualifiers: dict[str, str] | None = None) -> str:
    return PackageURL(type=kind, namespace=namespace, name=name, version=version or None,
                      qualifiers={k: v for k, v in (qualifiers or {}).items() if v} or None).to_string()


_LIBRARIES = {"openssl", "glibc", "musl", "uclibc", "uclibc-ng", "zlib", "sqlite", "mbedtls", "wolfssl", "expat"}


def _component_type(rule: Rule | None) -> str:
    if rule is None:
        return "application"
    if rule.name == "linux_kernel":
        return "operating-system"
    return "library" if rule.name in _LIBRARIES else "application"


# --------------------------------------------------------------------------- package databases

# Which distribution a package database belongs to, by the os-release ID; dpkg without one is Debian's.
_DISTRO_OF_MANAGER = {"dpkg": "debian", "apk": "alpine", "opkg": "openwrt"}
_PURL_NAMESPACE = {"debian": "debian", "ubuntu": "ubuntu", "raspbian": "raspbian", "alpine": "alpine",
                   "openwrt": "openwrt"}


def distribution(fw: Firmware) -> tuple[str | None, str | None]:
    """(os-release ID, release) of the image: ("debian", "12"), ("openwrt", "19.07.7") ... or (None, None)."""
    fields: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release", "/etc/openwrt_release"):
        text = fw.read_text(path, 64 * 1024) if fw.exists(path) else None
        for line in (text or "").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                fields.setdefault(key.strip(), value.strip().strip("\"'"))
    distro = (fields.get("ID") or ("openwrt" if fields.get("DISTRIB_ID") else "")).lower() or None
    release = fields.get("VERSION_CODENAME") or fields.get("VERSION_ID") or fields.get("DISTRIB_RELEASE")
    if fw.exists("/etc/debian_version"):
        text = (fw.read_text("/etc/debian_version", 4096) or "").strip()
        distro = distro or "debian"
        if release is None and re.match(r"^\d+(?:\.\d+)*$", text):
            release = text.split(".")[0]
    return distro, release


def _debian_release_of(packages: list[Package]) -> str | None:
    """The Debian release most stable-update revisions name (`+deb12u3`, `~deb12u1` -> "12"), if any."""
    counts: dict[str, int] = {}
    for pkg in packages:
        m = re.search(r"[+~]deb(\d+)u\d+", pkg.version) if pkg.manager == "dpkg" else None
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + 1
    return max(counts, key=counts.get) if counts else None


def _package_components(packages: list[Package], fw: Firmware | None = None) -> list[Component]:
    by_rule = rules_by_package()
    os_id, os_release = distribution(fw) if fw is not None else (None, None)
    if os_release is None:
        os_release = _debian_release_of(packages)
    out = []
    for pkg in packages:
        rule = by_rule.get(pkg.name.lower()) or (by_rule.get(pkg.source.lower()) if pkg.source else None)
        scheme = {"dpkg": "deb", "opkg": "opkg", "apk": "apk"}[pkg.manager]
        version = upstream_version(pkg.version, scheme)
        distro = _DISTRO_OF_MANAGER[pkg.manager]
        if pkg.manager == "dpkg" and os_id in ("ubuntu", "raspbian"):
            distro = os_id
        release = os_release if (os_id or distro) == distro else None
        qualifiers = {"arch": pkg.arch or "", "distro": f"{distro}-{release}" if release else ""}
        purl = _purl(scheme, pkg.name, pkg.version, _PURL_NAMESPACE.get(distro), qualifiers)
        out.append(Component(
            name=rule.name if rule else pkg.name,
            version=version,
            vendor=rule.vendor if rule else None,
            product=rule.product if rule else None,
            type=_component_type(rule),
            purl=purl,
            package=pkg.name,
            package_version=pkg.version,
            manager=pkg.manager,
            source_package=pkg.source or pkg.name,
            distro=distro,
            distro_release=release,
            evidence=[{"path": pkg.path, "line": pkg.line, "method": f"{pkg.manager} database",
                       "excerpt": f"Package: {pkg.name} Version: {pkg.version}"}],
        ))
    return out


# --------------------------------------------------------------------------- signatures

@dataclass(frozen=True)
class _ContentRules:
    rules: tuple[Rule, ...]
    anchors: tuple[bytes, ...]  # every anchor of these rules
    by_anchor: dict[bytes, tuple[Rule, ...]]

    def present(self, data: bytes) -> dict[bytes, list[int]]:
        """Where the anchors occur in data (end offsets, at most _MAX_HITS each): one pass of a
        multi-pattern matcher over the bytes."""
        if not self.anchors:
            return {}
        return _anchor_matcher(self.anchors)(data)


@functools.cache
def _content_rules(magic: str, outside_root: bool) -> _ContentRules:
    """The rules whose patterns read files of this type."""
    rules = tuple(r for r in load_rules() if r.reads(magic, outside_root))
    by_anchor: dict[bytes, list[Rule]] = {}
    for rule in rules:
        for anchor in rule.anchors:
            by_anchor.setdefault(anchor, []).append(rule)
    return _ContentRules(rules, tuple(sorted(by_anchor)), {a: tuple(r) for a, r in by_anchor.items()})


@functools.cache
def _anchor_matcher(anchors: tuple[bytes, ...]):
    """A function data -> the anchors in it.  Hyperscan reads every ELF of a 37 MB vendor tree (112 MB of
    programs, 70 anchors) in 0.12 s where one Python regex alternation took 6.5 s; without it, the regex."""
    try:
        import hyperscan
    except ImportError:  # pragma: no cover - hyperscan wheels exist for the platforms iotcop runs on
        hyperscan = None
    if hyperscan is not None:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=[re.escape(a) for a in anchors], ids=list(range(len(anchors))),
                   elements=len(anchors), flags=[0] * len(anchors))

        def scan(data: bytes) -> dict[bytes, list[int]]:
            found: dict[bytes, list[int]] = {}

            def hit(i, start, end, flags, ctx):
                ends = found.setdefault(anchors[i], [])
                if len(ends) < _MAX_HITS:
                    ends.append(end)
            db.scan(data, match_event_handler=hit)
            return found
        return scan
    alternation = re.compile(b"|".join(re.escape(a) for a in sorted(anchors, key=len, reverse=True)))

    def scan_re(data: bytes) -> dict[bytes, list[int]]:
        found: dict[bytes, list[int]] = {}
        for m in alternation.finditer(data):
            ends = found.setdefault(m.group(0), [])
            if len(ends) < _MAX_HITS:
                ends.append(m.end())
        return found
    return scan_re


def _rules_for_entry(entry: FileEntry) -> _ContentRules:
    return _content_rules(entry.magic, entry.path.startswith(IMAGE_PREFIX))


class VersionSignatures(ContentScanner):
    """Version strings of the component rules, searched by content in every file of the types the rules read
    (ELF programs and libraries; kernel images; web scripts), whatever the file is called."""

    CONTENT_NAME = "components"
    CONTENT_BUDGET = 300.0
    VERSION = "2"

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        return _MAX_SCAN_BYTES if entry.kind == "file" and _rules_for_entry(entry).rules else 0

    def content_variant(self, entry: FileEntry) -> str:
        return entry.magic + (":outside" if entry.path.startswith(IMAGE_PREFIX) else "")

    def scan_content(self, entry: FileEntry, data: bytes):
        """{rule name: [version, offset, excerpt, packaged version or None]} for the rules whose version
        string is in the file."""
        return signatures_in(_rules_for_entry(entry), _maybe_decompressed(entry, data)) or None


def signatures_in(found: _ContentRules, data: bytes) -> dict[str, list]:
    where: dict[str, list[int]] = {}
    rules: dict[str, Rule] = {}
    for anchor, ends in found.present(data).items():
        for rule in found.by_anchor[anchor]:
            rules[rule.name] = rule
            where.setdefault(rule.name, []).extend(ends)
    out = {}
    for name, rule in sorted(rules.items()):
        hit = None
        for lo, hi in _windows(where[name], len(data)):
            hit = version_in_bytes(rule, data, anchored=False, pos=lo, endpos=hi)
            if hit:
                break
        if hit:
            version, m = hit
            packaged = None
            for pat in rule.package_patterns:
                pm = pat.search(data)
                if pm:
                    packaged = pm.group("pv").decode("ascii", "replace")
                    break
            out[name] = [version, m.start(), _excerpt(data, m), packaged]
    return out


def _windows(ends: list[int], size: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for end in sorted(ends):
        lo, hi = max(0, end - _WINDOW), min(size, end + _WINDOW)
        if spans and lo <= spans[-1][1]:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


def _excerpt(data: bytes, m: re.Match) -> str:
    text = data[m.start():m.end()]
    text = re.sub(rb"[\x00\n]+", b" | ", text)
    return text[:_EXCERPT].decode("latin-1").strip(" |")


def _maybe_decompressed(entry: FileEntry, data: bytes) -> bytes:
    """A gzip'd kernel or blob outside the root filesystem: search its content too."""
    if entry.magic == "gzip" and entry.path.startswith(IMAGE_PREFIX):
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return data + b"\x00" + d.decompress(data, _MAX_DECOMPRESSED)
        except zlib.error:
            return data
    return data


def version_in_bytes(rule: Rule, data: bytes, anchored: bool = True, pos: int = 0,
                     endpos: int | None = None) -> tuple[str, re.Match] | None:
    """The first version a rule's patterns find in data[pos:endpos] (and the match), or None."""
    if anchored and rule.anchors and not any(a in data for a in rule.anchors):
        return None
    end = len(data) if endpos is None else endpos
    for pat in rule.patterns:
        for m in pat.finditer(data, pos, end):
            v = m.group("v").decode("ascii", "replace")
            if rule.accepts(v):
                return v, m
    return None


def _component(rule: Rule, version: str | None, evidence: dict, sha256: str | None,
               packaged: str | None = None) -> Component:
    comp = Component(name=rule.name, version=version, vendor=rule.vendor, product=rule.product,
                     type=_component_type(rule), purl=_purl(rule.purl_type, rule.purl_name, version),
                     evidence=[evidence], sha256=sha256)
    if packaged and rule.debian_source:
        # The binary names the Debian package it was built from ("Debian GLIBC 2.36-9+deb12u14").
        comp.package_version, comp.source_package, comp.distro = packaged, rule.debian_source, "debian"
        comp.purl = _purl("deb", rule.debian_source, packaged, "debian", {"arch": "source"})
    return comp


def _signature_components(fw: Firmware) -> list[Component]:
    found: list[Component] = []
    for entry, hits in fw.content_results(VersionSignatures()):
        for name, (version, offset, excerpt, *rest) in hits.items():
            rule = rule_named(name)
            if rule is None:
                continue
            evidence = {"path": entry.path, "offset": offset, "method": "version string", "excerpt": excerpt}
            if rule.files and not rule.wants_name(entry.name):
                # Found in a program that is not the component's own file: compiled into it, or renamed.
                evidence["method"] = "version string in another program"
            found.append(_component(rule, version, evidence, entry.sha256, rest[0] if rest else None))
    # File names that carry a version (uClibc's libuClibc-0.9.33.2.so) or only say the component is there.
    by_name = [r for r in load_rules() if r.name_patterns or r.presence]
    for entry in fw.files():
        for rule in by_name:
            if not rule.wants_name(entry.name):
                continue
            version = None
            for pat in rule.name_patterns:
                m = pat.search(entry.name)
                if m and rule.accepts(m.group("v")):
                    version = m.group("v")
                    break
            if version is None and not rule.presence:
                continue
            found.append(_component(rule, version, {"path": entry.path, "method": "file name", "excerpt": entry.name},
                                    entry.sha256))
    return found


# --------------------------------------------------------------------------- merge

def _merge(components: list[Component]) -> list[Component]:
    merged: dict[str, Component] = {}
    for comp in components:
        key = comp.key if comp.version else comp.name + "@"
        have = merged.get(key)
        if have is None:
            merged[key] = comp
            continue
        for ev in comp.evidence:
            if ev not in have.evidence:
                have.evidence.append(ev)
        if have.package is None and comp.package is not None or (have.package_version is None and comp.package_version):
            for attr in ("package", "package_version", "manager", "purl", "source_package", "distro", "distro_release"):
                setattr(have, attr, getattr(comp, attr))
        have.sha256 = have.sha256 or comp.sha256
    # A name seen without a version is dropped when the same component has a version.
    versioned = {c.name for c in merged.values() if c.version}
    out = [c for c in merged.values() if c.version or c.name not in versioned]
    for c in out:
        c.evidence.sort(key=lambda e: (e.get("method") != "dpkg database" and "database" not in e.get("method", ""),
                                       e.get("path") or "", e.get("offset") or 0))
    return sorted(out, key=lambda c: (c.name, c.version or ""))


def identify_components(fw: Firmware) -> list[Component]:
    """Every component found in the image, with evidence, sorted by name and version."""
    return _merge(_package_components(installed_packages(fw), fw) + _signature_components(fw))


COMPONENTS = DerivedFact("components", identify_components, scanners=(VersionSignatures,))


def components_as_dicts(fw: Firmware) -> list[dict]:
    return [c.to_dict() for c in COMPONENTS.of(fw)]
