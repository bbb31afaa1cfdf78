"""`iotcop diff OLD NEW`: what changed between two firmware versions.

Findings are paired first by their id (same check, title, path, line, offset and
detail), then by (check, title, path) so a finding whose line moved is still
the same finding, then as "changed" when exactly one finding of a check is left
at a path on each side, or one with the same title apart from its numbers (a
count in an aggregate finding changed); what is left is fixed
(only in OLD) or new (only in NEW).
Components are paired by name and type; versions are compared with the
vulnerability module's version ordering.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from iotcop.errors import InputError
from iotcop.files import write_atomic
from iotcop.model import Assessment

# How good a verdict is, to call a change an improvement or a regression.
_VERDICT_RANK = {"FAIL": 0, "INCONCLUSIVE": 1, "NOT_TESTED": 1, "DECLARED": 2, "NOT_APPLICABLE": 3, "PASS": 3}


def load_side(path: Path, only_checks: tuple[str, ...] = ()) -> Assessment:
    """A report.json, a folder holding one, or a firmware image (scanned now, through the analysis cache)."""
    from iotcop.report.load import read_report

    path = Path(path)
    if path.is_dir() and (path / "report.json").is_file():
        return read_report(path / "report.json")[0]
    if path.is_file() and path.suffix == ".json":
        return read_report(path)[0]
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    from iotcop.cache.store import AnalysisCache
    from iotcop.scan import ScanOptions, scan

    return scan(path, ScanOptions(only_checks=only_checks, cache=AnalysisCache())).assessment


def _finding_row(f) -> dict:
    return {"id": f.id, "check": f.check, "severity": f.severity.value, "title": f.title, "path": f.evidence.path,
            "line": f.evidence.line, "provisions": list(f.provisions)}


_IMAGE_PREFIX = re.compile(r"^<image>/[^/]*_extract/")
_DIGITS = re.compile(r"\d+")
_CHUNK = re.compile(r"(^|/)\d+-\d+\.")


def comparable_path(path: str | None) -> str:
    """A path outside the root filesystem names the image file and chunk offsets, which differ per version."""
    if not path:
        return ""
    return _CHUNK.sub(r"\1*.", _IMAGE_PREFIX.sub("<image>/", path))


def _pair_findings(old: list, new: list) -> tuple[list, list, list]:
    unmatched_old = {f.id: f for f in old}
    unmatched_new = {f.id: f for f in new}
    same = []
    for fid in list(unmatched_old):
        if fid in unmatched_new:
            same.append((unmatched_old.pop(fid), unmatched_new.pop(fid)))
    loose: dict[tuple, list] = {}
    for f in unmatched_old.values():
        loose.setdefault((f.check, f.title, comparable_path(f.evidence.path)), []).append(f)
    for fid, f in list(unmatched_new.items()):
        bucket = loose.get((f.check, f.title, comparable_path(f.evidence.path)))
        if bucket:
            o = bucket.pop(0)
            del unmatched_old[o.id]
            del unmatched_new[fid]
            same.append((o, f))
    # Last: one finding left on each side from the same check at the same place, e.g. a count in the title.
    changed = []
    by_place_old: dict[tuple, list] = {}
    by_place_new: dict[tuple, list] = {}
    for f in unmatched_old.values():
        by_place_old.setdefault((f.check, comparable_path(f.evidence.path)), []).append(f)
    for f in unmatched_new.values():
        by_place_new.setdefault((f.check, comparable_path(f.evidence.path)), []).append(f)
    for place, olds in by_place_old.items():
        news = by_place_new.get(place, [])
        if len(olds) == 1 and len(news) == 1:
            changed.append((olds[0], news[0]))
            del unmatched_old[olds[0].id]
            del unmatched_new[news[0].id]
    # An aggregate finding ("services started at boot (7)") may move to another file: same check, same title
    # apart from its numbers, one on each side.
    by_title_old: dict[tuple, list] = {}
    by_title_new: dict[tuple, list] = {}
    for f in unmatched_old.values():
        by_title_old.setdefault((f.check, _DIGITS.sub("#", f.title)), []).append(f)
    for f in unmatched_new.values():
        by_title_new.setdefault((f.check, _DIGITS.sub("#", f.title)), []).append(f)
    for key, olds in by_title_old.items():
        news = by_title_new.get(key, [])
        if len(olds) == 1 and len(news) == 1:
            changed.append((olds[0], news[0]))
            del unmatched_old[olds[0].id]
            del unmatched_new[news[0].id]
    return same, changed, list(unmatched_old.values()), list(unmatched_new.values())


def _components(old: list[dict], new: list[dict]) -> dict:
    from iotcop.sbom.versions import compare

    def index(items):
        out: dict[tuple, dict] = {}
        for c in items:
            out.setdefault((c.get("name"), c.get("type")), c)
        return out

    a, b = index(old), index(new)
    result: dict[str, list] = {"upgraded": [], "downgraded": [], "changed": [], "added": [], "removed": [],
                               "unchanged": []}
    for key in sorted(set(a) | set(b), key=lambda k: (str(k[0]), str(k[1]))):
        name, kind = key
        if key not in b:
            result["removed"].append({"name": name, "type": kind, "version": a[key].get("version")})
            continue
        if key not in a:
            result["added"].append({"name": name, "type": kind, "version": b[key].get("version")})
            continue
        ov, nv = a[key].get("version"), b[key].get("version")
        row = {"name": name, "type": kind, "old": ov, "new": nv}
        if ov == nv:
            result["unchanged"].append(row)
        elif ov and nv:
            try:
                order = compare(nv, ov)
            except Exception:  # noqa: BLE001 - an unparseable version is reported as a change without direction
                order = None
            bucket = "upgraded" if order and order > 0 else "downgraded" if order and order < 0 else "changed"
            result[bucket].append(row)
        else:
            result["changed"].append(row)
    return result


def _verdict_changes(old: list, new: list) -> list[dict]:
    before = {v.id: v.verdict.value for v in old}
    out = []
    for v in new:
        was = before.get(v.id)
        now = v.verdict.value
        if was is not None and was != now:
            direction = "improved" if _VERDICT_RANK.get(now, 1) > _VERDICT_RANK.get(was, 1) else \
                "regressed" if _VERDICT_RANK.get(now, 1) < _VERDICT_RANK.get(was, 1) else "changed"
            out.append({"id": v.id, "old": was, "new": now, "direction": direction})
    return out


def diff_assessments(old: Assessment, new: Assessment) -> dict:
    same, changed, fixed, added = _pair_findings(old.findings, new.findings)
    # A check that ran on one side only (added in a newer iotcop, or failed) cannot say fixed or new.
    ran_old = {c.id for c in old.checks if c.status == "ran"}
    ran_new = {c.id for c in new.checks if c.status == "ran"}
    not_compared = [f for f in fixed if f.check not in ran_new] + [f for f in added if f.check not in ran_old]
    fixed = [f for f in fixed if f.check in ran_new]
    added = [f for f in added if f.check in ran_old]
    sev = lambda rows: sorted(rows, key=lambda r: (r["severity"] != "critical", r["severity"] != "high",
                                                   r["check"], r["path"] or "", r["title"]))  # noqa: E731
    return {
        "schema": "iotcop.diff/1",
        "old": {"path": old.target.path, "sha256": old.target.sha256, "generated_at": old.generated_at},
        "new": {"path": new.target.path, "sha256": new.target.sha256, "generated_at": new.generated_at},
        "findings": {
            "fixed": sev([_finding_row(f) for f in fixed]),
            "new": sev([_finding_row(f) for f in added]),
            "changed": [{"old": _finding_row(o), "new": _finding_row(n)} for o, n in changed],
            "unchanged": sev([_finding_row(n) for _, n in same]),
            "not_compared": sev([_finding_row(f) for f in not_compared]),
        },
        "components": _components(old.components, new.components),
        "checks_on_one_side": sorted(ran_old ^ ran_new),
        "provisions": _verdict_changes(old.provisions, new.provisions),
        "psti": _verdict_changes(old.psti, new.psti),
        "guidelines": _verdict_changes(old.guidelines, new.guidelines),
    }


def render_text(d: dict) -> str:
    from iotcop.report.findings import printable as t  # names from the images: no line or escape code of their own

    f, c = d["findings"], d["components"]
    lines = [f"{t(d['old']['path'])} -> {t(d['new']['path'])}",
             f"Findings: {len(f['fixed'])} fixed, {len(f['new'])} new, {len(f['changed'])} changed, "
             f"{len(f['unchanged'])} unchanged"
             + (f"; {len(f['not_compared'])} from checks that ran on one side only" if f["not_compared"] else ""),
             f"Components: {len(c['upgraded'])} upgraded, {len(c['downgraded'])} downgraded, {len(c['added'])} added, "
             f"{len(c['removed'])} removed"]
    for row in c["upgraded"] + c["downgraded"] + c["changed"]:
        lines.append(f"  {t(row['name'])}: {t(row['old'])} -> {t(row['new'])}")
    if d["provisions"]:
        lines.append("Provision verdicts:")
        lines += [f"  {p['id']}: {p['old']} -> {p['new']} ({p['direction']})" for p in d["provisions"]]
    if d["psti"]:
        lines.append("PSTI requirements:")
        lines += [f"  {p['id']}: {p['old']} -> {p['new']} ({p['direction']})" for p in d["psti"]]
    if f["changed"]:
        lines.append("Changed findings (same check and place):")
        lines += [f"  {t(c['old']['title'])} -> {t(c['new']['title'])}  {t(c['new']['path'] or '')}" for c in f["changed"]]
    for label, key in (("New", "new"), ("Fixed", "fixed")):
        if f[key]:
            lines.append(f"{label} findings:")
            lines += [f"  {r['severity']:<8} {t(r['title'])}  {t(r['path'] or '')}" for r in f[key][:50]]
            if len(f[key]) > 50:
                lines.append(f"  ... {len(f[key]) - 50} more (see diff.json)")
    return "\n".join(lines)


def render_html(d: dict) -> str:
    esc = html.escape

    def table(rows: list[dict], cols: tuple[str, ...]) -> str:
        if not rows:
            return "<p>None.</p>"
        head = "".join(f"<th>{esc(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{esc('' if r.get(c) is None else str(r.get(c)))}</td>" for c in cols)
                       + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    f, c = d["findings"], d["components"]
    fcols = ("severity", "title", "path", "line", "check")
    parts = ["<!doctype html><html lang='en'><head><meta charset='utf-8'><title>iotcop diff</title><style>",
             "body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse;width:100%;"
             "font-size:.9rem}th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}"
             "th{background:#f4f4f4}.new{color:#b00020}.fixed{color:#1b5e20}</style></head><body>",
             f"<h1>Firmware diff</h1><p>Old: <code>{esc(str(d['old']['path']))}</code><br>"
             f"New: <code>{esc(str(d['new']['path']))}</code></p>",
             f"<p><b class='fixed'>{len(f['fixed'])} fixed</b>, <b class='new'>{len(f['new'])} new</b>, "
             f"{len(f['unchanged'])} unchanged findings</p>",
             "<h2>Provision verdicts that changed</h2>", table(d["provisions"], ("id", "old", "new", "direction")),
             "<h2>PSTI requirements that changed</h2>", table(d["psti"], ("id", "old", "new", "direction")),
             "<h2 class='new'>New findings</h2>", table(f["new"], fcols),
             "<h2 class='fixed'>Fixed findings</h2>", table(f["fixed"], fcols),
             "<h2>Changed findings (same check and place)</h2>",
             table([{"check": c["new"]["check"], "path": c["new"]["path"], "old": c["old"]["title"],
                     "new": c["new"]["title"]} for c in f["changed"]], ("check", "path", "old", "new")),
             "<h2>Components</h2>",
             "<h3>Upgraded</h3>", table(c["upgraded"], ("name", "old", "new")),
             "<h3>Downgraded</h3>", table(c["downgraded"], ("name", "old", "new")),
             "<h3>Other version changes</h3>", table(c["changed"], ("name", "old", "new")),
             "<h3>Added</h3>", table(c["added"], ("name", "version")),
             "<h3>Removed</h3>", table(c["removed"], ("name", "version")),
             f"<h2>Unchanged findings ({len(f['unchanged'])})</h2>", table(f["unchanged"], fcols),
             "</body></html>\n"]
    return "".join(parts)


def write_diff(d: dict, out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [out_dir / "diff.json", out_dir / "diff.html"]
    write_atomic(paths[0], json.dumps(d, indent=2) + "\n")
    write_atomic(paths[1], render_html(d))
    return paths
