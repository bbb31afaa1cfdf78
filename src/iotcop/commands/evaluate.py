"""`iotcop evaluate EXPECTED TARGET`: how much of a reviewer's expected results a scan reports."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def register(cli: click.Group) -> None:
    cli.add_command(evaluate)


@click.command("evaluate")
@click.argument("expected", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("target", type=click.Path(path_type=Path), required=False)
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Judge this saved JSON report (from 'iotcop scan --format json') instead of scanning TARGET.")
@click.option("--json", "json_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the evaluation as JSON to this file ('-' for stdout instead of the table).")
@click.option("--ratchet", is_flag=True,
              help="Exit 1 when a fact recorded as found is missed or an unrecorded negative is hit.")
def evaluate(expected: Path, target: Path | None, report_file: Path | None, json_file: Path | None, ratchet: bool) -> None:
    """Scan TARGET (or read --report) and match it against EXPECTED, an expected-results YAML file.

    Prints facts found / partially found / missed, negatives hit and the confirmed or likely findings that
    match nothing.  The file format and the matching rules are in src/iotcop/evaluation/expected.schema.yaml.
    """
    from iotcop.errors import InputError
    from iotcop.evaluation import evaluate as judge
    from iotcop.evaluation import load_expected, load_report
    from iotcop.evaluation.render import as_json, print_results, stdout_console
    from iotcop.files import write_atomic

    if (target is None) == (report_file is None):
        raise click.UsageError("give either TARGET (to scan) or --report FILE (a saved JSON report)")
    exp = load_expected(expected)  # an invalid file stops here, before any scanning
    seconds = exit_code = None
    if report_file is not None:
        report = load_report(report_file)
    else:
        import json
        import time

        from iotcop.report.writers.json import render
        from iotcop.scan import exit_code_for, scan

        start = time.perf_counter()
        result = scan(target)
        seconds = round(time.perf_counter() - start, 2)
        if result.assessment.extraction.status == "failed":
            raise InputError(f"{target}: extraction failed; nothing to evaluate")
        report = json.loads(render(result.assessment))
        exit_code = exit_code_for(result.assessment)
    outcome = judge(exp, report, seconds=seconds, exit_code=exit_code)
    if json_file is not None and str(json_file) == "-":
        click.echo(as_json([outcome]), nl=False)
    else:
        if json_file is not None:
            write_atomic(json_file, as_json([outcome]))
        print_results(stdout_console(), [outcome])
    regressions, _ = outcome.ratchet_problems()
    if ratchet and regressions:
        for line in regressions:
            print(f"iotcop: ratchet: {line}", file=sys.stderr)
        sys.exit(1)
