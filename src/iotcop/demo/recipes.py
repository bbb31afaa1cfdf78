"""Access to the recipe data (recipes.yaml): packages, files and planted issues per variant."""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from typing import Any

import yaml

VARIANTS = ("vulnerable", "clean")
SIZES = ("small", "10mb", "30mb", "100mb")


@functools.cache
def recipe_text() -> str:
    return resources.files("iotcop.demo").joinpath("recipes.yaml").read_text(encoding="utf-8")


@functools.cache
def load_recipes() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is ~10x faster
    data = yaml.load(recipe_text(), Loader=loader)  # noqa: S506 - a safe loader
    if not isinstance(data, dict) or data.get("format") != 1:
        raise ValueError("iotcop/demo/recipes.yaml: unknown format")
    return data


def recipe_digest() -> str:
    """sha256 of the recipe data; part of every image's cache key."""
    return hashlib.sha256(recipe_text().encode()).hexdigest()


def arch_info(arch: str) -> dict[str, Any]:
    arches = load_recipes()["arches"]
    if arch not in arches:
        raise KeyError(f"unknown arch {arch!r}; known: {', '.join(sorted(arches))}")
    return arches[arch]


def package_names(size: str, variant_name: str | None = None) -> list[str]:
    """Debian package names for a size profile: base list first, then the profile's extras, then the
    variant's own (servers only that variant starts)."""
    pk = load_recipes()["packages"]
    if size not in pk["sizes"]:
        raise KeyError(f"unknown size {size!r}; known: {', '.join(pk['sizes'])}")
    extra = variant(variant_name).get("packages") or [] if variant_name is not None else []
    out: list[str] = []
    for name in [*pk["base"], *pk["sizes"][size], *extra]:
        if name not in out:
            out.append(name)
    return out


def variant(name: str) -> dict[str, Any]:
    variants = load_recipes()["variants"]
    if name not in variants:
        raise KeyError(f"unknown variant {name!r}; known: {', '.join(variants)}")
    return variants[name]


def planted_issues(variant_name: str) -> list[dict[str, Any]]:
    """The issues planted on purpose in a variant (empty for 'clean')."""
    return [dict(p) for p in variant(variant_name).get("planted") or []]
