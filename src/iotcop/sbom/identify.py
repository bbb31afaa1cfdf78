"""Which software components an image holds, and the evidence for each.

Two sources, merged per (component, version):
* package databases (dpkg, opkg, apk): name and version as the packager recorded them;
* version signatures: compiled byte regexes from data/components.yaml, run only on
  files whose name a rule asks for (and, for most rules, only on ELF files).

Read them through COMPONENTS (a derived fact) so the work is done once per scan.
"""

from __future__ import annotations

import fnmatch
import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

from iotcop.context import ScanContext
from iotcop.firmware.content import ContentScanner
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.sbom.packages import Package, installed_packages
from iotcop.sbom.rules import Rule, load_rules, rules_by_package
from iotcop.vulns.versions import upstream_version

IMAGE_PREFIX = "<image>/"
_MAX_SCAN_BYTES = 64 * 1024 * 1024
_MAX_DECOMPRESSED = 64 * 1024 * 1024
_EXCERPT = 120


@dataclass
class Component:
    name: str
    version: str | None  # upstream version, used for matching
    vendor: str | None = None
    product: str | None = None
    type: str = "application"
    purl: str | None = None
    package: str | None = None  # package name when a package database recorded it
    package_version: str | None = None
    manager: str | None = None
    evidence: list[dict] = field(default_factory=list)
    sha256: str | None = None  # of the first file that proved it

    @property
    def cpe(self) -> str | None:
        if not (self.vendor and self.product):
            return None
        return "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*".format(
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
        if self.package:
            out["package"] = {"name": self.package, "version": self.package_version, "manager": self.manager}
        if self.sha256:
            out["sha256"] = self.sha256
        return out


def _cpe_escape(value: str) -> str:
    return re.sub(r"([^A-Za-z0-9._\-])", r"\\\1", value)


def _purl(kind: str, name: str, version: str | None, namespace: str | None = None,
          qualifiers: dict[str, str] | None = None) -> str:
    path = f"{quote(namespace, safe='')}/" if namespace else ""
    out = f"pkg:{kind}/{path}{quote(name, safe='')}"
    if version:
        out += "@" + quote(version, safe="")
    if qualifiers:
        out += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(qualifiers.items()) if v)
    return out


_LIBRARIES = {"openssl", "glibc", "musl", "uclibc", "uclibc-ng", "zlib", "sqlite", "mbedtls", "wolfssl", "expat"}


def _component_type(rule: Rule | None) -> str:
    if rule is None:
        return "application"
    if rule.name == "linux_kernel":
        return "operating-system"
    return "library" if rule.name in _LIBRARIES else "application"


# --------------------------------------------------------------------------- package databases

def _package_components(packages: list[Package]) -> list[Component]:
    by_rule = rules_by_package()
    out = []
    for pkg in packages:
        rule = by_rule.get(pkg.name.lower())
        scheme = {"dpkg": "deb", "opkg": "opkg", "apk": "apk"}[pkg.manager]
        version = upstream_version(pkg.version, scheme)
        if pkg.manager == "dpkg":
            purl = _purl("deb", pkg.name, pkg.version, "debian", {"arch": pkg.arch or ""})
        elif pkg.manager == "apk":
            purl = _purl("apk", pkg.name, pkg.version, "alpine", {"arch": pkg.arch or ""})
        else:
            purl = _purl("opkg", pkg.name, pkg.version, None, {"arch": pkg.arch or ""})
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
            evidence=[{"path": pkg.path, "line": pkg.line, "method": f"{pkg.manager} database",
                       "excerpt": f"Package: {pkg.name} Version: {pkg.version}"}],
        ))
    return out


# --------------------------------------------------------------------------- signatures

@dataclass
class _Compiled:
    rules: tuple[Rule, ...]
    name_res: tuple[re.Pattern[str], ...]


def _compiled() -> _Compiled:
    rules = load_rules()
    name_res = tuple(re.compile("|".join(fnmatch.translate(p) for p in r.files)) if r.files else re.compile(r"(?!)")
                     for r in rules)
    return _Compiled(rules, name_res)


_COMPILED: _Compiled | None = None


def _rules_for(entry: FileEntry, assume_elf: bool = False) -> list[Rule]:
    """The rules that apply to a file, by its name and place (not its content).

    `assume_elf`: judge ELF-only rules as if the file were ELF (during the inventory, before entry.elf is set).
    """
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = _compiled()
    comp = _COMPILED
    if entry.kind != "file" or entry.size == 0:
        return []
    name = entry.name
    outside = entry.path.startswith(IMAGE_PREFIX)
    is_elf = assume_elf or entry.elf is not None
    out = []
    for rule, name_re in zip(comp.rules, comp.name_res):
        if name_re.match(name):
            if rule.elf_only and not is_elf and not rule.presence and not rule.name_patterns:
                continue
        elif not (outside and rule.outside_root):
            continue
        out.append(rule)
    return out


class VersionSignatures(ContentScanner):
    """Version strings of the component rules, searched in the files the rules name (during the inventory)."""

    CONTENT_NAME = "components"
    CONTENT_BUDGET = 300.0
    VERSION = "1"

    def content_limit(self, entry: FileEntry, ctx: ScanContext) -> int:
        # The ELF-only rules need entry.elf, which the inventory sets after reading: judge by magic here.
        rules = [r for r in _rules_for_magic(entry) if r.patterns]
        return _MAX_SCAN_BYTES if rules else 0

    def content_variant(self, entry: FileEntry) -> str:
        return ",".join(r.name for r in _rules_for_magic(entry)) + (":outside" if entry.path.startswith(IMAGE_PREFIX) else "")

    def scan_content(self, entry: FileEntry, data: bytes):
        """{rule name: [version, offset, excerpt]} for the rules whose version string is in the file."""
        data = _maybe_decompressed(entry, data)
        out = {}
        for rule in _rules_for_magic(entry):
            if rule.patterns:
                hit = version_in_bytes(rule, data)
                if hit:
                    version, m = hit
                    out[rule.name] = [version, m.start(), _excerpt(data, m)]
        return out or None


def _rules_for_magic(entry: FileEntry) -> list[Rule]:
    # During the inventory entry.elf is not set yet when the scanners are chosen; the magic already says ELF.
    return _rules_for(entry, assume_elf=entry.magic == "elf")


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


def version_in_bytes(rule: Rule, data: bytes) -> tuple[str, re.Match] | None:
    """The first version a rule's patterns find in data (and the match), or None."""
    if rule.anchors and not any(a in data for a in rule.anchors):
        return None
    for pat in rule.patterns:
        m = pat.search(data)
        if m:
            v = m.group("v").decode("ascii", "replace")
            if rule.accepts(v):
                return v, m
    return None


def _signature_components(fw: Firmware) -> list[Component]:
    found: list[Component] = []
    versions = {id(entry): hits for entry, hits in fw.content_results(VersionSignatures())}
    for entry in fw.files():
        rules = _rules_for(entry)
        if not rules:
            continue
        hits = versions.get(id(entry), {})
        for rule in rules:
            version, evidence = None, None
            for pat in rule.name_patterns:
                m = pat.search(entry.name)
                if m and rule.accepts(m.group("v")):
                    version = m.group("v")
                    evidence = {"path": entry.path, "method": "file name", "excerpt": entry.name}
                    break
            if version is None and rule.name in hits:
                version, offset, excerpt = hits[rule.name]
                evidence = {"path": entry.path, "offset": offset, "method": "version string", "excerpt": excerpt}
            if version is None:
                if rule.presence and rule.wants_name(entry.name):
                    evidence = {"path": entry.path, "method": "file name", "excerpt": entry.name}
                else:
                    continue
            found.append(Component(
                name=rule.name, version=version, vendor=rule.vendor, product=rule.product,
                type=_component_type(rule),
                purl=_purl(rule.purl_type, rule.purl_name, version),
                evidence=[evidence], sha256=entry.sha256,
            ))
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
        if have.package is None and comp.package is not None:
            have.package, have.package_version, have.manager, have.purl = (
                comp.package, comp.package_version, comp.manager, comp.purl)
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
    return _merge(_package_components(installed_packages(fw)) + _signature_components(fw))


COMPONENTS = DerivedFact("components", identify_components, scanners=(VersionSignatures,))


def components_as_dicts(fw: Firmware) -> list[dict]:
    return [c.to_dict() for c in COMPONENTS.of(fw)]
