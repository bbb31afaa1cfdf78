"""ts103701.json and ts103701.html: the assessment as ETSI TS 103 701 test cases (scan --output ts103701).

The view is computed by the scan (it needs the check runs and the declaration); `--output ts103701`
asks for it, so this writer only renders what the assessment carries.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from iotcop.files import write_atomic
from iotcop.model import Assessment, ConformanceView
from iotcop.report.findings import detail_words

FORMAT = "ts103701"
DEFAULT = False

_COLOURS = {"PASS": "#1a7f37", "FAIL": "#cf222e", "INCONCLUSIVE": "#8250df", "N/A": "#6e7781"}


def write(assessment: Assessment, out_dir: Path, context) -> list[Path]:
    view = assessment.ts103701
    if view is None:
        return []
    json_path = out_dir / "ts103701.json"
    data = {"target": assessment.target.model_dump(mode="json"), "generated_at": assessment.generated_at,
            **view.model_dump(mode="json")}
    write_atomic(json_path, (json.dumps(data, indent=2) + "\n").encode())
    html_path = out_dir / "ts103701.html"
    write_atomic(html_path, render_html(assessment, view).encode())
    return [json_path, html_path]


def _badge(verdict: str) -> str:
    return f'<span class="v" style="background:{_COLOURS.get(verdict, "#444")}">{html.escape(verdict)}</span>'


def _evidence(e) -> str:
    where = html.escape(e.path or "")
    if e.line:
        where += f":{e.line}"
    parts = [f"<code>{where}</code>" if where else ""]
    for text in (detail_words(e.detail), e.excerpt):
        if text:
            parts.append(html.escape(text))
    return " ".join(p for p in parts if p)


def render_html(assessment: Assessment, view: ConformanceView) -> str:
    e = html.escape
    rows = []
    for tc in view.test_cases:
        units = []
        for u in tc.units:
            ev = "".join(f"<li>{_evidence(x)}</li>" for x in u.evidence)
            units.append(f"<tr><td>{e(u.unit)}</td><td>{_badge(u.verdict)}</td><td>{e(u.source)}</td>"
                         f"<td>{e(u.note)}{'<ul>' + ev + '</ul>' if ev else ''}"
                         f"{'<div class=c>checks: ' + e(', '.join(u.checks)) + '</div>' if u.checks else ''}</td></tr>")
        rows.append(
            f'<details id="tc-{e(tc.id)}" class="{e(tc.verdict.replace("/", ""))}"><summary>{_badge(tc.verdict)} '
            f"<b>{e(tc.id)}</b> {e(tc.kind)}, {e(tc.coverage)}{', network-relevant' if tc.network else ''}"
            f" &mdash; {e(tc.note)}</summary><table><tr><th>unit</th><th>verdict</th><th>decided by</th><th>evidence</th></tr>"
            + "".join(units) + "</table></details>")
    counts = " ".join(f"{_badge(k)} {n}" for k, n in view.counts.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(view.standard)}: {e(assessment.target.path)}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:80em}}
.v{{color:#fff;border-radius:3px;padding:0 .4em;font-size:12px}}
details{{border-bottom:1px solid #ddd;padding:.3em 0}} table{{border-collapse:collapse;margin:.5em 0 .5em 2em}}
td,th{{border:1px solid #ddd;padding:.2em .5em;vertical-align:top;text-align:left}} .c{{color:#555;font-size:12px}}
code{{font-size:12px}}
</style></head><body>
<h1>{e(view.standard)} test cases</h1>
<p>Target: <code>{e(assessment.target.path)}</code> &middot; generated {e(assessment.generated_at)} &middot;
declaration: {'given' if view.declaration else 'none'} &middot; live device: {'probed' if view.device else 'not probed'}</p>
<p>{counts}</p>
<p>Test-case summaries are iotcop's own words; the normative test units are in ETSI TS 103 701.
A unit that needs a laboratory or a person is never PASS here.</p>
{''.join(rows)}
</body></html>
"""
