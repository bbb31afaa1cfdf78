"""The boot model as a terminal table ("what starts at boot")."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from iotcop.boot.model import BootModel, StartedProgram

_STYLE = {"confirmed": "bold", "conditional": "yellow", "possible": "cyan", "name-only": "dim"}


def _chain(program: StartedProgram | object, full: bool) -> str:
    steps = [str(s) for s in program.chain]
    if not full and len(steps) > 3:
        steps = ["…"] + steps[-3:]
    return " > ".join(steps)


def _conditions(program, limit: int = 160) -> str:
    text = "; ".join(c.describe() for c in program.conditions)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_text(model: BootModel, show_all: bool = False, full_chain: bool = False, console: Console | None = None) -> None:
    console = console or Console()
    console.print(f"[bold]init[/]: {escape(model.init)} ({escape(model.init_path or 'not found')}); "
                  f"inittab: {escape(model.inittab or 'none')}")
    programs = [p for p in model.programs if show_all or p.confidence != "name-only"]
    table = Table(title=f"What starts at boot ({len(programs)} of {len(model.programs)} starts)", show_lines=False,
                  expand=True)
    for column in ("confidence", "how", "program", "arguments", "user", "started from", "condition"):
        table.add_column(column, overflow="fold")
    for p in programs:
        flag = " [red](writable storage)[/]" if p.from_writable else ""
        where = p.tty and f" on {p.tty}" or ""
        table.add_row(f"[{_STYLE.get(p.confidence, '')}]{p.confidence}[/]", escape(f"{p.how}{where}"),
                      f"{escape(p.name)}\n[dim]{escape(p.path)}[/]{flag}", escape(" ".join(p.argv)[:120]), escape(p.user),
                      escape(_chain(p, full_chain)), escape(_conditions(p)))
    console.print(table)
    writable = model.writable_starts()
    if writable:
        console.print("[bold red]Started from writable or removable storage[/]:")
        for item in writable:
            what = getattr(item, "path", None) or item.command
            console.print(escape(f"  {what} ({item.storage}) via {_chain(item, full_chain)}"))
    if model.missing:
        console.print(f"[bold]Commands whose program is not in the image[/] ({len(model.missing)}):")
        for item in model.missing[:40]:
            console.print(escape(f"  {item.command} {' '.join(item.argv)[:60]} — {item.reason} "
                                 f"({item.chain[-1] if item.chain else '?'})"))
    if model.writes:
        console.print(f"[bold]Files the boot chain writes, copies or links[/]: {len(model.writes)} "
                      "(use --format json for the list)")
    for note in model.notes:
        console.print(f"[dim]note:[/] {escape(note)}")
    for why in model.truncated:
        console.print(f"[yellow]incomplete:[/] {escape(why)}")
    console.print(f"[dim]{escape(str(model.stats))}[/]")
