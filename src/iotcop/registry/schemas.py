"""The JSON API's response and request bodies (these are what /openapi.json describes)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IDEMPOTENCY_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"


class LabelOut(BaseModel):
    id: int
    product_id: str
    label_product_id: str = Field(description="the product id written in the label (its QR code names it)")
    firmware_version: str | None
    firmware_sha256: str | None
    level: int
    level_meaning: str
    support_end: dt.date | None
    support_active: bool | None = Field(description="security updates still promised today; null when not stated")
    issued_at: str
    published_at: dt.datetime
    revoked: bool = Field(description="revoked by its manufacturer, or signed by a key the registry revoked")
    revoked_at: dt.datetime | None
    revoked_by: Literal["manufacturer", "signing key"] | None
    revoked_reason: str | None
    key_id: str
    page_url: str
    label_url: str
    report_url: str


class ProductOut(BaseModel):
    id: str
    name: str
    model: str | None
    type: str | None
    manufacturer: str
    page_url: str
    latest: LabelOut | None


class ResultOut(BaseModel):
    id: str
    text: str
    verdict: str
    state: str


class FindingOut(BaseModel):
    id: str
    check: str
    severity: str
    title: str
    path: str | None = None


class VerdictChange(BaseModel):
    id: str
    old: str
    new: str
    direction: str


class ResultChange(BaseModel):
    id: str
    old: str
    new: str


class Changes(BaseModel):
    fixed: list[FindingOut]
    new: list[FindingOut]
    verdicts: list[VerdictChange]
    results: list[ResultChange]


class VersionOut(BaseModel):
    label: LabelOut
    changes_from_previous: Changes | None


class ProductDetail(BaseModel):
    product: ProductOut
    results: list[ResultOut]
    vulnerability_reporting: dict[str, str | int]
    versions: list[VersionOut]


class VerifyOut(BaseModel):
    status: Literal["valid", "invalid", "revoked"]
    reason: str
    key_id: str | None
    signer: str | None
    revoked_at: dt.datetime | None = None
    label: dict | None = None
    published: LabelOut | None = None


class PublishOut(BaseModel):
    created: bool
    label: LabelOut


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    firmware_name: str
    firmware_sha256: str
    firmware_size: int
    declaration: bool
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None
    exit_code: int | None
    report_url: str | None


class Problem(BaseModel):
    detail: str | list[dict] = Field(description="what is wrong: one sentence, or the invalid fields")
