"""Terminal rendering: progress on stderr, summaries and catalogue views on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from iotcop.errors import InputError
from iotcop.model import Assessment, VerdictValue
from iotcop.report.findings import (
    SEVERITY_ORDER,
    detail_text,
    is_known_exploited,
    known_exploited_ids,
    printable,
    triage_key,
)

VERDICT_STYLE = {
    "PASS": "bold green",
    "FAIL": "bold red",
    "NOT_APPLICABLE": "dim",
    "NOT_TESTED": "yellow",
    "DECLARED": "cyan",
    "INCONCLUSIVE": "magenta",
}
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _v(value: str | VerdictValue) -> str:
    value = value.value if isinstance(value, VerdictValue) else value
    return f"[{VERDICT_STYLE.get(value, '')}]{value}[/]"


class ProgressUI:
    """Rich progress for the scan stages; does nothing when disabled (pipes, --quiet)."""

    def __init__(self, console: Console, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}", style="dim"), TimeElapsedColumn(),
            console=console, transient=True,
        )
        self.task = None

    def __enter__(self) -> ProgressUI:
        if self.enabled:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.progress.stop()

    def stage(self, name: str, total: int | None = None) -> None:
        if not self.enabled:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(name, total=total, detail="")

    def advance(self, detail: str = "") -> None:
        if self.enabled and self.task is not None:
            self.progress.update(self.task, advance=1, detail=detail)

    def extracting(self, files: int, size: int) -> None:
        if self.enabled and self.task is not None:
            self.progress.update(self.task, detail=f"{files} files, {size / 1e6:.1f} MB")


def _t(value) -> str:
    """Text from the image or the report, safe for the terminal: control characters escaped, no markup."""
    return escape(printable(value))


def finding_counts(a: Assessment) -> str:
    by_severity = {s: 0 for s in SEVERITY_ORDER}
    for f in a.findings:
        by_severity[f.severity.value] += 1
    parts = [f"[{SEVERITY_STYLE[s]}]{n} {s}[/]" for s, n in by_severity.items() if n]
    return f"{len(a.findings)} finding(s)" + (": " + ", ".join(parts) if parts else "")


def print_summary(console: Console, a: Assessment, out_dir: Path | None, accepted: dict[str, str] | None = None) -> None:
    """The scan in a screenful.  `accepted` maps finding ids a baseline accepts to the reason."""
    accepted = accepted or {}
    t, x = a.target, a.extraction
    console.print(f"[bold]iotcop {_t(a.tool.version)}[/] - {t.kind} {_t(t.path)}")
    if t.sha256:
        console.print(f"  sha256 {t.sha256}  ({t.size:,} bytes)")
    console.print(
        f"  extraction: [bold]{x.status}[/], {x.files:,} files, unidentified {x.unknown_ratio:.1%}"
        + (f", root filesystem(s): {_t(', '.join(x.roots))}" if x.roots else "")
    )
    for err in x.errors[:5]:
        console.print(f"    [yellow]- {_t(err)}[/]")
    kev = known_exploited_ids(a.findings)
    line = f"  {finding_counts(a)}"
    if kev:
        line += f"; [bold red]{len(kev)} actively exploited vulnerabilit{'y' if len(kev) == 1 else 'ies'} (CISA KEV)[/]"
    else:
        line += "; 0 actively exploited vulnerabilities (CISA KEV)"
    if accepted:
        line += f"; {len(accepted)} accepted by the baseline"
    console.print(line)
    for note in a.notes:
        console.print(f"  [yellow]note: {_t(note)}[/]")

    psti = Table(title="UK PSTI security requirements", title_justify="left", show_edge=False)
    psti.add_column("Requirement")
    psti.add_column("Provisions")
    psti.add_column("Verdict")
    for g in a.psti:
        psti.add_row(_t(g.title), _t(", ".join(g.provisions)), _v(g.verdict))
    console.print(psti)

    cop = Table(title="UK Code of Practice guidelines", title_justify="left", show_edge=False)
    cop.add_column("#", justify="right")
    cop.add_column("Guideline")
    cop.add_column("Verdict")
    cop.add_column("Note", style="dim")
    for g in a.guidelines:
        cop.add_row(_t(g.id), _t(g.title), _v(g.verdict), _t(g.note))
    console.print(cop)

    counts: dict[str, int] = {}
    for v in a.provisions:
        counts[v.verdict.value] = counts.get(v.verdict.value, 0) + 1
    console.print("EN 303 645 provisions: " + ", ".join(f"{_v(k)} {n}" for k, n in sorted(counts.items())))
    failing = [v for v in a.provisions if v.verdict == VerdictValue.FAIL]
    if failing:
        console.print("Failing: " + ", ".join(f"{_t(v.id)} ({_t(v.status)})" for v in failing))

    if a.findings:
        console.print(f"[bold]Top findings[/] ({len(a.findings)} in all; every one is in the report)")
        # Actively exploited first; then confirmed and likely before possible (those still need a review).
        ordered = sorted(a.findings, key=lambda f: (f.id in accepted,) + triage_key(f))
        for f in ordered[:10]:
            where = f.evidence.path or ""
            if f.evidence.line:
                where += f":{f.evidence.line}"
            sev = f"[{SEVERITY_STYLE[f.severity.value]}]{f.severity.value:<8}[/]"
            marks = ""
            if is_known_exploited(f) and "actively exploited" not in f.title:  # the KEV finding's title says it
                marks += " [bold red](actively exploited)[/]"
            if f.confidence == "possible":
                marks += " [magenta](possible, to review)[/]"
            if f.id in accepted:
                marks += f" [green](accepted: {_t(accepted[f.id])})[/]"
            console.print(f"  {sev} {_t(f.title)}{marks}  [dim]{_t(', '.join(f.provisions))}[/]", overflow="fold")
            if where:
                console.print(f"           [cyan]{_t(where)}[/]", overflow="fold")
            detail = detail_text(f)
            if detail:
                if len(detail) > 300:  # a component's vulnerability list can be long: the report has it whole
                    detail = detail[:297] + "..."
                console.print(f"           [dim]{_t(detail)}[/]", overflow="fold")
    else:
        console.print("No findings.")
    # Checks that did not run, one line per reason: a failed extraction skips every check for one reason.
    problems: dict[tuple[str, str], list[str]] = {}
    for c in a.checks:
        if c.status != "ran":
            problems.setdefault((c.status, c.error or ""), []).append(c.id)
    for (status, error), ids in problems.items():
        reason = f": {_t(error)}" if error else ""
        if len(ids) <= 3:
            console.print(f"[yellow]check {_t(', '.join(ids))}: {status}{reason}[/]")
        else:
            console.print(f"[yellow]{len(ids)} checks {status}{reason} ({_t(', '.join(ids[:3]))} "
                          f"and {len(ids) - 3} more)[/]")
    if out_dir is not None:
        console.print(f"Report: {_t(out_dir / 'report.json')}")


def print_timings(console: Console, a: Assessment) -> None:
    table = Table(title="Timings (seconds)", title_justify="left", show_edge=False)
    table.add_column("Stage")
    table.add_column("Seconds", justify="right")
    for name, seconds in a.timings.items():
        table.add_row(name, f"{seconds:.3f}")
    console.print(table)


def _catalogue():
    from iotcop.standards.catalogue import load_catalogue

    return load_catalogue()


def _groups(framework: str):
    c = _catalogue()
    return {"uk-cop": c.guidelines, "psti": c.psti, "cra": c.cra, "owasp": c.owasp}[framework]


def print_standards_list(console: Console, framework: str, fmt: str) -> None:
    c = _catalogue()
    if framework == "en303645":
        rows = [{"id": p.id, "status": p.status + ",".join(map(str, p.conditions)), "evidence": "".join(p.evidence),
                 "guideline": p.guideline, "summary": p.summary} for p in c.provisions.values()]
        if fmt == "json":
            console.print_json(json.dumps(rows))
            return
        table = Table(title=f"{c.standard} {c.standard_version} - {len(rows)} provisions", title_justify="left")
        for col in ("ID", "Status", "Evidence", "CoP", "Summary"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["id"], r["status"], r["evidence"], str(r["guideline"] or "-"), r["summary"])
        console.print(table)
        return
    groups = _groups(framework)
    if fmt == "json":
        console.print_json(json.dumps([{"id": g.id, "title": g.title, "provisions": list(g.provisions)} for g in groups]))
        return
    table = Table(title=framework, title_justify="left")
    for col in ("ID", "Title", "Provisions"):
        table.add_column(col)
    for g in groups:
        table.add_row(g.id, g.title, ", ".join(g.provisions))
    console.print(table)


def print_standards_item(console: Console, item_id: str, fmt: str) -> None:
    c = _catalogue()
    if item_id in c.provisions:
        p = c.provisions[item_id]
        from iotcop.conformance.data import checked_mapping

        checks = sorted(cid for cid, ps in checked_mapping().items() if p.id in ps)
        data = {"id": p.id, "clause": p.clause, "status": p.status, "mandatory": p.mandatory,
                "conditions": {n: c.conditions[n].summary for n in p.conditions}, "summary": p.summary,
                "evidence": list(p.evidence), "guideline": p.guideline, "checks": checks,
                "in": [f"{fw}:{g.id}" for fw, gs in (("psti", c.psti), ("cra", c.cra), ("owasp", c.owasp))
                       for g in gs if p.id in g.provisions]}
        if fmt == "json":
            console.print_json(json.dumps(data))
            return
        console.print(f"[bold]{p.id}[/] ({c.standard} {c.standard_version}, clause {p.clause})")
        console.print(f"  status: {p.status}" + (" (mandatory)" if p.mandatory else " (recommendation)"))
        for n, text in data["conditions"].items():
            console.print(f"  applies if condition {n}: {text}")
        console.print(f"  {p.summary}")
        console.print(f"  evidence classes: {', '.join(p.evidence)}   UK CoP guideline: {p.guideline or '-'}")
        console.print(f"  checks: {', '.join(checks) if checks else 'none yet'}")
        if data["in"]:
            console.print(f"  also in: {', '.join(data['in'])}")
        return
    for framework in ("uk-cop", "psti", "cra", "owasp"):
        for g in _groups(framework):
            if item_id in (g.id, f"{framework}:{g.id}", f"cop-{g.id}"):
                if fmt == "json":
                    console.print_json(json.dumps({"framework": framework, "id": g.id, "title": g.title,
                                                   "summary": g.summary, "provisions": list(g.provisions)}))
                    return
                console.print(f"[bold]{framework} {g.id}[/]: {g.title}")
                console.print(f"  {g.summary}")
                console.print(f"  provisions: {', '.join(g.provisions) or '(none in EN 303 645)'}")
                return
    raise InputError(f"unknown provision or item {item_id!r} (try 'iotcop standards list')")


def print_checks(console: Console, fmt: str) -> None:
    from iotcop.checks.discovery import all_checks

    checks = all_checks()
    if fmt == "json":
        console.print_json(json.dumps([{"id": c.ID, "version": c.VERSION, "provisions": list(c.PROVISIONS),
                                        "severity": c.SEVERITY.value, "title": c.DOC.title} for c in checks]))
        return
    table = Table(title=f"{len(checks)} checks", title_justify="left")
    for col in ("ID", "Provisions", "Severity", "Title"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.ID, ", ".join(c.PROVISIONS), c.SEVERITY.value, c.DOC.title)
    console.print(table)
