"""Conceptual TS 103 701 test cases decided by the firmware's evidence, the declaration being the claim.

Each case is made to PASS by a root filesystem that shows compliance and to FAIL by one that shows the
opposite, scanned through the CLI with --view ts103701 and no declaration (the claim is then unknown, so what
decides is the evidence).  The traffic and probe cases are in tests/traffic and tests/probe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).with_name("iotcop"))
BASE = {"etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1::/:/bin/false\n", "bin/sh": "#!/bin/true\n",
        "sbin/init": "#!/bin/true\n", "usr/bin/env": "#!/bin/true\n"}
SIGNED_UPDATE = {
    "usr/sbin/fw-update": "#!/bin/sh\nURL=https://update.vendor.example/cam\n"
                          "curl -fsS -o /tmp/fw.bin \"$URL/fw.bin\" && curl -fsS -o /tmp/fw.sig \"$URL/fw.sig\"\n"
                          "openssl dgst -sha256 -verify /etc/update/fw.pub -signature /tmp/fw.sig /tmp/fw.bin || exit 1\n"
                          "sysupgrade /tmp/fw.bin\n",
    "etc/update/fw.pub": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n",
    "etc/crontabs/root": "15 4 * * * /usr/sbin/fw-update\n",
}
PLAIN_UPDATE = {
    "usr/sbin/fw-check": "#!/bin/sh\nFW_URL=http://update.vendor.example/cam/fw.bin\nwget -q -O /tmp/fw.bin \"$FW_URL\"\n"
                         "md5sum /tmp/fw.bin\nmtd -r write /tmp/fw.bin firmware\n",
    "etc/crontabs/root": "0 3 * * * /usr/sbin/fw-check\n",
}
FIRST_USE = {
    "etc/shadow": "root:!:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n",
    "etc/uci-defaults/10-setpw": "#!/bin/sh\necho 'Set the administrator password'\nwhile ! passwd root; do :; done\n",
}
EMPTY_PASSWORD = {"etc/shadow": "root::19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"}


def scan_view(tmp_path: Path, files: dict[str, str | bytes], checks: str) -> dict[str, dict]:
    root = tmp_path / "rootfs"
    for name, text in {**BASE, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        if isinstance(text, bytes) or text.startswith("#!"):
            path.chmod(0o755)
    done = subprocess.run([EXE, "scan", str(root), "--check", checks, "--view", "ts103701", "--format", "json",
                           "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return {c["id"]: c for c in json.loads(done.stdout)["ts103701"]["test_cases"]}


@pytest.mark.parametrize("files, verdict", [(SIGNED_UPDATE, "PASS"), (PLAIN_UPDATE, "FAIL")])
def test_update_mechanism_decides_5_3_2_1_5_3_9_1_and_5_3_10_1(tmp_path, files, verdict):
    cases = scan_view(tmp_path, files, "updates")
    for cid in ("5.3-2-1", "5.3-9-1"):
        assert cases[cid]["verdict"] == verdict, (cid, cases[cid])
        assert all(u["source"] == "firmware" for u in cases[cid]["units"])
    combined = cases["5.3-10-1"]
    assert combined["verdict"] == verdict, combined
    assert combined["units"][1]["source"] == "firmware"


@pytest.mark.parametrize("files, verdict", [(FIRST_USE, "PASS"), (EMPTY_PASSWORD, "FAIL")])
def test_password_evidence_decides_5_1_1_1(tmp_path, files, verdict):
    cases = scan_view(tmp_path, files, "credentials")
    case = cases["5.1-1-1"]
    assert case["verdict"] == verdict, case
    assert case["units"][0]["source"] == "firmware"


WEB_DAEMON = {"etc/init.d/rcS": "#!/bin/sh\nmount -a\n/usr/sbin/lighttpd -f /etc/lighttpd.conf\n",
              "usr/sbin/lighttpd": "#!/bin/true\n"}


@pytest.mark.parametrize("conf, verdict", [('server.username = "www-data"\nserver.port = 80\n', "PASS"),
                                           ("server.port = 80\n", "FAIL")])
def test_daemon_privileges_decide_5_6_7_1(tmp_path, conf, verdict):
    files = {**WEB_DAEMON, "etc/lighttpd.conf": conf,
             "etc/passwd": BASE["etc/passwd"] + "www-data:x:33:33::/var/www:/bin/false\n"}
    case = scan_view(tmp_path, files, "surface.root-daemons")["5.6-7-1"]
    assert case["verdict"] == verdict, case
    assert case["units"][0]["source"] == "firmware"


GATED_UPDATER = ("#!/bin/sh\n[ \"$(uci -q get autoupdate.main.enabled)\" = 1 ] || exit 0\n"
                 + SIGNED_UPDATE["usr/sbin/fw-update"].split("\n", 1)[1])
AUTO_UPDATES_ON = {**SIGNED_UPDATE, "usr/sbin/fw-update": GATED_UPDATER,
                   "etc/config/autoupdate": "config autoupdate 'main'\n\toption enabled '1'\n"}
AUTO_UPDATES_OFF = {**AUTO_UPDATES_ON, "etc/config/autoupdate": "config autoupdate 'main'\n\toption enabled '0'\n"}
UPLOAD_ONLY = {"www/cgi-bin/upgrade.cgi": "#!/bin/sh\n[ \"$CONTENT_LENGTH\" -gt 0 ] && cat > /tmp/fw.bin\n"
                                          "mtd -r write /tmp/fw.bin firmware\n"}


@pytest.mark.parametrize("files, verdict", [(AUTO_UPDATES_ON, "PASS"), (UPLOAD_ONLY, "FAIL")])
def test_automatic_updates_decide_5_3_4_1(tmp_path, files, verdict):
    case = scan_view(tmp_path, files, "updates")["5.3-4-1"]
    assert case["coverage"] == "automated"
    assert case["verdict"] == verdict, case
    assert [u["verdict"] for u in case["units"]] == [verdict, verdict]
    assert all(u["source"] == "firmware" and "updates.automatic-updates" in u["checks"] for u in case["units"])


@pytest.mark.parametrize("files, verdict", [(AUTO_UPDATES_ON, "PASS"), (AUTO_UPDATES_OFF, "FAIL")])
def test_the_shipped_auto_update_switch_decides_5_3_6_1a(tmp_path, files, verdict):
    case = scan_view(tmp_path, files, "updates")["5.3-6-1"]
    unit = case["units"][0]
    assert unit["verdict"] == verdict and unit["source"] == "firmware", unit
    if verdict == "FAIL":
        assert case["verdict"] == "FAIL" and unit["evidence"][0]["path"] == "/etc/config/autoupdate"


CHANGE_PAGE = {"www/cgi-bin/password.cgi": "#!/bin/sh\necho 'Content-Type: text/plain'\necho\nread -n \"$CONTENT_LENGTH\" POST\n"
                                           "NEW=$(echo \"$POST\" | sed -n 's/^.*new=\\([^&]*\\).*$/\\1/p')\n"
                                           "[ -n \"$NEW\" ] || exit 0\nprintf '%s\\n%s\\n' \"$NEW\" \"$NEW\" | passwd admin\n"}
RESET_AT_BOOT = {**CHANGE_PAGE, "etc/init.d/rcS": "#!/bin/sh\nmount -a\necho 'admin:Adm1n-2023' | chpasswd\n"
                                                   "/usr/sbin/httpd -h /www\n",
                 "usr/sbin/httpd": Path("/bin/true").read_bytes()}


@pytest.mark.parametrize("files, verdict", [(CHANGE_PAGE, "PASS"), (RESET_AT_BOOT, "FAIL")])
def test_password_change_mechanism_decides_5_1_4_1(tmp_path, files, verdict):
    case = scan_view(tmp_path, files, "authentication")["5.1-4-1"]
    assert case["coverage"] == "automated"
    assert case["verdict"] == verdict, case
    unit = case["units"][0]
    assert unit["source"] == "firmware" and unit["checks"] == ["authentication.password-change"]
    assert unit["evidence"][0]["path"] == ("/www/cgi-bin/password.cgi" if verdict == "PASS" else "/etc/init.d/rcS")
