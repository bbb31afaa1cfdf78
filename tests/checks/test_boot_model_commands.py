"""Boot model -> BootCommand records for the service checks (what they will read once the scan passes the model)."""

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
    assert [(c.path, c.line, c.args, c.mechanism) for c in telnet] == [("/etc/init.d/rcS", 2, ("-l", "/bin/sh"), "rc")]
    assert telnet[0].extra["confidence"] == "conditional" and telnet[0].extra["conditions"][0].startswith("[ -f /etc/debug ]")
    console = next(c for c in commands if c.mechanism == "inittab" and c.program == "sh")
    assert (console.tty, console.action, console.login_shell) == ("ttyS0", "respawn", True)
    assert _interactive_shell(console.program, console.args)
    ftpd = next(c for c in commands if c.program == "ftpd")
    assert ftpd.enabled is None and ftpd.mechanism == "binary" and ftpd.text == "/usr/sbin/ftpd -w /tmp &"
    assert ftpd.extra["started_by"] == "/usr/bin/mgr"
    assert not [c for c in commands if c.program == "httpd"]  # a bare name among strings is not a start
    assert not [c for c in commands if c.path in ("/etc/inetd.conf", "/etc/init.d/rcS_AP")]
