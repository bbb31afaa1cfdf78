"""Kernel hardening options, when the image carries the kernel's build configuration.

Configs are found as plain text (.config, config-<version>, /proc/config-like
files), gzip-compressed (config.gz) and embedded by CONFIG_IKCONFIG: a gzip
stream between the markers IKCFG_ST and IKCFG_ED inside the kernel image or
the configs.ko module.  An option is judged only when the config names it
(set, or "is not set"): an option the kernel version or architecture does not
have is not counted against it.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

IKCFG_START, IKCFG_END = b"IKCFG_ST", b"IKCFG_ED"
MAX_BYTES = 64 * 1024 * 1024
MAX_CONFIG_BYTES = 4 * 1024 * 1024
_OPTION = re.compile(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$|^# (CONFIG_[A-Za-z0-9_]+) is not set$")
_TEXT_NAME = re.compile(r"^(?:\.config|config|config-.+|kernel[-_.]?config.*|.*\.config|defconfig)$")
_KERNEL_NAME = re.compile(r"vmlinu[xz]|zimage|bzimage|^image$|uimage|kernel|\.image$|^configs\.ko$|\.bin$", re.I)


@dataclass(frozen=True)
class KernelConfig:
    path: str
    source: str  # "text", "gzip", "ikconfig"
    options: dict[str, str]  # CONFIG_X -> value; "n" for "is not set"


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]  # alternatives, newest name first
    want: bool  # True: should be enabled; False: should be off
    severity: Severity
    why: str
    requires: str | None = None  # judged only when this option is enabled


RULES = (
    Rule(("CONFIG_STRICT_KERNEL_RWX", "CONFIG_DEBUG_RODATA"), True, Severity.medium, "kernel code and read-only data stay writable/executable"),
    Rule(("CONFIG_STRICT_DEVMEM",), True, Severity.medium, "/dev/mem gives root access to all physical memory", requires="CONFIG_DEVMEM"),
    Rule(("CONFIG_DEVKMEM",), False, Severity.medium, "/dev/kmem lets root rewrite the running kernel"),
    Rule(("CONFIG_STACKPROTECTOR", "CONFIG_CC_STACKPROTECTOR"), True, Severity.low, "kernel functions have no stack canaries"),
    Rule(("CONFIG_STACKPROTECTOR_STRONG", "CONFIG_CC_STACKPROTECTOR_STRONG"), True, Severity.info, "only the weaker stack protector is used", requires="CONFIG_STACKPROTECTOR"),
    Rule(("CONFIG_RANDOMIZE_BASE",), True, Severity.low, "no kernel address space layout randomisation (KASLR)"),
    Rule(("CONFIG_HARDENED_USERCOPY",), True, Severity.low, "copies between kernel and user space are not bounds-checked"),
    Rule(("CONFIG_FORTIFY_SOURCE",), True, Severity.low, "kernel string and memory functions are not bounds-checked"),
    Rule(("CONFIG_MODULE_SIG",), True, Severity.low, "kernel modules load without a signature", requires="CONFIG_MODULES"),
    Rule(("CONFIG_SLAB_FREELIST_RANDOM",), True, Severity.info, "heap free lists are predictable"),
    Rule(("CONFIG_SLAB_FREELIST_HARDENED",), True, Severity.info, "heap free-list pointers are not protected"),
    Rule(("CONFIG_COMPAT_BRK",), False, Severity.info, "the heap start (brk) is not randomised"),
    Rule(("CONFIG_PROC_KCORE",), False, Severity.low, "/proc/kcore exposes kernel memory to root"),
    Rule(("CONFIG_SECURITY_DMESG_RESTRICT",), True, Severity.info, "any user can read kernel messages (addresses, state)"),
    Rule(("CONFIG_LEGACY_PTYS",), False, Severity.info, "legacy BSD ptys are enabled"),
    Rule(("CONFIG_SECCOMP",), True, Severity.info, "programs cannot sandbox their system calls"),
)


def parse_config(text: str) -> dict[str, str] | None:
    """CONFIG_X -> value (or 'n'), or None when the text is not a kernel configuration."""
    options: dict[str, str] = {}
    other = 0
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _OPTION.match(line)
        if m:
            if m.group(1):
                options[m.group(1)] = m.group(2).strip().strip('"')
            else:
                options[m.group(3)] = "n"
        elif not line.startswith("#"):
            other += 1
    # A real config is almost entirely options; a handful of them is not enough to tell.
    if len(options) < 5 or other > len(options) // 10:
        return None
    return options


def extract_ikconfig(data: bytes) -> bytes:
    """The configuration embedded by CONFIG_IKCONFIG, or b'' when there is none or it does not decompress."""
    start = data.find(IKCFG_START)
    while start >= 0:
        stream = data[start + len(IKCFG_START) :]
        end = stream.find(IKCFG_END)
        if end >= 0:
            stream = stream[:end]
        try:
            text = zlib.decompressobj(wbits=31).decompress(stream, MAX_CONFIG_BYTES)
        except zlib.error:
            text = b""
        if text:
            return text
        start = data.find(IKCFG_START, start + 1)
    return b""


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _from_entry(fw: Firmware, entry: FileEntry) -> KernelConfig | None:
    if entry.size == 0 or entry.size > MAX_BYTES:
        return None
    name = entry.name
    if entry.magic == "text" and entry.size <= MAX_CONFIG_BYTES and (_TEXT_NAME.match(name) or entry.path.startswith("/boot/")):
        text = _decode(fw.read_bytes(entry, MAX_CONFIG_BYTES) or b"")
        options = parse_config(text) if text else None
        return KernelConfig(entry.path, "text", options) if options else None
    if entry.magic == "gzip" and (name.startswith("config") or name.endswith("config.gz")):
        try:
            text = _decode(gzip.decompress(fw.read_bytes(entry, MAX_CONFIG_BYTES) or b"")[:MAX_CONFIG_BYTES])
        except (OSError, EOFError, zlib.error):
            return None
        options = parse_config(text) if text else None
        return KernelConfig(entry.path, "gzip", options) if options else None
    if entry.magic in ("data", "elf", "uimage") and (_KERNEL_NAME.search(name) or entry.path.startswith(("<image>/", "/boot/"))):
        data = fw.read_bytes(entry, MAX_BYTES) or b""
        if IKCFG_START not in data:
            return None
        text = _decode(extract_ikconfig(data))
        options = parse_config(text) if text else None
        return KernelConfig(entry.path, "ikconfig", options) if options else None
    return None


def _kernel_configs(fw: Firmware) -> tuple[KernelConfig, ...]:
    return tuple(c for c in (_from_entry(fw, e) for e in fw.files()) if c is not None)


KERNEL_CONFIGS = DerivedFact("hardening.kernel-configs", _kernel_configs)


def kernel_configs(fw: Firmware) -> tuple[KernelConfig, ...]:
    """Every kernel configuration found in the image (memoised)."""
    return KERNEL_CONFIGS.of(fw)


def _enabled(options: dict[str, str], name: str) -> bool:
    return options.get(name, "n") not in ("n", "")


def weaknesses(options: dict[str, str]) -> list[tuple[Rule, str]]:
    """(rule, option name as found) for each rule the configuration breaks."""
    out = []
    for rule in RULES:
        name = next((n for n in rule.names if n in options), None)
        if name is None:
            continue
        if rule.requires and not any(_enabled(options, n) for n in (rule.requires, *_ALIASES.get(rule.requires, ()))):
            continue
        if _enabled(options, name) != rule.want:
            out.append((rule, name))
    return out


_ALIASES = {"CONFIG_STACKPROTECTOR": ("CONFIG_CC_STACKPROTECTOR",)}


class KernelHardening(Check):
    ID = "hardening.kernel-config"
    VERSION = "1.0.0"
    SEVERITY = Severity.low
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (KERNEL_CONFIGS,)
    DOC = CheckDoc(
        title="Kernel built without hardening options",
        why=(
            "The kernel's own memory protections (read-only kernel text, restricted /dev/mem, stack "
            "protector, KASLR, usercopy checks) decide whether a kernel bug or a root process can take over "
            "the whole device."
        ),
        fix="Enable STRICT_KERNEL_RWX, STRICT_DEVMEM, STACKPROTECTOR_STRONG, RANDOMIZE_BASE, HARDENED_USERCOPY, FORTIFY_SOURCE and MODULE_SIG where the architecture supports them.",
        references=("Kernel Self Protection Project recommended settings",),
        limitations=(
            "Judged only when the image carries the kernel configuration (a config file, config.gz, or "
            "IKCONFIG inside an uncompressed kernel image or configs.ko); an IKCONFIG inside a compressed "
            "kernel is seen only when the extractor unpacked the kernel.  Options the configuration does not "
            "mention (other versions or architectures) are not judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for config in kernel_configs(fw):
            found = weaknesses(config.options)
            if not found:
                continue
            for severe in (True, False):
                part = [(r, n) for r, n in found if (r.severity == Severity.medium) == severe]
                if not part:
                    continue
                worst = Severity.medium if severe else (Severity.low if any(r.severity == Severity.low for r, _ in part) else Severity.info)
                items = "; ".join(f"{n}{'=y' if not r.want else ' not set'}: {r.why}" for r, n in part)
                yield self.finding(
                    config.path,
                    title=("Kernel memory protections switched off" if severe else "Kernel hardening options off") + f" ({len(part)})",
                    detail=f"{config.source} kernel configuration: {items}", severity=worst,
                )
