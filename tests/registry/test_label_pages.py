"""The label image on the product page, the full report as a page, and the Atom feed beside JSON Feed."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from xml.etree import ElementTree as ET

from registry_support import label_for, small_report

from iotcop.label.signing import load_private_key

ATOM = "{http://www.w3.org/2005/Atom}"


def _publish(c, token, label: bytes, report: bytes):
    r = c.post("/api/v1/labels", headers={"Authorization": f"Bearer {token}"},
               files={"label": ("label.json", label, "application/json"),
                      "report": ("report.json", report, "application/json")})
    assert r.status_code == 201, r.text
    return r.json()["label"]


def test_product_page_shows_the_label_and_a_readable_report(registry, real_labels, key_dirs):
    token = registry.add_manufacturer("Example Devices Ltd", key_dirs[0])
    c = registry.client
    label_bytes, report_bytes = real_labels["1.1.0"]
    published = _publish(c, token, label_bytes, report_bytes)
    lid, pid = published["id"], published["product_id"]
    page = c.get(f"/products/{pid}").text
    assert f'src="/labels/{lid}/label.svg"' in page and 'alt="The security label of Example Home Router' in page
    assert f'href="/labels/{lid}/report">Full report</a>' in page
    for n in range(5):  # every level explained in one sentence
        assert f"Level {n}: " in page
    assert "known vulnerabilit" in page.lower() or "not checked" in page
    # Each promise says its state once: who vouches for a met one, the words of the row for the others.
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", li)).strip()
            for li in re.findall(r'<li class="state-[^"]*">(.*?)</li>', page, re.S)]
    assert len(rows) >= 7, rows
    for row in rows:
        assert not re.search(r"(problem found|not confirmed|does not apply).*\(\1\)", row), row
        if row.endswith("(checked by analysis)") or row.endswith("(declared by the manufacturer)"):
            assert "problem found" not in row and ": not confirmed" not in row, row
    assert any(row.endswith(": not confirmed") for row in rows) and \
        any(row.endswith("(checked by analysis)") or row.endswith("(declared by the manufacturer)") for row in rows)

    svg = c.get(f"/labels/{lid}/label.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    signed = json.loads(label_bytes)["label"]
    assert f"Level {signed['level']} of 4" in svg.text and "Example Home Router" in svg.text
    assert "<script" not in svg.text and "frame-ancestors 'none'" in svg.headers["content-security-policy"]

    report = c.get(f"/labels/{lid}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    html = report.text
    assert "Security assessment" in html and f"/products/{pid}?label={lid}" in html and '{"group"' not in html
    csp = report.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    # The page's one style and one script are allowed by their hashes, and nothing else is.
    for tag, directive in (("style", "style-src"), ("script", "script-src")):
        [body] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        allowed = re.search(rf"{directive} ([^;]*)", csp).group(1).split()
        assert allowed == [f"'sha256-{digest}'"]
    assert c.get("/labels/999999/report").status_code == 404
    assert c.get("/labels/999999/label.svg").status_code == 404


def test_a_minimal_label_still_draws(registry, key_dirs):
    token = registry.add_manufacturer("Theta", key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    published = _publish(registry.client, token, label_for(report, {"name": "Theta Plug"}, "2.0", key), report)
    svg = registry.client.get(f"/labels/{published['id']}/label.svg")
    assert svg.status_code == 200 and "Theta Plug" in svg.text and "Level 0 of 4" in svg.text


def test_atom_feed_has_the_json_feed_entries(registry, key_dirs):
    import datetime as dt

    token = registry.add_manufacturer("Iota", key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    _publish(registry.client, token, label_for(report, {"name": "Iota Cam"}, "1", key, support_end=soon), report)
    _publish(registry.client, token, label_for(report, {"name": "Iota <Hub> & Co"}, "1", key), report)
    atom = registry.client.get("/feed.atom")
    assert atom.status_code == 200 and atom.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(atom.content)
    assert feed.tag == f"{ATOM}feed"
    for tag in ("id", "title", "updated"):  # RFC 4287 4.1.1: required of a feed
        assert feed.find(f"{ATOM}{tag}").text
    assert feed.find(f"{ATOM}link[@rel='self']").get("href").endswith("/feed.atom")
    entries = feed.findall(f"{ATOM}entry")
    items = registry.client.get("/feed.json").json()["items"]
    assert [e.find(f"{ATOM}id").text for e in entries] == [i["id"] for i in items]
    assert [e.find(f"{ATOM}title").text for e in entries] == [i["title"] for i in items]
    for e in entries:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", e.find(f"{ATOM}updated").text)
        assert e.find(f"{ATOM}link[@rel='alternate']").get("href").startswith("http")
    assert any(e.find(f"{ATOM}title").text.startswith("New label: Iota <Hub> & Co") for e in entries)
    assert "&lt;Hub&gt; &amp; Co" in atom.text  # escaped by the XML writer
    home = registry.client.get("/").text
    assert 'type="application/atom+xml"' in home and 'href="/feed.atom"' in home
