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


def start_web(tmp: Path, www: Path, protected: bool, password: str = "", require: str = "valid-user") -> daemons.Daemon:
    daemons.require("lighttpd")
    tmp.mkdir(parents=True, exist_ok=True)
    port = daemons.free_port()
    (tmp / "users").write_text(f"admin:{password or daemons.strong_password()}\n")
    auth = ('auth.backend = "plain"\nauth.backend.plain.userfile = "%s/users"\n'
            'auth.require = ( "/cgi-bin/" => ( "method" => "basic", "realm" => "cam", "require" => "%s" ) )\n'
            % (tmp, require)) if protected else ""
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


DECLARATION = """schema: iotcop.declaration/1
product: {name: "VendorCam", type: "camera"}
manufacturer: {name: "Vendor Ltd", address: "1 Example Street, London"}
model_designation: "CAM-100"
firmware_version: "1.2.0"
network_services:
  - {name: "http", protocol: tcp, port: 80, purpose: "local web interface"}
ixit:
  auth_mechanisms:
    - {name: "web login (http)", interface: network, service: http, factor: password, origin: user_defined,
       description: "HTTP Basic login of the web interface"}
"""


@pytest.mark.parametrize("require, verdict", [("valid-user", "PASS"), ("user=service", "FAIL")])
def test_test_credentials_show_authenticated_access_works(tmp_path, require, verdict):
    """5.5-4-2: refused without credentials (a) and granted with the user's own (b); a server whose access rule
    lets only another account in refuses the valid test credentials, which fails b."""
    fw = make_firmware(tmp_path / "rootfs")
    password = daemons.strong_password()
    web = start_web(tmp_path / "web", fw / "www", protected=True, password=password, require=require)
    try:
        decl = tmp_path / "decl.yaml"
        decl.write_text(DECLARATION)
        done = subprocess.run([EXE, "scan", str(fw), "--device", "127.0.0.1", "--device-ports", str(web.port),
                               "--device-budget", "30", "--device-credentials", f"admin:{password}",
                               "--declaration", str(decl), "--no-fetch",
                               "--check", "surface.debug-web-pages", "--format", "json", "--quiet", "--view",
                               "ts103701"], capture_output=True, text=True, timeout=300)
    finally:
        web.stop()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert password not in done.stdout  # the attempts name only the user of the test login
    with_login = [a for a in report["device"]["attempts"] if "test credentials" in a["detail"]]
    assert {a["detail"].split()[1] for a in with_login} == {"/cgi-bin/status.cgi", "/cgi-bin/wifi_config.cgi"}
    units = {u["unit"]: u for c in report["ts103701"]["test_cases"] if c["id"] == "5.5-4-2" for u in c["units"]}
    assert units["5.5-4-2a"]["verdict"] == "PASS", units["5.5-4-2a"]
    assert units["5.5-4-2b"]["verdict"] == verdict and units["5.5-4-2b"]["source"] == "probe", units["5.5-4-2b"]
    case = next(c for c in report["ts103701"]["test_cases"] if c["id"] == "5.5-4-2")
    assert case["verdict"] == verdict, case  # c: the web login is the declared mechanism


def test_gateway_configuration_and_web_functions_decide_5_5_5_2(tmp_path):
    """5.5-5-2 on one gateway namespace: miniupnpd refusing port mappings passes b; its open GetStatusInfo (5.6-2)
    and its HTTP port answering RTSP-like requests fail a (as 5.5-4-2), although the web functions refuse access
    without credentials and grant it with them.  A gateway without either would pass; miniupnpd always has both."""
    require = "valid-user"
    fw = make_firmware(tmp_path / "rootfs")
    password = daemons.strong_password()
    gateway = daemons.start_miniupnpd(tmp_path / "upnp", allow_lan=False)
    web_tmp = tmp_path / "web"
    web_tmp.mkdir()
    (web_tmp / "users").write_text(f"admin:{password}\n")
    (web_tmp / "lighttpd.conf").write_text(f"""server.document-root = "{fw / 'www'}"
server.bind = "{daemons.NETNS_LAN}"
server.port = 8080
server.errorlog = "{web_tmp}/error.log"
server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_cgi" )
cgi.assign = ( ".cgi" => "/bin/sh" )
auth.backend = "plain"
auth.backend.plain.userfile = "{web_tmp}/users"
auth.require = ( "/cgi-bin/" => ( "method" => "basic", "realm" => "gw", "require" => "{require}" ) )
""")
    web = subprocess.Popen(["nsenter", f"--net=/proc/{gateway.proc.pid}/ns/net", "lighttpd", "-D", "-f",
                            str(web_tmp / "lighttpd.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        decl = tmp_path / "decl.yaml"
        decl.write_text(DECLARATION)
        import time

        time.sleep(1)
        done = daemons.in_netns(gateway, [EXE, "scan", str(fw), "--device", daemons.NETNS_LAN, "--device-ports",
                                          "5000,8080", "--device-budget", "40", "--device-credentials",
                                          f"admin:{password}", "--declaration", str(decl), "--no-fetch", "--check",
                                          "services.debug-shell", "--format", "json", "--quiet", "--view",
                                          "ts103701"], timeout=300)
    finally:
        daemons.Daemon("lighttpd", 8080, web, web_tmp / "error.log").stop()
        gateway.stop()
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    cases = {c["id"]: c for c in report["ts103701"]["test_cases"]}
    units = {u["unit"]: u for u in cases["5.5-5-2"]["units"] + cases["5.5-4-2"]["units"]}
    assert units["5.5-5-2b"]["verdict"] == "PASS", units["5.5-5-2b"]  # AddPortMapping refused (UPnP error 606)
    assert "refused AddPortMapping" in units["5.5-5-2b"]["note"]
    assert units["5.5-4-2b"]["verdict"] == "PASS"  # the test login is granted
    assert units["5.5-4-2a"]["verdict"] == "FAIL" and "UPnP port forwarding control" in units["5.5-4-2a"]["note"]
    assert cases["5.5-5-2"]["verdict"] == "FAIL"


def test_a_script_handler_that_changes_the_device_is_never_requested(tmp_path):
    """A CGI whose source writes a file is left out of the GET probe, whatever its name; the file it would
    write shows whether it ran."""
    fw = make_firmware(tmp_path / "rootfs")
    marker = tmp_path / "ran"
    handler = fw / "www" / "cgi-bin" / "status_apply.cgi"
    handler.write_text(f"#!/bin/sh\necho applied > {marker}\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n")
    handler.chmod(0o755)
    web = start_web(tmp_path / "web", fw / "www", protected=False)
    try:
        done = subprocess.run([EXE, "scan", str(fw), "--device", "127.0.0.1", "--device-ports", str(web.port),
                               "--device-budget", "30", "--check", "surface.debug-web-pages", "--format", "json",
                               "--quiet"], capture_output=True, text=True, timeout=300)
    finally:
        web.stop()
    assert done.returncode in (0, 1), done.stderr
    asked = [a for a in json.loads(done.stdout)["device"]["attempts"] if "/cgi-bin/" in (a.get("detail") or "")]
    assert any("status.cgi" in a["detail"] for a in asked if a["action"] == "request")  # harmless ones were tried
    assert not marker.exists()
    assert not any("status_apply.cgi" in a["detail"] for a in asked if a["action"] == "request")
    assert any("status_apply.cgi" in a["detail"] and a["result"] == "not requested" for a in asked)
