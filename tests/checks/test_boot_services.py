"""The services checks on the boot model: small trees with real start chains, plus the FACT_core init_systems fixtures.

A start counts only when the init chain reaches it and its program is in the image, so each tree here
holds the programs it starts (BusyBox applets through the links in boot_trees, vendor daemons as ELF stubs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from boot_trees import manager, started, write_tree
from support import CORPUS, needs_corpus

from iotcop.boot import build_boot_model
from iotcop.checks.runner import run_check_inline
from iotcop.checks.services.boot import boot_commands
from iotcop.checks.services.debug_and_plaintext import DebugShell, FtpAtBoot, TelnetAtBoot
from iotcop.firmware.inventory import inventory_tree

FACT = CORPUS / "FACT_core"
INITTAB = "::sysinit:/etc/init.d/rcS\n"
SYSVINIT = manager("INIT_VERSION=sysvinit-2.88", "/etc/inittab")
SYSTEMD = {"/lib/systemd/systemd": manager("systemd"), "/lib/systemd/system/default.target": "[Unit]\n"}
SYSTEMD_LINKS = {"/sbin/init": "/lib/systemd/systemd"}


def run(cls, root: Path):
    result = run_check_inline(cls, inventory_tree(root))
    assert result.status == "ran", result.error
    return result


def located(result) -> set[tuple[str, int]]:
    return {(f.evidence.path, f.evidence.line) for f in result.findings}


def commands(root: Path):
    return boot_commands(inventory_tree(root))


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
        ("chpst -u foo /opt/example/foo-service", "foo-service", ()),
        ("tcpsvd -vE 0.0.0.0 21 ftpd -w /", "ftpd", ("-w", "/")),
        ("env A=1 B=2 /usr/sbin/dropbear -R", "dropbear", ("-R",)),
    ],
)
def test_started_program_seen_through_wrappers(tmp_path, command, program, args):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB, "/etc/init.d/rcS": f"#!/bin/sh\n{command}\n",
        **{p: manager(p) for p in ("/usr/sbin/utelnetd", "/usr/sbin/vsftpd", "/usr/bin/app", "/opt/example/foo-service",
                                   "/usr/sbin/dropbear")},
    }, links={"/usr/sbin/ftpd": "../../bin/busybox"})
    got = [(c.program, c.args) for c in commands(root) if (c.path, c.line) == ("/etc/init.d/rcS", 2)]
    if program is None:
        assert not [g for g in got if g[0] not in ("start-stop-daemon",)]
    else:
        assert (program, args) in got


def test_boot_commands_follow_the_busybox_init_chain(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -a\n"
                            "for i in /etc/init.d/S??* ; do $i start ; done\n"
                            "[ -x /usr/sbin/telnetd ] && /usr/sbin/telnetd -l /bin/login # remote access\n"
                            "/usr/sbin/inetd\n/usr/sbin/xinetd -f /etc/xinetd.conf\n"),
        "/etc/init.d/S50web": "#!/bin/sh\nDAEMON=/usr/sbin/lighttpd\nARGS='-f /etc/lighttpd.conf'\nstart-stop-daemon -S -x $DAEMON -- $ARGS\n",
        "/etc/init.d/telnet": "#!/bin/sh\n/usr/sbin/telnetd -p 2323\n",  # no S prefix: the loop does not run it
        "/etc/inetd.conf": "# comment\nftp stream tcp nowait root /usr/sbin/tcpd in.ftpd -l\ndaytime stream tcp nowait root internal\n",
        "/etc/xinetd.conf": "includedir /etc/xinetd.d\n",
        "/etc/xinetd.d/tftp": "service tftp\n{\n\tdisable = yes\n\tserver = /usr/sbin/in.tftpd\n\tserver_args = -s /srv\n}\n",
        "/etc/xinetd.d/rsync": "service rsync\n{\n\tserver = /usr/bin/rsync\n\tserver_args = --daemon\n\tuser = nobody\n}\n",
        **{p: manager(p) for p in ("/usr/sbin/lighttpd", "/usr/sbin/tcpd", "/usr/sbin/in.ftpd", "/usr/sbin/in.tftpd",
                                   "/usr/sbin/xinetd", "/usr/bin/rsync")},
    })
    cmds = commands(root)
    got = {(c.path, c.line, c.program, c.args, c.mechanism) for c in cmds}
    assert ("/etc/inittab", 2, "getty", ("-L", "ttyS0", "115200", "vt100"), "inittab") in got
    assert ("/etc/init.d/rcS", 4, "telnetd", ("-l", "/bin/login"), "rc-script") in got
    assert ("/etc/init.d/S50web", 4, "lighttpd", ("-f", "/etc/lighttpd.conf"), "launcher") in got
    assert ("/etc/inetd.conf", 2, "in.ftpd", ("-l",), "inetd") in got
    rsync = next(c for c in cmds if c.program == "rsync")
    assert (rsync.path, rsync.mechanism, rsync.user, rsync.args) == ("/etc/xinetd.d/rsync", "xinetd", "nobody", ("--daemon",))
    assert not [c for c in cmds if c.program in ("in.tftpd", "mount", "[")]  # disabled service; one-shot commands
    assert not [c for c in cmds if c.args == ("-p", "2323")]  # /etc/init.d/telnet runs nowhere
    assert all(c.confidence == "confirmed" for c in cmds)  # [ -x /usr/sbin/telnetd ] is settled by the image


def test_boot_commands_from_procd_systemd_runit_and_upstart(tmp_path):
    procd = write_tree(tmp_path / "procd", {
        "/sbin/procd": manager("procd"), "/etc/inittab": "::sysinit:/etc/init.d/rcS S boot\n",
        "/etc/rc.common": "#!/bin/sh\n",
        "/etc/init.d/telnet": ("#!/bin/sh /etc/rc.common\nUSE_PROCD=1\nstart_service() {\n\tprocd_open_instance\n"
                               "\tprocd_set_param command /usr/sbin/telnetd -F -l /bin/login.sh\n\tprocd_close_instance\n}\n"),
        "/bin/login.sh": "#!/bin/sh\nexec /bin/login\n",
    }, links={"/etc/rc.d/S50telnet": "../init.d/telnet"})
    (telnet,) = [c for c in commands(procd) if c.program == "telnetd"]
    assert (telnet.path, telnet.line, telnet.args, telnet.mechanism) == ("/etc/init.d/telnet", 5, ("-F", "-l", "/bin/login.sh"), "procd")

    systemd = write_tree(tmp_path / "systemd", {
        **SYSTEMD, "/lib/systemd/system/app.service": "[Unit]\nDescription=x\n[Service]\nExecStart=-/usr/bin/app --serve\nUser=app\n",
        "/lib/systemd/system/other.service": "[Service]\nExecStart=/usr/bin/other\n",  # not wanted by anything
        "/usr/bin/app": manager("app"), "/usr/bin/other": manager("other"),
    }, links={**SYSTEMD_LINKS, "/etc/systemd/system/default.target.wants/app.service": "/lib/systemd/system/app.service"})
    (app,) = commands(systemd)
    assert (app.path, app.line, app.program, app.args, app.mechanism, app.user) == (
        "/lib/systemd/system/app.service", 4, "app", ("--serve",), "systemd", "app")

    runit = write_tree(tmp_path / "runit", {
        "/sbin/runit-init": manager("runit"), "/sbin/runsvdir": manager("runsvdir"), "/etc/runit/1": "#!/bin/sh\n:\n",
        "/etc/runit/2": "#!/bin/sh\nexec runsvdir -P /etc/service\n",
        "/etc/sv/agent/run": "#!/bin/sh\nexec 2>&1\nexec chpst -u agent /usr/bin/agent -v\n",
        "/etc/sv/unused/run": "#!/bin/sh\nexec /usr/bin/unused\n",
        "/usr/bin/agent": manager("agent"), "/usr/bin/unused": manager("unused"), "/usr/bin/chpst": manager("chpst"),
    }, links={"/sbin/init": "runit-init", "/etc/service/agent": "../sv/agent"})
    agent = next(c for c in commands(runit) if c.program == "agent")
    assert (agent.path, agent.line, agent.args, agent.user, agent.service) == ("/etc/sv/agent/run", 3, ("-v",), "agent", "agent")
    assert not [c for c in commands(runit) if c.program == "unused"]  # /etc/sv/unused is not linked into /etc/service

    upstart = write_tree(tmp_path / "upstart", {
        "/sbin/init": manager("upstart", "/etc/init", "start on"),
        "/etc/init/job.conf": "description \"x\"\nstart on startup\nsetuid daemon\nexec /usr/bin/job \\\n  --once\n",
        "/etc/init/manual.conf": "exec /usr/bin/job --manual\n",  # no `start on`: started by hand only
        "/usr/bin/job": manager("job"),
    }, base=False)
    (job,) = commands(upstart)
    assert (job.path, job.line, job.args, job.mechanism, job.user) == ("/etc/init/job.conf", 4, ("--once",), "upstart", "daemon")


# -- telnet ----------------------------------------------------------------------------


def test_telnet_started_by_each_mechanism_fires(tmp_path):
    root = write_tree(tmp_path / "bb", {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": "#!/bin/sh\n/bin/busybox telnetd &\n/usr/sbin/inetd /etc/inetd.conf\n/etc/rc.local\n",
        "/etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd -i\n",
        "/etc/rc.local": "start-stop-daemon -S -b -x /usr/sbin/utelnetd -- -p 23\nexit 0\n",
        "/usr/sbin/utelnetd": manager("utelnetd"),
    })
    result = run(TelnetAtBoot, root)
    assert located(result) == {("/etc/init.d/rcS", 2), ("/etc/inetd.conf", 1), ("/etc/rc.local", 1)}
    assert all(f.severity.value == "high" and f.provisions == ["5.6-1", "5.5-1", "5.5-7"] for f in result.findings)
    assert all(f.confidence == "confirmed" for f in result.findings)
    rcs = next(f for f in result.findings if f.evidence.path == "/etc/init.d/rcS")
    assert rcs.evidence.excerpt == "/bin/busybox telnetd" and "/etc/inittab:1 > /etc/init.d/rcS:2" in rcs.evidence.detail

    systemd = write_tree(tmp_path / "systemd", {
        **SYSTEMD, "/etc/systemd/system/telnet.service": "[Service]\nExecStart=/usr/sbin/in.telnetd -debug\n",
        "/usr/sbin/in.telnetd": manager("in.telnetd"),
    }, links={**SYSTEMD_LINKS, "/etc/systemd/system/default.target.wants/telnet.service": "../telnet.service"})
    assert located(run(TelnetAtBoot, systemd)) == {("/etc/systemd/system/telnet.service", 2)}


def test_telnet_behind_a_switch_is_likely_and_from_a_manager_binary_possible(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": "#!/bin/sh\nif [ -f /etc/debug_on ]; then\n  telnetd -l /bin/login\nfi\n/usr/bin/mgr &\n",
        "/usr/bin/mgr": manager("/usr/sbin/utelnetd -p 2323 &"), "/usr/sbin/utelnetd": manager("u"),
    })
    result = run(TelnetAtBoot, root)
    by_path = {f.evidence.path: f for f in result.findings}
    assert by_path["/etc/init.d/rcS"].confidence == "likely" and by_path["/etc/init.d/rcS"].evidence.line == 3
    assert "only when [ -f /etc/debug_on ]" in by_path["/etc/init.d/rcS"].evidence.detail
    strings = by_path["/usr/bin/mgr"]
    assert strings.confidence == "possible" and strings.evidence.line is None
    assert strings.evidence.excerpt == "/usr/sbin/utelnetd -p 2323 &" and "command line in /usr/bin/mgr" in strings.title


def test_telnet_mentioned_or_in_files_nothing_runs_does_not_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\n# /usr/sbin/telnetd -l /bin/sh   (debug only)\n"
                            "killall telnetd\necho 'telnetd disabled'\nstart-stop-daemon -K -x /usr/sbin/telnetd\n"
                            "[ -x /usr/sbin/telnetd ] || true\n"),
        "/etc/inittab.bak": "::respawn:/usr/sbin/telnetd -F\n",
        "/etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",  # no inetd is started
        "/etc/init.d/rcS_AP": "#!/bin/sh\n/usr/sbin/telnetd -l /bin/sh\n",  # nothing runs it
        "/usr/share/doc/busybox/telnetd.txt": "telnetd -l /bin/sh\n",
    })
    assert run(TelnetAtBoot, root).findings == []
    assert run(DebugShell, root).findings == []


def test_telnet_whose_program_is_not_in_the_image_does_not_fire(tmp_path):
    root = write_tree(tmp_path, {"/etc/inittab": INITTAB, "/etc/init.d/rcS": "#!/bin/sh\n/usr/sbin/utelnetd -d &\n"})
    assert run(TelnetAtBoot, root).findings == []
    assert [m.command for m in build_boot_model(inventory_tree(root)).missing] == ["/usr/sbin/utelnetd"]


def test_sysv_script_not_linked_from_the_default_runlevel_is_not_reported(tmp_path):
    files = {
        "/sbin/init": SYSVINIT,
        "/etc/inittab": "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nl2:2:wait:/etc/init.d/rc 2\n",
        "/etc/init.d/rcS": "#!/bin/sh\n:\n", "/etc/init.d/rc": "#!/bin/sh\n:\n",
        "/etc/init.d/telnetd": "#!/bin/sh\ncase $1 in start) /usr/sbin/telnetd ;; esac\n",
        "/etc/init.d/ssh": "#!/bin/sh\n/usr/sbin/dropbear\n", "/usr/sbin/dropbear": manager("d"),
    }
    root = write_tree(tmp_path / "a", files, links={"/etc/rc2.d/S20ssh": "../init.d/ssh",
                                                    "/etc/rc3.d/S30telnetd": "../init.d/telnetd"})
    assert run(TelnetAtBoot, root).findings == []
    root = write_tree(tmp_path / "b", files, links={"/etc/rc2.d/S20ssh": "../init.d/ssh",
                                                    "/etc/rc2.d/S30telnetd": "../init.d/telnetd"})
    assert located(run(TelnetAtBoot, root)) == {("/etc/init.d/telnetd", 2)}


def test_masked_or_unwanted_systemd_unit_is_not_reported(tmp_path):
    root = write_tree(tmp_path, {
        **SYSTEMD, "/lib/systemd/system/telnet.service": "[Service]\nExecStart=/usr/sbin/in.telnetd -F\n",
        "/lib/systemd/system/ftp.service": "[Service]\nExecStart=/usr/sbin/vsftpd\n",  # installed, not enabled
        "/usr/sbin/in.telnetd": manager("t"), "/usr/sbin/vsftpd": manager("v"),
    }, links={**SYSTEMD_LINKS, "/etc/systemd/system/telnet.service": "/dev/null",
              "/lib/systemd/system/default.target.wants/telnet.service": "../telnet.service"})
    assert run(TelnetAtBoot, root).findings == []
    assert run(FtpAtBoot, root).findings == []


# -- ftp -----------------------------------------------------------------------------------


def test_ftp_and_tftp_servers_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": "#!/bin/sh\ntcpsvd -vE 0.0.0.0 21 ftpd -w /mnt &\nvsftpd /etc/vsftpd.conf &\ninetd\n",
        "/etc/inetd.conf": "tftp dgram udp wait root /usr/sbin/in.tftpd in.tftpd -s /tftpboot\n",
        "/usr/sbin/vsftpd": manager("v"), "/usr/sbin/in.tftpd": manager("t"),
    }, links={"/usr/sbin/ftpd": "../../bin/busybox"})
    result = run(FtpAtBoot, root)
    assert located(result) == {("/etc/init.d/rcS", 2), ("/etc/init.d/rcS", 3), ("/etc/inetd.conf", 1)}
    assert any(f.title.startswith("TFTP") for f in result.findings)
    assert all(f.severity.value == "medium" for f in result.findings)


def test_ftp_clients_and_sftp_do_not_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": "#!/bin/sh\nftpget -u a -p b host f f\ntftp -g -r fw.bin 10.0.0.1\n/usr/lib/sftp-server\n",
        "/usr/bin/ftpget": manager("f"), "/usr/bin/tftp": manager("t"), "/usr/lib/sftp-server": manager("s"),
    })
    assert run(FtpAtBoot, root).findings == []


# -- debug shell ---------------------------------------------------------------------------------


def test_shell_without_login_on_serial_console_fires(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": (
            "::sysinit:/etc/init.d/rcS\n"
            "ttyS0::respawn:/bin/sh\n"
            "::askfirst:-/bin/sh\n"
            "ttyS1::respawn:/sbin/getty -n -l /bin/sh -L ttyS1 115200 vt100\n"
            "tty1::respawn:/sbin/agetty --autologin root tty1 linux\n"
            "ttyAMA0::respawn:/bin/cttyhack /bin/ash -l\n"
            "tty2::respawn:/bin/login -f root\n"
        ),
        "/etc/init.d/rcS": "#!/bin/sh\n:\n", "/sbin/agetty": manager("agetty"),
    }, links={"/bin/ash": "busybox"})
    result = run(DebugShell, root)
    assert located(result) == {("/etc/inittab", n) for n in (2, 3, 4, 5, 6, 7)}
    by_line = {f.evidence.line: f for f in result.findings}
    assert by_line[2].title == "Shell without login on ttyS0"
    assert by_line[3].title == "Shell without login on the console"
    assert "instead of login" in by_line[4].evidence.detail
    assert "automatically" in by_line[5].evidence.detail
    assert "pre-authenticated" in by_line[7].evidence.detail
    assert all(f.provisions == ["5.6-4"] and f.severity.value == "high" for f in result.findings)


def test_console_program_that_is_a_script_ending_in_a_shell_fires_at_the_script(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/bin/mylogin\n",
        "/etc/init.d/rcS": "#!/bin/sh\n:\n",
        "/bin/mylogin": ("#!/bin/sh\nmode=$(fw_printenv -n factory 2>/dev/null)\nif [ \"$mode\" = 1 ]; then\n"
                         "  exec /bin/sh\nfi\nexec /bin/login\n"),
        "/usr/sbin/fw_printenv": manager("fw_printenv"),
    })
    (finding,) = run(DebugShell, root).findings
    assert (finding.evidence.path, finding.evidence.line, finding.title) == ("/bin/mylogin", 4, "Shell without login on ttyS0")
    assert finding.confidence == "likely" and "fw_printenv" in finding.evidence.detail


def test_getty_with_login_and_shell_scripts_do_not_fire(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": (
            "::sysinit:/bin/sh /etc/init.d/rcS\n"
            "ttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n"
            "::respawn:/bin/sh -c 'exec /usr/bin/watchdogd'\n"
            "::shutdown:/bin/umount -a -r\n"
            "::respawn:/sbin/getty -l /bin/login 38400 tty1\n"
        ),
        "/etc/init.d/rcS": "#!/bin/sh\n:\n", "/usr/bin/watchdogd": manager("w"),
    })
    assert run(DebugShell, root).findings == []


def test_telnetd_with_a_shell_or_a_login_script_ending_in_a_shell_is_critical(tmp_path):
    root = write_tree(tmp_path, {
        "/etc/inittab": INITTAB,
        "/etc/init.d/rcS": ("#!/bin/sh\ntelnetd -l /bin/sh\n/usr/sbin/telnetd -p 2323 -l /bin/login\n"
                            "telnetd -p 2424 -l /bin/login.sh\n"),
        "/bin/login.sh": "#!/bin/sh\n[ \"$USER\" = admin ] || exit 1\nexec /bin/ash --login\n",
    }, links={"/bin/ash": "busybox"})
    result = run(DebugShell, root)
    assert located(result) == {("/etc/init.d/rcS", 2), ("/bin/login.sh", 3)}
    assert all(f.severity.value == "critical" and f.provisions == ["5.5-5"] for f in result.findings)
    script = next(f for f in result.findings if f.evidence.path == "/bin/login.sh")
    assert "telnetd's login program runs ash --login" in script.evidence.detail


# -- FACT_core fixtures ------------------------------------------------------------------------------
# FACT_core src/plugins/analysis/init_systems/test/test_plugin_init_system.py: the same files, each in a tree
# whose init runs it (FACT_core reads every file; the boot model reads what the chain reaches).


def _fact(name: str) -> str:
    return (FACT / f"init_systems__{name}").read_text()


@pytest.fixture
def fact():
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    return _fact


@needs_corpus
@pytest.mark.corpus
def test_fact_sysv_inittab_rc_local_and_skeleton(fact, tmp_path):
    root = write_tree(tmp_path, {
        "/sbin/init": SYSVINIT, "/etc/inittab": fact("etc__inittab"), "/sbin/mgetty": manager("mgetty"),
        "/etc/init.d/rcS": "#!/bin/sh\n/etc/rc.local\n", "/etc/rc.local": fact("etc__rc.local"),
        "/etc/init.d/rc": "#!/bin/sh\n:\n", "/etc/init.d/skeleton": fact("etc__init.d__skeleton"),
        "/etc/init.d/README": fact("etc__init.d__README"), "/usr/bin/foo": manager("foo"),
        "/usr/local/bin/bar.sh": "#!/bin/sh\n/usr/bin/foo --from-bar\n",
        "/etc/init.d/foobar": "#!/bin/sh\ncase \"$1\" in start) /usr/bin/foo --daemon ;; esac\n",
    }, links={"/etc/rc2.d/S01skeleton": "../init.d/skeleton"})
    model = build_boot_model(inventory_tree(root))
    # runlevel 2 is the default: the tty1-tty4 gettys run, the runlevel-3 gettys on ttyS0/ttyS1 do not
    assert sorted(p.argv for p in started(model, "getty")) == [(f"tty{n}", "VC", "linux") for n in range(1, 5)]
    assert started(model, "mgetty") == []
    # rc.local: a program, a shell script and an init script with `start`
    assert sorted(p.argv for p in started(model, "foo")) == [(), ("--daemon",), ("--from-bar",)]
    # the skeleton is walked from its rc2.d link; README in init.d runs nowhere
    scripts = {s.path for s in model.scripts}
    assert "/etc/init.d/skeleton" in scripts and "/etc/init.d/README" not in scripts


@needs_corpus
@pytest.mark.corpus
def test_fact_systemd_runit_and_upstart_files(fact, tmp_path):
    systemd = write_tree(tmp_path / "systemd", {
        **SYSTEMD, "/etc/systemd/system/foobar.service": fact("etc__systemd__system__foobar"),
        "/usr/sbin/foobar": manager("foobar"),
    }, links={**SYSTEMD_LINKS, "/etc/systemd/system/default.target.wants/foobar.service": "../foobar.service"})
    # ExecStart '/usr/sbin/foobar -n', Restart=on-failure; the ExecStartPre test starts nothing
    (foobar,) = commands(systemd)
    assert (foobar.program, foobar.args, foobar.mechanism, foobar.start.respawn) == ("foobar", ("-n",), "systemd", True)

    runit = write_tree(tmp_path / "runit", {
        "/sbin/runit-init": manager("runit"), "/sbin/runsvdir": manager("runsvdir"), "/etc/runit/1": "#!/bin/sh\n:\n",
        "/etc/runit/2": "#!/bin/sh\nexec runsvdir -P /etc/service\n",
        "/etc/service/lighttpd/run": fact("etc__service__lighttpd__run"), "/etc/sv/example/run": fact("etc__sv__example__run"),
        "/usr/bin/myprocess": manager("m"), "/usr/bin/sv": manager("sv"), "/usr/bin/chpst": manager("chpst"),
        "/opt/example/foo-service.sh": "#!/bin/sh\nexec /usr/bin/myprocess --foo\n",
    }, links={"/sbin/init": "runit-init",
              "/etc/service/example": fact("etc__service__example").strip()})  # the fixture holds the link text
    runs = {(c.program, c.args, c.user) for c in commands(runit)}
    assert ("sv", ("-w7", "check", "postgresql"), "root") in runs and ("myprocess", ("last", "line"), "root") in runs
    assert ("myprocess", ("--foo",), "foo") in runs  # exec chpst -u foo /opt/example/foo-service.sh

    upstart = write_tree(tmp_path / "upstart", {
        "/sbin/init": manager("upstart", "/etc/init", "start on"), "/etc/init/baz.conf": fact("etc__init__baz.conf"),
        "/bin/baz.sh": "#!/bin/sh\n/usr/local/bin/baz --from-sh\n", "/usr/local/bin/baz": manager("baz"),
    }, base=False)
    baz = {(c.program, c.args, c.path, c.line) for c in commands(upstart)}
    # the script block's exec and the exec stanza (a script, walked); pre-stop's rm is not start-up
    assert ("baz", ("/home/foo/config.ru",), "/etc/init/baz.conf", 10) in baz
    assert ("baz", ("--from-sh",), "/bin/baz.sh", 2) in baz
    assert not [c for c in commands(upstart) if c.program == "rm"]


@needs_corpus
@pytest.mark.corpus
def test_fact_inittab_with_only_comments_starts_nothing(fact, tmp_path):
    root = write_tree(tmp_path, {"/etc/inittab": fact("etc__inittab.invalid")})
    assert build_boot_model(inventory_tree(root)).programs == ()


@needs_corpus
@pytest.mark.corpus
def test_fact_init_fixtures_start_no_telnet_ftp_or_debug_shell(fact, tmp_path):
    # the inittab runs getty on the consoles, which ask for a login
    root = write_tree(tmp_path, {"/sbin/init": SYSVINIT, "/etc/inittab": fact("etc__inittab"),
                                 "/etc/init.d/rcS": "#!/bin/sh\n:\n", "/etc/init.d/rc": "#!/bin/sh\n:\n"})
    for cls in (TelnetAtBoot, FtpAtBoot, DebugShell):
        result = run(cls, root)
        assert result.findings == [] and result.compliance == []

