"""Validate a declaration: the published JSON Schema first, then the rules a schema cannot say.

Every problem becomes one line ``file:line: field: message``.  Rules beyond the schema:
provision ids must exist; every row needs a detail (a justification for N and N-A rows,
EN 303 645 provision 4-1); N-A only for conditional provisions, and never against the
declaration's own condition answers; the condition answers must agree with the other fields.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from pathlib import Path
from typing import Any

import jsonschema

from iotcop.declaration.load import (
    DeclarationError,
    FieldPath,
    Parsed,
    dotted,
    read_declaration_file,
)
from iotcop.declaration.schema import ConformanceRow, Declaration, declaration_schema
from iotcop.standards.catalogue import Catalogue, load_catalogue

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TYPE_NAMES = {"string": "a string", "integer": "an integer", "boolean": "true or false", "object": "a mapping",
               "array": "a list", "number": "a number", "null": "empty"}

_format_checker = jsonschema.FormatChecker(formats=())


@_format_checker.checks("date")
def _is_date(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(declaration_schema(), format_checker=_format_checker)


def _json_name(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _subschema_properties(schema: dict) -> list[str]:
    return sorted(schema.get("properties", {}))


def _schema_errors(parsed: Parsed) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for err in _validator().iter_errors(parsed.data):
        path: FieldPath = tuple(str(p) for p in err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        custom = schema.get("x-message")
        kind = err.validator
        if "propertyNames" in err.schema_path:
            key = str(err.instance)
            msg = parsed.error(path + (key,), f"'{key}' {custom or 'is not an allowed name'}")
            out.append((parsed.line_of(path + (key,)), msg))
            continue
        if kind == "additionalProperties" and isinstance(err.instance, dict):
            allowed = _subschema_properties(schema)
            for key in err.instance:
                if key in allowed:
                    continue
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else f" (allowed: {', '.join(allowed)})"
                out.append((parsed.line_of(path + (key,)), parsed.error(path + (key,), f"unknown field{hint}")))
            continue
        if kind == "required":
            missing = re.findall(r"'([^']+)' is a required property", err.message)
            for key in missing or [str(err.message)]:
                out.append((parsed.line_of(path), parsed.error(path + (key,), "missing (required)")))
            continue
        value = err.instance
        if kind == "type":
            want = err.validator_value
            wants = want if isinstance(want, list) else [want]
            msg = f"must be {' or '.join(_TYPE_NAMES.get(w, w) for w in wants)}, got {_json_name(value)}"
            if "string" in wants and isinstance(value, (int, float)) and not isinstance(value, bool):
                msg += " (put it in quotes)"
        elif kind == "format" and err.validator_value == "date":
            msg = f"{_json_name(value)} is not a date (YYYY-MM-DD)"
        elif kind == "enum":
            msg = f"{_json_name(value)} is not one of: {', '.join(str(v) for v in err.validator_value)}"
        elif kind == "const":
            msg = f"must be {err.validator_value!r}, got {_json_name(value)}"
        elif kind in ("pattern", "minLength") and custom:
            msg = custom if custom.startswith("must") else f"{_json_name(value)} {custom}"
        elif kind == "minimum":
            msg = f"must be at least {err.validator_value}, got {_json_name(value)}"
        elif kind == "maximum":
            msg = f"must be at most {err.validator_value}, got {_json_name(value)}"
        elif kind == "minProperties" and custom:
            msg = custom
        else:
            msg = err.message
        out.append((parsed.line_of(path), parsed.error(path, msg)))
    return out


def _semantic_errors(parsed: Parsed, catalogue: Catalogue) -> tuple[list[tuple[int, str]], list[str]]:
    data = parsed.data
    errors: list[tuple[int, str]] = []
    warnings: list[str] = []

    def err(path: FieldPath, message: str) -> None:
        errors.append((parsed.line_of(path), parsed.error(path, message)))

    # Sections of the wrong type are schema errors already; read them as empty here.
    def section(name: str) -> dict:
        value = data.get(name)
        return value if isinstance(value, dict) else {}

    conditions: dict[int, bool] = {int(k): v for k, v in section("conditions").items() if str(k).isdigit()}
    password = section("password")
    approach = password.get("approach")
    implied: list[tuple[int, bool | None, FieldPath]] = []
    if approach in ("user_defined", "unique_per_device", "none"):
        implied.append((1, approach != "none", ("password", "approach")))
        implied.append((2, approach == "unique_per_device", ("password", "approach")))
    update = section("update")
    if isinstance(update.get("present"), bool):
        implied.append((12, update["present"], ("update", "present")))
        if update["present"] is False:
            for key in ("automatic", "over_network"):
                if update.get(key) is True:
                    err(("update", key), "is true, but update.present is false")
        elif isinstance(update.get("over_network"), bool):
            implied.append((11, update["over_network"], ("update", "over_network")))
    telemetry = section("telemetry")
    if isinstance(telemetry.get("collected"), bool):
        implied.append((6, telemetry["collected"], ("telemetry", "collected")))
    personal = section("personal_data")
    if isinstance(personal.get("consent_based"), bool):
        implied.append((7, personal["consent_based"], ("personal_data", "consent_based")))
        if personal["consent_based"] and personal.get("processed") is False:
            err(("personal_data", "consent_based"), "is true, but personal_data.processed is false")
    for number, holds, field_path in implied:
        if holds is None or number not in conditions or conditions[number] == holds:
            continue
        err(("conditions", str(number)),
            f"{str(conditions[number]).lower()} contradicts {dotted(field_path)} (line {parsed.line_of(field_path)}), "
            f"which means condition {number} ({catalogue.conditions[number].summary.rstrip('.')}) is "
            f"{'true' if holds else 'false'}")
    answers = dict(conditions)
    for number, holds, _ in implied:
        if holds is not None:
            answers.setdefault(number, holds)

    if approach == "unique_per_device" and isinstance(password.get("generation"), str) and len(password["generation"].split()) < 3:
        err(("password", "generation"), "say how the per-device passwords are generated (a sentence, EN 303 645 5.1-2)")

    support = section("support")
    end = support.get("end_date")
    if isinstance(end, str) and _is_date(end) and dt.date.fromisoformat(end) < dt.date.today():
        warnings.append(parsed.error(("support", "end_date"), f"{end} is in the past: the defined support period has ended"))
    vd = section("vulnerability_disclosure")
    stxt = vd.get("security_txt_url")
    if isinstance(stxt, str) and stxt.startswith("https://") and not stxt.rstrip("/").endswith("/.well-known/security.txt"):
        warnings.append(parsed.error(("vulnerability_disclosure", "security_txt_url"),
                                     "RFC 9116 places the file at /.well-known/security.txt"))

    rows = data.get("conformance")
    if isinstance(rows, dict):
        for pid, row in rows.items():
            path = ("conformance", pid)
            if pid not in catalogue.provisions:
                if re.fullmatch(r"4-1|5\.([1-9]|1[0-3])-[1-9][0-9]?|6-[1-9]", pid):
                    close = difflib.get_close_matches(pid, list(catalogue.provisions), n=1)
                    hint = f"; did you mean {close[0]}?" if close else ""
                    err(path, f"EN 303 645 V2.1.1 has no provision {pid}{hint}")
                continue
            if not isinstance(row, dict) or row.get("support") not in ("Y", "N", "N-A"):
                continue
            p = catalogue.provisions[pid]
            support_value = row["support"]
            detail = row.get("detail")
            if not isinstance(detail, str) or not detail.strip():
                if support_value == "Y":
                    err(path + ("detail",), "missing: say how the provision is met (the Annex B 'Detail' column)")
                elif p.mandatory:
                    err(path + ("detail",), f"missing: give the reason provision {pid} is {'not met' if support_value == 'N' else 'not applicable'}")
                else:
                    err(path + ("detail",), f"missing: recommendation {pid} is {'not met' if support_value == 'N' else 'not applicable'}, "
                        "and EN 303 645 provision 4-1 requires a justification")
            if support_value == "N-A":
                if not p.conditional and p.mandatory:
                    err(path + ("support",), f"N-A is not allowed: {pid} is mandatory and has no Annex B condition (use Y or N)")
                elif p.conditional and p.conditions and all(answers.get(c) is True for c in p.conditions):
                    conds = ", ".join(str(c) for c in p.conditions)
                    err(path + ("support",), f"N-A contradicts the declaration: condition{'s' if len(p.conditions) > 1 else ''} "
                        f"{conds} of {pid} {'are' if len(p.conditions) > 1 else 'is'} answered true")
            if support_value == "N" and p.mandatory:
                warnings.append(parsed.error(path, f"declares mandatory provision {pid} not met; its verdict will be FAIL"))
        recommendations = [p for p in catalogue.provisions.values() if not p.mandatory]
        missing = [p.id for p in recommendations if p.id not in rows
                   and not any(answers.get(c) is False for c in p.conditions)]
        if rows and missing:
            warnings.append(parsed.error(("conformance",), f"{len(missing)} recommendation(s) have no row ({', '.join(missing[:6])}"
                                         f"{' ...' if len(missing) > 6 else ''}); provision 4-1 asks for a justification of each one not met"))
    return errors, warnings


def check_parsed(parsed: Parsed, catalogue: Catalogue | None = None) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a parsed declaration, errors in file order."""
    catalogue = catalogue or load_catalogue()
    if not isinstance(parsed.data, dict):
        return [f"{parsed.name}:1: the top level must be a mapping of fields (product:, manufacturer:, ...)"], []
    found = _schema_errors(parsed)
    semantic, warnings = _semantic_errors(parsed, catalogue)
    found.extend(semantic)
    seen: set[str] = set()
    ordered = []
    for line, message in sorted(found, key=lambda x: x[0]):
        if message not in seen:
            seen.add(message)
            ordered.append(message)
    return ordered, warnings


def to_declaration(parsed: Parsed) -> Declaration:
    data = parsed.data
    rows = {pid: ConformanceRow(support=row["support"], detail=(row.get("detail") or "").strip(),
                                line=parsed.line_of(("conformance", pid)))
            for pid, row in (data.get("conformance") or {}).items()}
    fields = {k: v for k, v in data.items() if k not in ("conformance", "conditions")}
    return Declaration.model_validate({
        **fields,
        "conformance": rows,
        "conditions": {int(k): v for k, v in (data.get("conditions") or {}).items()},
        "source": parsed.name,
        "sha256": parsed.sha256,
        "raw": data,
        "lines": {dotted(path): line for path, line in parsed.lines.items() if path},
    })


def validate_file(path: str | Path) -> tuple[Declaration | None, list[str], list[str]]:
    """(declaration or None, errors, warnings); never raises for a bad file (errors say why)."""
    try:
        parsed = read_declaration_file(path)
    except DeclarationError as exc:
        return None, exc.errors, []
    errors, warnings = check_parsed(parsed)
    if errors:
        return None, errors, warnings
    return to_declaration(parsed), [], warnings


def load_declaration(path: str | Path) -> Declaration:
    """Read and validate a declaration; raises DeclarationError listing every problem."""
    declaration, errors, _ = validate_file(path)
    if errors:
        raise DeclarationError(errors)
    assert declaration is not None
    return declaration
