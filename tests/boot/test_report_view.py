"""The boot section of report.json: the model's report view against the report schema."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from boot_trees import manager, tree, write_tree

from iotcop.report.writers.json import report_schema


def _boot_schema() -> dict:
    schema = report_schema()
    return {**schema["properties"]["boot"], "$defs": schema.get("$defs", {})}


def test_report_view_validates_and_keeps_chain_user_argv_conditions(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:-/bin/sh\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -t jffs2 /dev/mtdblock3 /data\n[ -f /data/debug ] && telnetd -l /bin/sh\n"
                            "cp /etc/shadow.def /etc/shadow\n/data/start.sh\n/usr/bin/mgr &\n"),
        "/etc/shadow.def": "root::1:0:99999:7:::\n", "/usr/bin/mgr": manager("/usr/sbin/dropbear -p 22 &", "dnsmasq"),
        "/usr/sbin/dropbear": manager("d"), "/usr/sbin/dnsmasq": manager("d"),
    })
    view = m.report_view()
    jsonschema.validate(view, _boot_schema())
    telnetd = next(p for p in view["programs"] if p["name"] == "telnetd")
    assert telnetd["chain"] == ["/etc/inittab:1", "/etc/init.d/rcS:3"] and telnetd["user"] == "root"
    assert telnetd["argv"] == ["-l", "/bin/sh"] and telnetd["confidence"] == "conditional"
    assert telnetd["conditions"][0].startswith("[ -f /data/debug ]")
    dropbear = next(p for p in view["programs"] if p["name"] == "dropbear")
    assert dropbear["chain"][-1] == "/usr/bin/mgr (string: /usr/sbin/dropbear -p 22 &)"
    assert all(p["confidence"] != "name-only" for p in view["programs"])
    assert any(p["name"] == "dnsmasq" for p in m.report_view(include_name_only=True)["programs"])
    assert view["missing"][0]["from_writable"] and view["missing"][0]["storage"] == "/data"
    assert {"path": "/etc/shadow", "op": "copy", "source": "/etc/shadow.def"}.items() <= view["writes"][0].items()
    broken = copy.deepcopy(view)
    broken["programs"][0]["confidence"] = "certain"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, _boot_schema())


def test_scan_writes_the_boot_section_and_the_html_table(cli, tmp_path):
    root = write_tree(tmp_path / "rootfs", {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/bin/sh\n",
        "/etc/init.d/rcS": "#!/bin/sh\n[ -f /etc/debug ] && telnetd -l /bin/login\n/usr/bin/mgr &\n",
        "/usr/bin/mgr": manager("/usr/sbin/dropbear -p 2222 &"), "/usr/sbin/dropbear": manager("d"),
    })
    out = tmp_path / "out"
    result = cli("scan", root, "--out", out, "--format", "json", "--quiet",
                 "--check", "services.telnet-at-boot", "--check", "services.debug-shell")
    assert result.code in (0, 1), result.stderr
    report = json.loads((out / "report.json").read_text())
    jsonschema.validate(report, report_schema())
    boot = report["boot"]
    assert boot["init"] == "busybox-init" and boot["inittab"] == "/etc/inittab"
    by_name = {p["name"]: p for p in boot["programs"]}
    assert by_name["telnetd"]["confidence"] == "conditional" and by_name["telnetd"]["chain"] == ["/etc/inittab:1", "/etc/init.d/rcS:2"]
    assert by_name["dropbear"]["confidence"] == "possible" and by_name["dropbear"]["evidence"] == "/usr/sbin/dropbear -p 2222 &"
    telnet = next(f for f in report["findings"] if f["check"] == "services.telnet-at-boot")
    assert telnet["confidence"] == "likely" and telnet["evidence"]["path"] == "/etc/init.d/rcS"
    html = (out / "report.html").read_text()
    assert "What starts at boot" in html and "/etc/inittab:1 › /etc/init.d/rcS:2" in html
    assert "1 possible starts (command lines inside programs)" in html


def test_boot_command_prints_the_table_and_json(cli, tmp_path):
    root = write_tree(tmp_path / "rootfs", {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": "#!/bin/sh\nmount -t jffs2 /dev/mtdblock3 /data\n[ -f /data/[dbg] ] && telnetd -l /bin/sh\n",
    })
    text = cli("boot", root)
    assert text.code == 0, text.stderr
    assert "telnetd" in text.stdout and "[ -f /data/[dbg] ]" in text.stdout and "model built in" in text.stdout
    data = json.loads(cli("boot", root, "--format", "json").stdout)
    assert [(p["name"], p["how"]) for p in data["programs"]] == [("telnetd", "rc-script"), ("sh", "login-program")]
    missing = cli("boot", tmp_path / "nope")
    assert missing.code == 2 and "nope" in missing.stderr and "Traceback" not in missing.stderr
