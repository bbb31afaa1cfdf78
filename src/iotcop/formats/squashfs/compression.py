"""Block decompressors for SquashFS, including the LZMA variants vendors shipped.

Every call is bounded: at most `limit` bytes come out of one block, so a
crafted block cannot expand without bound.

SquashFS 1.x-3.x only knew zlib; vendors patched in LZMA in several
incompatible ways: a full "lzma alone" header (properties, dictionary size,
64-bit size), the same without the size field, or a raw stream with fixed
properties and no header at all.  Which one an image uses is found out per
block and remembered, so mixed images still open.
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib

from iotcop.formats.squashfs.errors import SquashFSError

GZIP, LZMA, LZO, XZ, LZ4, ZSTD = 1, 2, 3, 4, 5, 6
NAMES = {GZIP: "gzip", LZMA: "lzma", LZO: "lzo", XZ: "xz", LZ4: "lz4", ZSTD: "zstd"}

# Raw LZMA1 property sets seen in headerless vendor streams (lc, lp, pb).
XZ_MEMLIMIT = 64 * 1024 * 1024  # squashfs xz dictionaries are at most the 1 MiB block size
RAW_LZMA_PROPERTIES = ((3, 0, 2), (0, 2, 2), (1, 0, 2), (0, 0, 2), (3, 2, 2))


def _props(byte: int) -> tuple[int, int, int] | None:
    if byte >= 9 * 5 * 5:
        return None
    pb, rest = divmod(byte, 45)
    lp, lc = divmod(rest, 9)
    return lc, lp, pb


def _raw_lzma(data: bytes, limit: int, lc: int, lp: int, pb: int, dict_size: int) -> bytes:
    # The decoder allocates the whole dictionary up front; one block never needs more than its own
    # output, so a header claiming gigabytes is clamped rather than trusted.
    dict_size = min(max(dict_size, 4096), max(limit, 4096))
    filters = [{"id": lzma.FILTER_LZMA1, "lc": lc, "lp": lp, "pb": pb, "dict_size": dict_size}]
    dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
    return dec.decompress(data, limit)


class Decompressor:
    """Decompresses one SquashFS block; `name` says what the image turned out to use."""

    def __init__(self, compressor: int, block_size: int, *, legacy: bool = False):
        self.compressor = compressor
        self.block_size = block_size
        self.legacy = legacy  # v1-v3: zlib, or a vendor LZMA found by probing
        self.lzma_variant: tuple | None = None
        self.seen: set[str] = set()

    @property
    def name(self) -> str:
        if self.legacy:
            return "+".join(sorted(self.seen)) or "gzip"
        return NAMES.get(self.compressor, f"unknown({self.compressor})")

    def __call__(self, data: bytes, limit: int, expected: int | None = None) -> bytes:
        if self.legacy:
            return self._legacy(data, limit, expected)
        try:
            if self.compressor == GZIP:
                out = _zlib(data, limit)
            elif self.compressor == XZ:
                out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=XZ_MEMLIMIT).decompress(data, limit)
            elif self.compressor == LZMA:
                out = self._lzma(data, limit, expected)
            elif self.compressor == LZO:
                out = _lzo(data, limit)
            elif self.compressor == LZ4:
                out = _lz4(data, limit)
            elif self.compressor == ZSTD:
                out = _zstd(data, limit)
            else:
                raise SquashFSError(f"unsupported compressor id {self.compressor}")
        except SquashFSError:
            raise
        except Exception as exc:  # every library has its own error type
            raise SquashFSError(f"{self.name} block does not decompress: {exc}") from None
        self.seen.add(self.name)
        return out

    def _legacy(self, data: bytes, limit: int, expected: int | None) -> bytes:
        if _looks_zlib(data):
            try:
                out = _zlib(data, limit)
                self.seen.add("gzip")
                return out
            except zlib.error:
                pass
        try:
            out = self._lzma(data, limit, expected)
        except Exception as exc:
            raise SquashFSError(f"block is neither zlib nor a known LZMA variant: {exc}") from None
        self.seen.add("lzma")
        return out

    def _lzma(self, data: bytes, limit: int, expected: int | None) -> bytes:
        """Try the remembered variant first, then every known one."""
        variants = self._lzma_variants(data)
        if self.lzma_variant in variants:
            variants.remove(self.lzma_variant)
            variants.insert(0, self.lzma_variant)
        last: Exception | None = None
        for variant in variants:
            try:
                out = self._lzma_with(variant, data, limit)
            except (lzma.LZMAError, ValueError, EOFError) as exc:
                last = exc
                continue
            if out and (expected is None or len(out) == expected):
                self.lzma_variant = variant
                return out
            last = SquashFSError(f"lzma variant {variant[0]} gave {len(out)} bytes, expected {expected}")
        raise SquashFSError(f"no LZMA variant decodes the block ({last})")

    def _lzma_variants(self, data: bytes) -> list[tuple]:
        variants: list[tuple] = []
        if len(data) >= 13 and _props(data[0]):
            dict_size, size = struct.unpack_from("<IQ", data, 1)
            if size == 0xFFFFFFFFFFFFFFFF or size <= 1 << 32:
                variants.append(("alone",))
            # Header without the 64-bit size: properties and dictionary size only.
            variants.append(("short", *_props(data[0]), dict_size))
        for lc, lp, pb in RAW_LZMA_PROPERTIES:
            variants.append(("raw", lc, lp, pb, max(self.block_size, 1 << 16)))
        return variants

    @staticmethod
    def _lzma_with(variant: tuple, data: bytes, limit: int) -> bytes:
        kind = variant[0]
        if kind == "alone":
            props, dict_size, _size = struct.unpack_from("<BIQ", data, 0)
            lc, lp, pb = _props(props)
            # Decode the payload raw: some writers put a wrong size in the header.
            return _raw_lzma(data[13:], limit, lc, lp, pb, dict_size)
        if kind == "short":
            _, lc, lp, pb, dict_size = variant
            return _raw_lzma(data[5:], limit, lc, lp, pb, dict_size)
        _, lc, lp, pb, dict_size = variant
        return _raw_lzma(data, limit, lc, lp, pb, dict_size)


def _looks_zlib(data: bytes) -> bool:
    return len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0


def _zlib(data: bytes, limit: int) -> bytes:
    dec = zlib.decompressobj()
    return dec.decompress(data, limit)


def _lzo(data: bytes, limit: int) -> bytes:
    import lzallright

    out = lzallright.LZOCompressor().decompress(data, output_size_hint=limit)
    if len(out) > limit:
        raise SquashFSError(f"lzo block expands beyond {limit} bytes")
    return out


def _lz4(data: bytes, limit: int) -> bytes:
    import lz4.block

    return lz4.block.decompress(data, uncompressed_size=limit)


def _zstd(data: bytes, limit: int) -> bytes:
    import zstandard

    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        out = reader.read(limit + 1)
    if len(out) > limit:
        raise SquashFSError(f"zstd block expands beyond {limit} bytes")
    return out
