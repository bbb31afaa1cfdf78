"""`iotcop declaration init|validate|schema`: write, check and describe a manufacturer declaration."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from iotcop.errors import EXIT_INPUT, InputError

TEMPLATE = Path(__file__).resolve().parents[1] / "declaration" / "template.yaml"


def register(cli: click.Group) -> None:
    cli.add_command(declaration)


@click.group()
def declaration() -> None:
    """The manufacturer declaration: what the product promises (support period, disclosure, services ...)."""


@declaration.command("init")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default=Path("declaration.yaml"), required=False)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented declaration template to PATH (default: declaration.yaml; '-' for stdout)."""
    text = TEMPLATE.read_text()
    if str(path) == "-":
        sys.stdout.write(text)
        return
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (use --force to overwrite)")
    from iotcop.files import write_atomic

    try:
        write_atomic(path, text.encode())
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    click.echo(f"wrote {path}; fill it in, then run: iotcop declaration validate {path}")


@declaration.command("validate")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(file: Path, fmt: str) -> None:
    """Check a declaration; print every problem as FILE:LINE: FIELD: MESSAGE.  Exit 2 when invalid."""
    from iotcop.declaration.validate import validate_file

    decl, errors, warnings = validate_file(file)
    if fmt == "json":
        click.echo(json.dumps({"file": str(file), "valid": not errors, "errors": errors, "warnings": warnings}, indent=2))
    else:
        for line in errors:
            click.echo(line)
        for line in warnings:
            click.echo(f"{line} (warning)")
        if decl is not None:
            click.echo(f"{file}: valid ({len(decl.conformance)} conformance rows, "
                       f"{len(decl.condition_answers())} Annex B conditions answered)")
    if errors:
        n = len(errors)
        print(f"iotcop: error: {file}: not a valid declaration ({n} problem{'s' if n > 1 else ''})", file=sys.stderr)
        sys.exit(EXIT_INPUT)


@declaration.command("schema")
def schema() -> None:
    """Print the published JSON Schema of the declaration (iotcop.declaration/1)."""
    from iotcop.declaration.schema import SCHEMA_FILE

    sys.stdout.write(SCHEMA_FILE.read_text())
