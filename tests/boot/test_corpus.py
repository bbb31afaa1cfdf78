"""The init chain of each real vendor image, as its facts file describes it (../shared/corpus/realworld)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from support import corpus_file

from iotcop.boot import BootModel, build_boot_model
from iotcop.firmware.extract import extract
from iotcop.firmware.inventory import build_firmware

pytestmark = pytest.mark.corpus


def _model(name: str) -> BootModel:
    archive = corpus_file("realworld", f"{name}.tar.gz")
    work = Path(tempfile.mkdtemp(prefix="iotcop-boot-test-"))
    try:
        extraction = extract(archive, work)
        fw = build_firmware(work, extraction.roots, extraction.extract_dir, extraction.partitions)
        return build_boot_model(fw)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def models():
    cache: dict[str, BootModel] = {}

    def get(name: str) -> BootModel:
        if name not in cache:
            cache[name] = _model(name)
        return cache[name]

    return get


def _one(model: BootModel, name: str, **where):
    found = [p for p in model.programs if p.name == name and all(getattr(p, k) == v for k, v in where.items())]
    assert found, f"{name} {where} not started; started: {sorted({p.name for p in model.programs})}"
    return found[0]


def _steps(program) -> list[str]:
    return [str(s) for s in program.chain]


def test_escam_camera(models):
    m = models("escam-pvr008")
    assert m.init == "busybox-init" and m.inittab == "/etc/inittab" and not m.truncated
    initrun = [s for s in m.scripts if s.path == "/app/initrun.sh"]
    assert initrun and all("/etc/init.d/S99service" in {st.file for st in s.chain} for s in initrun)
    # boa with its arguments, from the app start script
    boa = _one(m, "boa", path="/app/usr/sbin/boa")
    assert boa.argv == ("-c", "/home/http", "-f", "/etc/conf.d/boa/boa.conf") and "/app/initrun.sh:276" in _steps(boa)
    # telnetd (busybox applet) only when the flag file on the writable /config partition exists
    telnetd = _one(m, "telnetd", path="/bin/busybox", applet="telnetd")
    assert _steps(telnetd)[-1] == "/app/initrun.sh:351" and telnetd.confidence == "conditional"
    flag = [c for c in telnetd.conditions if "/config/.DebugFlag" in c.expanded + c.text]
    assert flag and flag[-1].negated and "file" in flag[-1].kinds
    assert any("writable storage (/config)" in s for s in flag[-1].sources)
    # the empty-password credential set is copied into /etc first, under the same flag
    copies = {w.path: w for w in m.writes if w.op == "copy" and w.source and w.source.startswith("/app/passwd/")}
    assert {"/etc/passwd", "/etc/shadow"} <= set(copies) and str(copies["/etc/shadow"].chain[-1]) == "/app/initrun.sh:350"
    assert any("/config/.DebugFlag" in c.expanded + c.text for c in copies["/etc/shadow"].conditions)
    # the normal branch
    for name in ("MonitorProcess", "myWatchDogProcess"):
        p = _one(m, name)
        assert any(c.text == '[ ! -f "$DbgFlagFile" ]' and not c.negated for c in p.conditions)
    assert any(x.command == "./ambarella_test" for x in m.missing)  # the app is not in the mirror
    assert _one(m, "systemd", path="/app/usr/sbin/systemd").background
    # cd /config; ./mount.sh: start-up from the writable partition (not in the image)
    mount_sh = [x for x in m.writable_starts() if getattr(x, "path", None) == "/config/mount.sh"]
    assert mount_sh and mount_sh[0].storage == "/config" and str(mount_sh[0].chain[-1]) == "/etc/init.d/S99service:25"
    # the serial console: mylogin gives /bin/sh when U-Boot's check3881 is 1, else login (if ptzsupport is 0)
    shell = _one(m, "sh", tty="ttyS000", action="once")
    assert _steps(shell)[:2] == ["/etc/inittab:81", "/bin/mylogin:6"]
    assert "uboot-env" in shell.conditions[-1].kinds and "check3881" in shell.conditions[-1].describe()
    login = _one(m, "login", tty="ttyS000")
    assert login.conditions[0].negated and "ptzsupport" in login.conditions[-1].describe()
    # factory Wi-Fi test mode: rcS stops after S00devs when the flag exists
    assert any("/tmp/.check3881flag" in s for c in boa.conditions for s in c.sources)


def test_netis_router(models):
    m = models("netis-n5")
    console = _one(m, "sh", action="respawn")
    assert console.login_shell and console.confidence == "confirmed" and _steps(console) == ["/etc/inittab:6"]
    cscripts = _one(m, "startup.sh", path="/bin/script/cscripts")
    assert _steps(cscripts)[-1] == "/etc/init.d/rcS:38" and cscripts.background
    strings = {p.name: p for p in m.programs if p.started_by == "/bin/script/cscripts" and p.confidence == "possible"}
    for name in ("syslogd", "klogd", "watchdog", "NetisDaemon", "boa", "auto_update", "miniupnpd", "iapp", "minidlna",
                 "stupid-ftpd", "cwmpClient"):
        assert name in strings, name
    assert strings["syslogd"].argv == ("-L", "-s", "8", "-b", "7")
    assert strings["minidlna"].argv == ("-R", "-s", "%s", "-f", "/etc/minidlna.conf")
    assert strings["syslogd"].evidence == "syslogd -L -s 8 -b 7 &"
    # smbd/nmbd are links to the samba binary that is not in the mirror: noted, not started
    assert {"smbd", "nmbd"} <= {x.command for x in m.missing if "points to a file" in x.reason}
    assert not [p for p in m.programs if p.name in ("smbd", "nmbd")]
    passwd = [w for w in m.writes if w.path == "/var/passwd" and w.op == "write"]
    assert passwd and passwd[0].content == "root::0:0:root:/:/bin/sh\n" and passwd[0].confidence == "possible"
    assert any(w.op == "extract" and w.source == "/home/web.tar.gz" for w in m.writes)
    # SDK leftovers nothing runs
    assert not {"/etc/init.d/rcS_GW", "/etc/init.d/rcS_AP", "/bin/startup.sh"} & {s.path for s in m.scripts}


def test_pace_gateway(models):
    m = models("pace-v5471")
    assert any("built-in table" in n for n in m.notes)
    assert m.inittab == "/var/bewan/inittab (generated at boot)"
    assert any(s.path == "/etc/bewan/rc" and str(s.chain[-1]) == "/etc/init.d/rcS:40" for s in m.scripts)
    assert any(s.path == "/etc/profile" for s in m.scripts)
    # the console root shell the rc script appends to the generated inittab
    ash = _one(m, "ash", tty="ttyS0", action="askfirst")
    assert ash.login_shell and "/etc/bewan/rc:184" in _steps(ash)
    assert any("Device_Console_Enable" in c.describe() for c in ash.conditions)
    # inetd from the generated table, with telnet and ssh under the kernel command line switch
    inetd = _one(m, "inetd", how="inittab")
    assert inetd.argv == ("-f", "/var/bewan/inetd.conf") and "/etc/bewan/init.d/inetd:51" in _steps(inetd)
    telnet = _one(m, "telnetd", how="inetd", service="telnet")
    assert telnet.started_by == inetd.path and telnet.user == "root"
    switch = telnet.conditions[-1]
    assert "kernel-cmdline" in switch.kinds and "Services_Telnet_Enable='0'" in switch.describe()
    sshd = _one(m, "sshd", how="inetd", service="ssh")
    assert sshd.argv == ("-i", "-d", "/etc/bewan/dsskey.bin")
    for name in ("tr069", "lighttpd", "crond", "dnsmasq"):
        assert _one(m, name, how="inittab").respawn
    # the static /etc/inetd.conf (telnet, ftp ...) is used by nothing
    assert not [p for p in m.programs if any(s.file == "/etc/inetd.conf" for s in p.chain)]


def test_cig_ont(models):
    m = models("cig-g97rg6w")
    assert [str(s.chain[-1]) for s in m.scripts if s.path == "/sbin/setup.sh"] == ["/etc/init.d/rcS:10"]
    rw = [x for x in m.writable_starts() if getattr(x, "path", None) == "/mnt/rwdir/setup.sh"]
    assert rw and rw[0].storage == "/mnt/rwdir" and str(rw[0].chain[-1]) == "/sbin/setup.sh:161"
    telnetd = _one(m, "telnetd", path="/bin/telnetd")
    assert telnetd.applet is None and telnetd.background and _steps(telnetd)[-1] == "/sbin/setup.sh:167"
    assert "the early exit at /sbin/setup.sh:161 is not taken" in [c.text for c in telnetd.conditions]
    assert _steps(_one(m, "dropbear", path="/usr/sbin/dropbear", confidence="conditional"))[-1] == "/sbin/setup.sh:168"
    assert len([p for p in m.programs if p.name == "GponCLI" and p.confidence == "conditional"]) == 3
    ssp = _one(m, "Ssp")
    managers = {p.name for p in m.programs if p.started_by == ssp.path}
    assert {"TimerMgr", "NetMgr", "WebMgr", "tr069Mgr"} <= managers
    inetd = _one(m, "inetd", confidence="possible")
    assert inetd.evidence == "/usr/sbin/inetd &" and inetd.started_by == "/bin/NetMgr"
    ftpd = _one(m, "ftpd", how="inetd")
    assert (ftpd.user, ftpd.argv, ftpd.service) == ("root", ("-w", "/usr/lib/wifi_2g_modules"), "221")
    libs = {p.evidence for p in m.programs if p.chain[-1].file == "/usr/lib/librtn.so"}
    assert any(e.startswith("dropbear -K 60") for e in libs) and any(e.startswith("pure-ftpd -l cig") for e in libs)
    assert any(s.path == "/opt/sense/init.d/sense.sh" for s in m.scripts)
    assert not {"/etc/rc", "/etc/rc-first"} & {s.path for s in m.scripts}
    assert any(w.path == "/tmp/passwd" and w.source == "/etc/pam/passwd" for w in m.writes)


def test_tplink_router(models):
    m = models("tplink-mt7628")
    login = _one(m, "login", tty="ttyS1", action="askfirst")
    assert login.path == "/bin/busybox" and login.confidence == "confirmed"
    cos = _one(m, "cos", path="/usr/bin/cos")
    assert cos.background and _steps(cos)[-1] == "/etc/init.d/rcS:76"
    assert any(w.path == "/var/passwd" and w.source == "/etc/passwd.bak" and str(w.chain[-1]) == "/etc/init.d/rcS:20"
               for w in m.writes)
    by_cos: dict[str, list] = {}
    for p in m.programs:
        if p.started_by == cos.path:
            by_cos.setdefault(p.name, []).append(p)
    (dropbear,) = [p for p in by_cos["dropbear"] if p.confidence == "possible"]
    assert dropbear.argv == ("-p", "%s", "-r", "%s", "-d", "%s", "-A", "%s") and dropbear.path == "/usr/bin/dropbearmulti"
    for name in ("upnpd", "wscd", "rt2860apd", "afcd", "pwdog", "ated_tp", "igmpd"):
        assert any(p.confidence == "possible" for p in by_cos[name]), name
    assert [p.evidence for p in by_cos["tddp"]] == ["tddp &"]
    for name in ("httpd", "dhcpd", "dnsProxy", "tmpd", "tdpd"):
        assert by_cos[name], name
    # "telnetd" is only a process name in cos and no telnetd is installed
    assert not m.started("telnetd", min_confidence="name-only")


def test_phicomm_openwrt(models):
    m = models("phicomm-k2p")
    assert m.init == "procd"
    starter = _one(m, "telnetd_startup")
    assert starter.how == "procd" and starter.confidence == "confirmed"
    assert _steps(starter)[1:] == ["/etc/rc.d/S80telnetd_startup", "/etc/init.d/telnetd_startup:16"]
    telnetd = _one(m, "telnetd", started_by="/usr/bin/telnetd_startup")
    assert telnetd.argv == ("-l", "/bin/login.sh") and telnetd.confidence == "possible"
    shell = _one(m, "ash", how="login-program")
    assert shell.argv == ("--login",) and _steps(shell)[-1] == "/bin/login.sh:21"
    assert not [p for p in m.programs if any(s.file == "/etc/init.d/telnet" for s in p.chain)]  # N1
    capp = _one(m, "capp")
    assert capp.how == "procd" and capp.respawn and capp.argv == ("0",)
    assert _one(m, "adpush").confidence == "confirmed"
    assert _one(m, "statistics").argv == ("power",)
    assert _one(m, "uhttpd", how="procd")
    console = _one(m, "login", action="askconsole")
    assert _steps(console) == ["/etc/inittab:3"]
