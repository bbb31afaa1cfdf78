"""The baseline (ignore) file: findings a team accepts, each with a reason and an expiry date.

    # iotcop baseline: accepted risks
    accept:
      - fingerprint: 3f2a9c0d41b7e5a8       # from report.html, report.sarif or `iotcop baseline`
        reason: telnet is removed by the production build script
        expires: 2026-06-30
      - vulnerability: CVE-2023-4911         # one vulnerability, of one component or of any
        component: glibc
        reason: setuid programs are not shipped
        expires: 2026-03-31

An entry past its expiry date no longer applies (the finding counts again) and is reported as expired.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iotcop.errors import InputError
from iotcop.yamlload import FAST_LOADER

SCHEMA = "iotcop.baseline/1"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str | None = Field(None, pattern=r"^[0-9a-f]{16}$")
    vulnerability: str | None = Field(None, min_length=3, max_length=100)
    component: str | None = Field(None, min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=2000)
    expires: dt.date

    @model_validator(mode="after")
    def _one_target(self) -> _Entry:
        if (self.fingerprint is None) == (self.vulnerability is None):
            raise ValueError("give either a fingerprint or a vulnerability id")
        if self.component is not None and self.vulnerability is None:
            raise ValueError("component is only used with vulnerability")
        return self


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str = Field(SCHEMA, alias="schema", pattern=r"^iotcop\.baseline/1$")
    accept: list[_Entry] = Field(default_factory=list, max_length=100_000)


@dataclass(frozen=True)
class Acceptance:
    """One accepted risk."""

    reason: str
    expires: dt.date
    source: str  # "baseline.yaml entry 3"
    fingerprint: str | None = None
    vulnerability: str | None = None
    component: str | None = None

    def target(self) -> str:
        if self.fingerprint:
            return f"finding {self.fingerprint}"
        return self.vulnerability + (f" in {self.component}" if self.component else "")

    def active(self, today: dt.date) -> bool:
        return today <= self.expires

    def as_dict(self) -> dict:
        out = {"reason": self.reason, "expires": self.expires.isoformat(), "source": self.source}
        for key in ("fingerprint", "vulnerability", "component"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


@dataclass(frozen=True)
class Baseline:
    path: str
    sha256: str
    entries: tuple[Acceptance, ...]


def load_baseline(path: Path) -> Baseline:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=FAST_LOADER)  # JSON is YAML too
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: not a YAML or JSON baseline ({str(exc).splitlines()[0]})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a baseline is a mapping with an 'accept' list")
    try:
        parsed = _File.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if len(err["loc"]) >= 2 and err["loc"][0] == "accept" and isinstance(err["loc"][1], int):
            where = f"entry {err['loc'][1] + 1}" + (f" {'.'.join(map(str, err['loc'][2:]))}" if err["loc"][2:] else "")
        raise InputError(f"{path}: {where}: {err['msg']}") from None
    name = Path(path).name
    entries = tuple(Acceptance(reason=e.reason.strip(), expires=e.expires, source=f"{name} entry {i}",
                               fingerprint=e.fingerprint, vulnerability=e.vulnerability, component=e.component)
                    for i, e in enumerate(parsed.accept, 1))
    return Baseline(path=str(path), sha256=hashlib.sha256(raw).hexdigest(), entries=entries)


def render_baseline(entries: list[dict]) -> str:
    """A baseline file for these entries (fingerprint or vulnerability, reason, expires), with its header."""
    head = ("# iotcop baseline: accepted risks. Each entry needs a reason and an expiry date; an expired entry\n"
            "# no longer applies. Fingerprints are stable across scans of the same image and database updates.\n")
    body = yaml.safe_dump({"schema": SCHEMA, "accept": entries}, sort_keys=False, allow_unicode=True, width=110)
    return head + body
