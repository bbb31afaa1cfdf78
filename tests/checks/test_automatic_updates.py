"""updates.automatic-updates: updaters run without the user, and auto-update switches as the image ships them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from surface_helpers import make_tree, run

from iotcop.checks.updates.automatic import AutomaticUpdates
from iotcop.checks.updates.switches import switches
from iotcop.firmware.inventory import inventory_tree

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}
# a signed HTTPS updater that does nothing unless its UCI switch is on
GATED_UPDATER = """#!/bin/sh
[ "$(uci -q get autoupdate.main.enabled)" = 1 ] || exit 0
URL=https://update.vendor.example/router
curl -fsS -o /tmp/fw.bin "$URL/fw.bin" && curl -fsS -o /tmp/fw.sig "$URL/fw.sig"
openssl dgst -sha256 -verify /etc/update/fw.pub -signature /tmp/fw.sig /tmp/fw.bin || exit 1
sysupgrade /tmp/fw.bin
"""
CRON = {"usr/sbin/fw-update": GATED_UPDATER, "etc/crontabs/root": "15 4 * * * /usr/sbin/fw-update\n",
        "etc/update/fw.pub": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"}
UPLOAD_ONLY = {"www/cgi-bin/upgrade.cgi": "#!/bin/sh\n[ \"$CONTENT_LENGTH\" -gt 0 ] && cat > /tmp/fw.bin\n"
                                          "mtd -r write /tmp/fw.bin firmware\n"}


def _uci(enabled: str) -> str:
    return f"config autoupdate 'main'\n\toption enabled '{enabled}'\n\toption hour '4'\n"


def test_cron_updater_switched_on_is_automatic_and_on_by_default(tmp_path):
    make_tree(tmp_path, {**BASE, **CRON, "etc/config/autoupdate": _uci("1")})
    result = run(AutomaticUpdates, tmp_path)
    assert result.findings == []
    proofs = {c.provision: c for c in result.compliance}
    assert set(proofs) == {"5.3-4", "5.3-6"}
    assert "/usr/sbin/fw-update run by cron" in proofs["5.3-4"].statement
    paths = {(e.path, e.line) for e in proofs["5.3-6"].evidence}
    assert ("/etc/crontabs/root", 1) in paths and ("/etc/config/autoupdate", 2) in paths


def test_cron_updater_whose_switch_ships_off_is_a_finding(tmp_path):
    make_tree(tmp_path, {**BASE, **CRON, "etc/config/autoupdate": _uci("0")})
    result = run(AutomaticUpdates, tmp_path)
    assert result.compliance == []
    [f] = result.findings
    assert f.provisions == ["5.3-6"] and f.confidence == "confirmed"
    assert (f.evidence.path, f.evidence.line) == ("/etc/config/autoupdate", 2)
    assert "reads autoupdate.enabled, which ships as 0" in f.evidence.detail


def test_only_an_upload_handler_is_a_likely_finding_against_5_3_4(tmp_path):
    make_tree(tmp_path, {**BASE, **UPLOAD_ONLY})
    result = run(AutomaticUpdates, tmp_path)
    [f] = result.findings
    assert f.provisions == ["5.3-4"] and f.confidence == "likely" and f.evidence.path == "/www/cgi-bin/upgrade.cgi"
    assert result.compliance == []


def test_updater_program_started_at_boot_through_a_script(tmp_path):
    src = tmp_path / "ota.c"
    src.write_text('#include <stdlib.h>\n#include <unistd.h>\nint main(void){ for (;;) { '
                   'system("wget -O /tmp/f https://ota.vendor.example/latest.bin && cat /tmp/f > /dev/mtdblock3"); '
                   'sleep(86400); } }\n')
    root = make_tree(tmp_path / "root", {**BASE, "etc/init.d/rcS": "#!/bin/sh\nmount -a\n/etc/start_ota.sh\n",
                                         "etc/start_ota.sh": "#!/bin/sh\n/usr/sbin/ota_loop &\n"},
                     modes={"etc/init.d/rcS": 0o755, "etc/start_ota.sh": 0o755})
    (root / "usr/sbin").mkdir(parents=True)
    subprocess.run(["gcc", "-O2", "-o", str(root / "usr/sbin/ota_loop"), str(src)], check=True, timeout=60)
    result = run(AutomaticUpdates, root)
    # rcS runs a script that starts the updater: followed one script deep, as for cron
    assert result.findings == []
    proofs = {c.provision: c for c in result.compliance}
    assert set(proofs) == {"5.3-4", "5.3-6"}
    assert "/usr/sbin/ota_loop started at boot" in proofs["5.3-4"].statement


def test_a_switch_of_unknown_default_keeps_5_3_6_open(tmp_path):
    """An updater reads a switch the image ships no value for: automatic (5.3-4), but on by default is not shown."""
    reader = "#!/bin/sh\n[ \"$(nvram get fw_auto_upgrade)\" = 1 ] || exit 0\nwget -O /tmp/fw.bin http://ota.vendor.example/fw.bin\n" \
             "mtd write /tmp/fw.bin firmware\n"
    make_tree(tmp_path, {**BASE, "usr/sbin/ota_client": reader, "etc/crontabs/root": "0 2 * * * /usr/sbin/ota_client\n"})
    result = run(AutomaticUpdates, tmp_path)
    assert [c.provision for c in result.compliance] == ["5.3-4"] and result.findings == []


def test_an_unrelated_switch_off_keeps_5_3_6_open(tmp_path):
    make_tree(tmp_path, {**BASE, **CRON, "etc/config/autoupdate": _uci("1"),
                         "etc/default/firmware": "FW_AUTO_UPGRADE=no\n"})
    result = run(AutomaticUpdates, tmp_path)
    assert [c.provision for c in result.compliance] == ["5.3-4"] and result.findings == []


def test_switch_formats(tmp_path):
    make_tree(tmp_path, {**BASE,
                         "etc/device/settings.json": '{"system": {"autoUpdate": {"enabled": false}}, "ntp": "pool"}',
                         "etc/default.xml": "<Config>\n <Upgrade>\n  <AutoUpgrade>1</AutoUpgrade>\n </Upgrade>\n</Config>\n",
                         "etc/nvram.default": "lan_ipaddr=192.168.1.1\nfw_auto_upgrade=0\n",
                         "etc/uci-defaults/50-upgrade": "#!/bin/sh\nuci set system.autoupgrade.enable=0\nuci commit system\n",
                         "etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Update-Package-Lists "1";\n'
                                                               'APT::Periodic::Unattended-Upgrade "1";\n',
                         "etc/config/system": "config system\n\toption hostname 'router'\n\toption disable_auto_update '1'\n",
                         "etc/ddns.conf": "update_interval=3600\n"})
    got = {(s.path, s.key, s.on) for s in switches(inventory_tree(tmp_path))}
    assert got == {
        ("/etc/device/settings.json", "autoUpdate.enabled", False),
        ("/etc/default.xml", "AutoUpgrade", True),
        ("/etc/nvram.default", "fw_auto_upgrade", False),
        ("/etc/uci-defaults/50-upgrade", "autoupgrade.enable", False),
        ("/etc/apt/apt.conf.d/20auto-upgrades", "Unattended-Upgrade", True),
        ("/etc/config/system", "disable_auto_update", False),
    }


def test_switch_on_with_an_installed_updater_is_on_by_default(tmp_path):
    make_tree(tmp_path, {**BASE, "etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Unattended-Upgrade "1";\n',
                         "usr/bin/unattended-upgrade": "#!/usr/bin/python3\nprint('upgrade')\n"})
    result = run(AutomaticUpdates, tmp_path)
    assert [c.provision for c in result.compliance] == ["5.3-6"]
    # the same switch with nothing that would act on it shows nothing
    bare = tmp_path / "bare"
    make_tree(bare, {**BASE, "etc/apt/apt.conf.d/20auto-upgrades": 'APT::Periodic::Unattended-Upgrade "1";\n'})
    assert run(AutomaticUpdates, bare).compliance == []


def test_mender_polling_its_server_is_automatic(tmp_path):
    make_tree(tmp_path, {**BASE, "etc/mender/mender.conf": '{"ServerURL": "https://hosted.mender.io", '
                                                             '"UpdatePollIntervalSeconds": 1800}'})
    result = run(AutomaticUpdates, tmp_path)
    assert {c.provision for c in result.compliance} == {"5.3-4", "5.3-6"}


def test_silence_without_evidence(tmp_path):
    # an auto-update switch of a block list (its name says nothing of the device's software), no update mechanism
    # at all, and a switch in documentation
    make_tree(tmp_path, {**BASE, "etc/config/adblock": "config adblock 'global'\n\toption auto_update '0'\n",
                         "usr/share/doc/upgrade.txt": "auto_upgrade=0\n"})
    fw = inventory_tree(tmp_path)
    assert [(s.path, s.on) for s in switches(fw)] == [("/etc/config/adblock", False)]
    result = run(AutomaticUpdates, tmp_path)
    assert result.findings == [] and result.compliance == []
    # named for the firmware, the same switch off is a likely finding even when the updater is not recognised
    make_tree(tmp_path, {"etc/config/adblock": "config system 'global'\n\toption fw_auto_update '0'\n"})
    [f] = run(AutomaticUpdates, tmp_path).findings
    assert f.provisions == ["5.3-6"] and f.confidence == "likely"


def test_elf_updater_run_by_cron(tmp_path):
    src = tmp_path / "u.c"
    src.write_text('#include <stdlib.h>\nint main(void){ system("wget -O /tmp/f https://fw.vendor.example/latest.bin"); '
                   'return system("cat /tmp/f > /dev/mtdblock3"); }\n')
    make_tree(tmp_path / "root", {**BASE, "etc/crontabs/root": "30 3 * * * /usr/bin/fwupgrade >/dev/null 2>&1\n"})
    (tmp_path / "root/usr/bin").mkdir(parents=True)
    subprocess.run(["gcc", "-O2", "-o", str(tmp_path / "root/usr/bin/fwupgrade"), str(src)], check=True, timeout=60)
    result = run(AutomaticUpdates, tmp_path / "root")
    assert {c.provision for c in result.compliance} == {"5.3-4", "5.3-6"}
