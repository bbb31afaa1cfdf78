"""Attacks on the registry as a real server (uvicorn on 127.0.0.1, SQLite and PostgreSQL): each is sent, and refused.

One test per finding of the registry review: a product id taken over through a label's QR code, a level the
report does not support, revocations that only /verify showed, uploads read before the token check, and the
smaller items (deep or UTF-16 JSON, script links, Host-header links, file modes, durability settings,
`publish --token ""`, look-alike manufacturer names).  The load items are in test_load.py.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from registry_support import PUBLIC_URL, label_for, small_report

from iotcop.label.signing import load_private_key


def _pid_of(label: bytes) -> str:
    return json.loads(label)["label"]["product"]["id"]


# --- 2. a product id (the label's QR code) belongs to the manufacturer that first published it ---------------


def test_qr_product_id_cannot_be_taken_over(live, key_dirs):
    maker_a, maker_b = live.unique("Alpha Devices"), live.unique("Beta Gadgets")
    token_a = live.add_manufacturer(maker_a, key_dirs[0])
    token_b = live.add_manufacturer(maker_b, key_dirs[1])
    report = small_report()
    genuine = label_for(report, {"name": "Alpha Door Lock", "model": "AL-1"}, "1.0", load_private_key(key_dirs[0]))
    assert live.publish(token_a, genuine, report).status_code == 201
    pid = _pid_of(genuine)

    # B signs, with its own registered key, a label for its product that carries A's QR product id.
    hijack = label_for(report, {"name": "Beta Cheap Lock", "model": "BL-9"}, "9.9", load_private_key(key_dirs[1]),
                       product_id=pid)
    refused = live.publish(token_b, hijack, report)
    assert refused.status_code == 409, refused.text
    assert f"product id {pid}" in refused.json()["detail"] and "another manufacturer" in refused.json()["detail"]

    page = live.get(f"/p/{pid}")
    assert page.status_code == 200
    assert "Alpha Door Lock" in page.text and maker_a in page.text
    assert "Beta Cheap Lock" not in page.text and maker_b not in page.text
    # B's own products are still welcome.
    own = label_for(report, {"name": "Beta Cheap Lock", "model": "BL-9"}, "9.9", load_private_key(key_dirs[1]))
    assert live.publish(token_b, own, report).status_code == 201
    assert "Beta Cheap Lock" in live.get(f"/p/{_pid_of(own)}").text


# --- 3. the label's level is recomputed from its report --------------------------------------------------


def test_level_not_supported_by_the_report_is_refused(live, key_dirs, real_reports):
    from iotcop.label.level import label_level
    from iotcop.model import Assessment

    token = live.add_manufacturer(live.unique("Gamma Home"), key_dirs[0])
    key = load_private_key(key_dirs[0])
    report = small_report()
    computed = label_level(Assessment.model_validate(json.loads(report))).value
    assert computed == 0
    inflated = label_for(report, {"name": "Gamma Camera", "model": "GC-4"}, "4.0", key, level=4)
    refused = live.publish(token, inflated, report)
    assert refused.status_code == 422
    assert "claims level 4, but its report gives level 0" in refused.json()["detail"]
    assert live.get("/api/v1/products", params={"q": "gamma camera"}).json() == []

    honest = label_for(report, {"name": "Gamma Camera", "model": "GC-4"}, "4.0", key, level=computed)
    assert live.publish(token, honest, report).status_code == 201

    # A label made by `label make` from a real scan carries the level the registry computes.
    from iotcop.label.make import build_label
    from iotcop.label.signing import sign_label

    real, decl = real_reports["1.1.0"]
    data = build_label(Assessment.model_validate(json.loads(real)), real, decl, PUBLIC_URL + "/p")
    data["product"]["name"] = "Gamma Router"
    data["product"]["manufacturer"] = None
    made = live.publish(token, sign_label(data, key), real)
    assert made.status_code == 201, made.text
    assert made.json()["label"]["level"] == data["level"]


# --- 4. a revocation shows everywhere, with its date and reason -------------------------------------------


def _everywhere(live, label_id: int, product_id: str, label_pid: str) -> dict[str, str]:
    """Every place a shopper or a client reads a label."""
    feed = live.get("/feed.json").json()
    return {
        "label api": json.dumps(live.get(f"/api/v1/labels/{label_id}").json()),
        "product api": json.dumps(live.get(f"/api/v1/products/{product_id}").json()),
        "feed": json.dumps([i for i in feed["items"] if i["_iotcop"]["label_id"] == label_id]),
        "product page": live.get(f"/products/{product_id}").text,
        "qr page": live.get(f"/p/{label_pid}").text,
    }


def test_key_revocation_shows_everywhere(live, key_dirs, tmp_path):
    from support import run_cli

    maker = live.unique("Delta Sensors")
    token = live.add_manufacturer(maker, key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Delta Smoke Alarm", "model": "DS-2"}, "2.0", load_private_key(key_dirs[0]))
    stored = live.publish(token, label, report).json()["label"]
    ids = (stored["id"], stored["product_id"], stored["label_product_id"])
    before = _everywhere(live, *ids)  # the product page is rendered and cached now
    assert json.loads(before["label api"])["revoked"] is False and "revoked" not in before["qr page"].lower()

    kid = json.loads(label)["signature"]["key_id"]
    reason = "private key found in a public repository"
    done = run_cli("registry", "key", "revoke", kid, "--reason", reason, "--db", live.db_url)
    assert done.code == 0, done.stderr
    today = time.strftime("%Y-%m-%d", time.gmtime())
    after = _everywhere(live, *ids)
    for where, text in after.items():
        assert reason in text and today in text, where
    api = json.loads(after["label api"])
    assert api["revoked"] is True and api["revoked_by"] == "signing key" and api["revoked_at"].startswith(today)
    assert json.loads(after["product api"])["product"]["latest"]["revoked"] is True
    items = json.loads(after["feed"])
    assert {tuple(i["tags"]) for i in items} >= {("new",), ("revoked",)}
    assert all(i["_iotcop"]["revoked"] and i["_iotcop"]["revoked_reason"] == reason for i in items)
    for page in ("product page", "qr page"):
        assert "The key that signed this label was revoked by the registry." in after[page]
    assert "Label revoked" in live.get("/search", params={"q": "delta smoke"}).text
    verified = httpx.post(live.base + "/api/v1/verify", content=label, timeout=30).json()
    assert verified["status"] == "revoked" and reason in verified["reason"]


def test_label_revocation_shows_everywhere(live, key_dirs):
    token = live.add_manufacturer(live.unique("Epsilon Audio"), key_dirs[0])
    report = small_report()
    label = label_for(report, {"name": "Epsilon Speaker", "model": "ES-1"}, "1.1", load_private_key(key_dirs[0]))
    stored = live.publish(token, label, report).json()["label"]
    ids = (stored["id"], stored["product_id"], stored["label_product_id"])
    _everywhere(live, *ids)
    reason = "firmware 1.1 ships a debug shell"
    r = httpx.post(f"{live.base}/api/v1/labels/{stored['id']}/revoke", json={"reason": reason},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200 and r.json()["revoked_by"] == "manufacturer"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    for where, text in _everywhere(live, *ids).items():
        assert reason in text and today in text, where
    assert "This label was revoked by the manufacturer." in live.get(f"/p/{ids[2]}").text


# --- 5. uploads: the token first, then a stream under the size limit -------------------------------------


def _tree_bytes(*folders: Path) -> int:
    return sum(f.stat().st_size for folder in folders for f in folder.rglob("*") if f.is_file())


def _raw_upload(base: str, path: str, declared: int, send_before_reading: int, token: str | None = None):
    """POST a multipart body of `declared` bytes, send only the first part of it, then wait for the answer."""
    parts = urlsplit(base)
    boundary = "iotcopboundary"
    part_head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"firmware\"; filename=\"fw.bin\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection((parts.hostname, parts.port), timeout=20) as sock:
        sock.sendall(head + part_head)
        sent = len(part_head)
        while sent < send_before_reading:
            sock.sendall(b"\x7fELF" * 16384)
            sent += 65536
        try:
            answer = sock.recv(4096)
        except socket.timeout:
            answer = b""
    return answer, sent


def test_upload_without_token_is_refused_before_its_body_is_read(live):
    size = 200 * 1024 * 1024
    before = _tree_bytes(live.data_dir / "uploads", live.server_tmp)
    for path, declared in (("/api/v1/scans", size), ("/api/v1/labels", 15 * 1024 * 1024)):  # under their limits
        answer, sent = _raw_upload(live.base, path, declared, 1024 * 1024)
        # The 401 comes while most of the body is still unsent (a server reading the body first waits for it).
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert sent < declared // 10
    answer, _ = _raw_upload(live.base, "/api/v1/scans", size, 1024 * 1024, token="iotcop_" + "x" * 43)
    assert answer.startswith(b"HTTP/1.1 401")

    # Six whole 200 MB bodies at once: none of it reaches the disk.
    peak = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_bytes(live.data_dir / "uploads", live.server_tmp))
            stop.wait(0.05)

    def send_all():
        try:
            with httpx.Client(timeout=120) as client:
                client.post(live.base + "/api/v1/scans", content=(b"\0" * 1024 * 1024 for _ in range(200)),
                            headers={"Content-Type": "multipart/form-data; boundary=xyz",
                                     "Content-Length": str(size)})
        except httpx.HTTPError:
            pass  # the server may close the connection after its 401

    watcher = threading.Thread(target=watch)
    watcher.start()
    senders = [threading.Thread(target=send_all) for _ in range(6)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(300)
    stop.set()
    watcher.join()
    assert peak[0] - before < 64 * 1024, f"{peak[0] - before} bytes of unauthenticated uploads reached the disk"
    assert live.get("/healthz").status_code == 200


def test_chunked_bodies_over_the_limit_get_413(live, key_dirs):
    token = live.add_manufacturer(live.unique("Zeta Labs"), key_dirs[0])
    auth = {"Authorization": f"Bearer {token}"}

    def chunks(first: bytes, total: int, last: bytes = b""):
        yield first
        sent = 0
        while sent < total:
            yield b" " * 8192
            sent += 8192
        yield last

    boundary = "zeta"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"label\"; filename=\"label.json\"\r\n"
            "Content-Type: application/json\r\n\r\n{").encode()
    tail = f"}}\r\n--{boundary}--\r\n".encode()
    with httpx.Client(timeout=60) as client:  # a generator body goes out chunked (no Content-Length)
        big_label = client.post(live.base + "/api/v1/labels", headers=auth | {
            "Content-Type": f"multipart/form-data; boundary={boundary}"}, content=chunks(head, 100 * 1024, tail))
        assert big_label.status_code == 413, big_label.text
        assert "label: at most 65536 bytes" in big_label.json()["detail"]
        big_verify = client.post(live.base + "/api/v1/verify", headers={"Content-Type": "application/json"},
                                 content=chunks(b"{", 100 * 1024, b"}"))
        assert big_verify.status_code == 413, big_verify.text
        fine = client.post(live.base + "/api/v1/verify", headers={"Content-Type": "application/json"},
                           content=chunks(b'{"a":"', 8 * 1024, b'"}'))
        assert fine.status_code == 200 and fine.json()["status"] == "invalid"


# --- 6. the smaller items ---------------------------------------------------------------------------------


def test_deep_or_utf16_json_is_a_4xx_with_one_log_line(live, key_dirs):
    token = live.add_manufacturer(live.unique("Eta Power"), key_dirs[0])
    log_before = live.log().count("\n")
    nested = b'{"a":' * 10000 + b"1" + b"}" * 10000  # 60 KB
    r = httpx.post(live.base + "/api/v1/verify", content=nested, timeout=30)
    assert r.status_code == 422 and "nested more than 64 levels" in r.json()["detail"]
    just_deep = b'{"label": ' + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"}"
    r = httpx.post(live.base + "/api/v1/verify", content=just_deep, timeout=30)
    assert r.status_code == 422 and "nested" in r.json()["detail"]

    report = small_report()
    utf16 = report.decode().encode("utf-16")
    label = label_for(utf16, {"name": "Eta Plug"}, "1", load_private_key(key_dirs[0]))
    r = live.publish(token, label, utf16)
    assert r.status_code == 422 and "UTF-16" in r.json()["detail"]
    deep_report = report[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    label = label_for(deep_report, {"name": "Eta Plug"}, "2", load_private_key(key_dirs[0]))
    r = live.publish(token, label, deep_report)
    assert r.status_code == 422 and "nested" in r.json()["detail"]

    time.sleep(0.5)
    added = live.log().splitlines()[log_before:]
    assert not any("Traceback" in line or "internal error" in line for line in added), added
    # one access-log line per request, nothing else
    assert len(added) == 4 and all('" 422 ' in line for line in added), added


def test_declaration_links_are_http_only(live, key_dirs):
    token = live.add_manufacturer(live.unique("Theta Toys"), key_dirs[0])
    declaration = {"vulnerability_disclosure": {"policy_url": "javascript:alert(document.cookie)",
                                                "security_txt_url": " JaVaScRiPt:alert(1)",
                                                "contact": "data:text/html,<script>alert(1)</script>"},
                   "support": {"published_url": "https://theta.example/support"}}
    report = small_report(declaration=declaration)
    label = label_for(report, {"name": "Theta Robot", "model": "TR-1"}, "1", load_private_key(key_dirs[0]))
    product = live.publish(token, label, report).json()["label"]["product_id"]
    page = live.get(f"/products/{product}").text
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert not [h for h in hrefs if not (h.startswith(("/", "#", "https://", "http://", "mailto:")))], hrefs
    assert "https://theta.example/support" in hrefs
    assert "javascript:alert(document.cookie)" in page  # shown as text, so a shopper still sees what was declared


def test_links_and_redirects_use_the_public_url_not_the_host_header(live):
    evil = {"Host": "attacker.example"}
    redirect = live.get("/search/", headers=evil, follow_redirects=False)
    assert redirect.status_code in (301, 307, 308)
    assert redirect.headers["location"].startswith(PUBLIC_URL + "/search"), redirect.headers["location"]
    feed = live.get("/feed.json", headers=evil)
    assert "attacker.example" not in feed.text
    assert feed.json()["feed_url"] == PUBLIC_URL + "/feed.json"
    assert all(item["url"].startswith(PUBLIC_URL + "/") for item in feed.json()["items"])
    openapi = live.get("/openapi.json", headers=evil)
    assert "attacker.example" not in openapi.text


def test_database_is_private_and_acknowledged_writes_are_durable(live):
    from sqlalchemy import text

    from iotcop.registry.db import make_engine

    engine = make_engine(live.db_url)
    with engine.connect() as connection:
        if live.kind == "sqlite":
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        else:
            # The test server runs with synchronous_commit=off; the registry's connections turn it back on.
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"
    engine.dispose()
    if live.kind == "sqlite":
        db = Path(urlsplit(live.db_url).path)
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: oct(f.stat().st_mode & 0o777) for f in files} == {f.name: "0o600" for f in files}
        assert (live.data_dir.stat().st_mode & 0o077) == 0 and ((live.data_dir / "uploads").stat().st_mode & 0o077) == 0


def test_publish_with_an_empty_token_names_the_token(live, tmp_path):
    from support import run_cli

    report = small_report()
    (tmp_path / "report.json").write_bytes(report)
    (tmp_path / "label.json").write_bytes(b"{}")
    for args, env in ((["--token", ""], {}), ([], {"IOTCOP_TOKEN": ""}), (["--token", "   "], {})):
        done = run_cli("publish", "--server", live.base, *args, tmp_path / "label.json", tmp_path / "report.json",
                       env=env)
        assert done.code == 2, (args, done.stderr)
        assert "no API token" in done.stderr and "IOTCOP_TOKEN" in done.stderr and "reach" not in done.stderr


def test_manufacturer_names_are_unique_and_never_self_declared(live, key_dirs, tmp_path):
    from support import run_cli

    from iotcop.label.signing import init_keys

    maker_a = live.unique("Iota Security Ltd")
    token_a = live.add_manufacturer(maker_a, key_dirs[0])
    token_b = live.add_manufacturer(live.unique("Kappa Cheap Co"), key_dirs[1])
    init_keys(tmp_path / "keys-c")
    lookalike = run_cli("registry", "manufacturer", "add", "  " + maker_a.upper().replace(" ", "  "), "--key",
                        tmp_path / "keys-c" / "label-signing.pub", "--db", live.db_url)
    assert lookalike.code == 2 and "exists already" in lookalike.stderr

    report = small_report()
    a_label = label_for(report, {"name": "Iota Alarm Hub", "manufacturer": maker_a}, "1", load_private_key(key_dirs[0]))
    assert live.publish(token_a, a_label, report).status_code == 201
    # B declares A's name on its own label: refused; a name nobody registered is kept out of search.
    posing = label_for(report, {"name": "Kappa Alarm Hub", "manufacturer": maker_a.lower()}, "1",
                       load_private_key(key_dirs[1]))
    refused = live.publish(token_b, posing, report)
    assert refused.status_code == 403 and "another registered manufacturer" in refused.json()["detail"]
    made_up = label_for(report, {"name": "Kappa Siren", "manufacturer": "Nu Trusted Brand"}, "1",
                        load_private_key(key_dirs[1]))
    assert live.publish(token_b, made_up, report).status_code == 201
    found = live.get("/api/v1/products", params={"q": maker_a}).json()
    assert [p["name"] for p in found] == ["Iota Alarm Hub"]
    assert live.get("/api/v1/products", params={"q": "nu trusted brand"}).json() == []
    assert "Kappa Siren" not in live.get("/search", params={"q": "trusted brand"}).text
