"""The boot model, one construct at a time, on small trees written here."""

from __future__ import annotations

import json
import pickle

from boot_trees import busybox, manager, started, tree

from iotcop.boot import BootModel, Limits, build_boot_model
from iotcop.boot import shell as sh
from iotcop.firmware.inventory import inventory_tree

RCS_LOOP = "#!/bin/sh\nfor s in /etc/init.d/S??*; do\n  [ -x \"$s\" ] && \"$s\" start\ndone\n"


def test_busybox_inittab_actions_tty_and_login_shell(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "# comment\n::sysinit:/etc/init.d/rcS\nttyS0::respawn:-/bin/sh\n"
                        "tty1::askfirst:/sbin/getty -L tty1 115200 vt100\n::once:/usr/sbin/telnetd -l /bin/login\n"
                        "::restart:/sbin/init\n::shutdown:/bin/umount -a -r\n",
        "/etc/init.d/rcS": "#!/bin/sh\n/bin/mount -a\n",
    })
    assert m.init == "busybox-init" and m.inittab == "/etc/inittab"
    (shell,) = started(m, "sh")
    assert (shell.how, shell.tty, shell.action, shell.login_shell, shell.respawn) == ("inittab", "ttyS0", "respawn", True, True)
    assert str(shell.chain[0]) == "/etc/inittab:3" and shell.confidence == "confirmed"
    (getty,) = started(m, "getty")
    assert getty.argv == ("-L", "tty1", "115200", "vt100") and getty.action == "askfirst"
    (telnetd,) = started(m, "telnetd")
    assert telnetd.action == "once" and telnetd.argv == ("-l", "/bin/login") and telnetd.path == "/bin/busybox"
    assert started(m, "init") == []  # ::restart is not a boot start


def test_sysv_inittab_runlevel_and_rc_directory(tmp_path):
    sysvinit = manager("INIT_VERSION=sysvinit-2.88", "/etc/inittab")
    m = tree(tmp_path, {
        "/sbin/init": sysvinit,
        "/etc/inittab": "id:2:initdefault:\nsi::sysinit:/etc/init.d/rcS\nl2:2:wait:/etc/init.d/rc 2\n"
                        "l5:5:wait:/etc/init.d/rc 5\n1:2345:respawn:/sbin/getty 38400 tty1\n",
        "/etc/init.d/rcS": "#!/bin/sh\n:\n", "/etc/init.d/rc": "#!/bin/sh\n# too clever to read\n",
        "/etc/init.d/ssh": "#!/bin/sh\ncase \"$1\" in\n start) /usr/sbin/sshd -D & ;;\n stop) kill 1 ;;\nesac\n",
        "/etc/init.d/never": "#!/bin/sh\n/usr/sbin/vsftpd\n",
        "/usr/sbin/sshd": manager("OpenSSH"), "/usr/sbin/vsftpd": manager("vsftpd"),
    }, links={"/etc/rc2.d/S20ssh": "../init.d/ssh", "/etc/rc5.d/S20never": "../init.d/never"},
        base=False)
    assert m.init == "sysvinit"
    (sshd,) = started(m, "sshd")
    assert sshd.argv == ("-D",) and sshd.background and sshd.confidence == "confirmed"
    assert [str(s) for s in sshd.chain][:2] == ["/etc/inittab:3", "/etc/rc2.d/S20ssh"]
    assert started(m, "vsftpd") == []  # runlevel 5 is not the default


def test_rcs_runs_scripts_transitively_sh_source_exec_background_and_functions(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": RCS_LOOP,
        "/etc/init.d/S10lib": "#!/bin/sh\n. /etc/lib.sh\nstart_daemon /usr/bin/appd -v\nsh /etc/app/run.sh &\n",
        "/etc/lib.sh": "start_daemon() {\n  \"$@\" &\n}\n",
        "/etc/app/run.sh": "cd /etc/app\nexec ./watch.sh --loop\necho never\n/usr/bin/never\n",
        "/etc/app/watch.sh": "#!/bin/sh\n/usr/bin/watcher \"$1\"\n",
        "/usr/bin/appd": manager("appd"), "/usr/bin/watcher": manager("watcher"), "/usr/bin/never": manager("x"),
    })
    (appd,) = started(m, "appd")
    assert appd.argv == ("-v",) and appd.background
    assert [str(s) for s in appd.chain][-2:] == ["/etc/init.d/S10lib:3", "/etc/lib.sh:2"]
    (watcher,) = started(m, "watcher")
    assert watcher.argv == ("--loop",)
    assert [s.file for s in watcher.chain] == ["/etc/inittab", "/etc/init.d/rcS", "/etc/init.d/S10lib",
                                               "/etc/app/run.sh", "/etc/app/watch.sh"]
    assert started(m, "never") == []  # after exec the script is gone
    assert {s.path for s in m.scripts} >= {"/etc/init.d/rcS", "/etc/lib.sh", "/etc/app/run.sh"}


def test_if_and_case_branches_carry_their_conditions(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": (
            "#!/bin/sh\nMODE=`fw_printenv -n bootmode`\n"
            "if [ \"$MODE\" = factory ]; then\n  /usr/bin/factoryd\nelif grep -q debug /proc/cmdline; then\n"
            "  telnetd -l /bin/sh\nelse\n  /usr/bin/normald\nfi\n"
            "case \"$(nvram get wan_proto)\" in\n  pppoe) /usr/bin/pppd-run ;;\n  *) /usr/bin/dhcpd-run ;;\nesac\n"
            "KNOWN=yes\n[ \"$KNOWN\" = yes ] && /usr/bin/always\n[ \"$KNOWN\" = no ] && /usr/bin/never\n"),
        **{f"/usr/bin/{n}": manager(n) for n in ("factoryd", "normald", "pppd-run", "dhcpd-run", "always", "never")},
    })
    (factoryd,) = started(m, "factoryd")
    assert factoryd.confidence == "conditional"
    (cond,) = factoryd.conditions
    assert cond.text == '[ "$MODE" = factory ]' and "uboot-env" in cond.kinds and not cond.negated
    assert "fw_printenv -n bootmode" in cond.describe()
    (telnetd,) = started(m, "telnetd")
    assert [c.negated for c in telnetd.conditions] == [True, False]
    assert "kernel-cmdline" in telnetd.conditions[1].kinds
    (normald,) = started(m, "normald")
    assert [c.negated for c in normald.conditions] == [True, True]
    (pppd,) = started(m, "pppd-run")
    assert "nvram" in pppd.conditions[0].kinds and "pppoe" in pppd.conditions[0].text
    assert started(m, "dhcpd-run")[0].conditions[0].negated
    # a test the script settles is decided, not recorded
    assert started(m, "always")[0].confidence == "confirmed" and started(m, "never") == []


def test_variables_from_the_script_and_from_files_resolve_arguments(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/default_pw": "s3cret!\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nPW=$(cat /etc/default_pw)\nBIN=/usr/bin\nPORT=${PORT:-2323}\n"
                            "$BIN/remoted -u admin -p \"$PW\" --port $PORT &\n"),
        "/usr/bin/remoted": manager("remoted"),
    })
    (remoted,) = started(m, "remoted")
    assert remoted.argv == ("-u", "admin", "-p", "s3cret!", "--port", "2323")
    assert remoted.command == "/usr/bin/remoted"


def test_flag_file_on_writable_storage_and_start_from_it(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -t jffs2 /dev/mtdblock6 /config\nmount -t squashfs /dev/mtdblock5 /custom\n"
                            "if [ -f /config/.DebugFlag ]; then\n  cp -v /app/passwd/* /etc/\n  telnetd\n  exit\nfi\n"
                            "[ -f /mnt/rwdir/setup.sh ] && /mnt/rwdir/setup.sh && exit\n"
                            "cd /config; ./mount.sh\n/usr/bin/app\n"),
        "/app/passwd/passwd": "root::0:0::/root:/bin/sh\n", "/app/passwd/shadow": "root::1:0:99999:7:::\n",
        "/usr/bin/app": manager("app"),
    })
    (telnetd,) = started(m, "telnetd")
    assert telnetd.conditions[0].text == "[ -f /config/.DebugFlag ]"
    assert "/config/.DebugFlag lies on writable storage (/config)" in telnetd.conditions[0].sources
    copies = {(w.path, w.source) for w in m.writes if w.op == "copy"}
    assert {("/etc/passwd", "/app/passwd/passwd"), ("/etc/shadow", "/app/passwd/shadow")} <= copies
    assert [w.conditions[0].text for w in m.writes_to("/etc/shadow")] == ["[ -f /config/.DebugFlag ]"]
    writable = {item.path for item in m.writable_starts()}
    assert writable == {"/config/mount.sh"}  # /mnt/rwdir is not a mount here: a flag, not storage
    mount_sh = next(x for x in m.missing if x.path == "/config/mount.sh")
    assert mount_sh.from_writable and mount_sh.storage == "/config"
    (app,) = started(m, "app")
    # the exits under the flag and under the rwdir script guard what follows
    assert [c.text for c in app.conditions] == ["the early exit at /etc/init.d/rcS:7 is not taken",
                                               "the early exit at /etc/init.d/rcS:9 is not taken"]
    mounts = {(x.target, x.writable) for x in m.mounts}
    assert ("/config", True) in mounts and ("/custom", False) in mounts


def test_applet_not_compiled_in_and_missing_program_are_notes(tmp_path):
    m = tree(tmp_path, {
        "/bin/busybox": busybox(["[", "[[", "ash", "cat", "chmod", "chown", "cp", "date", "echo", "grep", "ls",
                                  "mkdir", "mount", "mv", "ps", "rm", "sed", "sh", "sleep", "umount"]),
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": "#!/bin/sh\ntelnetd -l /bin/sh\n/usr/sbin/gone --flag\n",
    })
    assert started(m, "telnetd") == []
    reasons = {x.command: x.reason for x in m.missing}
    assert "no 'telnetd' applet" in reasons["telnetd"]
    assert reasons["/usr/sbin/gone"] == "not in the image"


def test_generated_inittab_in_var_is_followed_through_the_script_that_writes_it(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab.default": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": "#!/bin/sh\nstart-stop-daemon -S -b -x /etc/app/rc\n",
        "/etc/app/config": "Console_Enable=1\nTelnet_Enable=0\n",
        "/etc/app/rc": ("#!/bin/sh\n. /etc/app/config\nITABD=/var/app/inittab.d\nmkdir -p $ITABD\n"
                        "add_daemon() {\n  echo \"/dev/null::respawn:$2\" >> $ITABD/$1\n}\n"
                        "add_daemon httpd '/usr/sbin/webd -p 80'\n"
                        "if [ \"$Telnet_Enable\" = 1 ]; then add_daemon telnet '/usr/sbin/telnetd -F'; fi\n"
                        "if [ $Console_Enable = 1 ]; then\n  echo 'ttyS0::askfirst:-/bin/ash' > $ITABD/console\nfi\n"
                        "cat /etc/inittab.default $ITABD/* > /var/app/inittab\nkill -HUP 1\n"),
        "/usr/sbin/webd": manager("webd"),
    }, links={"/etc/inittab": "/var/app/inittab", "/bin/ash": "busybox"})
    assert m.inittab == "/var/app/inittab (generated at boot)"
    assert any("built-in table" in n for n in m.notes)
    (webd,) = started(m, "webd")
    assert webd.how == "inittab" and webd.respawn and webd.argv == ("-p", "80")
    assert [s.file for s in webd.chain][-2:] == ["/etc/app/rc", "/var/app/inittab"]
    (telnetd,) = started(m, "telnetd")
    cond = telnetd.conditions[-1]
    assert cond.text == '[ "$Telnet_Enable" = 1 ]' and cond.default_holds is False
    assert "Telnet_Enable='0' from /etc/app/rc" in cond.describe() or "Telnet_Enable" in cond.describe()
    (ash,) = started(m, "ash")
    assert ash.tty == "ttyS0" and ash.login_shell and ash.conditions[-1].default_holds is True
    # the built-in table's shells are dropped by the reload
    assert started(m, "sh") == []


def test_respawn_loop_run_parts_and_tcpsvd(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nrun-parts /etc/start.d\n(while true; do /usr/bin/keepalive; sleep 5; done) &\n"
                            "tcpsvd -vE 0.0.0.0 21 ftpd -w /srv &\n"),
        "/etc/start.d/10-a": "#!/bin/sh\n/usr/bin/parta\n", "/etc/start.d/README.txt": "not run\n",
        "/usr/bin/keepalive": manager("k"), "/usr/bin/parta": manager("a"),
    }, links={"/usr/sbin/ftpd": "../../bin/busybox"})
    assert started(m, "parta")[0].chain[-1].file == "/etc/start.d/10-a"
    (keep,) = started(m, "keepalive")
    assert keep.respawn and keep.how == "respawn-loop"
    (ftpd,) = started(m, "ftpd")
    assert ftpd.how == "tcpsvd" and ftpd.argv == ("-w", "/srv") and ftpd.started_by == "/bin/busybox"


def test_inetd_services_only_when_inetd_is_started(tmp_path):
    files = {"/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
             "/etc/inetd.conf": "telnet stream tcp nowait root /usr/sbin/telnetd telnetd -i\n"
                                "ftp stream tcp nowait nobody /bin/busybox ftpd -w /\necho stream tcp nowait root internal\n",
             "/etc/init.d/rcS": "#!/bin/sh\n:\n"}
    quiet = tree(tmp_path / "a", files)
    assert started(quiet, "telnetd") == [] and started(quiet, "ftpd") == []
    files["/etc/init.d/rcS"] = "#!/bin/sh\n[ -x /usr/sbin/inetd ] && /usr/sbin/inetd /etc/inetd.conf\n"
    m = tree(tmp_path / "b", files)
    (telnetd,) = started(m, "telnetd")
    assert (telnetd.how, telnetd.service, telnetd.user, telnetd.argv) == ("inetd", "telnet", "root", ("-i",))
    assert str(telnetd.chain[-1]) == "/etc/inetd.conf:1"
    (ftpd,) = started(m, "ftpd")
    assert ftpd.user == "nobody" and ftpd.argv == ("-w", "/")


def test_xinetd_with_includedir_skips_disabled_services(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n", "/etc/init.d/rcS": "#!/bin/sh\n/usr/sbin/xinetd -stayalive\n",
        "/usr/sbin/xinetd": manager("xinetd"), "/usr/sbin/in.tftpd": manager("tftpd"), "/usr/sbin/in.rshd": manager("r"),
        "/etc/xinetd.conf": "defaults\n{\n}\nincludedir /etc/xinetd.d\n",
        "/etc/xinetd.d/tftp": "service tftp\n{\n  user = nobody\n  server = /usr/sbin/in.tftpd\n  server_args = -s /srv\n}\n",
        "/etc/xinetd.d/rsh": "service shell\n{\n  disable = yes\n  server = /usr/sbin/in.rshd\n}\n",
    })
    (tftpd,) = started(m, "in.tftpd")
    assert (tftpd.how, tftpd.service, tftpd.user, tftpd.argv) == ("xinetd", "tftp", "nobody", ("-s", "/srv"))
    assert started(m, "in.rshd") == []


def test_cron_jobs_when_crond_runs(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n", "/etc/init.d/rcS": "#!/bin/sh\ncrond -c /etc/crontabs\n",
        "/etc/crontabs/root": "SHELL=/bin/sh\n*/5 * * * * /usr/bin/phonehome -q >/dev/null\n",
        "/usr/bin/phonehome": manager("p"),
    })
    (job,) = started(m, "phonehome")
    assert (job.how, job.service, job.user, job.argv) == ("cron", "*/5 * * * *", "root", ("-q",))


def test_procd_rc_d_links_uci_and_login_sh(tmp_path):
    m = tree(tmp_path, {
        "/sbin/procd": manager("procd"), "/sbin/init": manager("/sbin/procd"),
        "/etc/inittab": "::sysinit:/etc/init.d/rcS S boot\n::askconsole:/usr/libexec/login.sh\n",
        "/usr/libexec/login.sh": "#!/bin/sh\n[ \"$(uci -q get system.@system[0].ttylogin)\" = 1 ] || exec /bin/ash --login\nexec /bin/login\n",
        "/etc/config/system": "config system\n\toption ttylogin '0'\n",
        "/etc/config/dropbear": "config dropbear\n\toption Port '2222'\n\toption PasswordAuth 'on'\n",
        "/etc/init.d/dropbear": ("#!/bin/sh /etc/rc.common\nSTART=50\nUSE_PROCD=1\n"
                                 "start_instance() {\n  local port\n  config_get port \"$1\" Port 22\n"
                                 "  procd_open_instance\n  procd_set_param command /usr/sbin/dropbear -F -p \"$port\"\n"
                                 "  procd_set_param respawn\n  procd_close_instance\n}\n"
                                 "start_service() {\n  config_load dropbear\n  config_foreach start_instance dropbear\n}\n"),
        "/etc/init.d/disabled": "#!/bin/sh /etc/rc.common\nstart() {\n  /usr/sbin/unused\n}\n",
        "/usr/sbin/dropbear": manager("dropbear"), "/usr/sbin/unused": manager("u"),
    }, links={"/etc/rc.d/S50dropbear": "../init.d/dropbear", "/bin/ash": "busybox"})
    assert m.init == "procd"
    (dropbear,) = started(m, "dropbear")
    assert dropbear.how == "procd" and dropbear.respawn and dropbear.argv == ("-F", "-p", "2222")
    assert [s.file for s in dropbear.chain][:2] == ["/etc/inittab", "/etc/rc.d/S50dropbear"]
    assert started(m, "unused") == []  # not linked into /etc/rc.d
    (ash,) = started(m, "ash")
    assert ash.action == "askconsole" and ash.argv == ("--login",)
    assert "uci" in ash.conditions[0].kinds and ash.conditions[0].default_holds is True


def test_systemd_default_target_wants_and_user(tmp_path):
    m = tree(tmp_path, {
        "/lib/systemd/systemd": manager("systemd"),
        "/lib/systemd/system/multi-user.target": "[Unit]\nDescription=Multi-User\n",
        "/lib/systemd/system/web.service": "[Service]\nUser=www\nExecStartPre=-/bin/mkdir -p /run/web\n"
                                           "ExecStart=/usr/bin/webd --port 80\nRestart=always\n",
        "/lib/systemd/system/masked.service": "[Service]\nExecStart=/usr/bin/hidden\n",
        "/lib/systemd/system/debug.service": "[Unit]\nConditionKernelCommandLine=debug\n[Service]\nExecStart=/usr/bin/dbg\n",
        "/usr/bin/webd": manager("w"), "/usr/bin/hidden": manager("h"), "/usr/bin/dbg": manager("d"),
    }, links={"/sbin/init": "/lib/systemd/systemd",
              "/etc/systemd/system/default.target": "/lib/systemd/system/multi-user.target",
              "/etc/systemd/system/multi-user.target.wants/web.service": "/lib/systemd/system/web.service",
              "/etc/systemd/system/multi-user.target.wants/debug.service": "/lib/systemd/system/debug.service",
              "/etc/systemd/system/multi-user.target.wants/masked.service": "/lib/systemd/system/masked.service",
              "/etc/systemd/system/masked.service": "/dev/null"}, base=False)
    assert m.init == "systemd"
    (webd,) = started(m, "webd")
    assert (webd.how, webd.user, webd.service, webd.respawn) == ("systemd", "www", "web.service", True)
    assert started(m, "hidden") == []
    (dbg,) = started(m, "dbg")
    assert dbg.conditions[0].kinds == ("kernel-cmdline",)


def test_manager_binary_strings_are_possible_starts(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n", "/etc/init.d/rcS": "#!/bin/sh\n/usr/bin/sysmgr &\n",
        "/usr/bin/sysmgr": manager("telnetd -l /bin/sh &", "/usr/sbin/dropbear -p %d -r %s", "login failed",
                                   "echo \"root::0:0:root:/:/bin/sh\" > /var/passwd", "httpd", "usage: sysmgr"),
        "/usr/sbin/dropbear": manager("dropbear"), "/usr/sbin/httpd": manager("httpd"),
    })
    (telnetd,) = started(m, "telnetd")
    assert telnetd.confidence == "possible" and telnetd.how == "binary-strings"
    assert telnetd.evidence == "telnetd -l /bin/sh &" and telnetd.started_by == "/usr/bin/sysmgr"
    (shell,) = started(m, "sh")  # telnetd's login program
    assert shell.how == "login-program" and shell.confidence == "possible"
    (dropbear,) = started(m, "dropbear")
    assert dropbear.argv == ("-p", "%s", "-r", "%s")
    assert started(m, "login") == []  # "login failed" is a message
    assert started(m, "httpd")[0].confidence == "name-only"
    (write,) = [w for w in m.writes if w.path == "/var/passwd"]
    assert write.content == "root::0:0:root:/:/bin/sh\n" and write.confidence == "possible"


def test_limits_recursion_and_truncation_are_reported(tmp_path):
    files = {"/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
             "/etc/init.d/rcS": "#!/bin/sh\n/etc/init.d/rcS again\nloop() { loop; }\nloop\n"
                                + "".join(f"/usr/bin/p{i}\n" for i in range(50))}
    m = tree(tmp_path, files | {f"/usr/bin/p{i}": manager("p") for i in range(50)})
    assert len([p for p in m.programs if p.name.startswith("p")]) == 50
    assert any("runs itself again" in n for n in m.notes)
    small = build_boot_model(inventory_tree(tmp_path), Limits(max_commands=20))
    assert small.truncated and "commands" in small.truncated[0]


def test_model_is_picklable_and_json_round_trips(tmp_path):
    m = tree(tmp_path, {"/etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/bin/sh\n",
                        "/etc/init.d/rcS": "#!/bin/sh\n[ -f /data/x ] && telnetd\n"})
    assert pickle.loads(pickle.dumps(m)) == m
    data = json.loads(json.dumps(m.to_dict()))
    assert BootModel.from_dict(data) == m


def test_parser_tolerates_vendor_syntax():
    script = sh.parse("if [ $T \\< 2016 ]\nthen\n  date &\nelse\n  echo no\nfi\nfi\ncat <<EOF > /f\n$X\nEOF\n"
                      "case $a in\n  ip=*) x ;;\n  *) y ;;\nesac\n/bin/last\n")
    kinds = [type(item.node.first.commands[0]).__name__ for item in script.body.items]
    assert kinds == ["If", "Simple", "Case", "Simple"]
    assert script.errors and "fi" in script.errors[0][1]
    heredoc = script.body.items[1].node.first.commands[0].redirects
    assert heredoc[0].heredoc.body == "$X\n" and heredoc[1].target.raw == "/f"


def test_mount_all_reads_fstab_and_a_filter_records_the_template_it_renders(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/fstab": "proc /proc proc defaults 0 0\n/dev/mtdblock4 /data jffs2 defaults 0 0\n/dev/sda1 /usb vfat noauto 0 0\n",
        "/etc/init.d/rcS": ("#!/bin/sh\nmount -a\nsed -e s/@P@/80/ /etc/web.tpl > /var/web.conf\n"
                            "awk -F= '{print $2}' < /etc/vals > /var/vals\n/data/hook.sh\n"),
        "/etc/web.tpl": "port=@P@\n", "/etc/vals": "a=1\n",
    })
    assert [(x.target, x.fstype, x.writable) for x in m.mounts] == [("/data", "jffs2", True)]  # proc and noauto skipped
    assert [(w.path, w.op, w.source) for w in m.writes] == [("/var/web.conf", "write", "/etc/web.tpl"),
                                                           ("/var/vals", "write", "/etc/vals")]
    (hook,) = m.writable_starts()
    assert (hook.command, hook.storage) == ("/data/hook.sh", "/data")


def test_inetutils_inetd_serves_its_configuration(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": "#!/bin/sh\n/usr/sbin/inetutils-inetd /etc/inetd.conf\n",
        "/etc/inetd.conf": "ftp stream tcp nowait root /usr/sbin/ftpd ftpd -l\n",
        "/usr/sbin/inetutils-inetd": manager("inetd"), "/usr/sbin/ftpd": manager("ftpd"),
    })
    (ftpd,) = started(m, "ftpd")
    assert (ftpd.how, ftpd.service, ftpd.argv, ftpd.launched_by) == ("inetd", "ftp", ("-l",), "inetutils-inetd")


def test_a_switch_default_counts_only_for_switches(tmp_path):
    m = tree(tmp_path, {
        "/etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "/etc/init.d/rcS": ("#!/bin/sh\n[ \"$CONSOLE\" = 1 ] && telnetd -p 23\n"
                            "if [ -f /etc/x ]; then MODE=a; fi\n[ \"$MODE\" = b ] && telnetd -p 24\n"),
    })
    unset, branch = (p.conditions[-1] for p in sorted(started(m, "telnetd"), key=lambda p: p.argv))
    assert "$CONSOLE is not set on this path" in unset.describe() and unset.default_holds is None
    assert branch.default_holds is None  # MODE=a holds on one side of a branch only: not a default
