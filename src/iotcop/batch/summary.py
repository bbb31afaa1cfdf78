"""Batch summary: summary.json, summary.csv and index.html over every image of a batch."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

from iotcop import __version__
from iotcop.files import write_atomic

CSV_COLUMNS = ("path", "sha256", "status", "exit_code", "seconds", "findings", "critical", "high", "medium", "low",
               "FAIL", "PASS", "INCONCLUSIVE", "NOT_APPLICABLE", "NOT_TESTED", "psti_failing", "reused", "result",
               "error")


def rows_for(images: list[dict], finished: dict[str, dict]) -> list[dict]:
    """One row per input path, in input order; images not finished yet are 'pending'."""
    rows = []
    for image in images:
        rec = finished.get(image["sha256"])
        summary = (rec or {}).get("summary") or {}
        sev, ver = summary.get("severities", {}), summary.get("verdicts", {})
        rows.append({
            "path": image["path"],
            "sha256": image["sha256"],
            "status": rec["event"] if rec else "pending",
            "exit_code": (rec or {}).get("exit_code"),
            "seconds": (rec or {}).get("seconds"),
            "findings": summary.get("findings"),
            **{k: sev.get(k, 0) if rec else None for k in ("critical", "high", "medium", "low")},
            **{k: ver.get(k, 0) if rec else None for k in ("FAIL", "PASS", "INCONCLUSIVE", "NOT_APPLICABLE",
                                                           "NOT_TESTED")},
            "psti_failing": " ".join(summary.get("psti_failing", [])),
            "reused": (rec or {}).get("reused", ""),
            "result": (rec or {}).get("result", ""),
            "error": (rec or {}).get("error", ""),
        })
    return rows


def totals(rows: list[dict]) -> dict:
    return {
        "images": len(rows),
        "done": sum(r["status"] == "done" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "pending": sum(r["status"] == "pending" for r in rows),
        "failing_mandatory": sum(r["exit_code"] == 1 for r in rows),
        "findings": sum(r["findings"] or 0 for r in rows),
    }


def write_summary(out_dir: Path, images: list[dict], finished: dict[str, dict], meta: dict) -> list[Path]:
    rows = rows_for(images, finished)
    doc = {"schema": "iotcop.batch/1", "tool": {"name": "iotcop", "version": __version__}, **meta,
           "totals": totals(rows), "images": rows}
    paths = [out_dir / "summary.json", out_dir / "summary.csv", out_dir / "index.html"]
    write_atomic(paths[0], json.dumps(doc, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in CSV_COLUMNS})
    write_atomic(paths[1], buf.getvalue())
    write_atomic(paths[2], render_html(doc))
    return paths


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.fail{color:#b00020;font-weight:600}.ok{color:#1b5e20;font-weight:600}.pending{color:#777}
.totals span{display:inline-block;margin-right:1.5rem}
code{font-size:.8rem}
"""


def render_html(doc: dict) -> str:
    esc = html.escape
    t = doc["totals"]
    out = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>iotcop batch</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Batch of {t['images']} image(s)</h1>",
           "<p class='totals'>" + "".join(
               f"<span>{esc(k.replace('_', ' '))}: <b>{v}</b></span>" for k, v in t.items()) + "</p>",
           f"<p>iotcop {esc(doc['tool']['version'])}, engine {esc(str(doc.get('engine', '')))}, "
           f"updated {esc(str(doc.get('updated', '')))}</p>",
           "<table><thead><tr><th>Image</th><th>Result</th><th>Findings</th><th>critical/high/medium/low</th>"
           "<th>Provisions FAIL / PASS / INCONCLUSIVE</th><th>PSTI failing</th><th>Seconds</th></tr></thead><tbody>"]
    for r in doc["images"]:
        if r["status"] == "done":
            verdict = ("<span class='fail'>mandatory provision fails</span>" if r["exit_code"] == 1
                       else "<span class='ok'>no mandatory failure</span>")
        elif r["status"] == "failed":
            verdict = f"<span class='fail'>not scanned</span><br>{esc(r['error'] or '')}"
        else:
            verdict = "<span class='pending'>pending</span>"
        name = esc(r["path"])
        if r["result"]:
            name = f"<a href='{esc(r['result'])}/report.html'>{name}</a>"
        sev = "/".join(str(r[k]) for k in ("critical", "high", "medium", "low")) if r["status"] == "done" else ""
        prov = "/".join(str(r[k]) for k in ("FAIL", "PASS", "INCONCLUSIVE")) if r["status"] == "done" else ""
        reused = " (cached)" if r["reused"] else ""
        out.append(
            f"<tr><td>{name}<br><code>{esc(r['sha256'][:16])}</code></td><td>{verdict}</td>"
            f"<td class='num'>{'' if r['findings'] is None else r['findings']}</td><td class='num'>{sev}</td>"
            f"<td class='num'>{prov}</td><td>{esc(r['psti_failing'] or '')}</td>"
            f"<td class='num'>{'' if r['seconds'] is None else r['seconds']}{reused}</td></tr>")
    out.append("</tbody></table></body></html>\n")
    return "".join(out)
