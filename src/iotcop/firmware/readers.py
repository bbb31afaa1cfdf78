"""The format readers extraction uses: unblob's handlers, adjusted to the tools we have.

unblob hands every SquashFS chunk to `sasquatch`, which no package registry
provides.  Standard SquashFS (v4 little endian, and the zlib v1-v3 layouts
unsquashfs still reads) is opened with Debian's `unsquashfs`; everything else
(big-endian v4, AVM, LZMA in v2/v3, vendor magics) and every chunk unsquashfs
fails on goes to our own reader (iotcop.formats.squashfs).
"""

from __future__ import annotations

import functools

from unblob.handlers import BUILTIN_HANDLERS
from unblob.handlers.filesystem.squashfs import SquashFSExtractor

from iotcop.firmware.image_modes import LISTERS, ModeRestoringExtractor
from iotcop.formats.unblob_handlers import CONTAINER_HANDLERS, SquashFSFallbackExtractor


@functools.cache
def handlers() -> tuple:
    adjusted = []
    for handler in BUILTIN_HANDLERS:
        if isinstance(getattr(handler, "EXTRACTOR", None), SquashFSExtractor):
            handler = type(handler.__name__, (handler,), {"EXTRACTOR": SquashFSFallbackExtractor()})
        elif handler.NAME in LISTERS and getattr(handler, "EXTRACTOR", None) is not None:
            # Extractors that lose modes get them back from the image (see image_modes).
            restoring = ModeRestoringExtractor(handler.EXTRACTOR, LISTERS[handler.NAME])
            handler = type(handler.__name__, (handler,), {"EXTRACTOR": restoring})
        adjusted.append(handler)
    # Containers unblob has no handler for: uImage, device trees / FIT, TP-Link, AVM fake SquashFS.
    return tuple(adjusted) + CONTAINER_HANDLERS
