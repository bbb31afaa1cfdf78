"""Vulnerability analysis of one image: matches plus VEX statements the firmware itself supports.

`not_affected` is stated only on evidence from the image or a distribution's own record:
* a distribution build whose maintainers fixed the vulnerability in this package revision: the Debian
  changelog shipped in the image (/usr/share/doc/<package>/changelog.Debian.gz) names the CVE at or below
  the installed version, or an imported distribution record (Debian security tracker, OSV Debian/Alpine/
  OpenWrt, Alpine secdb) gives a fixed version at or below it (code_not_present: the fix is applied);
* BusyBox: the advisory names applets and none of them is in the binary's applet table
  (justification code_not_present);
* Linux kernel: the advisory concerns another CPU architecture (its files under arch/<other>/, or its
  text names only another architecture) than the kernel's (code_not_present); it names CONFIG_ options,
  or subsystems listed in data/kernel_features.yaml, that the kernel configuration found in the image
  (/proc/config.gz copies, config-*, .config, IKCONFIG in a kernel image) leaves unset
  (requires_configuration) or builds as modules the image does not ship (code_not_present); or the
  subsystem was merged into Linux after the kernel's version (code_not_present);
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
from debian.changelog import Changelog, ChangelogParseError

from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.sbom.busybox import applet_table
from iotcop.sbom.identify import COMPONENTS, Component
from iotcop.sbom.versions import compare
from iotcop.vulns.match import Match, match_components
from iotcop.yamlload import FAST_LOADER
from iotcop.triage.vex import SUPPRESSING

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
    # The distribution's own record of fixes for this package was read and does not name the CVE.
    distro_checked: str | None = None


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


@dataclass(frozen=True)
class KernelFeature:
    pattern: re.Pattern
    option: str
    module: str | None
    since: str | None


@functools.cache
def _kernel_features() -> tuple[KernelFeature, ...]:
    rows = yaml.load(KERNEL_FEATURES_PATH.read_text(), Loader=FAST_LOADER) or []
    return tuple(KernelFeature(re.compile(r["pattern"], re.IGNORECASE), r["option"], r.get("module"),
                               str(r["since"]) if r.get("since") else None) for r in rows)


def kernel_options_named(text: str) -> dict[str, str]:
    """{CONFIG_X: what in the text asked for it} for the kernel options an advisory depends on."""
    named = {opt: opt for opt in _CONFIG_WORD.findall(text)}
    for feature in _kernel_features():
        m = feature.pattern.search(text)
        if m and feature.option not in named:
            named[feature.option] = m.group(0)
    return named


def kernel_features_named(text: str) -> list[tuple[KernelFeature, str]]:
    return [(f, m.group(0)) for f in _kernel_features() if (m := f.pattern.search(text))]


def _parse_config(text: str) -> dict[str, str]:
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


def _config_candidates(fw: Firmware) -> list[FileEntry]:
    """Files that may hold a kernel configuration: /proc/config.gz copies, config-<version>, .config."""
    first = [e for e in fw.files() if e.name in ("config.gz", ".config") or e.name.startswith("config-")
             or (e.name == "config" and "/lib/modules/" in e.path)]
    return sorted(first, key=lambda e: (not e.path.startswith(("/boot/", "/proc/")), e.path))


def kernel_config(fw: Firmware) -> tuple[str, dict[str, str]] | None:
    """(where, {CONFIG_X: value}) from a config file in the image, or IKCONFIG in a kernel image."""
    for entry in _config_candidates(fw):
        if entry.size > 4 * 1024 * 1024:
            continue
        data = fw.read_bytes(entry) or b""
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                continue
        cfg = _parse_config(data.decode("utf-8", "replace"))
        if len(cfg) >= 3:
            return entry.path, cfg
    for entry in fw.files():
        if entry.size > 64 * 1024 * 1024 or not (entry.path.startswith("<image>/") or entry.magic in ("gzip", "data")
                                                 or "vmlinu" in entry.name or "Image" in entry.name):
            continue
        if not entry.path.startswith("<image>/") and not re.search(r"vmlinu|[zu]?Image|kernel", entry.name):
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
        cfg = _parse_config(text)
        if cfg:
            return entry.path + " (IKCONFIG)", cfg
    return None


def kernel_modules(fw: Firmware) -> set[str] | None:
    """Names of the kernel modules the image ships (without .ko, '-' and '_' alike), or None when it ships none."""
    names = {e.name[:-3].replace("-", "_") for e in fw.files() if e.name.endswith(".ko")}
    return names or None


# Kernel source directories per ELF machine (ElfInfo.arch).
_KERNEL_ARCH_DIRS = {"MIPS": "mips", "ARM": "arm", "AARCH64": "arm64", "x86_64": "x86", "i386": "x86", "x86": "x86",
                     "PowerPC": "powerpc", "PPC": "powerpc", "PPC64": "powerpc", "RISCV": "riscv", "SPARC": "sparc",
                     "S390": "s390", "SH": "sh", "ARC": "arc"}
# Text that names a CPU architecture in an advisory: the arch/ directory it means.
_ARCH_WORDS = (
    (re.compile(r"\bx86(?:[-_]64)?\b|\bamd64\b|\bi[3-6]86\b|\b(?:Intel|AMD) (?:CPUs?|processors?)\b|\bVMX\b|\bSVM\b"
                r"|\bSGX\b|\bIntel TDX\b|\bAMD SEV\b", re.I), "x86"),
    (re.compile(r"\barm64\b|\bAArch64\b", re.I), "arm64"),
    (re.compile(r"\bpowerpc\b|\bppc(?:64)?\b", re.I), "powerpc"),
    (re.compile(r"\bs390x?\b", re.I), "s390"),
    (re.compile(r"\bRISC-V\b", re.I), "riscv"),
    (re.compile(r"\bMIPS\b"), "mips"),
    (re.compile(r"\bARM(?:v[4-8])?\b|\b32-bit ARM\b"), "arm"),
)


def kernel_arch(fw: Firmware) -> str | None:
    """The kernel's architecture directory, judged from the image's ELF programs (the most common machine)."""
    counts: dict[str, int] = {}
    for e in fw.elf_files():
        arch = _KERNEL_ARCH_DIRS.get(e.elf.arch)
        if arch:
            counts[arch] = counts.get(arch, 0) + 1
    return max(counts, key=counts.get) if counts else None


def arches_of_advisory(text: str, files: list[str]) -> set[str]:
    """The architectures an advisory is limited to: from the files it names under arch/, else from its text."""
    dirs = {f.split("/")[1] for f in files if f.startswith("arch/") and f.count("/") >= 2}
    if files:
        # Files outside arch/ mean common code: every architecture.
        return dirs if dirs and all(f.startswith("arch/") for f in files) else set()
    named = {arch for pattern, arch in _ARCH_WORDS if pattern.search(text)}
    return named


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
    # Hard links and copies (libc.so.0 beside libuClibc-0.9.30.3.so) are the same library under another name.
    digests = {e.sha256 for e in entries if e.sha256}
    names |= {e.name for e in fw.files() if e.sha256 in digests}
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


# --------------------------------------------------------------------------- distribution changelogs

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")


@dataclass
class DebianChangelog:
    path: str
    fixed: dict[str, str]  # CVE -> the first version whose entry names it


def _changelog_paths(comp: Component) -> list[str]:
    names = [n for n in (comp.package, comp.source_package) if n]
    return [f"/usr/share/doc/{n}/changelog.Debian.gz" for n in dict.fromkeys(names)]


def debian_changelog(fw: Firmware, comp: Component) -> DebianChangelog | None:
    """The CVEs a Debian package's own changelog in the image names, with the version of the first entry naming each."""
    for path in _changelog_paths(comp):
        entry = fw.get(path)
        if entry is None:
            continue
        data = fw.read_bytes(entry) or b""
        try:
            text = gzip.decompress(data).decode("utf-8", "replace")
            log = Changelog(text, strict=False)
        except (OSError, EOFError, ChangelogParseError, ValueError):
            continue
        fixed: dict[str, str] = {}
        for block in log:  # newest first: the last block naming a CVE is where it was fixed
            for cve in set(_CVE.findall("\n".join(block.changes()))):
                fixed[cve] = str(block.version)
        return DebianChangelog(entry.path, fixed)
    return None


def _distro_analysis(fw: Firmware, m: Match, cache: dict) -> Analysis | None:
    comp = m.component
    if m.distro_fixed:
        return Analysis(m, "not_affected", "code_not_present",
                        f"the distribution fixed it in this build: {m.distro_fixed}; installed {comp.package_version}")
    if comp.distro not in ("debian", "ubuntu", "raspbian") or not comp.package_version:
        return None
    if comp.key not in cache:
        cache[comp.key] = debian_changelog(fw, comp)
    log = cache[comp.key]
    if log is None:
        return None
    version = log.fixed.get(m.id)
    if version is not None and compare(version, comp.package_version, "deb") <= 0:
        return Analysis(m, "not_affected", "code_not_present",
                        f"Debian fixed {m.id} in {comp.source_package or comp.package} {version} ({log.path}); "
                        f"installed {comp.package_version}")
    return Analysis(m, "in_triage", distro_checked=log.path)


# --------------------------------------------------------------------------- kernel

@dataclass
class _KernelFacts:
    arch: str | None
    config: tuple[str, dict[str, str]] | None
    modules: set[str] | None


def _kernel_analysis(m: Match, facts: _KernelFacts, text: str) -> Analysis | None:
    version = m.component.version or ""
    arches = arches_of_advisory(text, m.files)
    if facts.arch and arches and facts.arch not in arches:
        why = f"its files are under {', '.join('arch/' + a for a in sorted(arches))}" if m.files else \
            f"its text names only {', '.join(sorted(arches))}"
        return Analysis(m, "not_affected", "code_not_present",
                        f"the advisory concerns {', '.join(sorted(arches))} code ({why}); the kernel is built for "
                        f"{facts.arch} (the image's ELF programs)")
    features = kernel_features_named(text)
    if features and all(f.since and compare(version, f.since) < 0 for f, _ in features):
        named = ", ".join(f"{why} (Linux {f.since})" for f, why in features)
        return Analysis(m, "not_affected", "code_not_present",
                        f"the advisory concerns {named}; Linux {version} predates it")
    wanted = kernel_options_named(text)
    if wanted and facts.config:
        where, cfg = facts.config
        named = ", ".join(opt if why == opt else f"{why} ({opt})" for opt, why in sorted(wanted.items()))
        if all(cfg.get(opt, "n") == "n" for opt in wanted):
            return Analysis(m, "not_affected", "requires_configuration",
                            f"the advisory concerns {named}; {', '.join(sorted(wanted))} not set in "
                            f"the kernel configuration ({where})")
        modules = {f.option: f.module for f, _ in features if f.module}
        if facts.modules is not None and all(
                cfg.get(opt, "n") == "n" or (cfg.get(opt) == "m" and modules.get(opt)
                                             and modules[opt].replace("-", "_") not in facts.modules)
                for opt in wanted):
            return Analysis(m, "not_affected", "code_not_present",
                            f"the advisory concerns {named}; the kernel configuration ({where}) builds it as a "
                            f"module and the image ships no {', '.join(sorted(set(modules.values())))}.ko")
    return None


def analyse(fw: Firmware, db_path: Path | None = None) -> list[Analysis]:
    components = COMPONENTS.of(fw)
    matches = match_components(components, db_path)
    out: list[Analysis] = []
    busybox_cache: dict[str, tuple[str, set[str]] | None] = {}
    changelogs: dict[str, DebianChangelog | None] = {}
    kernel: _KernelFacts | None = None
    unused_cache: dict[str, str | None] = {}
    for m in matches:
        comp = m.component
        text = " ".join(filter(None, (m.title, m.description)))
        result = Analysis(match=m, state="in_triage")
        distro = _distro_analysis(fw, m, changelogs)
        if distro is not None and distro.state == "not_affected":
            out.append(distro)
            continue
        if distro is not None:
            result = distro
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
            if kernel is None:
                kernel = _KernelFacts(kernel_arch(fw), kernel_config(fw), kernel_modules(fw))
            result = _kernel_analysis(m, kernel, text) or result
        elif comp.type == "library":
            if comp.key not in unused_cache:
                unused_cache[comp.key] = _library_unused(fw, comp)
            if unused_cache[comp.key]:
                result = Analysis(m, "not_affected", "code_not_reachable", unused_cache[comp.key])
        out.append(result)
    return out


VULNERABILITY_ANALYSIS = DerivedFact("vulnerability-analysis", analyse, uses=(COMPONENTS,))
SETTLED = SUPPRESSING  # states that leave no finding


def with_statements(analyses: list[Analysis], statements) -> list[Analysis]:
    """The analyses with a user's VEX statements (iotcop.triage.vex.VexStatement) applied.

    A statement that settles a vulnerability (not_affected, false_positive, resolved) sets the state and
    says whose statement it is; the image's own analysis stays as it was for every other vulnerability.
    """
    settling = [s for s in statements or () if s.suppresses]
    if not settling:
        return analyses
    out = []
    for a in analyses:
        m, comp = a.match, a.match.component
        ids = {m.id, *m.aliases}
        names = {x for x in (comp.name, comp.package, comp.source_package) if x}
        versions = {x for x in (comp.version, comp.package_version) if x}
        hit = next((s for s in settling if s.applies(ids, names, versions)), None)
        if hit is not None and a.state not in SETTLED:
            a = Analysis(m, hit.state, hit.justification, hit.sentence(), a.distro_checked)
        out.append(a)
    return out


def analyse_cached(fw: Firmware) -> list[Analysis]:
    return VULNERABILITY_ANALYSIS.of(fw)
