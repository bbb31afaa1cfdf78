"""5.13-1: malformed values sent to the parameters the firmware's CGI handlers read, on a real lighttpd (mod_cgi)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402

from iotcop.probe.handlers import parameters, safe_to_try  # noqa: E402

EXE = str(Path(sys.executable).with_name("iotcop"))
# reads ?iface=, refuses anything but a short lower-case name with 400
VALIDATING = r"""#!/bin/sh
iface=$(echo "$QUERY_STRING" | sed -n 's/^.*iface=\([^&]*\).*$/\1/p')
case "$iface" in
  ""|*[!a-z0-9]*) printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\ninvalid iface\n'; exit 0;;
esac
if [ ${#iface} -gt 15 ]; then printf 'Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\ntoo long\n'; exit 0; fi
printf 'Content-Type: text/plain\r\n\r\n'
echo "state of $iface: up"
"""
# reads ?page= and shows a file of its docs folder (the CGI runs in its own folder) without checking the name
TRAVERSAL = r"""#!/bin/sh
page=$(echo "$QUERY_STRING" | sed -n 's/^.*page=\([^&]*\).*$/\1/p')
printf 'Content-Type: text/plain\r\n\r\n'
cat "./docs/$page" 2>/dev/null || echo "no such page"
"""
# looks a name up through eval: a command separator in ?host= runs
EVAL = r"""#!/bin/sh
host=$(echo "$QUERY_STRING" | sed -n 's/^.*host=\([^&]*\).*$/\1/p')
printf 'Content-Type: text/plain\r\n\r\n'
eval "echo looking up $host"
"""
# changes the configuration: never tried with made-up values
WRITES = r"""#!/bin/sh
ssid=$(echo "$QUERY_STRING" | sed -n 's/^.*ssid=\([^&]*\).*$/\1/p')
uci set wireless.default_radio0.ssid="$ssid" && uci commit wireless
printf 'Content-Type: text/plain\r\n\r\nsaved\n'
"""


def make_firmware(root: Path, handlers: dict[str, str]) -> Path:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "www" / "cgi-bin").mkdir(parents=True, exist_ok=True)
    (root / "www" / "index.html").write_text("<html><body>Camera</body></html>")
    (root / "www" / "cgi-bin" / "docs").mkdir(exist_ok=True)
    (root / "www" / "cgi-bin" / "docs" / "help.txt").write_text("Press the button for five seconds.\n")
    for name, text in handlers.items():
        (root / "www" / "cgi-bin" / name).write_text(text)
        (root / "www" / "cgi-bin" / name).chmod(0o755)
    return root


def scan_device(tmp_path: Path, handlers: dict[str, str]) -> dict:
    daemons.require("lighttpd")
    fw = make_firmware(tmp_path / "rootfs", handlers)
    web_tmp = tmp_path / "web"
    web_tmp.mkdir()
    port = daemons.free_port()
    (web_tmp / "lighttpd.conf").write_text(f"""server.document-root = "{fw / 'www'}"
server.bind = "{daemons.LOOPBACK}"
server.port = {port}
server.errorlog = "{web_tmp}/error.log"
server.modules = ( "mod_cgi" )
cgi.assign = ( ".cgi" => "/bin/sh" )
index-file.names = ( "index.html" )
""")
    web = daemons._start("lighttpd", ["lighttpd", "-D", "-f", str(web_tmp / "lighttpd.conf")], port, web_tmp)
    try:
        done = subprocess.run([EXE, "scan", str(fw), "--device", daemons.LOOPBACK, "--device-ports", str(port),
                               "--device-budget", "40", "--check", "input", "--format", "json", "--quiet", "--view",
                               "ts103701"], capture_output=True, text=True, timeout=300)
    finally:
        web.stop()
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _case(report: dict, cid: str) -> dict:
    return next(c for c in report["ts103701"]["test_cases"] if c["id"] == cid)


def test_handlers_that_refuse_malformed_values_pass_5_13_1(tmp_path):
    report = scan_device(tmp_path, {"iface.cgi": VALIDATING, "wifi.cgi": WRITES})
    run = next(c for c in report["checks"] if c["id"] == "probe.input-validation")
    assert run["status"] == "ran", run
    tried = [a for a in report["device"]["attempts"] if a["detail"].startswith("GET /cgi-bin/")
             and ("(benign value)" in a["detail"] or "=<" in a["detail"])]
    assert {a["detail"].split("?")[0] for a in tried} == {"GET /cgi-bin/iface.cgi"}  # wifi.cgi writes: never tried
    assert any(a["action"] == "skip" and "/cgi-bin/wifi.cgi" in a["detail"] for a in report["device"]["attempts"])
    malformed = [a for a in tried if "<" in a["detail"]]
    assert len(malformed) == 5 and {a["result"] for a in malformed} == {"refused"}
    assert {v["id"]: v["verdict"] for v in report["provisions"]}["5.13-1"] == "PASS"
    case = _case(report, "5.13-1-1")
    assert case["coverage"] == "automated" and case["verdict"] == "PASS", case
    assert all(u["verdict"] == "PASS" and "probe" in u["source"] for u in case["units"])


def test_a_handler_that_returns_a_file_outside_its_folder_fails_5_13_1(tmp_path):
    report = scan_device(tmp_path, {"iface.cgi": VALIDATING, "docs.cgi": TRAVERSAL})
    findings = [f for f in report["findings"] if f["check"] == "probe.input-validation"]
    run = next(c for c in report["checks"] if c["id"] == "probe.input-validation")
    assert [(f["title"], f["confidence"]) for f in findings] == [
        ("/cgi-bin/docs.cgi mishandles a malformed 'page' (path traversal)", "confirmed")], (
        run["status"], run.get("error"), [f"{a['result']} {a['detail']}" for a in report["device"]["attempts"]
                                          if a["detail"].startswith("GET /cgi-bin/")])
    assert findings[0]["related"][0]["path"] == "/www/cgi-bin/docs.cgi"
    assert findings[0]["evidence"]["excerpt"] is None  # the device's account file is not copied into the report
    # the firmware check sees no command sink here: the probe decides
    assert not [f for f in report["findings"] if f["check"] == "input.script-injection"]
    case = _case(report, "5.13-1-1")
    assert case["verdict"] == "FAIL"
    assert all(u["verdict"] == "FAIL" and "probe" in u["source"] and u["findings"] == [findings[0]["id"]]
               for u in case["units"]), case["units"]
    assert _case(report, "5.13-1-2")["units"][0]["verdict"] == "FAIL"


def test_a_handler_that_runs_the_value_is_a_confirmed_finding(tmp_path):
    report = scan_device(tmp_path, {"lookup.cgi": EVAL})
    findings = {f["title"]: f for f in report["findings"] if f["check"] == "probe.input-validation"}
    shell = findings["/cgi-bin/lookup.cgi mishandles a malformed 'host' (shell command)"]
    assert shell["confidence"] == "confirmed" and "a shell ran it" in shell["evidence"]["detail"]
    assert "42iotcop" in shell["evidence"]["excerpt"]
    # the firmware check sees the same flow in the source
    assert [f["evidence"]["path"] for f in report["findings"] if f["check"] == "input.script-injection"] == [
        "/www/cgi-bin/lookup.cgi"]


def test_parameters_and_safety_from_the_source():
    assert parameters(VALIDATING) == ["iface"]
    assert parameters('local v = luci.http.formvalue("host")\nlocal w = http.formvalue("count")') == ["host", "count"]
    assert parameters("<?php $a = $_GET['q']; $b = $_REQUEST[\"n\"]; ?>") == ["q", "n"]
    assert parameters('echo "$FORM_name $FORM_age"') == ["name", "age"]
    assert safe_to_try("/www/cgi-bin/iface.cgi", VALIDATING) and safe_to_try("/www/cgi-bin/docs.cgi", TRAVERSAL)
    assert not safe_to_try("/www/cgi-bin/wifi.cgi", WRITES)
    assert not safe_to_try("/x.cgi", "#!/bin/sh\necho \"$FORM_v\" > /etc/config/x\n")
    assert not safe_to_try("/x.cgi", "#!/bin/sh\n[ -n \"$FORM_v\" ] && reboot\n")
    assert safe_to_try("/x.cgi", "#!/bin/sh\necho '<b>reboot</b> > done' 2>/dev/null\n")  # words in quotes, /dev/null
    assert not safe_to_try("/x.lua", 'local u = require("luci.model.uci").cursor()\nu:set("system", "x", "y", v)\n')
    assert not safe_to_try("/x.php", "<?php file_put_contents('/tmp/x', $_GET['a']); ?>")
