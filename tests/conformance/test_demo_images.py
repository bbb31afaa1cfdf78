"""The TS 103 701 view of both demo images, each with a realistic manufacturer declaration.

The clean image's public pages (security.txt, disclosure policy, support period) are served by a
local HTTPS server so the web-verified units are decided; the vulnerable one runs through the CLI
with --no-fetch.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import jsonschema
import pytest
from support import REPO, run_cli

sys.path.insert(0, str(REPO / "tests" / "declaration"))
from decl_webserver import make_ca_and_cert, serve  # noqa: E402

from iotcop.declaration import load_declaration  # noqa: E402
from iotcop.scan import ScanOptions, scan  # noqa: E402

pytestmark = pytest.mark.slow

DATA = Path(__file__).parent / "data"
SCHEMA = json.loads((REPO / "src/iotcop/report/schema/report-1.schema.json").read_text())


def by_id(view):
    return {c["id"]: c for c in view["test_cases"]}


@pytest.fixture(scope="module")
def clean_view(clean_image, tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    ca, cert, key = make_ca_and_cert(folder)
    end = dt.date(2030, 12, 31)
    pages: dict = {}
    with serve(pages, tls=(cert, key)) as base:
        expires = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
        pages["/.well-known/security.txt"] = ("text/plain; charset=utf-8", f"Contact: mailto:security@example.com\n"
                                              f"Expires: {expires}\nPolicy: {base}/security/disclosure-policy\n")
        pages["/security/disclosure-policy"] = ("text/html", "<p>Report vulnerabilities to security@example.com.</p>"
                                                "<p>We acknowledge every report within 5 working days.</p>"
                                                "<p>Reporters receive a status update at least every 30 days until it is fixed.</p>")
        pages["/support/icd-1"] = ("text/html", f"<p>The IoTCop Demo Router gets security updates until {end.day} "
                                                f"{end.strftime('%B')} {end.year}.</p>")
        text = (DATA / "clean-declaration.yaml").read_text().replace("https://vendor.invalid", base)
        path = folder / "clean-declaration.yaml"
        path.write_text(text)
        decl = load_declaration(path)
        out = folder / "out"
        result = scan(clean_image.image, ScanOptions(declaration=decl, verify_tls=ca, jobs=2, views=("ts103701",),
                                                     out_dir=out, outputs=("json", "ts103701")))
    return result.assessment, out


def test_clean_image_view(clean_view):
    assessment, out = clean_view
    view = assessment.ts103701.model_dump(mode="json")
    cases = by_id(view)
    counts = view["counts"]
    print("clean:", counts)
    assert sum(counts.values()) == 109 and view["declaration"] is True
    # web-verified: the published disclosure policy and support period
    assert cases["5.2-1-2"]["verdict"] == "PASS"
    assert cases["5.3-13-2"]["verdict"] == "PASS"
    assert cases["5.2-1-1"]["verdict"] == "PASS" and cases["5.3-13-1"]["verdict"] == "PASS"
    assert cases["4-1-1"]["verdict"] == "PASS"  # every recommendation has an ICS row
    # the firmware shows the declared model designation (/etc/banner)
    unit = cases["5.3-16-2"]["units"][0]
    assert unit["verdict"] == "PASS" and unit["evidence"][0]["path"] == "/etc/banner"
    # the reviewed implementations are the ones in the image
    assert cases["5.5-2-2"]["verdict"] == "PASS"
    # no password-based authentication beyond the declared ones; still open without a device probe
    assert cases["5.1-1-2"]["units"][0]["verdict"] == "INCONCLUSIVE"
    assert "scan --device" in cases["5.1-1-2"]["units"][0]["note"]
    # conditions answered false by the declaration
    assert cases["5.1-2-1"]["verdict"] == "N/A" and cases["6-5-2"]["verdict"] == "N/A"
    # ICS rows N
    assert cases["5.7-1-1"]["verdict"] == "FAIL" and cases["5.6-3-1"]["verdict"] == "FAIL"
    assert not any(c["verdict"] == "PASS" and c["coverage"] == "manual" for c in view["test_cases"])
    report = json.loads((out / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["ts103701"]["counts"] == counts
    written = json.loads((out / "ts103701.json").read_text())
    assert written["counts"] == counts and len(written["test_cases"]) == 109
    html = (out / "ts103701.html").read_text()
    assert 'id="tc-5.2-1-2"' in html and "<script" not in html


def test_vulnerable_image_view_through_the_cli(vulnerable_image, tmp_path):
    out = tmp_path / "out"
    res = run_cli("scan", vulnerable_image.image, "--declaration", DATA / "vulnerable-declaration.yaml", "--no-fetch",
                  "--view", "ts103701", "--out", out, "--output", "json,ts103701", timeout=900)
    assert res.code == 1, res.stderr
    assert "TS 103 701 test cases: PASS" in res.stdout and "5.3-10-1" in res.stdout
    report = json.loads((out / "report.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    view = report["ts103701"]
    cases = by_id(view)
    print("vulnerable:", view["counts"])
    assert sum(view["counts"].values()) == 109
    assert view["counts"]["FAIL"] > 20
    # default passwords, undeclared telnet/FTP logins, a shared key, MD5 checksums, plaintext management
    for cid in ("5.1-1-1", "5.1-1-2", "5.1-3-2", "5.4-3-2", "5.4-4-1", "5.5-1-2", "5.5-7-2", "5.6-1-2", "5.3-9-1", "5.6-4-2"):
        assert cases[cid]["verdict"] == "FAIL", (cid, cases[cid]["note"])
    telnet = cases["5.6-1-2"]["units"]
    assert telnet[0]["verdict"] == "FAIL" and "telnet" in telnet[0]["note"].lower()
    assert telnet[1]["verdict"] == "FAIL" and any(e.get("path") in ("/etc/init.d/rcS", "/etc/inetd.conf") for e in telnet[1]["evidence"])
    # the declaration claims user-defined passwords; the firmware's default ones decide against the claim
    note = cases["5.1-1-1"]["units"][0]["note"]
    assert "decided by the firmware evidence" in note and "the claim (declaration): PASS" in note
    # without fetching, the published pages stay undecided
    assert cases["5.2-1-2"]["verdict"] == "INCONCLUSIVE"
    assert (out / "ts103701.html").stat().st_size > 10000
