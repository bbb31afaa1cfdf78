"""Checks new with the boot model: code run from writable or removable storage, passwords on start-up command lines."""

from __future__ import annotations

from pathlib import Path

from boot_trees import manager, write_tree

from iotcop.checks.runner import run_check_inline
from iotcop.checks.services.command_line_password import CommandLinePassword
from iotcop.checks.updates.writable_boot import WritableBootCode
from iotcop.firmware.inventory import inventory_tree

INITTAB = "::sysinit:/etc/init.d/rcS\n"


def run(cls, root: Path):
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


# -- writable or removable storage ---------------------------------------------------------------


def test_hook_on_a_writable_partition_and_a_usb_script_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -a\nmount -t jffs2 /dev/mtdblock5 /mnt/rwdir\n"
                            "if [ -f /mnt/rwdir/setup.sh ]; then\n  /mnt/rwdir/setup.sh\n  exit 0\nfi\n"
                            "cd /config\n./start.sh\n"
                            "[ -x /media/usb0/autorun.sh ] && sh /media/usb0/autorun.sh\n"),
        "/etc/fstab": "/dev/mtdblock6 /config jffs2 defaults 0 0\n",
        "/config/start.sh": "#!/bin/sh\n/usr/bin/app &\n", "/usr/bin/app": manager("app"),
    }, links={"/bin/sh": "busybox"})
    result = run(WritableBootCode, root)
    by_line = {f.evidence.line: f for f in result.findings}
    assert sorted(by_line) == [5, 9, 10]
    hook = by_line[5]  # the jffs2 partition the script mounts: whatever is there runs
    assert hook.evidence.path == "/etc/init.d/rcS" and hook.provisions == ["5.7-1"]
    assert "writable storage at /mnt/rwdir" in hook.evidence.detail and "does not hold it" in hook.evidence.detail
    assert hook.confidence == "likely" and "[ -f /mnt/rwdir/setup.sh ]" in hook.evidence.detail
    shipped = by_line[9]  # a script the image ships on the /config partition (mount -a mounts it from fstab)
    assert "the script /config/start.sh" in shipped.evidence.detail
    usb = by_line[10]
    assert usb.provisions == ["5.7-1", "5.6-4"] and usb.title == "Boot runs /media/usb0/autorun.sh from removable media"


def test_programs_on_read_only_or_ram_storage_do_not_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -t tmpfs tmpfs /var\nmkdir -p /var/run\n"
                            "echo '#!/bin/sh' > /var/run/gen.sh\nsh /var/run/gen.sh\n/usr/bin/app\n"
                            "mount -o ro -t squashfs /dev/mtdblock3 /opt\n/opt/bin/tool\n"),
        "/usr/bin/app": manager("app"), "/opt/bin/tool": manager("tool"),
    })
    assert run(WritableBootCode, root).findings == []


# -- passwords on command lines -----------------------------------------------------------------


def test_password_options_resolved_from_variables_and_files_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\nPW=$(cat /etc/default_pw)\nDDNS_USER=acme\n"
                            "/usr/sbin/inadyn -u $DDNS_USER -p $PW --period 600 &\n"
                            "/usr/bin/agent --token=f00dfeed42 --config /etc/agent.conf &\n"
                            "/usr/bin/uploader ftp://logs:Upl0ad!@10.0.0.1/ &\n"
                            "/usr/sbin/pppd user isp password isp123 &\n"),
        "/etc/default_pw": "S3cret-ddns\n",
        **{p: manager(p) for p in ("/usr/sbin/inadyn", "/usr/bin/agent", "/usr/bin/uploader", "/usr/sbin/pppd")},
    })
    result = run(CommandLinePassword, root)
    got = {(f.evidence.line, f.title) for f in result.findings}
    assert got == {
        (4, "Password passed to inadyn on its command line at boot (-p)"),
        (5, "Password passed to agent on its command line at boot (--token=)"),
        (6, "Password passed to uploader on its command line at boot (URL with user 'logs')"),
        (7, "Password passed to pppd on its command line at boot (password)"),
    }
    inadyn = next(f for f in result.findings if f.evidence.line == 4)
    assert "'S3cret-ddns'" in inadyn.evidence.detail and "written '$PW'" in inadyn.evidence.detail
    assert "PW from $(cat /etc/default_pw) (/etc/init.d/rcS:2)" in inadyn.evidence.detail
    assert all(f.provisions == ["5.1-1"] and f.confidence == "confirmed" for f in result.findings)


def test_ports_pid_files_placeholders_and_unresolved_values_do_not_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\n/usr/sbin/dropbear -p 22 -P /var/run/dropbear.pid &\n"
                            "/usr/sbin/inadyn -p $(nvram get ddns_pw) &\n"
                            "/usr/bin/agent --password-file /etc/agent.pw --key /etc/agent.key &\n"
                            "/usr/bin/mgr &\n"),
        "/usr/bin/mgr": manager("/usr/sbin/inadyn -u %s -p %s &"),
        **{p: manager(p) for p in ("/usr/sbin/dropbear", "/usr/sbin/inadyn", "/usr/bin/agent")},
    })
    assert run(CommandLinePassword, root).findings == []


def test_password_in_a_manager_binary_string_is_possible(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB, "/etc/init.d/rcS": "#!/bin/sh\n/usr/bin/mgr &\n",
        "/usr/bin/mgr": manager("/usr/sbin/inadyn -u admin -p Adm1nDdns &"), "/usr/sbin/inadyn": manager("i"),
    })
    (finding,) = run(CommandLinePassword, root).findings
    assert (finding.evidence.path, finding.evidence.line, finding.confidence) == ("/usr/bin/mgr", None, "possible")
    assert "'Adm1nDdns'" in finding.evidence.detail
