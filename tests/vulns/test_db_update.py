"""`iotcop db update` against a local HTTP server serving recorded data in the real formats.

NVD API 2.0 pages are assembled from the NVD field extracts in ../shared/vulndata/verified
(id, description, CVSS vector and score, cpeMatch ranges as NVD published them); OSV documents are
the OSS-Fuzz records in ../shared/vulndata/raw/oss-fuzz-vulns; the Alpine secdb file is served as is.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from iotcop.errors import InputError
from iotcop.sbom.identify import Component
from iotcop.vulns.db import STARTER_DB, check_integrity, now_iso, status
from iotcop.vulns.importers import cve5_records
from iotcop.vulns.match import match_components
from iotcop.vulns.update import update

VULNDATA = Path(__file__).resolve().parents[3] / "shared" / "vulndata"
DATA = Path(__file__).parent / "data"


def vulndata(*parts: str) -> Path:
    if not VULNDATA.is_dir():
        pytest.skip("../shared/vulndata is not present")
    return VULNDATA.joinpath(*parts)


def nvd_items() -> list[dict]:
    items = []
    for path in sorted(vulndata("verified").glob("*.json")):
        rec = json.loads(path.read_text())
        vector, _, score = rec["cvss"].rpartition(" ")
        matches = [{**m, "matchCriteriaId": hashlib.sha1(m["criteria"].encode()).hexdigest()}
                   for m in rec["affected"]["cpe_matches"] if "criteria" in m]
        items.append({"cve": {
            "id": rec["id"], "published": rec["published"], "vulnStatus": "Analyzed",
            "descriptions": [{"lang": "en", "value": rec["description"]}],
            "metrics": {"cvssMetricV31": [{"source": "nvd@nist.gov", "type": "Primary", "cvssData": {
                "version": "3.1", "vectorString": vector, "baseScore": float(score)}}]},
            "configurations": [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": matches}]}],
        }})
    # One NVD record per CVE: extracts of the same CVE for two products share the configuration.
    unique: dict[str, dict] = {}
    for item in items:
        have = unique.setdefault(item["cve"]["id"], item)
        if have is not item:
            have["cve"]["configurations"][0]["nodes"][0]["cpeMatch"] += item["cve"]["configurations"][0]["nodes"][0]["cpeMatch"]
    return [unique[k] for k in sorted(unique)]


def osv_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(vulndata("raw", "oss-fuzz-vulns", "vulns", "dnsmasq").glob("*.yaml")):
            doc = yaml.safe_load(path.read_text())
            zf.writestr(path.stem + ".json", json.dumps(doc, default=str))
    return buf.getvalue()


class Recorded(BaseHTTPRequestHandler):
    nvd: list[dict] = []
    osv: bytes = b""
    alpine: bytes = b""
    fail_nvd_start: int | None = None  # answer 503 for this page while set
    truncate_once = False  # first OSV download: send half the body, then close
    log: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        type(self).log.append(self.path)
        if url.path == "/rest/json/cves/2.0":
            q = parse_qs(url.query)
            start, size = int(q["startIndex"][0]), int(q["resultsPerPage"][0])
            if start == type(self).fail_nvd_start:
                self.send_error(503)
                return
            body = json.dumps({"resultsPerPage": len(self.nvd[start:start + size]), "startIndex": start,
                               "totalResults": len(self.nvd), "format": "NVD_CVE", "version": "2.0",
                               "timestamp": "2024-01-01T00:00:00.000",
                               "vulnerabilities": self.nvd[start:start + size]}).encode()
            self._send(200, body)
        elif url.path == "/OSS-Fuzz/all.zip":
            data = self.osv
            rng = self.headers.get("Range")
            if rng:
                offset = int(rng.split("=")[1].rstrip("-"))
                self._send(206, data[offset:], {"Content-Range": f"bytes {offset}-{len(data) - 1}/{len(data)}"})
            elif type(self).truncate_once:
                type(self).truncate_once = False
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self._send(200, data)
        elif url.path == "/alpine/v3.9/main.yaml":
            self._send(200, self.alpine)
        else:
            self.send_error(404)

    def _send(self, code, body, headers=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    Recorded.nvd = nvd_items()
    Recorded.osv = osv_zip()
    Recorded.alpine = vulndata("raw", "alpine-secdb", "v3.9", "main.yaml").read_bytes()
    Recorded.fail_nvd_start, Recorded.truncate_once, Recorded.log = None, False, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorded)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "vulns.sqlite"
    shutil.copy(STARTER_DB, path)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_sleep(_seconds: float) -> None:
    pass


def test_nvd_paging_failure_then_resume(server, db):
    before = digest(db)
    Recorded.fail_nvd_start = 5
    with pytest.raises(InputError):
        update("nvd", db_path=db, base_url=f"{server}/rest/json/cves/2.0", delay=0, sleep=no_sleep, page_size=5)
    assert digest(db) == before  # the failed update left the database untouched
    check_integrity(db)
    assert not list(db.parent.glob(".vulns.sqlite.*.tmp"))
    first_pages = [p for p in Recorded.log if "startIndex=0&" in p]
    assert len(first_pages) == 1

    Recorded.fail_nvd_start, Recorded.log = None, []
    result = update("nvd", db_path=db, base_url=f"{server}/rest/json/cves/2.0", delay=0, sleep=no_sleep, page_size=5)
    assert result.reused == 1  # page 0 came from the staging folder of the failed run
    assert not any("startIndex=0&" in p for p in Recorded.log)
    # CVE-2017-17663 (thttpd, mini_httpd) and CVE-2022-30295 (uclibc, uclibc-ng) name two products each
    assert len(Recorded.nvd) == 13 and result.records == 15
    check_integrity(db)
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT cvss_score, source FROM vulns WHERE id='CVE-2017-14491' AND source='nvd'").fetchone()
    assert row == (9.8, "nvd")
    # NVD says dnsmasq <= 2.77; the range from the recorded page now matches
    comp = Component(name="dnsmasq", version="2.77", vendor="thekelleys", product="dnsmasq")
    assert any(s.name == "nvd" for m in match_components([comp], db) if m.id == "CVE-2017-14491" for s in m.sources)
    comp = Component(name="dnsmasq", version="2.78", vendor="thekelleys", product="dnsmasq")
    assert not [m for m in match_components([comp], db) if m.id == "CVE-2017-14491"]


def test_osv_interrupted_download_resumes(server, db):
    before = digest(db)
    Recorded.truncate_once = True
    with pytest.raises(InputError, match="interrupted"):
        update("osv", db_path=db, base_url=server)
    assert digest(db) == before
    parts = list(db.parent.glob(".vulns.sqlite.staging-*/*.part"))
    assert len(parts) == 1 and 0 < parts[0].stat().st_size < len(Recorded.osv)

    result = update("osv", db_path=db, base_url=server)
    assert result.reused == 1
    assert sum("all.zip" in p for p in Recorded.log) == 2
    check_integrity(db)
    with sqlite3.connect(db) as conn:
        n = conn.execute("SELECT count(*) FROM vulns WHERE source='osv' AND component='dnsmasq'").fetchone()[0]
    assert n == len(list(vulndata("raw", "oss-fuzz-vulns", "vulns", "dnsmasq").glob("*.yaml")))
    assert not list(db.parent.glob(".vulns.sqlite.staging-*"))


def test_url_alpine_secdb_and_status(server, db):
    result = update(f"{server}/alpine/v3.9/main.yaml", db_path=db)
    assert result.records > 100
    st = status(db)
    assert st["by_source"]["alpine-secdb v3.9"] == result.records
    assert st["age_days"] < 1
    comp = Component(name="busybox", version="1.29.3", vendor="busybox", product="busybox", package="busybox",
                     package_version="1.29.3-r9", manager="apk")
    hits = {m.id for m in match_components([comp], db)}
    assert "CVE-2019-5747" in hits  # Alpine v3.9: fixed in 1.29.3-r10


def test_file_sources_and_corrupt_input_keeps_db(db, tmp_path):
    before = digest(db)
    bad = tmp_path / "bad.json"
    bad.write_text('{"something": "else"}')
    with pytest.raises(InputError):
        update(str(bad), db_path=db)
    assert digest(db) == before
    result = update(str(vulndata("verified")), db_path=db)
    assert result.documents == 15 and result.records >= 15
    result = update(str(DATA / "CVE-2023-38545.cve5.json"), db_path=db)
    assert result.records == 1


def test_cve5_record_ranges():
    doc = json.loads((DATA / "CVE-2023-38545.cve5.json").read_text())
    (rec,) = cve5_records(doc)
    assert rec.component == "curl"
    (aff,) = rec.affects
    # affected below 8.4.0, unaffected below 7.69.0
    assert (aff.introduced, aff.fixed) == ("7.69.0", "8.4.0")


def test_cli_db_status_and_update(cli, db, tmp_path):
    res = cli("db", "status", "--db", str(db), "--json")
    assert res.code == 0 and json.loads(res.stdout)["records"] > 5000
    res = cli("db", "update", "--source", str(tmp_path / "missing.json"), "--db", str(db))
    assert res.code == 2 and res.stderr.startswith("iotcop: error:")
    res = cli("db", "update", "--source", str(DATA / "CVE-2023-38545.cve5.json"), "--db", str(db))
    assert res.code == 0, res.stderr
    assert "imported 1 records" in res.stdout


def test_age_is_the_data_date_not_the_import_time(db):
    from iotcop.vulns.db import age_warning

    # The starter data is a snapshot: its newest record (Buildroot history, 2026-08) dates the database,
    # however recently it was copied or imported.
    st = status(db)
    assert st["data_date"] == max(s["newest"][:10] for s in st["sources"].values() if s["newest"])
    assert st["sources"]["linux_kernel_cves"]["newest"] == "2024-04-09"  # the nluedtke snapshot
    assert st["sources"]["openssl-web-vulnerabilities.xml"]["newest"] == "2022-05-03"
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('updated_at', ?)", (now_iso(),))
        conn.execute("UPDATE vulns SET modified = '2020-01-01'")
    warning = age_warning(db)
    assert warning and "days old" in warning and "2020-01-01" in warning and "iotcop db update" in warning
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE vulns SET modified = ? WHERE rowid = 1", (now_iso()[:10],))
    assert age_warning(db) is None
    assert "no vulnerability database" in age_warning(db.parent / "absent.sqlite")


def test_cvss_scores_come_from_the_cvss_library_for_every_version():
    from iotcop.vulns.cvss import base_score

    assert base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert base_score("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H") == 7.8
    assert base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") == 7.5  # CVSS v2, as older NVD and OSV records give it
    assert base_score("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N") == 9.3
    assert base_score("CVSS:3.1/AV:X/nonsense") is None and base_score("") is None
