"""Vulnerability analysis of one image: matches plus VEX statements the firmware itself supports.

`not_affected` is stated only on evidence from the image:
* BusyBox: the advisory names applets and none of them is in the binary's applet table
  (justification code_not_present);
* Linux kernel: the advisory names CONFIG_ options, or subsystems listed in data/kernel_features.yaml,
  and the kernel configuration found in the image has all of those options unset (requires_configuration);
* a library found only as shared-object files that no ELF in the image lists in DT_NEEDED
  (code_not_reachable; a dlopen() by name is not seen).
Everything else stays `in_triage`: the version matches and nothing in the image argues otherwise.
"""

from __future__ import annotations

import functools
import gzip
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware
from iotcop.sbom.busybox import applet_table
from iotcop.sbom.identify import COMPONENTS, Component
from iotcop.vulns.match import Match, match_components
from iotcop.yamlload import FAST_LOADER

APPLETS_PATH = Path(__file__).resolve().parents[1] / "sbom" / "data" / "busybox-applets.txt"
KERNEL_FEATURES_PATH = Path(__file__).resolve().parent / "data" / "kernel_features.yaml"
# Applets built from BusyBox's shared udhcp code.
_APPLET_FAMILIES = {"udhcp": ("udhcpc", "udhcpd", "udhcpc6", "dumpleases")}
_CONFIG_WORD = re.compile(r"\bCONFIG_[A-Z0-9_]+\b")


@dataclass
class Analysis:
    match: Match
    state: str  # "in_triage" | "not_affected"
    justification: str | None = None
    detail: str | None = None


@functools.cache
def known_applets() -> frozenset[str]:
    return frozenset(line.strip() for line in APPLETS_PATH.read_text().splitlines()
                     if line.strip() and not line.startswith("#"))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9_.\-\[\]]+", text))


def applets_named(text: str) -> set[str]:
    """BusyBox applet names an advisory text mentions."""
    words = {w.lower().strip(".-") for w in _words(text)}
    # Short words that are also English ('ar', 'cat', 'find' ...) are ignored: too ambiguous.
    named = {w for w in words if w in known_applets() and len(w) >= 4 and w not in _COMMON_WORDS}
    for family, members in _APPLET_FAMILIES.items():
        if family in words:
            named.update(members)
    return named


_COMMON_WORDS = frozenset({"busybox", "test", "true", "false", "time", "more", "less", "link", "kill", "sort", "sync",
                           "find", "which", "mount", "fold", "expand", "reset", "tail", "head", "free", "stat",
                           "date", "sleep", "split", "wait", "clear", "users", "watch", "login", "patch", "top"})


def _busybox_applets(fw: Firmware, comp: Component) -> tuple[str, set[str]] | None:
    for ev in comp.evidence:
        entry = fw.get(ev["path"]) if ev.get("path") else None
        if entry is None:
            continue
        data = fw.read_bytes(entry)
        table = applet_table(data or b"")
        if table:
            return entry.path, set(table)
    return None


@functools.cache
def _kernel_features() -> tuple[tuple[re.Pattern, str], ...]:
    rows = yaml.load(KERNEL_FEATURES_PATH.read_text(), Loader=FAST_LOADER) or []
    return tuple((re.compile(r["pattern"], re.IGNORECASE), r["option"]) for r in rows)


def kernel_options_named(text: str) -> dict[str, str]:
    """{CONFIG_X: what in the text asked for it} for the kernel options an advisory depends on."""
    named = {opt: opt for opt in _CONFIG_WORD.findall(text)}
    for pattern, option in _kernel_features():
        m = pattern.search(text)
        if m and option not in named:
            named[option] = m.group(0)
    return named


def kernel_config(fw: Firmware) -> tuple[str, dict[str, str]] | None:
    """(where, {CONFIG_X: value}) from /proc/config.gz, /boot/config-*, or IKCONFIG in a kernel image."""
    def parse(text: str) -> dict[str, str]:
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(CONFIG_[A-Z0-9_]+)=(.*)$", line)
            if m:
                out[m.group(1)] = m.group(2)
            else:
                m = re.match(r"^# (CONFIG_[A-Z0-9_]+) is not set", line)
                if m:
                    out[m.group(1)] = "n"
        return out

    for entry in list(fw.glob("/boot/config*")) + list(fw.glob("/proc/config.gz")) + list(fw.glob("/lib/modules/*/config")):
        data = fw.read_bytes(entry) or b""
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                continue
        cfg = parse(data.decode("utf-8", "replace"))
        if cfg:
            return entry.path, cfg
    for entry in fw.files():
        if not entry.path.startswith("<image>/") or entry.size > 64 * 1024 * 1024:
            continue
        data = fw.read_bytes(entry) or b""
        if entry.magic == "gzip":
            try:
                data = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 64 * 1024 * 1024)
            except zlib.error:
                continue
        start = data.find(b"IKCFG_ST")
        if start < 0:
            continue
        end = data.find(b"IKCFG_ED", start)
        try:
            text = gzip.decompress(data[start + 8:end if end > 0 else None]).decode("utf-8", "replace")
        except (OSError, EOFError):
            continue
        cfg = parse(text)
        if cfg:
            return entry.path + " (IKCONFIG)", cfg
    return None


def _needed_names(fw: Firmware) -> set[str]:
    return {n for e in fw.elf_files() for n in e.elf.needed}


def _library_unused(fw: Firmware, comp: Component) -> str | None:
    """A detail string when the component exists only as shared objects no ELF links against."""
    paths = [ev["path"] for ev in comp.evidence if ev.get("path") and "database" not in ev.get("method", "")]
    if not paths:
        return None
    entries = [fw.get(p) for p in paths]
    if any(e is None or e.elf is None or ".so" not in e.name for e in entries):
        return None
    names = {e.name for e in entries}
    targets = {e.path for e in entries}
    for link in fw.entries:
        if link.kind == "symlink" and ".so" in link.name:
            resolved = fw.get(link.path)
            if resolved is not None and resolved.path in targets:
                names.add(link.name)
    needed = _needed_names(fw)
    if needed & names:
        return None
    return (f"{', '.join(sorted(targets))} is present but no ELF file in the image lists "
            f"{' or '.join(sorted(names))} in DT_NEEDED")


def analyse(fw: Firmware, db_path: Path | None = None) -> list[Analysis]:
    components = COMPONENTS.of(fw)
    matches = match_components(components, db_path)
    out: list[Analysis] = []
    busybox_cache: dict[str, tuple[str, set[str]] | None] = {}
    config = None
    config_read = False
    unused_cache: dict[str, str | None] = {}
    for m in matches:
        comp = m.component
        text = " ".join(filter(None, (m.title, m.description)))
        result = Analysis(match=m, state="in_triage")
        if comp.name == "busybox":
            if comp.key not in busybox_cache:
                busybox_cache[comp.key] = _busybox_applets(fw, comp)
            got = busybox_cache[comp.key]
            named = applets_named(text)
            if got and named:
                path, present = got
                if not named & present:
                    result = Analysis(m, "not_affected", "code_not_present",
                                      f"the advisory concerns {', '.join(sorted(named))}; the applet table of "
                                      f"{path} does not contain it ({len(present)} applets compiled in)")
        elif comp.name == "linux_kernel":
            wanted = kernel_options_named(text)
            if wanted:
                if not config_read:
                    config, config_read = kernel_config(fw), True
                if config:
                    where, cfg = config
                    if all(cfg.get(opt, "n") == "n" for opt in wanted):
                        named = ", ".join(opt if why == opt else f"{why} ({opt})" for opt, why in sorted(wanted.items()))
                        result = Analysis(m, "not_affected", "requires_configuration",
                                          f"the advisory concerns {named}; {', '.join(sorted(wanted))} not set in "
                                          f"the kernel configuration ({where})")
        elif comp.type == "library":
            if comp.key not in unused_cache:
                unused_cache[comp.key] = _library_unused(fw, comp)
            if unused_cache[comp.key]:
                result = Analysis(m, "not_affected", "code_not_reachable", unused_cache[comp.key])
        out.append(result)
    return out


VULNERABILITY_ANALYSIS = DerivedFact("vulnerability-analysis", analyse, uses=(COMPONENTS,))


def analyse_cached(fw: Firmware) -> list[Analysis]:
    return VULNERABILITY_ANALYSIS.of(fw)
