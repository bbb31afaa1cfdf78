"""Factory reset: compliance only for a user-reachable handler that erases user data; silence otherwise."""

from __future__ import annotations

from pathlib import Path

from surface_helpers import make_tree, run

from iotcop.checks.deletion.factory_reset import FactoryReset

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}

OPENWRT_BUTTON = """#!/bin/sh
. /lib/functions.sh
OVERLAY="$( grep ' /overlay ' /proc/mounts )"
case "$ACTION" in
released)
	if [ "$SEEN" -ge 5 -a -n "$OVERLAY" ]; then
		echo "FACTORY RESET" > /dev/console
		jffs2reset -y && reboot &
	fi
;;
esac
"""


def test_openwrt_reset_button_is_compliance(tmp_path):
    make_tree(tmp_path, {**BASE, "etc/rc.button/reset": OPENWRT_BUTTON})
    result = run(FactoryReset, tmp_path)
    assert result.findings == []
    assert [c.provision for c in result.compliance] == ["5.11-1"]
    c = result.compliance[0]
    assert "reset button" in c.statement and "rootfs_data" in c.statement
    assert [(e.path, e.line) for e in c.evidence] == [("/etc/rc.button/reset", 8)]


def test_web_handler_with_nvram_erase_and_mtd_erase(tmp_path):
    make_tree(tmp_path, {**BASE, "www/cgi-bin/factory.cgi": "#!/bin/sh\nnvram erase\nmtd erase rootfs_data\nreboot\n"})
    result = run(FactoryReset, tmp_path)
    assert [c.provision for c in result.compliance] == ["5.11-1"]
    assert len(result.compliance[0].evidence) == 2 and "web interface" in result.compliance[0].statement


def test_no_reachable_reset_says_nothing(tmp_path):
    # firstboot exists but nothing a user can press or click calls it; a button handler that only reboots erases nothing.
    make_tree(tmp_path, {
        **BASE,
        "sbin/firstboot": "#!/bin/sh\n/sbin/jffs2reset $@\n",
        "etc/rc.button/reset": "#!/bin/sh\n[ \"$ACTION\" = released ] && reboot\n",
        "etc/rc.button/wps": "#!/bin/sh\n# jffs2reset -y is done by the reset button\nlogger wps\n",
        "www/cgi-bin/logs.cgi": "#!/bin/sh\nrm -rf /tmp/log/*\n",
    })
    result = run(FactoryReset, tmp_path)
    assert result.findings == [] and result.compliance == [] and result.conditions == []
