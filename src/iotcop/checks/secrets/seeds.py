"""Random seed files baked into the image: the same "random" state on every unit."""

from __future__ import annotations

import math
import posixpath
import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, is_reference_material, is_shell_script, shannon_entropy, text_files
from iotcop.context import ScanContext
from iotcop.firmware.model import FileEntry, Firmware
from iotcop.model import Severity

MAX_SEED_BYTES = 64 * 1024
# Names that seed files carry (systemd random-seed, BusyBox/OpenWrt urandom.seed, OpenSSL .rnd, vendor entropy.bin).
_SEED_NAME = re.compile(r"(?i)^(?:\.rnd|random[-_.]?seed|urandom[-_.]?seed|[\w.-]*entropy[\w.-]*|[\w.-]*\.seed|"
                        r"seed(?:\.bin|\.dat)?|rng[-_.]?seed[\w.-]*)$")
# A script feeding a file into the kernel's pool: the file is a seed whatever its name.
_FEEDS_POOL = re.compile(r"""(?:\bcat\s+["']?(/[\w./-]+)["']?\s*>\s*/dev/u?random|\bdd\s+[^\n]*\bif=(/[\w./-]+)[^\n]*\bof=/dev/u?random)""")


def _random_looking(data: bytes) -> bool:
    """Not empty, not a fill pattern, not text: at least 16 bytes whose values are spread like random bytes."""
    if len(data) < 16 or len(set(data)) < min(len(data), 256) * 0.6:
        return False
    if re.fullmatch(rb"[\x09\x0a\x0d\x20-\x7e]*", data):
        return False
    return shannon_entropy(data) >= min(7.0, math.log2(len(data)) * 0.85)


class FixedRandomSeed(Check):
    ID = "secrets.fixed-seed"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    NEEDS_ROOTFS = False
    USES = (TEXT,)
    DOC = CheckDoc(
        title="Random seed file shipped in the image",
        why=(
            "A seed file that ships in the image starts every unit from the same random state: keys, nonces and "
            "session identifiers generated early after boot, before the kernel has gathered its own entropy, can "
            "repeat across units or be predicted by anyone with the image."
        ),
        fix=(
            "Do not ship seed files; create the seed on the device (from the hardware RNG or after enough uptime) "
            "and keep it in per-device storage."
        ),
        references=("CWE-336: Same Seed in Pseudo-Random Number Generator (PRNG)",
                    "CWE-1241: Use of Predictable Algorithm in Random Number Generator"),
        limitations=(
            "A file is a seed when a boot or start script feeds it into /dev/random or /dev/urandom, or when its name "
            "is a seed file's (random-seed, urandom.seed, .rnd, *entropy*, *.seed) and its bytes look random (not "
            "text, not a fill pattern).  Which program reads a seed copied elsewhere is not traced, hence confidence "
            "likely; scripts that copy or use the file are named."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        scripts = [(e, t) for e, t in text_files(fw) if is_shell_script(e, t)]
        fed = {}
        for entry, text in scripts:
            for number, line in enumerate(text.splitlines(), 1):
                for m in _FEEDS_POOL.finditer(line):
                    fed.setdefault(m.group(1) or m.group(2), (entry.path, number))
        candidates: dict[str, FileEntry] = {}
        for entry in fw.files():
            if entry.kind != "file" or not 0 < entry.size <= MAX_SEED_BYTES or is_reference_material(entry.path):
                continue
            if entry.path in fed or _SEED_NAME.match(entry.name):
                candidates[entry.path] = entry
        for path, entry in sorted(candidates.items()):
            data = fw.read_bytes(entry, MAX_SEED_BYTES)
            if not data or not _random_looking(data):
                continue
            uses = []
            for script, text in scripts:
                for number, line in enumerate(text.splitlines(), 1):
                    stripped = line.strip()
                    if not stripped.startswith("#") and (path in line or re.search(rf"(?<![\w.-]){re.escape(entry.name)}(?![\w.-])", line)):
                        uses.append(f"{script.path}:{number} ({stripped[:80]})")
            how = f"{fed[path][0]}:{fed[path][1]} feeds it into the kernel's random pool" if path in fed else \
                f"its name is a seed file's ({posixpath.basename(path)})"
            yield self.finding(
                entry,
                title=f"Fixed random seed ships in the image ({entry.name})",
                excerpt=f"{entry.size} bytes, {shannon_entropy(data):.2f} bits per byte",
                detail=(f"{path} holds {entry.size} random-looking bytes and {how}; the same bytes are on every unit"
                        + (f". Used by: {'; '.join(uses[:4])}" if uses else "")),
                confidence="likely",
            )
