"""Declaration validation: a table of malformed inputs and the exact error each gives, plus the template."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from iotcop.declaration import (
    DeclarationError,
    declaration_schema,
    load_declaration,
    validate_file,
)
from iotcop.declaration.schema import SCHEMA_FILE

TEMPLATE = Path(__file__).resolve().parents[2] / "src" / "iotcop" / "declaration" / "template.yaml"

BASE = """\
product:
  name: "Example Router"
  type: "Wi-Fi router"
  batch: "ER1000-24"
manufacturer:
  name: "Example Devices Ltd"
  address: "1 Example Street, London"
model_designation: "ER-1000"
firmware_version: "1.1.0"
support:
  end_date: 2030-12-31
  published_url: "https://www.example.com/support"
vulnerability_disclosure:
  policy_url: "https://www.example.com/vdp"
  contact: "mailto:security@example.com"
  acknowledgement_days: 5
  status_update_days: 30
password:
  approach: user_defined
conformance:
  "5.6-3": {support: N, detail: "The serial header is needed for repairs."}
conditions:
  13: true
"""


def write(tmp_path: Path, text: str, name: str = "decl.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def replace(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


# (case, file text, the one error expected, exactly)
MALFORMED = [
    ("month 13", replace("end_date: 2030-12-31", "end_date: 2024-13-01"),
     "decl.yaml:11: support.end_date: '2024-13-01' is not a date (YYYY-MM-DD)"),
    ("day-first date", replace("end_date: 2030-12-31", "end_date: 31/12/2030"),
     "decl.yaml:11: support.end_date: '31/12/2030' is not a date (YYYY-MM-DD)"),
    ("missing manufacturer address", replace('  address: "1 Example Street, London"\n', ""),
     "decl.yaml:5: manufacturer.address: missing (required)"),
    ("missing required top-level field", replace('model_designation: "ER-1000"\n', ""),
     "decl.yaml:1: model_designation: missing (required)"),
    ("unquoted version number", replace('firmware_version: "1.1.0"', "firmware_version: 1.1"),
     "decl.yaml:9: firmware_version: must be a string, got 1.1 (put it in quotes)"),
    ("unknown field with a near miss", replace("password:\n", "pasword:\n"),
     "decl.yaml:18: pasword: unknown field; did you mean 'password'?"),
    ("contact that is not a URI or address", replace('contact: "mailto:security@example.com"', "contact: security team"),
     "decl.yaml:15: vulnerability_disclosure.contact: 'security team' is not a contact (an e-mail address, mailto:, tel: or https:// URI)"),
    ("timeline as words", replace("acknowledgement_days: 5", "acknowledgement_days: five"),
     "decl.yaml:16: vulnerability_disclosure.acknowledgement_days: must be an integer, got 'five'"),
    ("zero-day status updates", replace("status_update_days: 30", "status_update_days: 0"),
     "decl.yaml:17: vulnerability_disclosure.status_update_days: must be at least 1, got 0"),
    ("security.txt over http", replace('  status_update_days: 30\n', '  status_update_days: 30\n  security_txt_url: "http://www.example.com/.well-known/security.txt"\n'),
     "decl.yaml:18: vulnerability_disclosure.security_txt_url: 'http://www.example.com/.well-known/security.txt' is not an https:// URL (RFC 9116 requires HTTPS)"),
    ("support page not a web URL", replace('published_url: "https://www.example.com/support"', 'published_url: "www.example.com/support"'),
     "decl.yaml:12: support.published_url: 'www.example.com/support' is not an http(s) URL"),
    ("unknown password approach", replace("approach: user_defined", "approach: shared"),
     "decl.yaml:19: password.approach: 'shared' is not one of: user_defined, unique_per_device, none"),
    ("unique passwords without generation", replace("approach: user_defined", "approach: unique_per_device"),
     "decl.yaml:18: password.generation: missing (required)"),
    ("unmet recommendation without justification", replace('{support: N, detail: "The serial header is needed for repairs."}', "{support: N}"),
     "decl.yaml:21: conformance[5.6-3].detail: missing: recommendation 5.6-3 is not met, and EN 303 645 provision 4-1 requires a justification"),
    ("support value not Y/N/N-A", replace("{support: N, detail", "{support: maybe, detail"),
     "decl.yaml:21: conformance[5.6-3].support: 'maybe' is not one of: Y, N, N-A"),
    ("N-A on an unconditional mandatory provision", replace('  "5.6-3"', '  "5.2-1": {support: N-A, detail: "no"}\n  "5.6-3"'),
     "decl.yaml:21: conformance[5.2-1].support: N-A is not allowed: 5.2-1 is mandatory and has no Annex B condition (use Y or N)"),
    ("provision that does not exist", replace('  "5.6-3"', '  "5.6-30": {support: Y, detail: "x"}\n  "5.6-3"'),
     "decl.yaml:21: conformance[5.6-30]: EN 303 645 V2.1.1 has no provision 5.6-30; did you mean 5.6-3?"),
    ("not a provision id", replace('  "5.6-3"', '  "telnet": {support: Y, detail: "x"}\n  "5.6-3"'),
     "decl.yaml:21: conformance.telnet: 'telnet' is not an EN 303 645 provision id (like 5.1-1, 5.13-1 or 6-3)"),
    ("condition number out of range", replace("  13: true", "  14: true"),
     "decl.yaml:23: conditions[14]: '14' is not an EN 303 645 Annex B condition number (1 to 13)"),
    ("condition answer not boolean", replace("  13: true", '  13: "sometimes"'),
     "decl.yaml:23: conditions[13]: must be true or false, got 'sometimes'"),
    ("condition answer contradicts password approach", replace("  13: true", "  1: false"),
     "decl.yaml:23: conditions[1]: false contradicts password.approach (line 19), which means condition 1 (The device uses passwords) is true"),
    ("N-A against the declared condition", replace("  13: true", "  1: true\n  2: true").replace("approach: user_defined", "approach: unique_per_device\n  generation: \"random 20 characters from the SoC TRNG at the factory\"").replace('  "5.6-3"', '  "5.1-2": {support: N-A, detail: "x"}\n  "5.6-3"'),
     "decl.yaml:22: conformance[5.1-2].support: N-A contradicts the declaration: condition 2 of 5.1-2 is answered true"),
    ("duplicate key", replace('model_designation: "ER-1000"', 'model_designation: "ER-1000"\nmodel_designation: "ER-2000"'),
     "decl.yaml:9: model_designation: duplicate key (first at line 8)"),
    ("YAML syntax error", replace('  name: "Example Router"', '  name: "Example Router'),
     "decl.yaml:3: invalid YAML: expected <block end>, but found '<scalar>'"),
    ("a list instead of a mapping", "- product\n- manufacturer\n",
     "decl.yaml:1: the top level must be a mapping of fields (product:, manufacturer:, ...)"),
    ("empty file", "\n\n", "decl.yaml:1: the file is empty"),
    ("sensor type unknown", BASE + "sensors: [{type: radar}]\n",
     "decl.yaml:24: sensors[0].type: 'radar' is not one of: camera, microphone, motion, temperature, humidity, light, location, accelerometer, gyroscope, pressure, proximity, other"),
    ("tcp service without port", BASE + "network_services:\n  - {name: ssh, protocol: tcp}\n",
     "decl.yaml:25: network_services[0].port: missing (required)"),
]


def test_base_declaration_is_valid(tmp_path):
    decl = load_declaration(write(tmp_path, BASE))
    assert decl.product.name == "Example Router"
    assert str(decl.support.end_date) == "2030-12-31"
    assert decl.conformance["5.6-3"].line == 21
    assert decl.condition_answers()[1] == (True, "password.approach")
    assert decl.raw["conditions"] == {"13": True}


@pytest.mark.parametrize("case, text, expected", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_declaration_gives_precise_error(tmp_path, monkeypatch, case, text, expected):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, text)
    declaration, errors, _ = validate_file("decl.yaml")
    assert declaration is None
    assert errors == [expected], f"{case}: {errors}"
    with pytest.raises(DeclarationError) as info:
        load_declaration("decl.yaml")
    assert str(info.value).startswith(expected)


def test_all_problems_are_reported_in_file_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = replace("end_date: 2030-12-31", "end_date: 2024-13-01").replace("status_update_days: 30", "status_update_days: -2")
    _, errors, _ = validate_file(write(tmp_path, text))
    assert [e.split(":")[1] for e in errors] == ["11", "17"]
    with pytest.raises(DeclarationError, match=r"\(and 1 more problem\)$"):
        load_declaration(tmp_path / "decl.yaml")


def test_json_declaration_reports_lines(tmp_path):
    data = yaml.safe_load(BASE.replace("2030-12-31", "'2030-12-31'"))
    data["support"]["end_date"] = "2030-02-30"
    path = write(tmp_path, json.dumps(data, indent=2), "decl.json")
    _, errors, _ = validate_file(path)
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if "2030-02-30" in l)
    assert errors == [f"{path}:{line}: support.end_date: '2030-02-30' is not a date (YYYY-MM-DD)"]
    bad = write(tmp_path, '{"product": {"name": "x",}}', "broken.json")
    _, errors, _ = validate_file(bad)
    assert errors[0].startswith(f"{bad}:1: invalid JSON: Expecting property name")


def test_warnings_do_not_invalidate(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = replace("end_date: 2030-12-31", "end_date: 2020-01-31")
    write(tmp_path, text)
    decl, errors, warnings = validate_file("decl.yaml")
    assert decl is not None and not errors
    assert "decl.yaml:11: support.end_date: 2020-01-31 is in the past: the defined support period has ended" in warnings


def test_missing_file_and_directory(tmp_path):
    assert validate_file(tmp_path / "nope.yaml")[1] == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert validate_file(tmp_path)[1] == [f"{tmp_path}: is a directory, not a declaration file"]


def test_template_is_valid_and_matches_the_published_schema():
    decl, errors, _ = validate_file(TEMPLATE)
    assert errors == [] and decl is not None
    jsonschema.Draft202012Validator.check_schema(declaration_schema())
    assert SCHEMA_FILE.name == "declaration-1.schema.json"
    assert decl.network_services and {s.name for s in decl.network_services} >= {"ssh", "http"}
