"""Read a declaration file (YAML or JSON) into plain data plus the line of every field.

Every error names the file, the line and the field: ``decl.yaml:12: support.end_date: ...``.
Dates stay strings here (YAML would otherwise turn 2024-13-01 into an exception and
2024-12-01 into a date object), so the validator judges them and reports them with their line.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from iotcop.errors import InputError

MAX_DECLARATION_BYTES = 2 * 1024 * 1024

FieldPath = tuple[str, ...]


class DeclarationError(InputError):
    """The declaration cannot be used; `errors` holds every problem as 'file:line: field: message'."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        first = self.errors[0] if self.errors else "invalid declaration"
        more = len(self.errors) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(first + suffix)


@dataclass
class Parsed:
    """A declaration file as data: keys are strings, scalars as written, and where each field is."""

    path: Path
    name: str  # the file name as given, used in messages and evidence
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)
    sha256: str = ""

    def line_of(self, path: FieldPath) -> int:
        """The line of a field, or of its closest enclosing field that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)

    def where(self, path: FieldPath) -> str:
        return f"{self.name}:{self.line_of(path)}"

    def error(self, path: FieldPath, message: str) -> str:
        label = dotted(path)
        return f"{self.where(path)}: {label}: {message}" if label else f"{self.where(path)}: {message}"


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        if out and (part.isdigit() or "." in part or "-" in part):
            out += f"[{part}]"  # list index, condition number or provision id
        else:
            out += ("." if out else "") + part
    return out


class _Loader(yaml.SafeLoader):
    pass


def _as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return node.value


# Keep dates as written; the validator decides whether they are dates.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _as_text)


def read_declaration_file(path: str | Path) -> Parsed:
    path = Path(path)
    name = str(path)
    try:
        if path.is_dir():
            raise DeclarationError([f"{name}: is a directory, not a declaration file"])
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DeclarationError([f"{name}: no such file"]) from None
    except OSError as exc:
        raise DeclarationError([f"{name}: cannot read ({exc.strerror})"]) from None
    if len(raw) > MAX_DECLARATION_BYTES:
        raise DeclarationError([f"{name}: larger than {MAX_DECLARATION_BYTES // 1024} KiB; not a declaration"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DeclarationError([f"{name}:{line}: not UTF-8 text"]) from None
    if not text.strip():
        raise DeclarationError([f"{name}:1: the file is empty"])
    parsed = parse_text(text, name, json_syntax=path.suffix.lower() == ".json")
    parsed.path = path
    parsed.sha256 = hashlib.sha256(raw).hexdigest()
    return parsed


def parse_text(text: str, name: str, *, json_syntax: bool = False) -> Parsed:
    if json_syntax:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise DeclarationError([f"{name}:{exc.lineno}: invalid JSON: {exc.msg}"]) from None
        except RecursionError:
            raise DeclarationError([f"{name}:1: invalid JSON: nested too deeply"]) from None
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:  # a control character: the reader rejects the text up front
        line = text[: exc.position].count("\n") + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        raise DeclarationError([f"{name}:{line}: invalid YAML: {exc.reason} (character {char})"]) from None
    try:
        root = loader.get_single_node()
        if root is None:
            raise DeclarationError([f"{name}:1: the file is empty"])
        lines: dict[FieldPath, int] = {}
        errors: list[str] = []
        data = _build(loader, root, (), lines, errors, name)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = "JSON" if json_syntax else "YAML"
        raise DeclarationError([f"{name}:{line}: invalid {what}: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise DeclarationError([f"{name}:1: invalid YAML: {str(exc).splitlines()[0]}"]) from None
    except RecursionError:
        raise DeclarationError([f"{name}:1: invalid YAML: nested too deeply"]) from None
    finally:
        loader.dispose()
    if errors:
        raise DeclarationError(errors)
    return Parsed(path=Path(name), name=name, data=data, lines=lines)


def _build(loader: _Loader, node: yaml.Node, path: FieldPath, lines: dict, errors: list[str], name: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                errors.append(f"{name}:{key_node.start_mark.line + 1}: {dotted(path) or 'top level'}: keys must be plain names")
                continue
            key = loader.construct_object(key_node)
            key = "null" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
            child = path + (key,)
            line = key_node.start_mark.line + 1
            if key in out:
                errors.append(f"{name}:{line}: {dotted(child)}: duplicate key (first at line {lines[child]})")
                continue
            lines[child] = line
            out[key] = _build(loader, value_node, child, lines, errors, name)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, path + (str(i),), lines, errors, name) for i, item in enumerate(node.value)]
    return loader.construct_object(node)
