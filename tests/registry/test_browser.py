"""A shopper's path in Debian's Chromium driven by Playwright: search -> product page -> QR target -> check a label.

Screenshots are written to $IOTCOP_SCREENSHOTS when set (else the test's temporary folder) and their
visible text is checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from registry_support import uvicorn_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


def _publish(base: str, token: str, label: bytes, report: bytes) -> dict:
    r = httpx.post(base + "/api/v1/labels", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                   files={"label": ("label.json", label, "application/json"),
                          "report": ("report.json", report, "application/json")})
    assert r.status_code == 201, r.text
    return r.json()["label"]


def test_search_product_qr_target_and_verify(tmp_path, real_reports, key_dirs):
    from playwright.sync_api import sync_playwright

    from iotcop.label.make import build_label
    from iotcop.label.signing import load_private_key, sign_label
    from iotcop.model import Assessment
    from iotcop.registry.db import make_engine, migrate, sessions
    from iotcop.registry.service import add_manufacturer

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing: apt-get install -y chromium (scripts/setup installs it)")
    shots = Path(os.environ.get("IOTCOP_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{tmp_path / 'registry.db'}"
    engine = make_engine(db)
    migrate(engine)
    with sessions(engine)() as s:
        _, token = add_manufacturer(s, "Example Devices Ltd", (key_dirs[0] / "label-signing.pub").read_bytes())
        s.commit()
    engine.dispose()

    with uvicorn_server(db, tmp_path) as base:
        key = load_private_key(key_dirs[0])
        labels = {}
        for version, (report, decl) in real_reports.items():
            data = build_label(Assessment.model_validate(json.loads(report)), report, decl, base + "/p")
            labels[version] = sign_label(data, key)
            _publish(base, token, labels[version], report)
        qr_target = json.loads(labels["1.0.0"])["label"]["registry_url"]  # what the label's QR code encodes
        assert qr_target.startswith(base + "/p/")

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1000, "height": 900}, java_script_enabled=False)
                page.set_default_timeout(20_000)

                page.goto(base + "/")
                page.get_by_label("Product, model or manufacturer").fill("home router")
                page.get_by_role("button", name="Search").click()
                page.wait_for_url("**/search?q=home+router")
                page.screenshot(path=shots / "1-search.png", full_page=True)
                body = page.inner_text("body")
                assert "Results for “home router”" in body and "Example Home Router ER-1000" in body

                page.get_by_role("link", name="Example Home Router ER-1000").click()
                page.wait_for_url("**/products/*")
                page.screenshot(path=shots / "2-product.png", full_page=True)
                body = page.inner_text("body")
                for text in ("Example Home Router", "Published by Example Devices Ltd", "Firmware 1.1.0",
                             "Security updates until 2030-12-31", "How to report a security problem",
                             "mailto:security@example.com", "Firmware versions", "What changed from the previous version"):
                    assert text in body, text

                # The label the shopper scanned is drawn on the page.
                image = page.locator("img.label-img")
                assert image.evaluate("img => img.complete && img.naturalWidth") > 0

                # "Full report" is a readable page: its inline style and script run under the page's CSP.
                report_url = page.get_by_role("link", name="Full report").get_attribute("href")
                with_js = browser.new_page(viewport={"width": 1000, "height": 900})  # the report page has a script
                violations: list[str] = []
                with_js.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text
                           else None)
                with_js.goto(base + report_url)
                with_js.screenshot(path=shots / "2b-full-report.png")
                assert "Security assessment" in with_js.inner_text("h1")
                assert with_js.evaluate("document.body.classList.contains('js')")  # the script ran
                assert with_js.evaluate("getComputedStyle(document.querySelector('.badge')).backgroundColor") \
                    not in ("rgba(0, 0, 0, 0)", "transparent")  # the style applied
                assert violations == []
                with_js.close()

                page.goto(qr_target)
                page.screenshot(path=shots / "3-qr-target.png", full_page=True)
                body = page.inner_text("body")
                assert "This is the page for the label you scanned: firmware 1.0.0" in body
                assert "an older firmware version" in body

                page.goto(base + "/verify")
                page.get_by_label("Label file contents").fill(labels["1.1.0"].decode())
                page.get_by_role("button", name="Check").click()
                page.wait_for_load_state()
                page.screenshot(path=shots / "4-verify-valid.png", full_page=True)
                body = page.inner_text("body")
                assert "Valid label" in body and "Signer: Example Devices Ltd" in body
                assert "firmware 1.1.0" in body

                tampered = tmp_path / "tampered.json"
                tampered.write_bytes(labels["1.1.0"].replace(b'"level":', b'"level": '))
                page.get_by_label("…or choose label.json").set_input_files(str(tampered))
                page.get_by_role("button", name="Check").click()
                page.wait_for_load_state()
                page.screenshot(path=shots / "5-verify-invalid.png", full_page=True)
                body = page.inner_text("body")
                assert "Invalid label" in body and "Valid label" not in body
                assert "is not what that key signed" in body and "Signer:" not in body
            finally:
                browser.close()
    for name in ("1-search", "2-product", "2b-full-report", "3-qr-target", "4-verify-valid", "5-verify-invalid"):
        assert (shots / f"{name}.png").stat().st_size > 5000
