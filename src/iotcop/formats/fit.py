"""FIT (Flattened Image Tree) images: the images a U-Boot FIT carries, their hashes and signatures.

`fit_summary(data)` is the evidence a secure-boot check (EN 303 645 5.7-1)
can use: every image with its type, compression and hash algorithms
(and whether each stored hash matches), every configuration and whether it
is signed, and the signature algorithms and key hints.  Node and property
names follow U-Boot's doc/uImage.FIT/source_file_format.txt.
"""

from __future__ import annotations

import hashlib
import zlib

from iotcop.formats.fdt import FDTError, Node, parse

HASH_ALGOS = {"sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "md5": "md5"}


def is_fit(root: Node) -> bool:
    return root.child("images") is not None


def _data(blob: bytes, node: Node) -> bytes | None:
    """An image's payload: embedded 'data', or external 'data-offset'/'data-position' (mkimage -E)."""
    if "data" in node.spans:
        start, length = node.spans["data"]
        return blob[start:start + length]
    size = node.u32("data-size")
    if size is None:
        return None
    if (offset := node.u32("data-offset")) is not None:
        from iotcop.formats.fdt import total_size

        start = (total_size(blob) + 3 & ~3) + offset
    elif (position := node.u32("data-position")) is not None:
        start = position
    else:
        return None
    if start + size > len(blob):
        return None
    return blob[start:start + size]


def _digest(algo: str, payload: bytes) -> bytes | None:
    if algo == "crc32":
        return zlib.crc32(payload).to_bytes(4, "big")
    name = HASH_ALGOS.get(algo)
    return hashlib.new(name, payload).digest() if name else None


def images(blob: bytes) -> list[tuple[str, bytes]]:
    """(node name, payload) for every image in the FIT."""
    root = parse(blob)
    node = root.child("images")
    if node is None:
        raise FDTError("device tree without /images: not a FIT image")
    out = []
    for image in node.children:
        payload = _data(blob, image)
        if payload is not None:
            out.append((image.name, payload))
    return out


def fit_summary(blob: bytes) -> dict:
    """What the FIT says about integrity and authenticity; raises FDTError for a malformed tree."""
    root = parse(blob)
    images_node = root.child("images")
    if images_node is None:
        raise FDTError("device tree without /images: not a FIT image")
    summary_images = []
    for image in images_node.children:
        payload = _data(blob, image)
        hashes, signatures = [], []
        for sub in image.children:
            if sub.name.startswith("hash"):
                algo = sub.string("algo")
                stored = sub.props.get("value", b"")
                computed = _digest(algo, payload) if payload is not None else None
                hashes.append({"algo": algo, "value": stored.hex(),
                               "matches": None if computed is None else computed == stored})
            elif sub.name.startswith("signature"):
                signatures.append(_signature(sub))
        summary_images.append({
            "name": image.name, "description": image.string("description"), "type": image.string("type"),
            "arch": image.string("arch"), "os": image.string("os"), "compression": image.string("compression"),
            "size": len(payload) if payload is not None else None, "hashes": hashes, "signatures": signatures,
            "signed": bool(signatures),
        })
    configs = []
    conf_node = root.child("configurations")
    if conf_node is not None:
        for conf in conf_node.children:
            sigs = [_signature(s) for s in conf.children if s.name.startswith("signature")]
            configs.append({
                "name": conf.name, "description": conf.string("description"),
                "kernel": conf.string("kernel"), "fdt": conf.strings("fdt"), "ramdisk": conf.string("ramdisk"),
                "loadables": conf.strings("loadables"), "signatures": sigs, "signed": bool(sigs),
            })
        default = conf_node.string("default")
    else:
        default = ""
    hashed = [i for i in summary_images if i["hashes"]]
    return {
        "description": root.string("description"),
        "timestamp": root.u32("timestamp"),
        "images": summary_images,
        "configurations": configs,
        "default_configuration": default,
        "all_images_hashed": bool(summary_images) and len(hashed) == len(summary_images),
        "hash_mismatches": [i["name"] for i in summary_images if any(h["matches"] is False for h in i["hashes"])],
        "any_configuration_signed": any(c["signed"] for c in configs),
        "default_configuration_signed": any(c["signed"] for c in configs if c["name"] == default),
        "any_image_signed": any(i["signed"] for i in summary_images),
    }


def _signature(node: Node) -> dict:
    return {
        "node": node.name, "algo": node.string("algo"), "key_name_hint": node.string("key-name-hint"),
        "signed_images": node.strings("sign-images"), "has_value": bool(node.spans.get("value", (0, 0))[1]),
    }
