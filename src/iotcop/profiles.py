"""Scan profiles: `label` (seconds), `standard` (the default) and `deep` (everything).

A profile selects checks and sets per-check options (data: checks/data/profiles.yaml).
A check left out of a profile is reported with status "skipped", so what it informs is
NOT_TESTED or INCONCLUSIVE, never PASS.  Checks read their options from the scan context
(iotcop.context.ScanContext.option), which carries the chosen profile.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Sequence

import yaml

from iotcop.errors import CatalogueError, InputError
from iotcop.yamlload import FAST_LOADER


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    skips: str
    exclude: tuple[str, ...] = ()
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)

    def option(self, check_id: str, key: str, default: Any) -> Any:
        return self.options.get(check_id, {}).get(key, default)


@functools.cache
def _data() -> tuple[str, dict[str, Profile]]:
    text = resources.files("iotcop.checks").joinpath("data/profiles.yaml").read_text("utf-8")
    raw = yaml.load(text, Loader=FAST_LOADER)
    profiles = {}
    for name, body in raw["profiles"].items():
        profiles[name] = Profile(
            name=name,
            summary=" ".join(str(body.get("summary", "")).split()),
            skips=" ".join(str(body.get("skips", "")).split()),
            exclude=tuple(body.get("exclude") or ()),
            options={k: dict(v) for k, v in (body.get("options") or {}).items()},
            timeouts={k: float(v) for k, v in (body.get("timeouts") or {}).items()},
        )
    return raw["default"], profiles


def profiles() -> dict[str, Profile]:
    return _data()[1]


def default_profile() -> str:
    return _data()[0]


def get_profile(name: str | None) -> Profile:
    name = name or default_profile()
    try:
        return profiles()[name]
    except KeyError:
        raise InputError(f"unknown profile: {name} (one of {', '.join(profiles())})") from None


def validate(check_ids: Sequence[str]) -> None:
    """Every check id the profile data names must exist (so a rename cannot silently widen a profile)."""
    known = set(check_ids)
    for p in profiles().values():
        named = set(p.exclude) | set(p.options) | set(p.timeouts)
        unknown = sorted(named - known)
        if unknown:
            raise CatalogueError(f"profile {p.name} names unknown checks: {', '.join(unknown)}")


def split_checks(checks: Sequence[type], name: str | None) -> tuple[list[type], list[type]]:
    """(checks that run, checks the profile leaves out), in the order given."""
    profile = get_profile(name)
    left_out = set(profile.exclude)
    return [c for c in checks if c.ID not in left_out], [c for c in checks if c.ID in left_out]
