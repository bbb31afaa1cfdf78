"""`iotcop baseline` and `iotcop gate`: accepted risks and the CI gate over a saved report."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from iotcop.errors import EXIT_FAIL


def register(cli: click.Group) -> None:
    @cli.command("baseline")
    @click.argument("report", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--reason", required=True, help="Why these findings are accepted (kept with every entry).")
    @click.option("--expires", required=True, type=click.DateTime(["%Y-%m-%d"]),
                  help="Date (YYYY-MM-DD) after which the entries no longer apply.")
    @click.option("--check", "checks", multiple=True, metavar="ID",
                  help="Only findings of this check or family (repeatable).")
    @click.option("--max-severity", type=click.Choice(["critical", "high", "medium", "low", "info"]),
                  help="Only findings at or below this severity.")
    def baseline(report: Path, reason: str, expires: dt.datetime, checks: tuple[str, ...], max_severity) -> None:
        """Print a baseline file (YAML) accepting the findings of REPORT, for `scan --baseline`.

        Review it before committing it: every entry is a risk someone accepts until the date given.
        """
        from iotcop.model import Severity
        from iotcop.report.findings import fingerprint
        from iotcop.report.load import read_report
        from iotcop.triage.baseline import render_baseline

        if len(reason.strip()) < 3:
            raise click.BadParameter("give a reason of a few words", param_hint="--reason")
        assessment, _ = read_report(report)
        ceiling = Severity(max_severity).rank if max_severity else 99
        entries = []
        for f in assessment.findings:
            if checks and not any(f.check == c or f.check.startswith(c + ".") for c in checks):
                continue
            if f.severity.rank > ceiling:
                continue
            entries.append({"fingerprint": fingerprint(f), "reason": f"{reason.strip()} ({f.title[:120]})",
                            "expires": expires.date()})
        sys.stdout.write(render_baseline(entries))

    @cli.command("gate")
    @click.argument("report", type=click.Path(path_type=Path, dir_okay=False))
    @click.option("--fail-on", "fail_on", metavar="CONDITIONS",
                  help="As for 'scan --fail-on': mandatory (default), fail, SEVERITY[:CONFIDENCE], kev, never.")
    @click.option("--baseline", "baseline_file", type=click.Path(path_type=Path, dir_okay=False),
                  help="Accepted risks (see 'iotcop baseline').")
    def gate_command(report: Path, fail_on, baseline_file) -> None:
        """Decide a CI gate on a saved REPORT (report.json) without scanning again.

        Exit 0: the gate passes; 1: a condition holds (each reason on stderr); 2: unusable input.
        """
        from iotcop.report.load import read_report
        from iotcop.triage.baseline import load_baseline
        from iotcop.triage.gate import FailOn, accept, gate

        conditions = FailOn.parse(fail_on)
        baseline = load_baseline(baseline_file) if baseline_file is not None else None
        assessment, _ = read_report(report)
        accepted = accept(assessment, baseline)
        for entry in accepted.expired:
            print(f"iotcop: baseline: {entry.source} ({entry.target()}) expired on {entry.expires}; "
                  "it no longer applies", file=sys.stderr)
        reasons = gate(assessment, conditions, accepted)
        for reason in reasons:
            print(f"iotcop: fail-on: {reason}", file=sys.stderr)
        line = f"gate {'fails' if reasons else 'passes'}: {len(reasons)} condition(s) hold"
        if baseline is not None:
            line += (f"; the baseline accepts {len(accepted.findings)} finding(s)"
                     + (f", {len(accepted.expired)} of its entries expired" if accepted.expired else ""))
        click.echo(line)
        sys.exit(EXIT_FAIL if reasons else 0)
