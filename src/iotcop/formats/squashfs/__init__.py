"""A SquashFS reader for versions 1.x-4.x, both byte orders, and vendor variants (LZMA, AVM, DD-WRT, Broadcom).

    from iotcop.formats.squashfs import extract, SquashFSError
    result = extract("rootfs.sqfs", "out/", manifest="out.manifest.json")

Used by the extraction pipeline when `unsquashfs` cannot open a chunk.
"""

from iotcop.formats.squashfs.errors import SquashFSError
from iotcop.formats.squashfs.reader import Image, open_image
from iotcop.formats.squashfs.superblock import Superblock, parse_superblock
from iotcop.formats.squashfs.unpack import READER_NAME, Result, extract

__all__ = ["READER_NAME", "Image", "Result", "SquashFSError", "Superblock", "extract", "open_image",
           "parse_superblock"]
