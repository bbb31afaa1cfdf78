"""Boot model -> BootCommand records: what the checks read, cited in the image, with a finding confidence."""

from __future__ import annotations

from boot_trees import manager, tree

from iotcop.checks.services.boot import commands_from_model
from iotcop.checks.services.debug_and_plaintext import TELNET_SERVERS, _interactive_shell


def test_model_commands_keep_what_the_checks_read_and_drop_unused_files(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:-/bin/sh\n",
        "/etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd\n",  # no inetd runs
        "/etc/init.d/rcS_AP": "#!/bin/sh\n/usr/sbin/telnetd\n",  # nothing calls it
        "/etc/init.d/rcS": "#!/bin/sh\n[ -f /etc/debug ] && telnetd -l /bin/sh &\n/usr/bin/mgr &\n",
        "/usr/bin/mgr": manager("/usr/sbin/ftpd -w /tmp &", "httpd"), "/usr/sbin/ftpd": manager("f"),
        "/usr/sbin/httpd": manager("h"),
    })
    commands = commands_from_model(m)
    telnet = [c for c in commands if c.program in TELNET_SERVERS]
    assert [(c.path, c.line, c.args, c.mechanism) for c in telnet] == [("/etc/init.d/rcS", 2, ("-l", "/bin/sh"), "rc-script")]
    assert telnet[0].confidence == "likely" and telnet[0].start.conditions[0].describe().startswith("[ -f /etc/debug ]")
    console = next(c for c in commands if c.mechanism == "inittab" and c.program == "sh")
    assert (console.tty, console.action, console.login_shell, console.site) == ("ttyS0", "respawn", True, "/etc/inittab:2")
    assert _interactive_shell(console.program, console.args)
    ftpd = next(c for c in commands if c.program == "ftpd")
    assert (ftpd.path, ftpd.line, ftpd.text) == ("/usr/bin/mgr", None, "/usr/sbin/ftpd -w /tmp &")
    assert ftpd.confidence == "possible" and ftpd.mechanism == "binary-strings" and ftpd.start.started_by == "/usr/bin/mgr"
    assert ftpd.site == "/usr/bin/mgr (string '/usr/sbin/ftpd -w /tmp &')"
    assert not [c for c in commands if c.program == "httpd"]  # a bare name among strings is not a start
    assert not [c for c in commands if c.path in ("/etc/inetd.conf", "/etc/init.d/rcS_AP")]


def test_a_generated_file_is_cited_at_the_script_that_writes_it(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": ("#!/bin/sh\necho 'telnet stream tcp nowait root /usr/sbin/telnetd telnetd' > /var/inetd.conf\n"
                            "inetd /var/inetd.conf\n"),
    })
    in_image = {"/etc/inittab", "/etc/init.d/rcS"}
    (telnet,) = [c for c in commands_from_model(m, lambda p: p in in_image) if c.program == "telnetd"]
    assert (telnet.path, telnet.line, telnet.mechanism) == ("/etc/init.d/rcS", 2, "inetd")
    assert [str(s) for s in telnet.start.chain][-1] == "/var/inetd.conf:1"


def test_one_command_reached_twice_is_one_record_with_the_surer_confidence(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": "#!/bin/sh\n[ -f /etc/x ] && /etc/start.sh\n/etc/start.sh\n",
        "/etc/start.sh": "#!/bin/sh\ntelnetd\n",
    })
    (telnet,) = [c for c in commands_from_model(m) if c.program == "telnetd"]
    assert (telnet.path, telnet.line, telnet.confidence) == ("/etc/start.sh", 2, "confirmed")
