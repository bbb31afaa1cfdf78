"""Boot parsing and the services checks: synthetic trees plus the FACT_core init_systems fixtures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from support import CORPUS, needs_corpus

from iotcop.checks.runner import run_check_inline
from iotcop.checks.services.boot import boot_commands, resolve
from iotcop.checks.services.debug_and_plaintext import (
    DebugShell,
    FtpAtBoot,
    TelnetAtBoot,
)
from iotcop.firmware.inventory import inventory_tree

FACT = CORPUS / "FACT_core"


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    return root


def run(cls, root: Path):
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


def located(result) -> set[tuple[str, int]]:
    return {(f.evidence.path, f.evidence.line) for f in result.findings}


@pytest.mark.parametrize(
    "command, program, args",
    [
        ("/usr/sbin/telnetd -l /bin/login", "telnetd", ("-l", "/bin/login")),
        ("busybox telnetd", "telnetd", ()),
        ("/bin/busybox telnetd -p 2323", "telnetd", ("-p", "2323")),
        ("start-stop-daemon -S -q -b -x /usr/sbin/utelnetd -- -d", "utelnetd", ("-d",)),
        ("start-stop-daemon --start --exec /usr/sbin/vsftpd", "vsftpd", ()),
        ("start-stop-daemon -K -x /usr/sbin/telnetd", None, ()),
        ("nohup nice -n 5 /usr/bin/app --x", "app", ("--x",)),
        ("chpst -u foo /opt/example/foo-service.sh", "foo-service.sh", ()),
        ("tcpsvd -vE 0.0.0.0 21 ftpd -w /", "ftpd", ("-w", "/")),
        ("env A=1 B=2 /usr/sbin/dropbear -R", "dropbear", ("-R",)),
    ],
)
def test_resolve_sees_through_wrappers(command, program, args):
    assert resolve(command.split()) == (program, args)


def test_boot_commands_from_every_mechanism(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n",
            "etc/init.d/rcS": (
                "#!/bin/sh\nmount -a\n"
                "for i in /etc/init.d/S??* ; do $i start ; done\n"
                "[ -x /usr/sbin/telnetd ] && /usr/sbin/telnetd -l /bin/login # remote access\n"
            ),
            "etc/init.d/S50web": "#!/bin/sh\nDAEMON=/usr/sbin/lighttpd\nARGS='-f /etc/lighttpd.conf'\nstart-stop-daemon -S -x $DAEMON -- $ARGS\n",
            "etc/init.d/telnet": "#!/bin/sh /etc/rc.common\nUSE_PROCD=1\nstart_service() {\n\tprocd_open_instance\n\tprocd_set_param command /usr/sbin/telnetd -F -l /bin/login.sh\n}\n",
            "etc/inetd.conf": "# comment\nftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l\ndaytime stream tcp nowait root internal\n",
            "etc/xinetd.d/tftp": "service tftp\n{\n\tdisable = yes\n\tserver = /usr/sbin/in.tftpd\n\tserver_args = -s /srv\n}\n",
            "lib/systemd/system/app.service": "[Unit]\nDescription=x\n[Service]\nExecStart=-/usr/bin/app --serve\n",
            "etc/sv/agent/run": "#!/bin/sh\nexec 2>&1\nexec chpst -u agent /usr/bin/agent -v\n",
            "etc/init/job.conf": "description \"x\"\nexec /usr/bin/job \\\n  --once\n",
        },
    )
    cmds = boot_commands(inventory_tree(tmp_path))
    got = {(c.path, c.line, c.program, c.args, c.mechanism) for c in cmds}
    assert ("/etc/inittab", 2, "getty", ("-L", "ttyS0", "115200", "vt100"), "inittab") in got
    assert ("/etc/init.d/rcS", 4, "telnetd", ("-l", "/bin/login"), "rc") in got
    assert ("/etc/init.d/S50web", 4, "lighttpd", ("-f", "/etc/lighttpd.conf"), "sysv") in got
    assert ("/etc/init.d/telnet", 5, "telnetd", ("-F", "-l", "/bin/login.sh"), "procd") in got
    assert ("/etc/inetd.conf", 2, "in.ftpd", ("-l",), "inetd") in got
    assert ("/etc/xinetd.d/tftp", 4, "in.tftpd", ("-s", "/srv"), "xinetd") in got
    assert ("/lib/systemd/system/app.service", 4, "app", ("--serve",), "systemd") in got
    assert ("/etc/sv/agent/run", 3, "agent", ("-v",), "runit") in got
    assert ("/etc/init/job.conf", 2, "job", ("--once",), "upstart") in got
    assert not any(c.program in ("mount", "[", "echo") and c.program == "[" for c in cmds)
    tftp = next(c for c in cmds if c.program == "in.tftpd")
    assert tftp.enabled is False
    s50 = next(c for c in cmds if c.program == "lighttpd")
    assert s50.enabled is True  # rcS runs /etc/init.d/S??*


# -- telnet ----------------------------------------------------------------------------


def test_telnet_started_by_each_mechanism_fires(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/init.d/rcS": "#!/bin/sh\n/bin/busybox telnetd &\n",
            "etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd -i\n",
            "etc/systemd/system/telnet.service": "[Service]\nExecStart=/usr/sbin/in.telnetd -debug\n",
            "etc/rc.local": "start-stop-daemon -S -b -x /usr/sbin/utelnetd -- -p 23\nexit 0\n",
        },
    )
    result = run(TelnetAtBoot, tmp_path)
    assert located(result) == {
        ("/etc/init.d/rcS", 2),
        ("/etc/inetd.conf", 1),
        ("/etc/systemd/system/telnet.service", 2),
        ("/etc/rc.local", 1),
    }
    assert all(f.severity.value == "high" and f.provisions == ["5.6-1", "5.5-1", "5.5-7"] for f in result.findings)
    rcs = next(f for f in result.findings if f.evidence.path == "/etc/init.d/rcS")
    assert rcs.evidence.excerpt == "/bin/busybox telnetd &" and "telnetd" in rcs.evidence.detail


def test_telnet_mentioned_but_not_started_does_not_fire(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/init.d/rcS": (
                "#!/bin/sh\n# /usr/sbin/telnetd -l /bin/sh   (debug only)\n"
                "killall telnetd\necho 'telnetd disabled'\nstart-stop-daemon -K -x /usr/sbin/telnetd\n"
                "[ -x /usr/sbin/telnetd ] || true\n"
            ),
            "etc/inittab.bak": "::respawn:/usr/sbin/telnetd -F\n",
            "etc/inetd.conf": "#telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",
            "usr/share/doc/busybox/telnetd.txt": "telnetd -l /bin/sh\n",
        },
    )
    assert run(TelnetAtBoot, tmp_path).findings == []
    assert run(DebugShell, tmp_path).findings == []


def test_sysv_script_not_linked_from_rc_dirs_is_not_reported(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/init.d/telnetd": "#!/bin/sh\ncase $1 in start) /usr/sbin/telnetd ;; esac\n",
            "etc/init.d/ssh": "#!/bin/sh\n/usr/sbin/dropbear\n",
        },
    )
    os.makedirs(tmp_path / "etc/rc2.d")
    os.symlink("../init.d/ssh", tmp_path / "etc/rc2.d/S20ssh")
    assert run(TelnetAtBoot, tmp_path).findings == []
    os.symlink("../init.d/telnetd", tmp_path / "etc/rc2.d/S30telnetd")
    assert located(run(TelnetAtBoot, tmp_path)) == {("/etc/init.d/telnetd", 2)}


def test_masked_systemd_unit_is_not_reported(tmp_path):
    make_tree(tmp_path, {"lib/systemd/system/telnet.service": "[Service]\nExecStart=/usr/sbin/telnetd -F\n"})
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    os.symlink("/dev/null", tmp_path / "etc/systemd/system/telnet.service")
    assert run(TelnetAtBoot, tmp_path).findings == []


# -- ftp -----------------------------------------------------------------------------------


def test_ftp_and_tftp_servers_fire(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/init.d/rcS": "#!/bin/sh\ntcpsvd -vE 0.0.0.0 21 ftpd -w /mnt &\nvsftpd /etc/vsftpd.conf &\n",
            "etc/inetd.conf": "tftp dgram udp wait root /usr/sbin/in.tftpd in.tftpd -s /tftpboot\n",
        },
    )
    result = run(FtpAtBoot, tmp_path)
    assert located(result) == {("/etc/init.d/rcS", 2), ("/etc/init.d/rcS", 3), ("/etc/inetd.conf", 1)}
    assert any(f.title.startswith("TFTP") for f in result.findings)
    assert all(f.severity.value == "medium" for f in result.findings)


def test_ftp_clients_and_sftp_do_not_fire(tmp_path):
    make_tree(
        tmp_path,
        {"etc/init.d/rcS": "#!/bin/sh\nftpget -u a -p b host f f\ntftp -g -r fw.bin 10.0.0.1\n/usr/lib/sftp-server\n"},
    )
    assert run(FtpAtBoot, tmp_path).findings == []


# -- debug shell ---------------------------------------------------------------------------------


def test_shell_without_login_on_serial_console_fires(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/inittab": (
                "::sysinit:/etc/init.d/rcS\n"
                "ttyS0::respawn:/bin/sh\n"
                "::askfirst:-/bin/sh\n"
                "ttyS1::respawn:/sbin/getty -n -l /bin/sh -L ttyS1 115200 vt100\n"
                "tty1::respawn:/sbin/agetty --autologin root tty1 linux\n"
                "ttyAMA0::respawn:/bin/cttyhack /bin/ash -l\n"
            ),
        },
    )
    result = run(DebugShell, tmp_path)
    assert located(result) == {("/etc/inittab", n) for n in (2, 3, 4, 5, 6)}
    by_line = {f.evidence.line: f for f in result.findings}
    assert by_line[2].title == "Shell without login on ttyS0"
    assert by_line[3].title == "Shell without login on the console"
    assert "instead of login" in by_line[4].evidence.detail
    assert "automatically" in by_line[5].evidence.detail
    assert all(f.provisions == ["5.6-4"] and f.severity.value == "high" for f in result.findings)


def test_getty_with_login_and_shell_scripts_do_not_fire(tmp_path):
    make_tree(
        tmp_path,
        {
            "etc/inittab": (
                "::sysinit:/bin/sh /etc/init.d/rcS\n"
                "ttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n"
                "::respawn:/bin/sh -c 'exec /usr/bin/watchdogd'\n"
                "::shutdown:/bin/umount -a -r\n"
                "::respawn:/sbin/getty -l /bin/login 38400 tty1\n"
            ),
        },
    )
    assert run(DebugShell, tmp_path).findings == []


def test_telnetd_with_shell_instead_of_login_is_critical(tmp_path):
    make_tree(tmp_path, {"etc/init.d/rcS": "#!/bin/sh\ntelnetd -l /bin/sh\n/usr/sbin/telnetd -p 2323 -l /bin/login\n"})
    result = run(DebugShell, tmp_path)
    assert located(result) == {("/etc/init.d/rcS", 2)}
    (f,) = result.findings
    assert f.severity.value == "critical" and f.provisions == ["5.5-5"]


# -- FACT_core fixtures ------------------------------------------------------------------------------
# FACT_core src/plugins/analysis/init_systems/test/test_plugin_init_system.py; device paths as there.

FACT_INIT = {
    "etc__systemd__system__foobar": "etc/systemd/system/foobar",
    "etc__inittab": "etc/inittab",
    "etc__rc.local": "etc/rc.local",
    "etc__init__baz.conf": "etc/init/baz.conf",
    "etc__service__lighttpd__run": "etc/service/lighttpd/run",
    "etc__sv__example__run": "etc/sv/example/run",
    "etc__init.d__skeleton": "etc/init.d/skeleton",
    "etc__init.d__README": "etc/init.d/README",
    "etc__initscript": "etc/initscript",
}


@pytest.fixture
def fact_init_tree(tmp_path):
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    for fixture, device_path in FACT_INIT.items():
        target = tmp_path / device_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FACT / f"init_systems__{fixture}", target)
    # etc/service/example is a symlink to ../sv/example upstream (the fixture holds the link text)
    os.symlink((FACT / "init_systems__etc__service__example").read_text().strip(), tmp_path / "etc/service/example")
    return tmp_path


def _by_file(fw_root):
    cmds = boot_commands(inventory_tree(fw_root))
    out: dict[str, list] = {}
    for c in cmds:
        out.setdefault(c.path, []).append(c)
    return out


@needs_corpus
@pytest.mark.corpus
def test_fact_init_systems_records(fact_init_tree):
    cmds = _by_file(fact_init_tree)
    # test_get_systemd_config: ExecStart '/usr/sbin/foobar -n' ([Unit] lines are not records)
    assert [(c.program, c.args, c.mechanism) for c in cmds["/etc/systemd/system/foobar"]] == [("foobar", ("-n",), "systemd")]
    # test_get_inittab_config: '/etc/init.d/rcS' and '/sbin/getty -L 9600 ttyS0 vt320'
    inittab = {(c.program, c.args) for c in cmds["/etc/inittab"]}
    assert ("rcS", ()) in inittab and ("getty", ("-L", "9600", "ttyS0", "vt320")) in inittab
    # test_get_rc_config: /usr/bin/foo, /usr/local/bin/bar.sh, /etc/init.d/foobar start; comments dropped
    assert [(c.program, c.args) for c in cmds["/etc/rc.local"]] == [("foo", ()), ("bar.sh", ()), ("foobar", ("start",))]
    # test_get_upstart_config: exec '/bin/baz.sh -runonce \\\n-silent' and the script block's exec
    upstart = {(c.program, c.args) for c in cmds["/etc/init/baz.conf"]}
    assert ("baz.sh", ("-runonce", "-silent")) in upstart
    assert ("baz", ("/home/foo/config.ru",)) in upstart
    assert not any(c.program == "rm" for c in cmds["/etc/init/baz.conf"])  # pre-stop is not start-up
    # test_get_runit_config: 'sv -w7 check postgresql', 'exec 2>&1 myprocess \\\nlast line',
    # and 'exec chpst -u foo /opt/example/foo-service.sh' (origin and symlinked service)
    runit = {(c.program, c.args) for c in cmds["/etc/service/lighttpd/run"]}
    assert runit == {("sv", ("-w7", "check", "postgresql")), ("myprocess", ("last", "line"))}
    (example,) = cmds["/etc/sv/example/run"]
    assert (example.program, example.enabled) == ("foo-service.sh", True)
    # test_get_sysvinit_config: the skeleton script is parsed (DAEMON set, init-d-script sourced)
    assert "/etc/init.d/skeleton" in cmds
    # test_readme_file: README in init.d is ignored
    assert "/etc/init.d/README" not in cmds


@needs_corpus
@pytest.mark.corpus
def test_fact_inittab_with_only_comments_gives_nothing(tmp_path):
    # test_only_comments_file: inittab.invalid (commented inittab, rc.local and unit) yields nothing
    (tmp_path / "etc").mkdir()
    shutil.copyfile(FACT / "init_systems__etc__inittab.invalid", tmp_path / "etc" / "inittab")
    assert boot_commands(inventory_tree(tmp_path)) == ()


@needs_corpus
@pytest.mark.corpus
def test_fact_init_fixtures_start_no_telnet_ftp_or_debug_shell(fact_init_tree):
    # None of the upstream init fixtures starts telnet/FTP or a shell without login
    # (the inittab runs getty on ttyS0 and mgetty on ttyS1, which ask for a login).
    for cls in (TelnetAtBoot, FtpAtBoot, DebugShell):
        result = run(cls, fact_init_tree)
        assert result.findings == [] and result.compliance == []
