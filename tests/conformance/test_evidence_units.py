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


def scan_view(tmp_path: Path, files: dict[str, str], checks: str) -> dict[str, dict]:
    root = tmp_path / "rootfs"
    for name, text in {**BASE, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
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
