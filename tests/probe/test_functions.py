"""5.5-4: the firmware's web functions tried on a real lighttpd (mod_cgi) without credentials."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402

EXE = str(Path(sys.executable).with_name("iotcop"))
CGI = "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n{\"ssid\": \"home\", \"%s\": 1}\\n'\n"


def make_firmware(root: Path) -> Path:
    """A small root filesystem whose web root has three CGI handlers and a static page."""
    for d in ("etc", "bin", "www/cgi-bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "www" / "index.html").write_text("<html><body>Camera</body></html>")
    for name in ("status.cgi", "wifi_config.cgi", "reboot.cgi"):
        (root / "www" / "cgi-bin" / name).write_text(CGI % name)
        (root / "www" / "cgi-bin" / name).chmod(0o755)
    return root


def start_web(tmp: Path, www: Path, protected: bool) -> daemons.Daemon:
    daemons.require("lighttpd")
    tmp.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port()
    (tmp / "users").write_text(f"admin:{daemons.strong_password()}\n")
    auth = ('auth.backend = "plain"\nauth.backend.plain.userfile = "%s/users"\n'
            'auth.require = ( "/cgi-bin/" => ( "method" => "basic", "realm" => "cam", "require" => "valid-user" ) )\n'
            % tmp) if protected else ""
    (tmp / "lighttpd.conf").write_text(f"""server.document-root = "{www}"
server.bind = "{daemons.LOOPBACK}"
server.port = {port}
server.errorlog = "{tmp}/error.log"
server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_cgi" )
cgi.assign = ( ".cgi" => "/bin/sh" )
index-file.names = ( "index.html" )
{auth}""")
    return daemons._start("lighttpd", ["lighttpd", "-D", "-f", str(tmp / "lighttpd.conf")], port, tmp)


@pytest.mark.parametrize("protected", [False, True])
def test_firmware_web_functions_tried_without_credentials(tmp_path, protected):
    fw = make_firmware(tmp_path / "rootfs")
    web = start_web(tmp_path / "web", fw / "www", protected)
    try:
        done = subprocess.run([EXE, "scan", str(fw), "--device", "127.0.0.1", "--device-ports", str(web.port),
                               "--device-budget", "30", "--check", "surface.debug-web-pages", "--format", "json",
                               "--quiet", "--view", "ts103701"], capture_output=True, text=True, timeout=300)
    finally:
        web.stop()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    attempts = [a for a in report["device"]["attempts"] if "(no credentials)" in a["detail"]]
    asked = {a["detail"].split()[1]: a["result"] for a in attempts}
    assert set(asked) == {"/cgi-bin/status.cgi", "/cgi-bin/wifi_config.cgi"}  # reboot.cgi is never requested
    assert any(a["action"] == "skip" and "/cgi-bin/reboot.cgi" in a["detail"] for a in report["device"]["attempts"])
    verdict = next(v for v in report["provisions"] if v["id"] == "5.5-4")
    findings = [f for f in report["findings"] if f["check"] == "probe.unauthenticated-functions"]
    case = next(c for c in report["ts103701"]["test_cases"] if c["id"] == "5.5-4-1")
    if protected:
        assert set(asked.values()) == {"refused"}
        assert verdict["verdict"] == "PASS" and not findings
        assert case["verdict"] == "PASS" and case["units"][0]["source"] == "probe"
    else:
        assert set(asked.values()) == {"open"}
        assert verdict["verdict"] == "FAIL" and len(findings) == 2
        assert {f["related"][0]["path"] for f in findings} == {"/www/cgi-bin/status.cgi", "/www/cgi-bin/wifi_config.cgi"}
        assert case["verdict"] == "FAIL"
