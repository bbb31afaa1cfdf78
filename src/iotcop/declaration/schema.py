"""The manufacturer declaration as typed data.

The published JSON Schema (schema/declaration-1.schema.json) is what files are validated
against; these models are what the rest of iotcop reads once a file is valid.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iotcop.declaration.ixit import Ixit

SCHEMA_ID = "iotcop.declaration/1"
SCHEMA_FILE = Path(__file__).parent / "schema" / "declaration-1.schema.json"


@functools.cache
def declaration_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Product(_Part):
    name: str
    type: str
    batch: str | None = None


class Party(_Part):
    name: str
    address: str
    email: str | None = None
    url: str | None = None


class Support(_Part):
    end_date: dt.date
    published_url: str


class VulnerabilityDisclosure(_Part):
    policy_url: str
    contact: str
    acknowledgement_days: int
    status_update_days: int
    security_txt_url: str | None = None


class UpdateMechanism(_Part):
    present: bool
    automatic: bool | None = None
    over_network: bool | None = None
    description: str = ""
    url: str | None = None


class NetworkService(_Part):
    name: str
    protocol: str
    port: int | None = None
    purpose: str = ""

    def label(self) -> str:
        return f"{self.name} ({self.protocol}/{self.port})" if self.port is not None else f"{self.name} ({self.protocol})"


class PasswordApproach(_Part):
    approach: Literal["user_defined", "unique_per_device", "none"]
    generation: str = ""


class Sensor(_Part):
    type: str
    description: str = ""


class PersonalData(_Part):
    processed: bool
    categories: list[str] = Field(default_factory=list)
    sensitive: bool | None = None
    consent_based: bool | None = None
    privacy_notice_url: str | None = None


class Telemetry(_Part):
    collected: bool
    description: str = ""
    url: str | None = None


class Deletion(_Part):
    url: str | None = None
    text: str | None = None


class ConformanceRow(_Part):
    """One Annex B implementation conformance statement row."""

    support: Literal["Y", "N", "N-A"]
    detail: str = ""
    line: int = 0  # where the row is in the file


class Declaration(BaseModel):
    """A validated manufacturer declaration.  `raw` is the file's data as read; `source` the file name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_: str = Field(SCHEMA_ID, alias="schema")
    product: Product
    manufacturer: Party
    authorised_representative: Party | None = None
    model_designation: str
    firmware_version: str
    support: Support | None = None
    vulnerability_disclosure: VulnerabilityDisclosure | None = None
    update: UpdateMechanism | None = None
    network_interfaces: list[str] | None = None
    network_services: list[NetworkService] | None = None  # None: not declared; []: none at all
    password: PasswordApproach | None = None
    sensors: list[Sensor] | None = None  # None: not declared; []: no sensors
    personal_data: PersonalData | None = None
    telemetry: Telemetry | None = None
    deletion: Deletion | None = None
    conformance: dict[str, ConformanceRow] = Field(default_factory=dict)
    conditions: dict[int, bool] = Field(default_factory=dict)  # explicit Annex B answers
    ixit: Ixit | None = None  # TS 103 701 IXIT tables (iotcop.declaration.ixit)

    source: str = "declaration"  # file name as given
    sha256: str = ""
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
    lines: dict[str, int] = Field(default_factory=dict, repr=False)  # dotted field -> line

    def where(self, field_name: str = "") -> str:
        """'decl.yaml:12' for a dotted field (or the closest enclosing one that is present)."""
        probe = field_name
        while probe and probe not in self.lines:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        return f"{self.source}:{self.lines.get(probe, 1)}"

    def line(self, field_name: str) -> int | None:
        return self.lines.get(field_name)

    def condition_answers(self) -> dict[int, tuple[bool, str]]:
        """Annex B condition -> (holds, the field it comes from): explicit answers, then what other fields imply."""
        answers: dict[int, tuple[bool, str]] = {n: (v, f"conditions.{n}") for n, v in self.conditions.items()}

        def imply(number: int, holds: bool | None, field_name: str) -> None:
            if holds is not None and number not in answers:
                answers[number] = (holds, field_name)

        if self.password is not None:
            approach = self.password.approach
            imply(1, approach != "none", "password.approach")
            imply(2, approach == "unique_per_device", "password.approach")
        if self.update is not None:
            imply(12, self.update.present, "update.present")
            if self.update.present:
                imply(11, self.update.over_network, "update.over_network")
                imply(9, True if self.update.automatic else None, "update.automatic")
        if self.telemetry is not None:
            imply(6, self.telemetry.collected, "telemetry.collected")
        if self.personal_data is not None:
            consent = self.personal_data.consent_based if self.personal_data.processed else False
            imply(7, consent, "personal_data.consent_based")
        return answers

    def summary(self) -> dict[str, Any]:
        """What a report carries about the declaration."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"raw", "lines", "conformance", "conditions", "ixit"})
        data["file"] = data.pop("source")
        data["conformance_rows"] = len(self.conformance)
        return data
