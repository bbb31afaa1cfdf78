"""What GitHub code scanning requires of an uploaded SARIF file, beyond the SARIF 2.1.0 schema.

From GitHub's documentation "SARIF support for code scanning" (docs.github.com, code-security/code-scanning/
integrating-with-code-scanning/sarif-support-for-code-scanning): required properties of runs, results and
locations; the upload limits (runs per file, results and rules per run, locations per result, tags per
rule); `security-severity` as a score from 0.0 to 10.0; and `automationDetails.id` to tell analyses apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"
LIMITS = {"runs": 20, "results": 25_000, "rules": 25_000, "locations": 1_000, "tags": 20}


def schema_errors(doc: dict) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(doc)]


def _location_problems(where: str, loc: dict) -> list[str]:
    problems = []
    physical = loc.get("physicalLocation")
    if not isinstance(physical, dict) or not (physical.get("artifactLocation") or {}).get("uri"):
        problems.append(f"{where}: no physicalLocation.artifactLocation.uri")
    elif "region" in physical and not isinstance(physical["region"].get("startLine"), int):
        problems.append(f"{where}: region without startLine")
    elif "region" in physical and physical["region"]["startLine"] < 1:
        problems.append(f"{where}: startLine below 1")
    return problems


def github_problems(doc: dict) -> list[str]:
    """Every reason GitHub code scanning would reject or drop part of this SARIF log."""
    problems = []
    if doc.get("version") != "2.1.0" or not doc.get("$schema"):
        problems.append("version 2.1.0 and $schema are required")
    runs = doc.get("runs") or []
    if not runs or len(runs) > LIMITS["runs"]:
        problems.append(f"{len(runs)} runs (1 to {LIMITS['runs']})")
    for r, run in enumerate(runs):
        driver = (run.get("tool") or {}).get("driver") or {}
        if not driver.get("name"):
            problems.append(f"run {r}: tool.driver.name is required")
        if not (run.get("automationDetails") or {}).get("id"):
            problems.append(f"run {r}: automationDetails.id missing (analyses of different images would mix)")
        rules = driver.get("rules") or []
        ids = [rule.get("id") for rule in rules]
        if len(ids) != len(set(ids)):
            problems.append(f"run {r}: rule ids are not unique")
        if len(rules) > LIMITS["rules"]:
            problems.append(f"run {r}: {len(rules)} rules")
        for rule in rules:
            props = rule.get("properties") or {}
            if len(props.get("tags") or []) > LIMITS["tags"]:
                problems.append(f"rule {rule['id']}: {len(props['tags'])} tags")
            score = props.get("security-severity")
            try:
                if not 0.0 <= float(score) <= 10.0:
                    raise ValueError
            except (TypeError, ValueError):
                problems.append(f"rule {rule['id']}: security-severity {score!r} is not a score from 0.0 to 10.0")
            help_ = rule.get("help") or {}
            if not help_.get("text") or not help_.get("markdown"):
                problems.append(f"rule {rule['id']}: help.text and help.markdown wanted")
            if urlsplit(rule.get("helpUri") or "").scheme not in ("http", "https"):
                problems.append(f"rule {rule['id']}: helpUri is not an absolute web address")
        results = run.get("results") or []
        if len(results) > LIMITS["results"]:
            problems.append(f"run {r}: {len(results)} results")
        for i, res in enumerate(results):
            where = f"run {r} result {i} ({res.get('ruleId')})"
            if not res.get("ruleId"):
                problems.append(f"{where}: no ruleId")
            if not (res.get("message") or {}).get("text"):
                problems.append(f"{where}: no message.text")
            if isinstance(res.get("ruleIndex"), int) and ids[res["ruleIndex"]] != res.get("ruleId"):
                problems.append(f"{where}: ruleIndex points at {ids[res['ruleIndex']]}")
            locations = res.get("locations") or []
            if not locations:
                problems.append(f"{where}: no location (GitHub rejects the file)")
            if len(locations) > LIMITS["locations"]:
                problems.append(f"{where}: {len(locations)} locations")
            for loc in locations:
                problems += _location_problems(where, loc)
            for key, value in (res.get("partialFingerprints") or {}).items():
                if not isinstance(value, str):
                    problems.append(f"{where}: partialFingerprints.{key} is not a string")
    return problems
