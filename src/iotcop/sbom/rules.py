"""Component rules, loaded from data/components.yaml and compiled once."""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from iotcop.errors import CatalogueError
from iotcop.yamlload import FAST_LOADER

RULES_PATH = Path(__file__).parent / "data" / "components.yaml"


@dataclass(frozen=True)
class Rule:
    name: str
    vendor: str
    product: str
    purl_type: str
    purl_name: str
    packages: tuple[str, ...]
    files: tuple[str, ...]
    elf_only: bool
    outside_root: bool
    presence: bool
    patterns: tuple[re.Pattern[bytes], ...]
    name_patterns: tuple[re.Pattern[str], ...]
    version_must: re.Pattern[str] | None
    anchors: tuple[bytes, ...]  # literals; one must occur in a file before any regex runs on it
    content: tuple[str, ...] = ("elf",)  # file types (inventory magic) whose content the patterns read
    package_patterns: tuple[re.Pattern[bytes], ...] = ()  # group "pv": a distribution's packaged version
    debian_source: str | None = None  # Debian source package, for a packaged version read from content

    def wants_name(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pat) for pat in self.files)

    def reads(self, magic: str, outside_root: bool) -> bool:
        """Whether this rule's patterns run on a file of this type (outside_root: not in any root filesystem)."""
        return bool(self.patterns) and (magic in self.content or (outside_root and self.outside_root))

    def accepts(self, version: str) -> bool:
        return self.version_must is None or bool(self.version_must.search(version))


@functools.cache
def load_rules(path: Path = RULES_PATH) -> tuple[Rule, ...]:
    data = yaml.load(path.read_text(), Loader=FAST_LOADER)
    rules = []
    for name, spec in (data.get("components") or {}).items():
        try:
            patterns = tuple(re.compile(p.encode(), re.S) for p in spec.get("patterns", ()))
            anchors = tuple(a.encode() for a in spec.get("anchors", ()))
            purl = spec.get("purl") or {}
            rules.append(Rule(
                name=name,
                vendor=spec["vendor"],
                product=spec["product"],
                purl_type=purl.get("type", "generic"),
                purl_name=purl.get("name", name),
                packages=tuple(spec.get("packages", ())),
                files=tuple(spec.get("files", ())),
                elf_only=bool(spec.get("elf", True)),
                outside_root=bool(spec.get("outside_root", False)),
                presence=bool(spec.get("presence", False)),
                patterns=patterns,
                name_patterns=tuple(re.compile(p) for p in spec.get("name_patterns", ())),
                version_must=re.compile(spec["version_must"]) if spec.get("version_must") else None,
                anchors=anchors,
                content=tuple(spec.get("content", ("elf",))),
                package_patterns=tuple(re.compile(p.encode(), re.S) for p in spec.get("package_patterns", ())),
                debian_source=spec.get("debian_source"),
            ))
        except (KeyError, re.error, TypeError) as exc:
            raise CatalogueError(f"{path.name}: component {name}: {exc}") from None
        if patterns and not anchors:
            # Every file of the rule's types is searched: a literal keeps that cheap and the rule specific.
            raise CatalogueError(f"{path.name}: component {name}: patterns need anchors")
    return tuple(rules)


@functools.cache
def rules_by_package() -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for rule in load_rules():
        for pkg in rule.packages:
            out.setdefault(pkg.lower(), rule)
    return out


@functools.cache
def rule_named(name: str) -> Rule | None:
    return next((r for r in load_rules() if r.name == name), None)
