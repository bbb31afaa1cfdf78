"""Reading a saved report.json (and a declaration) for the commands that render from them."""

from __future__ import annotations

import json
from pathlib import Path

from iotcop.errors import InputError
from iotcop.model import Assessment


def read_report(path: Path) -> tuple[Assessment, bytes]:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != "iotcop.report/1":
        raise InputError(f"{path}: not an iotcop report (expected \"schema\": \"iotcop.report/1\")")
    try:
        return Assessment.model_validate(data), raw
    except ValueError as exc:
        first = str(exc).splitlines()[1] if len(str(exc).splitlines()) > 1 else str(exc)
        raise InputError(f"{path}: report does not match schema iotcop.report/1 ({first.strip()})") from None


def read_declaration(path: Path | None):
    if path is None:
        return None
    from iotcop.declaration import load_declaration

    return load_declaration(path)
