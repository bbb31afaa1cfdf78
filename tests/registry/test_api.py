"""The registry's API and pages against SQLite and a real PostgreSQL server (both start in the test)."""

from __future__ import annotations

import hashlib
import json

from registry_support import label_for, small_report
from sqlalchemy import select

from iotcop.label.signing import load_private_key


def publish(client, token, label: bytes, report: bytes, key: str | None = None, label_type="application/json"):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/labels", headers=headers,
                       files={"label": ("label.json", label, label_type),
                              "report": ("report.json", report, "application/json")})


def test_publish_search_product_page_and_history(registry, real_labels, key_dirs):
    token = registry.add_manufacturer("Example Devices Ltd", key_dirs[0])  # real_labels are signed by key A
    c = registry.client
    old_label, old_report = real_labels["1.0.0"]
    new_label, new_report = real_labels["1.1.0"]
    r1 = publish(c, token, old_label, old_report)
    assert r1.status_code == 201, r1.text
    r2 = publish(c, token, new_label, new_report)
    assert r2.status_code == 201, r2.text
    assert r1.json()["label"]["product_id"] == r2.json()["label"]["product_id"]  # one product, two versions
    pid = r2.json()["label"]["product_id"]

    for query in ("home router", "ER-1000", "example devices"):
        found = c.get("/api/v1/products", params={"q": query}).json()
        assert [p["id"] for p in found] == [pid], query
    assert c.get("/api/v1/products", params={"q": "no such thing"}).json() == []

    detail = c.get(f"/api/v1/products/{pid}").json()
    assert [v["label"]["firmware_version"] for v in detail["versions"]] == ["1.1.0", "1.0.0"]
    assert detail["versions"][1]["changes_from_previous"] is None
    changes = detail["versions"][0]["changes_from_previous"]
    fixed_titles = " ".join(f["title"] for f in changes["fixed"]).lower()
    assert "password" in fixed_titles, changes
    assert not any("password" in f["title"].lower() for f in changes["new"])
    assert detail["vulnerability_reporting"]["vdp_contact"] == "mailto:security@example.com"
    assert detail["product"]["latest"]["support_end"] == "2030-12-31"
    assert detail["product"]["latest"]["support_active"] is True
    ids = [r["id"] for r in detail["results"]]
    assert set(ids) >= {"psti-1", "psti-2", "psti-3", "cop-1", "cop-13"} and len(ids) == len(set(ids))
    # One row per promise: the guideline rows speak only of what they ask beyond the PSTI requirements.
    rows = {r["id"]: r["text"] for r in detail["results"]}
    assert "password" not in rows["cop-1"].lower() and "report" in rows["psti-2"].lower()

    page = c.get(f"/products/{pid}")
    assert page.status_code == 200
    text = page.text
    for expected in ("Example Home Router", "ER-1000", "Security updates until 2030-12-31",
                     "mailto:security@example.com", "Firmware 1.1.0", "Firmware 1.0.0", "fixed"):
        assert expected in text, expected
    assert "<script" not in text.lower()

    # The QR code of the old label lands on the product page, opened at that version.
    old_pid = json.loads(old_label)["label"]["product"]["id"]
    qr = c.get(f"/p/{old_pid}")
    assert qr.status_code == 200 and "the label you scanned: firmware 1.0.0" in qr.text
    assert c.get("/p/0000000000000000").status_code == 404

    # The stored files are byte for byte what was published.
    lid = r1.json()["label"]["id"]
    assert c.get(f"/api/v1/labels/{lid}/label.json").content == old_label
    assert c.get(f"/api/v1/labels/{lid}/report.json").content == old_report

    html_search = c.get("/search", params={"q": "router"})
    assert html_search.status_code == 200 and f"/products/{pid}" in html_search.text


def test_repeated_submission_is_stored_once(registry, key_dirs):
    token = registry.add_manufacturer("Acme", key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Acme Cam", "model": "C1"}, "2.0", load_private_key(key_dirs[0]))
    first = publish(registry.client, token, label, report, key="sub-1")
    again = publish(registry.client, token, label, report, key="sub-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["label"]["id"] == again.json()["label"]["id"]
    assert again.json()["created"] is False
    # the same label under another key is still the one label
    assert publish(registry.client, token, label, report, key="sub-2").json()["label"]["id"] == first.json()["label"]["id"]
    other = label_for(report, {"name": "Acme Cam", "model": "C1"}, "2.1", load_private_key(key_dirs[0]))
    conflict = publish(registry.client, token, other, report, key="sub-1")
    assert conflict.status_code == 409
    from iotcop.registry.models import Label

    with registry.session() as s:
        assert len(s.scalars(select(Label)).all()) == 1


def test_labels_signed_by_another_key_are_refused(registry, key_dirs):
    token_a = registry.add_manufacturer("Alpha", key_dirs[0])
    registry.add_manufacturer("Beta", key_dirs[1])
    report = small_report()
    by_b = label_for(report, {"name": "Beta Plug"}, "1", load_private_key(key_dirs[1]))
    refused = publish(registry.client, token_a, by_b, report)
    assert refused.status_code == 403
    assert "not a registered key of Alpha" in refused.json()["detail"]
    from iotcop.label.signing import init_keys

    stranger = key_dirs[0].parent / "stranger"
    init_keys(stranger)
    unknown = label_for(report, {"name": "Alpha Plug"}, "1", load_private_key(stranger))
    assert publish(registry.client, token_a, unknown, report).status_code == 403


def test_writes_need_a_valid_unrevoked_token(registry, key_dirs):
    from iotcop.registry.models import AuditEntry
    from iotcop.registry.security import token_prefix
    from iotcop.registry.service import revoke_token

    token = registry.add_manufacturer("Gamma", key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Gamma Hub"}, "1", load_private_key(key_dirs[0]))
    c = registry.client
    no_token = c.post("/api/v1/labels", files={"label": ("l", label, "application/json"),
                                               "report": ("r", report, "application/json")})
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    assert publish(c, token + "x", label, report).status_code == 401
    assert publish(c, "iotcop_" + "A" * 43, label, report).status_code == 401
    with registry.session() as s:
        assert revoke_token(s, token_prefix(token)) == 1
        s.commit()
    assert publish(c, token, label, report).status_code == 401
    assert c.post("/api/v1/labels/1/revoke", json={"reason": "x"}).status_code == 401
    assert c.get("/api/v1/scans/" + "0" * 32).status_code == 401
    with registry.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["key.add", "token.add", "manufacturer.add", "token.revoke"]


def test_refusals_are_precise(registry, key_dirs):
    token = registry.add_manufacturer("Delta", key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Delta Lock"}, "1", key)
    c = registry.client
    other_report = small_report(verdicts={"5.1-1": "FAIL"})
    r = publish(c, token, label, other_report)
    assert r.status_code == 422 and "not the one the label was made from" in r.json()["detail"]
    tampered = label.replace(b'"level":0', b'"level":4')
    r = publish(c, token, tampered, report)
    assert r.status_code == 422 and "signature" in r.json()["detail"]
    assert publish(c, token, label, report, label_type="text/html").status_code == 415
    assert publish(c, token, b"x" * (registry.settings.max_label_bytes + 1), report).status_code == 413
    assert publish(c, token, label, report, key="bad key with spaces").status_code == 422
    not_a_report = label_for(b'{"schema": "other"}', {"name": "Delta Lock"}, "2", key)
    r = publish(c, token, not_a_report, b'{"schema": "other"}')
    assert r.status_code == 422 and "not an iotcop report" in r.json()["detail"]
    # the body limit answers before anything is parsed
    huge = c.post("/api/v1/verify", content=b"{" + b" " * (registry.settings.max_label_bytes + 10) + b"}",
                  headers={"content-type": "application/json"})
    assert huge.status_code == 413


def test_verification_valid_invalid_revoked(registry, key_dirs):
    from iotcop.registry.service import revoke_key

    token = registry.add_manufacturer("Epsilon", key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Epsilon Bulb", "model": "E27"}, "3.1", key)
    c = registry.client
    unpublished = c.post("/api/v1/verify", content=label).json()
    page_before = None
    assert unpublished["status"] == "valid" and unpublished["signer"] == "Epsilon"
    assert "not published" in unpublished["reason"]
    published = publish(c, token, label, report).json()["label"]
    lid = published["id"]
    page_before = c.get(published["page_url"]).text  # rendered once, then served from the page cache
    assert "was revoked" not in page_before
    ok = c.post("/api/v1/verify", content=label).json()
    assert ok["status"] == "valid" and ok["published"]["id"] == lid and ok["label"]["product"]["name"] == "Epsilon Bulb"
    changed = c.post("/api/v1/verify", content=label.replace(b"3.1", b"3.2")).json()
    assert changed["status"] == "invalid" and changed["signer"] == "Epsilon"
    foreign = c.post("/api/v1/verify", content=label_for(report, {"name": "X"}, "1",
                                                         load_private_key(key_dirs[1]))).json()
    assert foreign["status"] == "invalid" and "not registered" in foreign["reason"]
    assert c.post("/api/v1/verify", content=b"not json").status_code == 422
    assert c.post("/api/v1/verify", content=b"").status_code == 422
    assert c.post("/api/v1/verify", content=b'{"label": {}}').json()["status"] == "invalid"

    revoked = c.post(f"/api/v1/labels/{lid}/revoke", json={"reason": "firmware withdrawn"},
                     headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    v = c.post("/api/v1/verify", content=label).json()
    assert v["status"] == "revoked" and "firmware withdrawn" in v["reason"]
    page_after = c.get(published["page_url"]).text
    assert "This label was revoked by the manufacturer." in page_after and "firmware withdrawn" in page_after

    second = label_for(report, {"name": "Epsilon Bulb", "model": "E27"}, "3.3", key)
    publish(c, token, second, report)
    with registry.session() as s:
        revoke_key(s, json.loads(label)["signature"]["key_id"], "private key leaked")
        s.commit()
    v = c.post("/api/v1/verify", content=second).json()
    assert v["status"] == "revoked" and "key" in v["reason"]
    assert publish(c, token, label_for(report, {"name": "Epsilon Bulb"}, "4", key), report).status_code == 403


def test_verification_form_needs_its_csrf_token(registry, key_dirs):
    import re

    registry.add_manufacturer("Zeta", key_dirs[0])
    label = label_for(small_report(), {"name": "Zeta Speaker"}, "1", load_private_key(key_dirs[0]))
    c = registry.client
    form = c.get("/verify")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)
    assert "iotcop_csrf" in c.cookies
    ok = c.post("/verify", data={"csrf_token": token, "label_text": label.decode()})
    assert ok.status_code == 200 and "Valid label" in ok.text and "Zeta" in ok.text
    upload = c.post("/verify", data={"csrf_token": token}, files={"label_file": ("label.json", label, "application/json")})
    assert "Valid label" in upload.text
    bad = c.post("/verify", data={"csrf_token": token, "label_text": label.decode().replace("Zeta", "Zeda")})
    assert "Invalid label" in bad.text
    forged = c.post("/verify", data={"csrf_token": "0" * 64, "label_text": label.decode()})
    assert forged.status_code == 403 and "Valid label" not in forged.text
    c.cookies.clear()
    assert c.post("/verify", data={"csrf_token": token, "label_text": label.decode()}).status_code == 403


def test_feed_lists_new_and_expiring_labels(registry, key_dirs):
    import datetime as dt

    token = registry.add_manufacturer("Eta", key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    soon = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    publish(registry.client, token, label_for(report, {"name": "Eta Long"}, "1", key, support_end="2034-01-01"), report)
    publish(registry.client, token, label_for(report, {"name": "Eta Short"}, "1", key, support_end=soon), report)
    feed = registry.client.get("/feed.json")
    assert feed.headers["content-type"].startswith("application/feed+json")
    data = feed.json()
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    titles = [i["title"] for i in data["items"]]
    assert sum(t.startswith("New label") for t in titles) == 2
    assert [t for t in titles if t.startswith("Security updates end soon")] == [f"Security updates end soon: Eta Short on {soon}"]
    assert len({i["id"] for i in data["items"]}) == len(data["items"])
    home = registry.client.get("/")
    assert "Eta Short" in home.text and f"Security updates until {soon}" in home.text
    # a label made without a declaration: the page says what is not known
    pid = registry.client.get("/api/v1/products", params={"q": "eta short"}).json()[0]["id"]
    page = registry.client.get(f"/products/{pid}")
    assert page.status_code == 200
    assert "The manufacturer has not declared how to report security problems." in page.text


def test_security_headers_and_errors_without_internals(registry, monkeypatch):
    from starlette.testclient import TestClient

    from iotcop.registry import service

    for path in ("/", "/api/v1/products", "/nope", "/openapi.json"):
        r = registry.client.get(path)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"

    def broken(*a, **k):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(service, "search_products", broken)
    with TestClient(registry.app, raise_server_exceptions=False) as c:
        for path in ("/api/v1/products?q=x", "/search?q=x"):
            r = c.get(path)
            assert r.status_code == 500
            assert "hunter2" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text
            assert "reference" in r.text


def test_start_up_migrates_once_and_keeps_data(registry, key_dirs):
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from iotcop.registry.app import create_app
    from iotcop.registry.db import MIGRATIONS

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    registry.add_manufacturer("Theta", key_dirs[0])
    again = create_app(registry.settings, start_jobs=False)
    with again.state.sessions() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
        assert s.execute(text("SELECT name FROM manufacturers")).scalars().all() == ["Theta"]
    assert again.state.csrf_secret == registry.app.state.csrf_secret  # shared by every server process
    again.state.engine.dispose()


def test_rate_limit_answers_429(sqlite_registry_factory):
    from starlette.testclient import TestClient

    from iotcop.registry.config import RateLimit

    app, _ = sqlite_registry_factory(read_limit=RateLimit(rate=0.5, burst=3), write_limit=RateLimit(0.5, 2))
    with TestClient(app) as c:
        codes = [c.get("/api/v1/products").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        limited = c.get("/search?q=a")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.headers["x-content-type-options"] == "nosniff"
        writes = [c.post("/api/v1/verify", content=b"{}").status_code for _ in range(3)]
        assert writes == [200, 200, 429]
        assert c.get("/static/style.css").status_code == 200  # static files are not counted


def test_token_is_stored_hashed(registry, key_dirs):
    from iotcop.registry.models import ApiToken

    token = registry.add_manufacturer("Iota", key_dirs[0])
    with registry.session() as s:
        stored = s.scalars(select(ApiToken)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (stored.token_hash, stored.prefix) and len(token) >= 43
