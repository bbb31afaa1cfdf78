"""Multipart uploads read as a stream, after the token is checked, each part under its own size limit.

The endpoints that take uploads declare no body parameters, so FastAPI does not read (and spool to temporary
files) a body before the authentication dependency has run.  Parts are then parsed as they arrive: small ones
are kept in memory, a firmware image goes straight into its job folder, and the first byte past a part's
limit ends the request with 413, whether the body came with a Content-Length or chunked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

from iotcop.registry.service import RegistryError

UNTYPED = ("", "application/octet-stream")  # a part sent without a type is judged by its content
MAX_HEADER_BYTES = 8192  # the headers of one part


@dataclass(frozen=True)
class PartRule:
    limit: int  # bytes
    types: tuple[str, ...]  # media types accepted besides UNTYPED; () accepts any
    required: bool = True
    to_file: str | None = None  # a file name in the upload folder: the part is written there, not kept in memory


@dataclass
class Part:
    name: str
    filename: str = ""
    media_type: str = ""
    size: int = 0
    chunks: list[bytes] = field(default_factory=list)
    path: Path | None = None
    digest: "hashlib._Hash" = field(default_factory=hashlib.sha256)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()


def multipart_schema(fields: dict[str, str], required: tuple[str, ...]) -> dict:
    """The OpenAPI requestBody of a multipart upload (the endpoint reads it itself)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": list(required),
        "properties": {name: {"type": "string", "format": "binary", "description": text}
                       for name, text in fields.items()}}}}}}


class _Reader:
    def __init__(self, rules: dict[str, PartRule], folder: Path | None) -> None:
        self.rules = rules
        self.folder = folder
        self.parts: dict[str, Part] = {}
        self.current: Part | None = None
        self.out: BinaryIO | None = None
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[bytes, bytes] = {}
        self.header_bytes = 0

    # python-multipart callbacks: an exception raised here ends the parse and the request.

    def on_part_begin(self) -> None:
        self.headers = {}
        self.header_bytes = 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[bytes(self.header_name).strip().lower()] = bytes(self.header_value).strip()
        self.header_name.clear()
        self.header_value.clear()

    def _count_header(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > MAX_HEADER_BYTES:
            raise RegistryError(400, "a multipart part has too many header bytes")

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("latin-1")
        rule = self.rules.get(name)
        if rule is None:
            raise RegistryError(422, f"unexpected part {name[:40]!r}: send {' and '.join(self.rules)}")
        if name in self.parts:
            raise RegistryError(422, f"the part {name!r} was sent twice")
        media = parse_options_header(self.headers.get(b"content-type", b""))[0].decode("latin-1").lower()
        if rule.types and media not in rule.types + UNTYPED:
            raise RegistryError(415, f"{name}: expected {' or '.join(rule.types)}, got {media or 'no type'}")
        filename = disposition.get(b"filename", b"").decode("utf-8", "replace")
        part = Part(name=name, filename=filename, media_type=media)
        if rule.to_file and self.folder is not None:
            part.path = self.folder / rule.to_file
            self.out = open(part.path, "wb")
        self.parts[name] = self.current = part

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part, rule = self.current, self.rules[self.current.name]
        chunk = data[start:end]
        part.size += len(chunk)
        if part.size > rule.limit:
            raise RegistryError(413, f"{part.name}: at most {rule.limit} bytes")
        part.digest.update(chunk)
        if self.out is not None:
            self.out.write(chunk)
        else:
            part.chunks.append(chunk)

    def on_part_end(self) -> None:
        self.close()
        self.current = None

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def read_parts(request: Request, rules: dict[str, PartRule], folder: Path | None = None) -> dict[str, Part]:
    """Parse a multipart/form-data body as it streams in; RegistryError (4xx) for anything out of the rules."""
    media, options = parse_options_header(request.headers.get("content-type", ""))
    if media.lower() != b"multipart/form-data" or not options.get(b"boundary"):
        raise RegistryError(415, "expected a multipart/form-data body")
    reader = _Reader(rules, folder)
    callbacks = {name: getattr(reader, name) for name in (
        "on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished",
        "on_part_data", "on_part_end")}
    try:
        parser = MultipartParser(options[b"boundary"], callbacks)
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except (RegistryError, HTTPException):  # HTTPException: BodyTooLarge, a 413
        raise
    except Exception:  # noqa: BLE001 - python-multipart's errors: a malformed body
        raise RegistryError(400, "the multipart body is malformed") from None
    finally:
        reader.close()
    for name, rule in rules.items():
        part = reader.parts.get(name)
        if part is None and rule.required:
            raise RegistryError(422, f"{name}: missing (send it as a multipart part named {name!r})")
        if part is not None and part.size == 0:
            if rule.required or part.filename:
                raise RegistryError(422, f"{name}: empty")
            del reader.parts[name]  # an optional part without file or content (a form's unused field) is absent
    return reader.parts
