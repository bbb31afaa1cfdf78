"""Terminal rendering of the TS 103 701 view and of the coverage table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from iotcop.model import ConformanceView

STYLE = {"PASS": "bold green", "FAIL": "bold red", "INCONCLUSIVE": "magenta", "N/A": "dim"}


def _v(value: str) -> str:
    return f"[{STYLE.get(value, '')}]{value}[/]"


def print_view(console: Console, view: ConformanceView) -> None:
    table = Table(title=f"{view.standard} test cases" + ("" if view.declaration else " (no declaration given)"),
                  title_justify="left", show_edge=False)
    for col in ("Test case", "Kind", "Coverage", "Verdict", "Units", "Note"):
        table.add_column(col, overflow="fold")
    for tc in view.test_cases:
        units = " ".join(f"{u.unit[-1]}:{u.verdict[0] if u.verdict != 'N/A' else '-'}" for u in tc.units)
        table.add_row(tc.id + (" (N)" if tc.network else ""), tc.kind, tc.coverage, _v(tc.verdict), units, tc.note)
    console.print(table)
    console.print("TS 103 701 test cases: " + ", ".join(f"{_v(k)} {n}" for k, n in view.counts.items())
                  + "   (units: P pass, F fail, I inconclusive, - n/a; (N) network-relevant)")


def print_coverage(console: Console, table: dict, unused: list[str]) -> None:
    t = Table(title="ETSI TS 103 701 test cases: what can decide them", title_justify="left", show_edge=False)
    t.add_column("Coverage")
    t.add_column("All test cases", justify="right")
    t.add_column("Network-relevant", justify="right")
    every, net = table["all"], table["network"]
    for key, label in (("automated", "automated (firmware checks, live probe, traffic capture, fetched pages)"),
                       ("declaration", "declaration-based (rules over the declaration)"),
                       ("manual", "manual (laboratory, physical or user-interface work)")):
        t.add_row(label, f"{every[key]} ({every[key] / every['total']:.0%})", f"{net[key]} ({net[key] / net['total']:.0%})")
    t.add_row("total", str(every["total"]), str(net["total"]))
    console.print(t)
    console.print("Network-relevant: test cases whose EN 303 645 provision has N (live device) among its evidence classes.")
    decided = every["automated"] + every["declaration"]
    console.print(f"Decided by automation or declaration rules: {decided} of {every['total']} "
                  f"({decided / every['total']:.0%}); of the network-relevant: {net['automated'] + net['declaration']} "
                  f"of {net['total']}.")
    for line in unused:
        console.print(f"[yellow]not read by any test case: {line}[/]")
