"""`iotcop standards coverage`: which ETSI TS 103 701 test cases iotcop can decide, and how."""

from __future__ import annotations

import json

import click


def register(cli: click.Group) -> None:
    standards = cli.commands.get("standards")
    if isinstance(standards, click.Group):
        standards.add_command(coverage)


@click.command("coverage")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def coverage(fmt: str) -> None:
    """Coverage of the 109 ETSI TS 103 701 test cases: automated, declaration-based, manual."""
    from rich.console import Console

    from iotcop.conformance import coverage_table, load_test_cases
    from iotcop.conformance.data import unused_checks
    from iotcop.conformance.terminal import print_coverage

    cases = load_test_cases()
    table = coverage_table(cases)
    unused = unused_checks(cases)
    if fmt == "json":
        click.echo(json.dumps({"standard": f"{cases.standard} {cases.version}", **table, "unused_checks": unused}, indent=2))
        return
    print_coverage(Console(highlight=False, soft_wrap=False), table, unused)
