"""The IXIT part of the declaration (`ixit:`): what a test lab asks the manufacturer for under ETSI TS 103 701.

TS 103 701 groups that information into 29 IXIT tables (1-AuthMech ... 29-InpVal).  iotcop keeps
the tables whose fields its conformance rules read, as optional sections under `ixit:`; 22-ExtSens is
the declaration's `sensors:` list.  TABLES below is the one description of those sections: the
pydantic models and the `$defs/ixit` part of declaration-1.schema.json are both derived from it
(a test keeps the published schema equal to `json_schema()`).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

TEXT = "text"
BOOL = "bool"
INT = "int"
TEXTS = "texts"


def _enum(*values: str) -> tuple[str, ...]:
    return values


# section -> (TS table, "list" of items or one "object", {field: type}, required fields)
TABLES: dict[str, tuple[str, str, dict[str, Any], tuple[str, ...]]] = {
    "auth_mechanisms": ("1-AuthMech", "list", {
        "name": TEXT, "description": TEXT,
        "interface": _enum("network", "local", "physical", "radio"),
        "service": TEXT,  # the network service it protects, as named in network_services
        "factor": _enum("password", "pin", "key", "certificate", "token", "biometric", "other"),
        "origin": _enum("user_defined", "unique_per_device", "shared", "none"),  # with factor: the TS "Authentication Factor"
        "password_generation": TEXT, "security_guarantees": TEXT, "cryptographic_details": TEXTS,
        "brute_force_protection": TEXT, "change_mechanism": TEXT}, ("name",)),
    "user_info": ("2-UserInfo", "object", {
        "change_mechanisms": TEXT, "model_designation": TEXT, "non_updatable": TEXT, "replacement": TEXT,
        "sensors": TEXT, "personal_data": TEXT, "telemetry": TEXT, "secure_setup": TEXT, "setup_check": TEXT}, ()),
    "vulnerability_types": ("3-VulnTypes", "list", {"description": TEXT, "action_days": INT}, ("description",)),
    "confirmations": ("4-Conf", "object", {
        "vulnerability_actions": BOOL, "vulnerability_monitoring": BOOL, "update_procedures": BOOL,
        "secure_management": BOOL, "secure_development": BOOL}, ()),
    "vulnerability_monitoring": ("5-VulnMon", "list", {"description": TEXT}, ("description",)),
    "software_components": ("6-SoftComp", "list", {
        "name": TEXT, "version": TEXT, "updateable": BOOL, "update_mechanism": TEXT, "cryptographic": BOOL}, ("name",)),
    "update_mechanisms": ("7-UpdMech", "list", {
        "name": TEXT, "description": TEXT, "over_network": BOOL, "security_guarantees": TEXT, "cryptographic_details": TEXTS,
        "trust_anchor": TEXT,
        "initiation": _enum("automatic", "notify_and_confirm", "one_step", "manual"),
        "configuration": TEXT, "configurable": ("enable", "disable", "postpone"),
        "update_checking": TEXT, "check_after_boot": BOOL, "check_interval_hours": INT,
        "user_notification": TEXT, "disruption_notice": TEXT}, ("name",)),
    "update_procedures": ("8-UpdProc", "list", {"description": TEXT, "deployment_days": INT}, ("description",)),
    "replacement_support": ("9-ReplSup", "object", {"isolation": TEXT, "hardware_replacement": TEXT}, ()),
    "security_parameters": ("10-SecParam", "list", {
        "name": TEXT, "description": TEXT,
        "type": _enum("critical", "sensitive", "public"),
        "purpose": _enum("authentication", "update", "communication", "identity", "storage", "other"),
        "security_guarantees": TEXT, "protection_scheme": TEXT, "provisioning_mechanism": TEXT,
        "generation_mechanism": TEXT, "unique_per_device": BOOL, "hard_coded": BOOL, "tamper_resistance": TEXT}, ("name",)),
    "communication_mechanisms": ("11-ComMech", "list", {
        "name": TEXT, "description": TEXT, "protocol": TEXT, "security_guarantees": TEXT, "cryptographic_details": TEXTS,
        "remote": BOOL, "carries_security_parameters": BOOL, "carries_personal_data": BOOL, "reconnection": TEXT}, ("name",)),
    "network_security_implementations": ("12-NetSecImpl", "list", {
        "name": TEXT, "version": TEXT, "review_method": TEXT, "report": TEXT}, ("name",)),
    "software_services": ("13-SoftServ", "list", {
        "name": TEXT, "description": TEXT, "purpose": TEXT, "authentication_required": BOOL, "relied_upon": BOOL,
        "changes_configuration": BOOL}, ("name",)),
    "secure_management": ("14-SecMgmt", "list", {"description": TEXT}, ("description",)),
    "interfaces": ("15-Intf", "list", {
        "name": TEXT, "kind": _enum("network", "logical", "physical", "radio"), "status": _enum("enabled", "disabled"),
        "purpose": TEXT, "debug": BOOL, "disabled_by": TEXT, "disclosed_information": TEXT}, ("name",)),
    "code_minimisation": ("16-CodeMin", "list", {"description": TEXT}, ("description",)),
    "privilege_control": ("17-PrivlCtrl", "list", {"description": TEXT}, ("description",)),
    "access_control": ("18-AccCtrl", "list", {"description": TEXT}, ("description",)),
    "secure_development": ("19-SecDev", "list", {"description": TEXT}, ("description",)),
    "secure_boot": ("20-SecBoot", "list", {
        "description": TEXT, "scope": TEXT, "alerting": TEXT, "restriction": TEXT}, ("description",)),
    "personal_data": ("21-PersData", "list", {
        "name": TEXT, "processing_activities": TEXT, "sensitive": BOOL, "communication": TEXT,
        "obtaining_consent": TEXT, "withdrawing_consent": TEXT}, ("name",)),
    "resilience": ("23-ResMech", "list", {
        "description": TEXT, "network_outage": BOOL, "power_outage": BOOL, "local_function": TEXT, "recovery": TEXT},
        ("description",)),
    "telemetry": ("24-TelData", "list", {
        "purpose": TEXT, "personal_data": BOOL, "anomaly_examination": TEXT}, ("purpose",)),
    "deletion_functions": ("25-DelFunc", "list", {
        "target_type": _enum("device", "service"), "description": TEXT, "confirmation": TEXT}, ("target_type",)),
    "user_decisions": ("26-UserDec", "list", {"description": TEXT, "options": TEXT}, ("description",)),
    "user_interfaces": ("27-UserIntf", "list", {
        "name": TEXT, "kind": _enum("web", "app", "cli", "physical", "voice", "other"), "description": TEXT}, ("name",)),
    "external_apis": ("28-ExtAPI", "list", {
        "name": TEXT, "protocol": TEXT, "port": INT, "description": TEXT}, ("name",)),
    "input_validation": ("29-InpVal", "list", {"interface": TEXT, "method": TEXT}, ("interface",)),
}

IXIT_TABLES = (
    "AuthMech", "UserInfo", "VulnTypes", "Conf", "VulnMon", "SoftComp", "UpdMech", "UpdProc", "ReplSup", "SecParam",
    "ComMech", "NetSecImpl", "SoftServ", "SecMgmt", "Intf", "CodeMin", "PrivlCtrl", "AccCtrl", "SecDev", "SecBoot",
    "PersData", "ExtSens", "ResMech", "TelData", "DelFunc", "UserDec", "UserIntf", "ExtAPI", "InpVal",
)


def _field_schema(kind: Any) -> dict:
    if kind == TEXT:
        return {"$ref": "#/$defs/text"}
    if kind == BOOL:
        return {"type": "boolean"}
    if kind == INT:
        return {"type": "integer", "minimum": 0}
    if kind == TEXTS:
        return {"type": "array", "items": {"$ref": "#/$defs/text"}}
    if isinstance(kind, tuple) and kind == ("enable", "disable", "postpone"):
        return {"type": "array", "items": {"enum": list(kind)}, "uniqueItems": True}
    return {"enum": list(kind)}


def json_schema() -> dict:
    """The `ixit` definition of declaration-1.schema.json."""
    props = {}
    for section, (table, shape, fields, required) in TABLES.items():
        item: dict[str, Any] = {"type": "object", "additionalProperties": False,
                                "properties": {k: _field_schema(v) for k, v in fields.items()}}
        if required:
            item["required"] = list(required)
        entry = {"type": "array", "items": item} if shape == "list" else item
        props[section] = {"description": f"IXIT {table}", **entry}
    return {"type": "object", "additionalProperties": False,
            "description": "ETSI TS 103 701 IXIT information (optional); each section is one IXIT table.",
            "properties": props}


def _py_type(kind: Any) -> Any:
    if kind == TEXT:
        return str
    if kind == BOOL:
        return bool
    if kind == INT:
        return int
    if kind == TEXTS:
        return list[str]
    if isinstance(kind, tuple) and kind == ("enable", "disable", "postpone"):
        return list[Literal["enable", "disable", "postpone"]]
    return Literal[kind]  # type: ignore[valid-type]


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@functools.cache
def _models() -> dict[str, tuple[str, type[BaseModel]]]:
    out = {}
    for section, (table, shape, fields, required) in TABLES.items():
        spec = {k: ((_py_type(v), ...) if k in required else (_py_type(v) | None, None)) for k, v in fields.items()}
        name = "".join(p.title() for p in section.split("_"))
        out[section] = (shape, create_model(name, __base__=_Item, **spec))
    return out


def _ixit_model() -> type[BaseModel]:
    spec = {}
    for section, (shape, model) in _models().items():
        spec[section] = ((list[model] if shape == "list" else model) | None, None)  # type: ignore[valid-type]
    return create_model("Ixit", __base__=_Item, **spec)


Ixit = _ixit_model()
