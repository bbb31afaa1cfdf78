"""report.html in Debian's Chromium driven by Playwright, at 1440 and 390 px: filters, search, links, layout, contrast.

Screenshots go to $IOTCOP_SCREENSHOTS when set (else the test's temporary folder).  The demo image's real
report and a synthetic one of 5,000 findings (tests/report/synthetic.py) are both opened.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from synthetic import synthetic_assessment

from iotcop.model import Assessment
from iotcop.report.writers.html import render_html

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
WIDTHS = (1440, 390)

# WCAG 2 contrast of every badge: its text colour against the first opaque background behind it.
CONTRASTS = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126*r + 0.7152*g + 0.0722*b; };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c; } return [255, 255, 255]; };
  return [...document.querySelectorAll('.b, .badge')].map(el => {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    return {text: el.textContent.trim(), cls: el.className, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
  });
}"""
OVERFLOW = """() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const w = window.innerWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1)
    .slice(0, 5).map(e => e.tagName + '.' + e.className);
  return {scroll: document.documentElement.scrollWidth, width: w, wide};
}"""
VISIBLE_CARDS = "() => [...document.querySelectorAll('article.f')].filter(e => !e.closest('[hidden]')).map(e => e.id.slice(2))"


def _shots() -> Path | None:
    folder = os.environ.get("IOTCOP_SCREENSHOTS")
    return Path(folder) if folder else None


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install -y chromium (scripts/setup installs it)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _open(browser, html: Path, width: int, js: bool = True):
    page = browser.new_page(viewport={"width": width, "height": 900}, java_script_enabled=js)
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html.as_uri())
    return page, errors


def _searched(page, text: str) -> None:
    page.fill("#fsearch", text)
    page.wait_for_function("q => document.getElementById('fctl').dataset.applied === q", arg=text.lower())


def _status(page) -> tuple[int, int]:
    shown, _, total = page.inner_text("#fstatus").split()[:3]
    return int(shown), int(total)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory):
    assessment = synthetic_assessment(5000)
    path = tmp_path_factory.mktemp("big") / "report.html"
    path.write_text(render_html(assessment))
    return assessment, path


@pytest.mark.parametrize("width", WIDTHS)
def test_big_report_filters_search_sort_and_layout(browser, big_report, tmp_path, width):
    assessment, html = big_report
    page, errors = _open(browser, html, width)
    assert _status(page) == (5000, 5000)
    shots = _shots() or tmp_path
    page.screenshot(path=shots / f"report-5000-{width}.png")

    # Filtering hides cards: critical off, then only actively exploited.
    critical = {f.id for f in assessment.findings if f.severity.value == "critical"}
    page.uncheck("#fctl input[name=sev][value='0']")
    visible = set(page.evaluate(VISIBLE_CARDS))
    assert visible and not visible & critical and len(visible) == 5000 - len(critical)
    assert _status(page) == (5000 - len(critical), 5000)
    page.click("#freset")
    page.check("#fkev")
    kev = {f.id for f in assessment.findings if f.check == "vulns.known-vulnerability"
           and json.loads(f.evidence.detail)["known_exploited"]}
    assert kev and set(page.evaluate(VISIBLE_CARDS)) == kev
    page.click("#freset")
    page.check("#fhideacc")
    accepted = {a["finding"] for a in assessment.triage["accepted"]}
    assert not set(page.evaluate(VISIBLE_CARDS)) & accepted and _status(page)[0] == 5000 - len(accepted)
    page.click("#freset")

    # Search finds a finding by its path and shows it (its group opened).
    target = next(f for f in assessment.findings if f.check != "vulns.known-vulnerability")
    _searched(page, target.evidence.path)
    assert _status(page) == (1, 5000)
    card = page.locator(f"#f-{target.id}")
    assert card.is_visible()
    card.locator("summary").click()
    assert page.locator(f"#f-{target.id} .fb").is_visible()
    # ... and a CVE id inside a component's vulnerability table.
    vuln = next(f for f in assessment.findings if f.check == "vulns.known-vulnerability")
    cve = json.loads(vuln.evidence.detail)["vulnerabilities"][0]["id"]
    _searched(page, cve)
    assert vuln.id in page.evaluate(VISIBLE_CARDS) and page.locator(f"#f-{vuln.id}").is_visible()
    _searched(page, "")
    assert _status(page) == (5000, 5000)

    # Sorting by path orders each list of cards by path.
    page.select_option("#fsort", "path")
    paths = page.evaluate("() => [...[...document.querySelectorAll('details.grp')].find(g => "
                          "!g.querySelector('details.comp')).querySelectorAll('.cards > article.f')].map(e => e.dataset.w)")
    assert paths == sorted(paths) and len(paths) > 10

    layout = page.evaluate(OVERFLOW)
    assert layout["scroll"] <= layout["width"], layout
    bad = [c for c in page.evaluate(CONTRASTS) if c["ratio"] < 4.5]
    assert bad == []
    assert page.locator("#boot-table tbody tr").count() == 60
    first = page.locator("#boot-table tbody tr").first.inner_text()
    assert "daemon0" in first and "/etc/inittab:1 › /etc/init.d/rcS:3" in first and "-f /etc/daemon0.conf" in first \
        and "root" in first
    # A command line found inside a program is kept apart, and code run from removable storage stands out.
    assert page.locator("#boot-possible tbody tr").count() == 1
    assert "telnetd -l /bin/sh" in page.locator("#boot-possible").inner_text()
    assert "/mnt/usb/autorun.sh on /mnt/usb" in page.locator("#boot-writable").inner_text()
    assert errors == []
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_demo_report_links_filters_and_contrast(browser, demo_scans, tmp_path, width):
    folder = demo_scans["vulnerable"]
    report = Assessment.model_validate(json.loads((folder / "report.json").read_text()))
    page, errors = _open(browser, folder / "report.html", width)
    shots = _shots() or tmp_path
    page.screenshot(path=shots / f"report-demo-{width}.png")
    page.screenshot(path=shots / f"report-demo-{width}-full.png", full_page=True)
    total = len(report.findings)
    assert _status(page) == (total, total)

    # Provision -> findings: "Show its N findings" narrows the list to that provision.
    # the link's own click event: a pointer click at its coordinates can land on whatever the layout moved there
    page.locator("#p-5\\.1-1 a[data-filter-prov]").first.dispatch_event("click")
    expected = {f.id for f in report.findings if "5.1-1" in f.provisions}
    visible = page.evaluate(VISIBLE_CARDS)
    assert set(visible) == expected, (page.inner_text("#fstatus"), page.evaluate("document.getElementById('fprov').value"),
                                      len(expected), [(c.get_attribute("id"), c.get_attribute("data-p"), c.get_attribute("data-c"))
                                                      for c in page.locator("article.f").all()
                                                      if c.get_attribute("id")[2:] in set(visible) ^ expected][:8])
    assert all(page.locator(f"#f-{fid}").is_visible() for fid in visible)
    # Finding -> provision: the card's link goes to the provision's row.
    first = page.locator(f"#f-{visible[0]}")
    first.locator("summary").click()
    first.locator("a[href='#p-5.1-1']").click()
    expect(page).to_have_url(re.compile(r"#p-5\.1-1$"))
    # Provision table entry -> the finding, opened wherever it is.
    page.click("#freset")
    shadow = next(f for f in report.findings if f.evidence.path == "/etc/shadow")
    page.locator(f"#p-5\\.1-1 a[href='#f-{shadow.id}']").first.click()
    expect(page.locator(f"#f-{shadow.id} .fb")).to_be_visible()

    layout = page.evaluate(OVERFLOW)
    assert layout["scroll"] <= layout["width"], layout
    ratios = page.evaluate(CONTRASTS)
    assert ratios and [c for c in ratios if c["ratio"] < 4.5] == []
    assert errors == []
    page.close()


@pytest.mark.slow
def test_demo_report_without_javascript_keeps_every_finding(browser, demo_scans):
    folder = demo_scans["vulnerable"]
    report = json.loads((folder / "report.json").read_text())
    page, _ = _open(browser, folder / "report.html", 1440, js=False)
    assert page.locator("article.f").count() == len(report["findings"])
    assert not page.locator("#fctl").is_visible()  # the controls need the script
    text = page.inner_text("body")
    assert "{" not in page.inner_text("#findings")  # no raw JSON anywhere in the findings
    assert "Why it matters" in text
    page.close()


def test_synthetic_boot_section_follows_the_report_schema():
    """The boot table is drawn from the report's boot section; the synthetic one has the schema's shape."""
    import jsonschema

    from iotcop.report.writers.json import report_schema

    schema = report_schema()
    if "boot" not in schema["properties"]:
        pytest.skip("the report schema has no boot section yet")
    jsonschema.validate(synthetic_assessment(20).boot, {**schema["properties"]["boot"], "$defs": schema["$defs"]})


def test_one_boot_section():
    """The boot model is shown once, in this layout (a second, older section must not come back with a merge)."""
    html = render_html(synthetic_assessment(20))
    assert html.count('<section id="boot">') == 1 and html.count("What starts at boot (") == 1
    assert "1 possible starts (command lines inside programs)" in html
