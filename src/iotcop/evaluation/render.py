"""The evaluation for people (a table and lists) and for machines (JSON)."""

from __future__ import annotations

import json
from collections import defaultdict

from rich.console import Console
from rich.table import Table

from iotcop.evaluation.match import ImageResult, totals


def stdout_console() -> Console:
    """Rich console for stdout; redirected output gets a fixed width wide enough for the table (not 80 columns)."""
    console = Console(highlight=False, soft_wrap=True)
    return console if console.is_terminal else Console(highlight=False, soft_wrap=True, width=160)


def as_json(results: list[ImageResult]) -> str:
    return json.dumps({"schema": "iotcop.evaluation/1", "images": [r.to_dict() for r in results], "total": totals(results)},
                      indent=2, ensure_ascii=False) + "\n"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def summary_table(results: list[ImageResult]) -> Table:
    table = Table(title="Detection measured against expected results", show_lines=False)
    for name, justify in (("image", "left"), ("facts", "right"), ("found", "right"), ("partial", "right"), ("missed", "right"),
                          ("disputed", "right"), ("recall", "right"), ("negatives hit", "right"), ("unmatched", "right"),
                          ("vuln. matches", "right"), ("scan s", "right")):
        table.add_column(name, justify=justify)
    for r in results:
        table.add_row(r.image, str(r.countable), str(r.count("found")), str(r.count("partial")), str(r.count("missed")),
                      str(r.count("disputed")), _pct(r.recall), f"{len(r.negatives_hit)}/{len(r.negatives)}",
                      str(r.unmatched_count), str(sum(g["count"] for g in r.vulnerabilities)),
                      f"{r.seconds:.1f}" if r.seconds is not None else "-")
    t = totals(results)
    if len(results) > 1:
        table.add_row("TOTAL", str(t["countable"]), str(t["found"]), str(t["partial"]), str(t["missed"]), str(t["disputed"]),
                      _pct(t["recall"]), f"{t['negatives_hit']}/{t['negatives']}", str(t["unmatched_count"]),
                      str(t["vulnerability_findings"]), f"{t['seconds']:.1f}", style="bold")
    return table


def print_results(console: Console, results: list[ImageResult], details: bool = True) -> None:
    console.print(summary_table(results))
    if not details:
        return
    for r in results:
        console.print()
        console.print(f"[bold]{r.image}[/bold]: {r.count('found')} found, {r.count('partial')} partial, "
                      f"{r.count('missed')} missed of {r.countable} ({_pct(r.recall)})")
        by_capability: dict[str, list[str]] = defaultdict(list)
        for f in r.facts:
            if f.state in ("missed", "partial"):
                by_capability[f.capability or "(no capability given)"].append(f"{f.id} {f.state}: {f.title}")
        for capability in sorted(by_capability):
            console.print(f"  [cyan]{capability}[/cyan]")
            for line in by_capability[capability]:
                console.print(f"    {line}", markup=False)
        for n in r.negatives:
            if n.hits:
                where = "; ".join(_where(h) for h in n.hits[:4]) + (f"; {len(n.hits) - 4} more" if len(n.hits) > 4 else "")
                console.print(f"  [red]negative {n.id} hit[/red] ({n.title}): ", end="")
                console.print(where, markup=False)
        if r.unmatched:
            console.print(f"  unmatched confirmed/likely findings ({r.unmatched_count}), to judge and add as facts or negatives:")
            for g in r.unmatched:
                lines = f":{','.join(map(str, g['lines']))}" if g["lines"] else ""
                count = f" x{g['count']}" if g["count"] > 1 else ""
                console.print(f"    {g['check']} {g['path']}{lines}{count}: {' | '.join(g['titles'])}", markup=False)


def _where(ref: dict) -> str:
    if "component" in ref:
        return f"component {ref['component']} {ref.get('version') or ''} at {', '.join(ref.get('paths') or [])}"
    line = f":{ref['line']}" if ref.get("line") else ""
    return f"{ref['check']} ({ref['confidence']}) at {ref['path']}{line}"
