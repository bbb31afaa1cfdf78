"""Expected results as data: the file format is validated at load, and the matching rules judge reports as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import run_cli

from iotcop.evaluation import ExpectedError, evaluate, load_expected, parse_expected
from iotcop.evaluation.expected import glob_regex, parse_pattern
from iotcop.evaluation.match import totals


def _finding(path, line=None, provisions=("5.1-1",), confidence="confirmed", check="credentials.x", title="t", excerpt=None, detail=None):
    return {"id": "0" * 16, "check": check, "severity": "high", "provisions": list(provisions), "title": title,
            "evidence": {"path": path, "line": line, "offset": None, "excerpt": excerpt, "detail": detail},
            "confidence": confidence}


def _report(findings=(), components=(), readers=(), roots=("img.tar_extract/root",)):
    return {"schema": "iotcop.report/1", "findings": list(findings), "components": list(components),
            "extraction": {"roots": list(roots), "partitions": [], "readers": [{"path": p} for p in readers]}}


def _expected(facts=(), negatives=(), ratchet=None):
    data = {"schema": "iotcop.expected/1", "image": "img.tar", "facts": list(facts), "negatives": list(negatives)}
    if ratchet is not None:
        data["ratchet"] = ratchet
    return parse_expected(data, Path("img.yaml"))


def _state(expected, report, fact="F1"):
    return next(f.state for f in evaluate(expected, report).facts if f.id == fact)


# -- path patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern, path, matches", [
    ("etc/shadow", "etc/shadow", True), ("etc/*", "etc/shadow", True), ("etc/*", "etc/init.d/rcS", False),
    ("etc/**", "etc/init.d/rcS", True), ("**/busybox", "bin/busybox", True), ("**/busybox", "busybox", True),
    ("home/diag/**", "home/diag/bin/ash", True), ("<image>/**.uncompressed", "<image>/a.tar.gz_extract/gzip.uncompressed", True),
    ("bin/sh?", "bin/shx", True), ("bin/sh?", "bin/sh/x", False),
])
def test_glob_patterns(pattern, path, matches):
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


def test_line_lists():
    p = parse_pattern("etc/bewan/config.default/router.conf:29-30,378-387,400-")
    assert p.lines == ((29, 30), (378, 387), (400, None))
    assert p.matches("/etc/bewan/config.default/router.conf", 29) and p.matches("/etc/bewan/config.default/router.conf", 9999)
    assert not p.matches("/etc/bewan/config.default/router.conf", 31)
    assert not p.matches("/etc/bewan/config.default/router.conf", None)  # no line: does not touch a pattern with lines
    assert parse_pattern("uImage").lines == () and parse_pattern("uImage").matches("/uImage", None)


# -- fact states ----------------------------------------------------------------------------------


def test_found_partial_missed():
    exp = _expected([{"id": "F1", "title": "hash", "provisions": ["5.1-1"], "evidence": [{"paths": ["etc/shadow:1"]}]}])
    assert _state(exp, _report([_finding("/etc/shadow", 1)])) == "found"
    assert _state(exp, _report([_finding("/etc/shadow", 1, provisions=["5.1-3"])])) == "partial"  # other provision
    assert _state(exp, _report([_finding("/etc/shadow", 1, confidence="possible")])) == "partial"  # below likely
    assert _state(exp, _report([_finding("/etc/shadow", 2)])) == "missed"  # another line is another place
    assert _state(exp, _report([_finding("/etc/passwd", 1)])) == "missed"
    assert _state(exp, _report([_finding("/etc/shadow", 1, confidence="likely")])) == "found"


def test_multi_part_fact_found_in_part_is_partial():
    exp = _expected([{"id": "F1", "title": "two keys", "provisions": ["5.1-1"],
                      "evidence": [{"paths": ["etc/a.conf:167"]}, {"paths": ["etc/a.conf:367"]}]}])
    assert _state(exp, _report([_finding("/etc/a.conf", 367)])) == "partial"
    assert _state(exp, _report([_finding("/etc/a.conf", 367), _finding("/etc/a.conf", 167)])) == "found"


def test_text_keeps_two_facts_of_one_binary_apart():
    exp = _expected([
        {"id": "F1", "title": "ftp", "provisions": ["5.6-1"], "evidence": [{"paths": ["bin/multi"], "text": "ftp|anonymous"}]},
        {"id": "F2", "title": "pw", "provisions": ["5.1-1"], "evidence": [{"paths": ["bin/multi"], "text": "password"}]},
    ])
    result = evaluate(exp, _report([_finding("/bin/multi", provisions=["5.6-1"], title="Anonymous FTP access")]))
    assert [(f.id, f.state) for f in result.facts] == [("F1", "found"), ("F2", "missed")]


def test_min_confidence_can_be_lowered():
    exp = _expected([{"id": "F1", "title": "x", "provisions": ["5.6-1"], "min_confidence": "possible",
                      "evidence": [{"paths": ["etc/inetd.conf"]}]}])
    assert _state(exp, _report([_finding("/etc/inetd.conf", 3, provisions=["5.6-1"], confidence="possible")])) == "found"


def test_component_and_extraction_parts():
    exp = _expected([
        {"id": "F1", "title": "versions", "provisions": ["5.3-1"],
         "evidence": [{"component": "busybox", "version": "1.17.2"}, {"component": "samba", "version": "3.0.37"}]},
        {"id": "F2", "title": "bundle", "provisions": ["5.3-1"], "evidence": [{"component": "openssl", "paths": ["opt/sense/**"]}]},
        {"id": "F3", "title": "web tarball", "provisions": [], "evidence": [{"extracted": "home/web.tar.gz"}]},
    ])
    comps = [{"name": "busybox", "version": "1.17.2", "evidence": [{"path": "/bin/busybox"}]},
             {"name": "samba", "version": "3.0.23", "evidence": [{"path": "/bin/nmbd"}]},
             {"name": "openssl", "version": "1.1.1", "evidence": [{"path": "/usr/lib/libcrypto.so.1.1"}]}]
    result = evaluate(exp, _report(components=comps, readers=["img.tar_extract/root/home/web.tar.gz"]))
    assert [(f.id, f.state) for f in result.facts] == [("F1", "partial"), ("F2", "partial"), ("F3", "found")]
    comps[1]["version"] = "3.0.37"
    comps[2]["evidence"].append({"path": "/opt/sense/lib/libcrypto.so.1.1"})
    result = evaluate(exp, _report(components=comps, readers=["elsewhere/web.tar.gz"]))
    assert [(f.id, f.state) for f in result.facts] == [("F1", "found"), ("F2", "found"), ("F3", "missed")]


def test_disputed_fact_stays_out_of_recall():
    exp = _expected([{"id": "F1", "title": "a", "provisions": ["5.1-1"], "evidence": [{"paths": ["etc/shadow"]}]},
                     {"id": "F2", "title": "b", "disputed": "a trap for component identification, not a finding"}])
    result = evaluate(exp, _report([_finding("/etc/shadow", 1)]))
    assert (result.countable, result.count("found"), result.count("disputed"), result.recall) == (1, 1, 1, 1.0)


# -- negatives, unmatched findings, ratchet -------------------------------------------------------


def test_negatives_hits_possible_and_provision_filter():
    exp = _expected(negatives=[
        {"id": "N1", "title": "static inetd.conf", "paths": ["etc/inetd.conf"]},
        {"id": "N2", "title": "mp daemon", "paths": ["bin/UDPserver"], "provisions": ["5.6-1"]},
        {"id": "N3", "title": "fake banner", "paths": ["**"], "component": "apache.*"},
    ])
    report = _report([
        _finding("/etc/inetd.conf", 12, provisions=["5.6-1"], confidence="possible"),
        _finding("/bin/UDPserver", provisions=["5.6-8"], check="hardening.binaries"),  # another provision: not this negative
    ], components=[{"name": "apache_http_server", "version": "1.3.29", "evidence": [{"path": "/sbin/lighttpd"}]}])
    result = evaluate(exp, report)
    assert result.negatives_hit == ["N3"]
    assert [len(n.possible) for n in result.negatives] == [1, 0, 0]
    assert [g["check"] for g in result.unmatched] == ["hardening.binaries"]  # the hardening finding matches nothing


def test_unmatched_findings_are_grouped_and_vulnerabilities_counted_apart():
    exp = _expected([{"id": "F1", "title": "a", "provisions": ["5.1-1"], "evidence": [{"paths": ["etc/shadow"]}]}])
    report = _report([
        _finding("/etc/shadow", 1),
        _finding("/etc/config/luci", 10, title="Password in configuration"),
        _finding("/etc/config/luci", 12, title="Password in configuration"),
        _finding("/etc/other", 1, confidence="possible"),  # possible findings are not listed
        *[_finding("/lib/libcrypto.so", check="vulns.known-vulnerability", title=f"openssl: CVE-{i}", confidence="likely") for i in range(5)],
    ])
    result = evaluate(exp, report)
    assert result.unmatched_count == 2
    assert result.unmatched[0]["lines"] == [10, 12] and result.unmatched[0]["count"] == 2
    assert [(g["path"], g["count"]) for g in result.vulnerabilities] == [("/lib/libcrypto.so", 5)]
    assert totals([result])["vulnerability_findings"] == 5


def test_ratchet_regression_and_stale_record():
    facts = [{"id": f"F{i}", "title": "x", "provisions": ["5.1-1"], "evidence": [{"paths": [f"etc/f{i}"]}]} for i in (1, 2)]
    negatives = [{"id": "N1", "title": "n", "paths": ["etc/n"]}]
    exp = _expected(facts, negatives, ratchet={"found": ["F1"], "negatives_hit": []})
    assert evaluate(exp, _report([_finding("/etc/f1")])).ratchet_problems() == ([], [])
    regress, stale = evaluate(exp, _report([_finding("/etc/f2"), _finding("/etc/n")])).ratchet_problems()
    assert "no longer found: F1" in regress[0] and "N1 (n)" in regress[1]
    assert "record found: [F2] and negatives_hit: [N1]" in stale[0]


# -- validation -----------------------------------------------------------------------------------


def _problems(tmp_path, data) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ExpectedError) as info:
        load_expected(path)
    return str(info.value)


def test_bad_rows_are_clear_errors(tmp_path):
    base = {"schema": "iotcop.expected/1", "image": "x.tar.gz", "negatives": []}
    msg = _problems(tmp_path, {**base, "facts": [{"id": "F1", "title": "t", "provisions": ["5.1-1"], "evidence": [{"pathz": ["a"]}]}]})
    assert "facts[0].evidence[0]" in msg
    msg = _problems(tmp_path, {**base, "facts": [
        {"id": "F1", "title": "t", "provisions": ["9.9-9"], "evidence": [{"paths": ["etc/a:5-2"], "text": "(("}]},
        {"id": "F1", "title": "again", "provisions": ["5.1-1"], "evidence": [{"paths": ["/etc/b"]}]},
    ], "ratchet": {"found": ["F7"], "negatives_hit": []}})
    for expected in ("'9.9-9' is not an EN 303 645 provision", "line range '5-2'", "bad regular expression", "id used twice",
                     "without the leading '/'", "'F7' is not a fact of this file"):
        assert expected in msg, msg
    assert msg.count("\n") == 6  # one line per problem under the heading
    msg = _problems(tmp_path, {**base, "facts": [{"id": "F1", "title": "t", "disputed": "why", "evidence": [{"paths": ["a"]}]}]})
    assert "facts[0]" in msg


def test_cli_reports_an_invalid_file_in_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: iotcop.expected/1\nimage: x\nfacts: [{id: F1, title: t, provisions: [5.1-1], evidence: [{paths: ['a:0']}]}]\nnegatives: []\n")
    report = tmp_path / "r.json"
    report.write_text(json.dumps(_report()))
    result = run_cli("evaluate", bad, "--report", report)
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "line range '0' is empty or starts before line 1" in result.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("facts: [\n")
    result = run_cli("evaluate", broken, "--report", report)
    assert result.code == 2 and "broken.yaml:2: not valid YAML" in result.stderr


def test_cli_scans_a_tree_and_writes_json(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "etc/passwd").write_text("root::0:0:root:/root:/bin/sh\n")
    (root / "etc/inittab").write_text("::sysinit:/etc/init.d/rcS\n")
    expected = tmp_path / "tree.yaml"
    expected.write_text(yaml.safe_dump({
        "schema": "iotcop.expected/1", "image": "rootfs",
        "facts": [{"id": "F1", "title": "empty root password", "provisions": ["5.1-1"], "evidence": [{"paths": ["etc/passwd:1"]}]},
                  {"id": "F2", "title": "telnet", "provisions": ["5.6-1"], "evidence": [{"paths": ["etc/inetd.conf"]}]}],
        "negatives": [{"id": "N1", "title": "inittab", "paths": ["etc/inittab"]}],
        "ratchet": {"found": ["F1"], "negatives_hit": []},
    }))
    out = tmp_path / "eval.json"
    result = run_cli("evaluate", expected, root, "--json", out, "--ratchet")
    assert result.code == 0, result.stderr
    data = json.loads(out.read_text())
    image = data["images"][0]
    assert (image["found"], image["missed"], image["found_ids"], image["negatives_hit"]) == (1, 1, ["F1"], [])
    assert image["seconds"] > 0 and "F1 " not in result.stdout and "F2 missed" in result.stdout
    # The same report saved and judged again gives the same figures.
    scan = run_cli("scan", root, "--format", "json", "--quiet")
    saved = tmp_path / "report.json"
    saved.write_text(scan.stdout)
    again = json.loads(run_cli("evaluate", expected, "--report", saved, "--json", "-").stdout)["images"][0]
    assert (again["found_ids"], again["negatives_hit"], again["unmatched_count"]) == (image["found_ids"], [], image["unmatched_count"])
