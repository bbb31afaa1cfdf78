"""Secure boot artefacts: signed FIT images, U-Boot verified-boot keys, dm-verity, image verification off."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.surface.bootloader import BOOT_SETTINGS, boot_settings
from iotcop.checks.updates.fdt import FdtNode, find_fdts
from iotcop.context import ScanContext
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

MAX_BYTES = 64 * 1024 * 1024
_VERITY = re.compile(r"dm-mod\.create=[^\n]*\bverity\b|\bverity\b[^\n]*root_hash|roothash=|dm=\"[^\"]*verity", re.I)


@dataclass
class FitInfo:
    path: str
    images: int
    signatures: list[str]  # node paths of signature nodes with a value
    hashes: int


@dataclass
class VerifiedBootKey:
    path: str
    node: str
    required: str | None
    algo: str | None


def _fit(path: str, nodes: list[FdtNode]) -> FitInfo | None:
    paths = {n.path for n in nodes}
    if "/images" not in paths or "/configurations" not in paths:
        return None
    images = sum(1 for n in nodes if n.path.count("/") == 2 and n.path.startswith("/images/"))
    signatures = [n.path for n in nodes if n.path.rsplit("/", 1)[-1].startswith("signature") and "value" in n.props]
    hashes = sum(1 for n in nodes if n.path.rsplit("/", 1)[-1].startswith("hash") and "value" in n.props)
    return FitInfo(path, images, signatures, hashes)


def _keys(path: str, nodes: list[FdtNode]) -> list[VerifiedBootKey]:
    out = []
    for n in nodes:
        if n.path.startswith("/signature/key") and ("rsa,modulus" in n.props or "ecdsa,x-point" in n.props or "key" in n.props):
            out.append(VerifiedBootKey(path, n.path, n.text("required"), n.text("algo")))
    return out


def _secure_boot_facts(fw: Firmware) -> tuple[list[FitInfo], list[VerifiedBootKey]]:
    fits, keys = [], []
    for entry in fw.files():
        if entry.size < 64 or entry.size > MAX_BYTES:
            continue
        if entry.magic != "dtb" and not entry.path.startswith("<image>/") and not re.search(r"u-?boot|\.itb$|\.fit$|\.dtb$|kernel|/boot/", entry.path, re.I):
            continue
        data = fw.read_bytes(entry, MAX_BYTES) or b""
        if b"\xd0\x0d\xfe\xed" not in data:
            continue
        for nodes in find_fdts(data):
            fit = _fit(entry.path, nodes)
            if fit:
                fits.append(fit)
            keys.extend(_keys(entry.path, nodes))
    return fits, keys


SECURE_BOOT = DerivedFact("updates.secure-boot", _secure_boot_facts)


def secure_boot_facts(fw: Firmware) -> tuple[list[FitInfo], list[VerifiedBootKey]]:
    return SECURE_BOOT.of(fw)


class SecureBoot(Check):
    ID = "updates.secure-boot"
    VERSION = "1.0.0"
    SEVERITY = Severity.low
    TIMEOUT = 120.0
    NEEDS_ROOTFS = False
    USES = (BOOT_SETTINGS, SECURE_BOOT)
    DOC = CheckDoc(
        title="Boot images without signature verification",
        why="Without secure boot, anyone who can write the flash (an update bug, a UART prompt) can run modified firmware that survives reboots.",
        fix=(
            "Sign FIT images (mkimage -k/-K) and build U-Boot with the public key marked required; protect the "
            "root filesystem with dm-verity; never disable bootm verification (verify=n)."
        ),
        references=("U-Boot doc/usage/fit/verified-boot.rst",),
        limitations=(
            "Reads FIT images, device trees and U-Boot binaries that are part of the image.  Boot ROM and SoC "
            "secure-boot fuses are invisible to a firmware scan; compliance is claimed only when U-Boot carries a "
            "required verification key, or a signed FIT is combined with a dm-verity root filesystem."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        fits, keys = secure_boot_facts(fw)
        for s in boot_settings(fw):
            if s.key == "verify" and s.value.strip().lower() in ("n", "no", "0", "off"):
                yield self.finding(
                    s.path, title="U-Boot image verification switched off (verify=n)", offset=s.offset, excerpt=f"verify={s.value}",
                    detail=f"{s.source}: bootm boots images without checking their hashes or signatures", severity=Severity.medium,
                )
        unsigned = [f for f in fits if not f.signatures]
        for fit in unsigned:
            yield self.finding(
                fit.path, title="FIT image is not signed",
                detail=f"{fit.images} image(s), {fit.hashes} hash node(s), no signature node: U-Boot can only check it for corruption, not origin",
            )
        required = [k for k in keys if k.required in ("conf", "image")]
        signed = [f for f in fits if f.signatures]
        verity = [s for s in boot_settings(fw) if s.key == "bootargs" and _VERITY.search(s.value)]
        if required:
            k = required[0]
            yield self.compliant(
                "5.7-1", f"U-Boot carries a verified-boot key marked required={k.required} ({k.algo or 'algorithm not stated'}): it refuses unsigned images.",
                Evidence(path=k.path, detail=f"{k.node} required={k.required}"),
                *[Evidence(path=f.path, detail=f"signed FIT: {', '.join(f.signatures[:3])}") for f in signed[:2]],
            )
        elif signed and verity:
            yield self.compliant(
                "5.7-1", "The kernel comes in a signed FIT image and the root filesystem is protected by dm-verity.",
                Evidence(path=signed[0].path, detail=f"signed FIT: {', '.join(signed[0].signatures[:3])}"),
                Evidence(path=verity[0].path, excerpt=verity[0].value[:200], detail="dm-verity on the kernel command line"),
            )
