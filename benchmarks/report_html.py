"""report.html at scale: page size and load time in Chromium with N synthetic findings (default 5,000).

    .venv/bin/python benchmarks/report_html.py [--findings 5000] [--runs 5]

The assessment comes from tests/report/synthetic.py (real check ids and explanations, vulnerability findings
with CVE lists shaped like real scans, a baseline, a boot section).  Measured in Debian's Chromium through
Playwright: render time in Python, page size (and gzip size), navigation timing (DOMContentLoaded and load,
median of --runs fresh pages), and the time a search and a filter take to update the page.  Anchor: the same
browser opening the report's own report.json (the raw data, no layout) in the same run.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "report"), str(REPO / "tests")]

CHROMIUM = "/usr/bin/chromium"


def _timings(browser, url: str, runs: int) -> tuple[float, float]:
    dcl, load = [], []
    for _ in range(runs):
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(url, wait_until="load")
        nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
        dcl.append(nav["domContentLoadedEventEnd"])
        load.append(nav["loadEventEnd"])
        page.close()
    return statistics.median(dcl), statistics.median(load)


def _interaction(browser, url: str) -> tuple[float, float]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url, wait_until="load")
    start = time.perf_counter()
    page.fill("#fsearch", "cve-2019")
    page.wait_for_function("document.getElementById('fctl').dataset.applied === 'cve-2019'")
    search = time.perf_counter() - start - 0.12  # less the input debounce
    start = time.perf_counter()
    page.check("#fkev")
    page.evaluate("document.getElementById('fstatus').textContent")
    kev = time.perf_counter() - start
    page.close()
    return search, kev


def main() -> None:
    from playwright.sync_api import sync_playwright
    from synthetic import synthetic_assessment

    from iotcop.report.writers.html import render_html
    from iotcop.report.writers.json import render

    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    assessment = synthetic_assessment(args.findings)
    start = time.perf_counter()
    html = render_html(assessment)
    rendered = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        page_path, json_path = Path(tmp) / "report.html", Path(tmp) / "report.json"
        page_path.write_text(html)
        json_path.write_text(render(assessment))
        size, zipped = page_path.stat().st_size, len(gzip.compress(page_path.read_bytes()))
        json_size = json_path.stat().st_size
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            dcl, load = _timings(browser, page_path.as_uri(), args.runs)
            anchor_dcl, anchor_load = _timings(browser, json_path.as_uri(), args.runs)
            search, kev = _interaction(browser, page_path.as_uri())
            browser.close()
    cves = sum(f.check == "vulns.known-vulnerability" for f in assessment.findings)
    print(f"findings: {len(assessment.findings)} ({cves} vulnerability findings)")
    print(f"render (Python): {rendered:.2f} s")
    print(f"report.html: {size / 1e6:.2f} MB ({zipped / 1e6:.2f} MB gzip); report.json: {json_size / 1e6:.2f} MB")
    print(f"report.html in Chromium: DOMContentLoaded {dcl:.0f} ms, load {load:.0f} ms (median of {args.runs})")
    print(f"anchor, report.json in Chromium: DOMContentLoaded {anchor_dcl:.0f} ms, load {anchor_load:.0f} ms")
    print(f"ratio load html/json: {load / anchor_load:.2f}")
    print(f"search over every finding: {search * 1000:.0f} ms; 'actively exploited only' filter: {kev * 1000:.0f} ms")


if __name__ == "__main__":
    main()
