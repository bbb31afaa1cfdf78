"""`iotcop statement make`: the UK PSTI statement of compliance (JSON and PDF).

The statement's content comes from iotcop.statement.build.build_statement;
this command renders it.  Exit codes: 0 written; 1 refused because the security
requirements are not met (the reasons go to stderr, one per line, and nothing
is written); 2 unusable input (report, declaration, options).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from iotcop.errors import EXIT_FAIL


def register(cli: click.Group) -> None:
    @cli.group()
    def statement() -> None:
        """PSTI statement of compliance."""

    @statement.command("make")
    @click.argument("report", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--declaration", "declaration_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
                  help="Manufacturer declaration (product, manufacturer, support period ...).")
    @click.option("--signatory", required=True, help="Name and function of the person signing, e.g. 'A. Smith, CTO'.")
    @click.option("--place", required=True, help="Place of issue.")
    @click.option("--date", "issue_date", type=click.DateTime(formats=["%Y-%m-%d"]),
                  help="Date of issue (default: today).")
    @click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
                  help="Folder for statement.json and statement.pdf.")
    def statement_make(report: Path, declaration_path: Path, signatory: str, place: str, issue_date, out_dir: Path):
        """Write statement.json and statement.pdf for REPORT, or refuse with the reasons (exit 1)."""
        try:
            from iotcop.statement.build import StatementRefused, build_statement
        except ImportError:
            from iotcop.errors import InputError

            raise InputError("this build cannot make statements yet (iotcop.statement.build is missing)") from None
        from iotcop.files import write_atomic
        from iotcop.report.load import read_declaration, read_report
        from iotcop.report.writers.pdf import html_to_pdf
        from iotcop.statement.render import render_statement_html

        assessment, _ = read_report(report)
        declaration = read_declaration(declaration_path)
        day = issue_date.date() if issue_date else dt.date.today()
        try:
            data = build_statement(assessment, declaration, signatory=signatory, place=place, date=day)
        except StatementRefused as exc:
            for reason in getattr(exc, "reasons", None) or [str(exc)]:
                print(f"iotcop: statement refused: {reason}", file=sys.stderr)
            sys.exit(EXIT_FAIL)
        pdf = html_to_pdf(render_statement_html(data))
        out_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(out_dir / "statement.pdf", pdf)
        write_atomic(out_dir / "statement.json", json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        click.echo(f"wrote {out_dir}/statement.json and statement.pdf")
