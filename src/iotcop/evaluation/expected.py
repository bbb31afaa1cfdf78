"""Load and validate an expected-results file (format "iotcop.expected/1", see expected.schema.yaml).

Every problem becomes one line "FILE: WHERE: message"; a file with problems is refused as a whole, never
evaluated in part.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from iotcop.errors import InputError
from iotcop.yamlload import FAST_LOADER

SCHEMA_NAME = "expected.schema.yaml"
CONFIDENCE_RANK = {"possible": 0, "likely": 1, "confirmed": 2}
_LINES = re.compile(r"^(.*?):((?:\d+(?:-\d*)?)(?:,\d+(?:-\d*)?)*)$")


class ExpectedError(InputError):
    """An expected-results file that cannot be used; the message names the file and the row."""


@dataclass(frozen=True)
class PathPattern:
    """One path pattern of a locator, compiled, with its optional line ranges."""

    text: str
    regex: re.Pattern
    lines: tuple[tuple[int, int | None], ...] = ()  # (first, last); last None = to the end of the file

    def matches(self, path: str | None, line: int | None) -> bool:
        if not path or not self.regex.fullmatch(device_relative(path)):
            return False
        if not self.lines:
            return True
        if line is None:
            return False
        return any(first <= line and (last is None or line <= last) for first, last in self.lines)


@dataclass(frozen=True)
class FindingPart:
    paths: tuple[PathPattern, ...]
    text: re.Pattern | None = None

    def touches(self, finding: dict) -> bool:
        ev = finding.get("evidence") or {}
        if not any(p.matches(ev.get("path"), ev.get("line")) for p in self.paths):
            return False
        return self.text is None or bool(self.text.search(finding_text(finding)))

    def describe(self) -> str:
        return ", ".join(p.text for p in self.paths) + (f" ~/{self.text.pattern}/" if self.text else "")


@dataclass(frozen=True)
class ComponentPart:
    name: re.Pattern
    version: str | None = None
    paths: tuple[PathPattern, ...] = ()

    def describe(self) -> str:
        where = f" at {', '.join(p.text for p in self.paths)}" if self.paths else ""
        return f"component {self.name.pattern}{' ' + self.version if self.version else ''}{where}"


@dataclass(frozen=True)
class ExtractionPart:
    path: PathPattern

    def describe(self) -> str:
        return f"unpacked {self.path.text}"


Part = FindingPart | ComponentPart | ExtractionPart


@dataclass(frozen=True)
class Fact:
    id: str
    title: str
    provisions: frozenset[str] = frozenset()
    min_confidence: str = "likely"
    evidence: tuple[Part, ...] = ()
    capability: str | None = None
    disputed: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Negative:
    id: str
    title: str
    locator: FindingPart
    provisions: frozenset[str] = frozenset()
    component: re.Pattern | None = None
    min_confidence: str = "likely"
    origin: str | None = None


@dataclass(frozen=True)
class Expected:
    path: Path
    image: str
    facts: tuple[Fact, ...]
    negatives: tuple[Negative, ...]
    ratchet_found: tuple[str, ...] | None = None  # None: the file records no ratchet
    ratchet_negatives: tuple[str, ...] | None = None
    device: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def device_relative(path: str) -> str:
    """A report path as the patterns name it: "/etc/shadow" -> "etc/shadow"; "<image>/..." stays."""
    return path[1:] if path.startswith("/") else path


def finding_text(finding: dict) -> str:
    ev = finding.get("evidence") or {}
    return "\n".join(str(x) for x in (finding.get("title"), ev.get("excerpt"), ev.get("detail")) if x)


def glob_regex(pattern: str) -> re.Pattern:
    """A shell pattern over "/"-separated paths: "*" and "?" stay in one segment, "**" spans segments."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def parse_pattern(text: str) -> PathPattern:
    """"etc/shadow:1,13" -> pattern "etc/shadow" with lines 1 and 13; raises ValueError on a bad line list."""
    m = _LINES.match(text)
    glob, lines = (m.group(1), m.group(2)) if m else (text, "")
    if text.startswith("/"):
        raise ValueError("paths are written without the leading '/' (as in the facts files)")
    ranges: list[tuple[int, int | None]] = []
    for item in filter(None, lines.split(",")):
        first, dash, last = item.partition("-")
        start = int(first)
        end = (int(last) if last else None) if dash else start
        if start < 1 or (end is not None and end < start):
            raise ValueError(f"line range '{item}' is empty or starts before line 1")
        ranges.append((start, end))
    return PathPattern(text=text, regex=glob_regex(glob), lines=tuple(ranges))


@functools.cache
def expected_schema() -> dict:
    with resources.files("iotcop.evaluation").joinpath(SCHEMA_NAME).open("r", encoding="utf-8") as fh:
        return yaml.load(fh, Loader=FAST_LOADER)


def _where(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top)"


def _regex(text: str, where: str, problems: list[str]) -> re.Pattern | None:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as exc:
        problems.append(f"{where}: bad regular expression: {exc}")
        return None


def _patterns(items: list[str], where: str, problems: list[str]) -> tuple[PathPattern, ...]:
    out = []
    for i, text in enumerate(items):
        try:
            out.append(parse_pattern(text))
        except ValueError as exc:
            problems.append(f"{where}[{i}]: '{text}': {exc}")
    return tuple(out)


def _part(raw: dict, where: str, problems: list[str]) -> Part | None:
    if "component" in raw:
        name = _regex(raw["component"], f"{where}.component", problems)
        paths = _patterns(raw.get("paths", []), f"{where}.paths", problems)
        return ComponentPart(name, raw.get("version"), paths) if name else None
    if "extracted" in raw:
        found = _patterns([raw["extracted"]], f"{where}.extracted", problems)
        return ExtractionPart(found[0]) if found else None
    text = _regex(raw["text"], f"{where}.text", problems) if "text" in raw else None
    return FindingPart(_patterns(raw["paths"], f"{where}.paths", problems), text)


def parse_expected(data: Any, path: Path, known_provisions: set[str] | None = None) -> Expected:
    """Validate parsed YAML and build the expected results; raises ExpectedError listing every problem."""
    problems: list[str] = []
    for err in sorted(jsonschema.Draft202012Validator(expected_schema()).iter_errors(data), key=lambda e: list(e.absolute_path)):
        problems.append(f"{_where(tuple(err.absolute_path))}: {err.message}")
    if problems:
        raise ExpectedError(_message(path, problems))
    if known_provisions is None:
        from iotcop.standards.catalogue import load_catalogue

        known_provisions = set(load_catalogue().provisions)
    ids: set[str] = set()

    def check_row(raw: dict, where: str) -> None:
        if raw["id"] in ids:
            problems.append(f"{where}: id used twice")
        ids.add(raw["id"])
        for p in raw.get("provisions", []):
            if p not in known_provisions:
                problems.append(f"{where}.provisions: '{p}' is not an EN 303 645 provision")

    facts: list[Fact] = []
    for i, raw in enumerate(data["facts"]):
        where = f"facts[{i}] ({raw['id']})"
        check_row(raw, where)
        parts = tuple(filter(None, (_part(part, f"{where}.evidence[{j}]", problems) for j, part in enumerate(raw.get("evidence", [])))))
        facts.append(Fact(id=raw["id"], title=raw["title"], provisions=frozenset(raw.get("provisions", [])),
                          min_confidence=raw.get("min_confidence", "likely"), evidence=parts,
                          capability=raw.get("capability"), disputed=raw.get("disputed"), note=raw.get("note")))
    negatives: list[Negative] = []
    for i, raw in enumerate(data["negatives"]):
        where = f"negatives[{i}] ({raw['id']})"
        check_row(raw, where)
        text = _regex(raw["text"], f"{where}.text", problems) if "text" in raw else None
        component = _regex(raw["component"], f"{where}.component", problems) if "component" in raw else None
        negatives.append(Negative(id=raw["id"], title=raw["title"],
                                  locator=FindingPart(_patterns(raw["paths"], f"{where}.paths", problems), text),
                                  provisions=frozenset(raw.get("provisions", [])), component=component,
                                  min_confidence=raw.get("min_confidence", "likely"), origin=raw.get("origin")))
    ratchet = data.get("ratchet")
    fact_ids = {f.id for f in facts}
    negative_ids = {n.id for n in negatives}
    if ratchet is not None:
        for fid in ratchet["found"]:
            if fid not in fact_ids:
                problems.append(f"ratchet.found: '{fid}' is not a fact of this file")
            elif next(f for f in facts if f.id == fid).disputed:
                problems.append(f"ratchet.found: '{fid}' is disputed and has no evidence to find")
        for nid in ratchet["negatives_hit"]:
            if nid not in negative_ids:
                problems.append(f"ratchet.negatives_hit: '{nid}' is not a negative of this file")
    if problems:
        raise ExpectedError(_message(path, problems))
    return Expected(
        path=path, image=data["image"], facts=tuple(facts), negatives=tuple(negatives),
        ratchet_found=tuple(ratchet["found"]) if ratchet else None,
        ratchet_negatives=tuple(ratchet["negatives_hit"]) if ratchet else None,
        device=data.get("device"), source=data.get("source"),
    )


def _message(path: Path, problems: list[str]) -> str:
    head = f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in the expected results"
    return head + "".join(f"\n  {path}: {p}" for p in problems)


def load_expected(path: str | Path) -> Expected:
    """Read and validate one expected-results file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExpectedError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ExpectedError(f"{path}: not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ExpectedError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    return parse_expected(data, path)
