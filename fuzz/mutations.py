"""Hostile firmware images: archives with traversal and link tricks, decompression bombs, and
mutations (bit flips, truncations, overlapping chunks) of real images.

Used by tests/hostile (small, fixed selection) and fuzz/hostile_images (many, measured).
Every builder is deterministic for a given seed.
"""

from __future__ import annotations

import io
import random
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

ROOTFS_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
    "etc/shadow": b"root:$1$abcdefgh$C2zPyBNmmrkk8G5jZkcBJ/:19000:0:99999:7:::\n",
    "etc/inittab": b"::sysinit:/etc/init.d/rcS\n",
    "bin/busybox": b"\x7fELF" + b"\0" * 60,
}


# --------------------------------------------------------------------------- link and path tricks

def hostile_tar(outside: Path) -> bytes:
    """A root filesystem tar that also tries to write to `outside` (an absolute folder) every way it can."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in ROOTFS_FILES.items():
            _tar_add(tar, name, data)
        _tar_add(tar, "../../../../../../../../.." + str(outside / "tar-dotdot"), b"escaped\n")
        _tar_add(tar, str(outside / "tar-absolute"), b"escaped\n")
        _tar_link(tar, "escape", str(outside), tarfile.SYMTYPE)  # a symlink to the folder ...
        _tar_add(tar, "escape/tar-through-symlink", b"escaped\n")  # ... then a file through it
        _tar_link(tar, "dotlink", "../../../../../../../../../tmp", tarfile.SYMTYPE)
        _tar_add(tar, "dotlink/tar-through-dotlink", b"escaped\n")
        _tar_link(tar, "etc/hostpasswd", "/etc/passwd", tarfile.LNKTYPE)  # hard link to a host file
        _tar_link(tar, "etc/outside-hard", str(outside / "target"), tarfile.LNKTYPE)
        _tar_link(tar, "etc/dotdot-hard", "../../../../../../../../etc/hostname", tarfile.LNKTYPE)
        _tar_special(tar, "dev/console", tarfile.CHRTYPE, 5, 1)
        _tar_special(tar, "dev/sda", tarfile.BLKTYPE, 8, 0)
        _tar_special(tar, "tmp/fifo", tarfile.FIFOTYPE)
    return buf.getvalue()


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def _tar_link(tar: tarfile.TarFile, name: str, target: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = kind, target, 0o777, 1_700_000_000
    tar.addfile(info)


def _tar_special(tar: tarfile.TarFile, name: str, kind: bytes, major: int = 0, minor: int = 0) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor, info.mode, info.mtime = kind, major, minor, 0o600, 1_700_000_000
    tar.addfile(info)


def hostile_zip(outside: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in ROOTFS_FILES.items():
            zf.writestr(name, data)
        zf.writestr("../../../../../../../../.." + str(outside / "zip-dotdot"), b"escaped\n")
        zf.writestr(str(outside / "zip-absolute"), b"escaped\n")
        link = zipfile.ZipInfo("escape")
        link.create_system = 3  # Unix: external_attr holds st_mode
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, str(outside))
        zf.writestr("escape/zip-through-symlink", b"escaped\n")
    return buf.getvalue()


def hostile_cpio(outside: Path) -> bytes:
    """newc cpio with the same tricks (cpio has no special hard link entry: equal inode numbers)."""
    out = io.BytesIO()
    ino = [100]

    def entry(name: str, mode: int, data: bytes = b"", inode: int | None = None, nlink: int = 1) -> None:
        if inode is None:
            ino[0] += 1
            inode = ino[0]
        encoded = name.encode() + b"\0"
        header = b"070701" + b"".join(b"%08X" % v for v in (
            inode, mode, 0, 0, nlink, 1_700_000_000, len(data), 0, 0, 0, 0, len(encoded), 0))
        out.write(header + encoded)
        out.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))

    for name, data in ROOTFS_FILES.items():
        entry(name, stat.S_IFREG | 0o644, data)
    entry("../../../../../../../../.." + str(outside / "cpio-dotdot"), stat.S_IFREG | 0o644, b"escaped\n")
    entry(str(outside / "cpio-absolute"), stat.S_IFREG | 0o644, b"escaped\n")
    entry("escape", stat.S_IFLNK | 0o777, str(outside).encode())
    entry("escape/cpio-through-symlink", stat.S_IFREG | 0o644, b"escaped\n")
    entry("dev/console", stat.S_IFCHR | 0o600)
    entry("tmp/fifo", stat.S_IFIFO | 0o600)
    entry("TRAILER!!!", 0)
    data = out.getvalue()
    return data + b"\0" * (-len(data) % 512)


# --------------------------------------------------------------------------- bombs

def gzip_bomb(expanded: int = 1024**3) -> bytes:
    """A gzip stream that expands to `expanded` zero bytes (1 GiB: about 1 MB)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    parts = [comp.compress(block) for _ in range(expanded // len(block))]
    parts.append(comp.flush())
    return b"".join(parts)


def zip_bomb(expanded: int = 1024**3) -> bytes:
    buf = io.BytesIO()
    block = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("zeros.bin", "w", force_zip64=True) as fh:
            for _ in range(expanded // len(block)):
                fh.write(block)
    return buf.getvalue()


# --------------------------------------------------------------------------- mutations

def bit_flips(data: bytes, seed: int, flips: int = 16) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def header_flips(data: bytes, seed: int, span: int = 256, flips: int = 4) -> bytes:
    """Bit flips in the first bytes only: superblocks and headers, where sizes and offsets live."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        pos = rng.randrange(min(span, len(out)))
        out[pos] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncated(data: bytes, fraction: float) -> bytes:
    return data[: max(1, int(len(data) * fraction))]


def overlapping(first: bytes, second: bytes) -> bytes:
    """`second` starts inside `first`: two chunks claim the same bytes."""
    cut = max(1, len(first) * 2 // 3)
    return first[:cut] + second + first[cut:]


def repeated_header(data: bytes, copies: int = 3, size: int = 512) -> bytes:
    """The start of the image repeated: many chunks start, none is whole."""
    return data[:size] * copies + data


def huge_sizes(data: bytes, seed: int) -> bytes:
    """32-bit fields near the start set to huge values (sizes, counts, offsets)."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(4):
        pos = rng.randrange(0, max(1, min(len(out) - 4, 128)) // 4) * 4
        struct.pack_into("<I", out, pos, rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, len(data) * 1000)))
    return bytes(out)


def mutants(name: str, data: bytes, other: bytes, seed: int = 0) -> list[tuple[str, bytes]]:
    """The mutation set of one image; `other` is another image to overlap it with."""
    return [
        (f"{name}.flip{seed}", bit_flips(data, seed)),
        (f"{name}.hdrflip{seed}", header_flips(data, seed)),
        (f"{name}.half", truncated(data, 0.5)),
        (f"{name}.head", truncated(data, 0.05)),
        (f"{name}.overlap", overlapping(data, other)),
        (f"{name}.rephdr", repeated_header(data)),
        (f"{name}.huge{seed}", huge_sizes(data, seed)),
    ]


def squashfs_rootfs(work: Path, extra_depth: int = 0) -> bytes:
    """A small SquashFS root filesystem built with mksquashfs (shadow 0600, a setuid busybox)."""
    import subprocess

    root = work / "sqroot"
    for name, data in ROOTFS_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "etc/shadow").chmod(0o600)
    (root / "bin/busybox").chmod(0o4755)
    (root / "bin/sh").symlink_to("busybox")
    (root / "etc/resolv.conf").symlink_to("/tmp/resolv.conf")
    image = work / "rootfs.sqfs"
    subprocess.run(["mksquashfs", str(root), str(image), "-noappend", "-quiet", "-all-root", "-comp", "gzip"],
                   check=True, capture_output=True, timeout=60)
    return image.read_bytes()
