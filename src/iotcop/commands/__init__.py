"""Command groups beyond the core ones in cli.py: each module here defines `register(cli)`.

A feature adds its commands by adding a module, so features do not edit each other's code.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def register_all(cli: click.Group) -> None:
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{mod.name}")
        module.register(cli)
