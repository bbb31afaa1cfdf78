"""Attack-surface checks: fixtures that must fire and must not, the fwanalyzer images through the real pipeline."""

from __future__ import annotations

import functools
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from boot_trees import APPLETS, BASE_LINKS, busybox, manager
from support import corpus_file, run_cli
from surface_helpers import make_tree, run, titles

from iotcop.checks.services.daemons import started_daemons
from iotcop.checks.surface.bootloader import BootloaderConsole, boot_settings
from iotcop.checks.surface.busybox_applets import BusyBoxApplets, applet_names
from iotcop.checks.surface.debug_pages import DebugWebPages
from iotcop.checks.surface.debug_tools import DebugTools
from iotcop.checks.surface.permissions import FilePermissions
from iotcop.checks.surface.root_daemons import RootDaemons
from iotcop.checks.surface.started_services import StartedServices
from iotcop.firmware.inventory import inventory_tree

REAL_ELF = Path("/bin/true").read_bytes()  # any real ELF; tests append data or only need a parseable header


# -- debug tools -----------------------------------------------------------------------------


def test_debug_servers_and_netcat_shells_fire(tmp_path):
    make_tree(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "etc/init.d/rcS": (
            "#!/bin/sh\n"
            "/usr/bin/gdbserver --multi 0.0.0.0:1234 &\n"
            "start-stop-daemon -S -b -x /sbin/adbd\n"
            "tcpdump -i br-lan -w /tmp/cap.pcap &\n"
            "busybox nc -l -p 4444 -e /bin/sh &\n"
            "# nc -l -p 5555 -e /bin/sh   (commented out)\n"
        ),
        "usr/bin/gdbserver": REAL_ELF, "sbin/adbd": manager("adbd"), "usr/sbin/tcpdump": manager("tcpdump"),
        "bin/busybox": busybox(sorted([*APPLETS, "nc"])),
        "system/build.prop": "ro.build.type=userdebug\nro.debuggable=1\nro.adb.secure=0\n",
    }, links=BASE_LINKS)
    result = run(DebugTools, tmp_path)
    got = {(f.title, f.evidence.line) for f in result.findings}
    assert ("GDB remote debugging server started at boot (gdbserver)", 2) in got
    assert ("Android debug bridge daemon started at boot (adbd)", 3) in got
    assert ("packet capture started at boot (tcpdump)", 4) in got
    netcat = [f for f in result.findings if f.title.startswith("Netcat")]
    assert [(f.title, f.evidence.line, f.severity.value) for f in netcat] == [
        ("Netcat started at boot hands a program to network peers (-e/-c)", 5, "critical")]
    assert any(f.title == "Debug tools shipped in the image (3)" and f.provisions == ["5.6-6"] for f in result.findings)
    props = sorted(f.title for f in result.findings if f.title.startswith("Android debug setting"))
    assert props == ["Android debug setting ro.adb.secure=0", "Android debug setting ro.debuggable=1"]


def test_debug_tools_silent_on_ordinary_boot(tmp_path):
    make_tree(tmp_path, {
        "etc/init.d/rcS": "#!/bin/sh\n/usr/sbin/dropbear -s\nnc -z 192.168.1.1 80 && echo up\n",
        "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "usr/share/doc/gdbserver.txt": "gdbserver --multi :1234\n",
        "system/build.prop": "ro.debuggable=0\nro.secure=1\n",
    })
    assert run(DebugTools, tmp_path).findings == []


# -- busybox applets ---------------------------------------------------------------------------


# Harmless applets every build has: a table as long as a real one (a handful of names is not a table).
COMMON_APPLETS = ["cat", "chmod", "cp", "echo", "mkdir", "mount", "rm", "sh", "sleep", "umount"]


def _busybox(applets: list[str]) -> bytes:
    table = b"\x00".join(a.encode() for a in ["[", "[[", *sorted({*COMMON_APPLETS, *applets})]) + b"\x00\x00\x01\x02"
    return REAL_ELF + b"\x00junk\x00" + table


def test_applet_table_is_read_in_order():
    data = _busybox(["ash", "ls", "nc", "telnetd", "zcat"])
    assert applet_names(data) == ("[", "[[", *sorted([*COMMON_APPLETS, "ash", "ls", "nc", "telnetd", "zcat"]))
    # BusyBox 1.2x: packed applet bytes run straight into the table, with no NUL before '['
    names = ["[", "[[", *sorted([*COMMON_APPLETS, "ash", "ls", "nc", "telnetd", "zcat"])]
    packed = b"\x7fELF\x01\x02\xf1!3" + b"\x00".join(n.encode() for n in names) + b"\x00\x00"
    assert applet_names(packed) == tuple(names)
    assert applet_names(b"\x00zeta\x00alpha\x00beta\x00" + bytes(64)) == ()  # no sorted run of three names


def test_busybox_with_server_applets_fires_and_names_links(tmp_path):
    make_tree(tmp_path, {"bin/busybox": _busybox(["ash", "httpd", "ls", "nc", "telnetd"]), "etc/passwd": ""},
              links={"usr/sbin/telnetd": "../../bin/busybox", "bin/ls": "busybox"})
    result = run(BusyBoxApplets, tmp_path)
    assert len(result.findings) == 1
    f = result.findings[0]
    assert f.evidence.path == "/bin/busybox" and "httpd, nc, telnetd" in f.title
    assert "telnetd (/usr/sbin/telnetd)" in f.evidence.detail and "ls (" not in f.evidence.detail


def test_minimal_busybox_is_silent(tmp_path):
    make_tree(tmp_path, {"bin/busybox": _busybox(["ash", "cat", "ls", "mount"])})
    assert run(BusyBoxApplets, tmp_path).findings == []


# -- permissions ---------------------------------------------------------------------------------


def test_permissions_fire_per_class(tmp_path):
    make_tree(
        tmp_path,
        {"bin/busybox": REAL_ELF, "usr/bin/passwd": REAL_ELF, "usr/bin/wall": REAL_ELF, "etc/config/shared": "x", "data/.keep": ""},
        modes={"bin/busybox": 0o4755, "usr/bin/passwd": 0o4755, "usr/bin/wall": 0o2755, "etc/config/shared": 0o666, "data": 0o777},
    )
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp").chmod(0o1777)  # sticky: not reported
    result = run(FilePermissions, tmp_path)
    by_title = {f.title: f for f in result.findings}
    assert by_title["Set-user-ID root program that runs anything (1)"].evidence.path == "/bin/busybox"
    assert by_title["Set-user-ID programs (1)"].evidence.path == "/usr/bin/passwd"
    assert by_title["Set-group-ID programs (1)"].severity.value == "info"
    assert by_title["World-writable files (1)"].evidence.path == "/etc/config/shared"
    dirs = by_title["World-writable directories without the sticky bit (1)"]
    assert dirs.evidence.path == "/data" and dirs.severity.value == "medium"


def test_permissions_silent_on_tidy_tree(tmp_path):
    make_tree(tmp_path, {"bin/sh": REAL_ELF, "etc/passwd": "root:x:0:0::/root:/bin/sh\n"}, modes={"bin/sh": 0o755},
              links={"bin/ash": "sh"})
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp").chmod(0o1777)
    assert run(FilePermissions, tmp_path).findings == []


@functools.cache
def _scan_surface(name: str) -> tuple[int, dict]:
    result = run_cli("scan", corpus_file("fwanalyzer", name), "--format", "json", "--quiet", "--check", "surface")
    assert result.code in (0, 1), result.stderr
    return result.code, result.json()


def _offenders(report: dict) -> dict[str, str]:
    out = {}
    for f in report["findings"]:
        if f["check"] == "surface.file-permissions":
            out[f["title"]] = f["evidence"]["detail"]
    return out


@pytest.mark.corpus
def test_fwanalyzer_test_img_world_writable_through_the_pipeline(tmp_path):
    # fwanalyzer's test/test.py expects /world (0666) as world-writable and /dir2/file21 as SUID.
    offenders = _offenders(_scan_surface("test.img")[1])
    ww = next(v for k, v in offenders.items() if k.startswith("World-writable files"))
    # file2 is 0123 in the image (debugfs stat); the report shows that, not the 0767 unblob widens it to
    assert "/world (-rw-rw-rw-" in ww and "/file2 (---x-w--wx 123:0)" in ww


@pytest.mark.corpus
def test_fwanalyzer_test_img_suid_file_survives_extraction():
    # debugfs rdump sets the owner after the mode, which clears set-user-ID; image_modes puts it back.
    offenders = _offenders(_scan_surface("test.img")[1])
    assert any("/dir2/file21" in v for k, v in offenders.items() if k.startswith("Set-user-ID"))


@pytest.mark.corpus
def test_fwanalyzer_squashfs_suid_through_the_pipeline():
    # squashfs.img: dir2/file2 is -rwsr-xr-x 1001:1001 (unsquashfs -lln on the corpus image).
    offenders = _offenders(_scan_surface("squashfs.img")[1])
    suid = next(v for k, v in offenders.items() if k.startswith("Set-user-ID programs"))
    assert "/dir2/file2 (-rwsr-xr-x 1001:1001)" in suid
    assert not any(k.startswith("World-writable") for k in offenders)


@pytest.mark.corpus
def test_fwanalyzer_cap_images_have_no_suid_or_world_writable():
    # cap_ext2.img and squashfs_cap.img carry a file capability (security.capability), which the extractors drop;
    # nothing else in them is set-user-ID or world-writable, so the check must stay silent.
    for name in ("cap_ext2.img", "squashfs_cap.img"):
        assert _offenders(_scan_surface(name)[1]) == {}, name


# -- root daemons ---------------------------------------------------------------------------------


def test_root_daemons_fire_only_when_root_is_shown(tmp_path):
    make_tree(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "etc/init.d/rcS": (
            "#!/bin/sh\n"
            "/usr/sbin/lighttpd -f /etc/lighttpd/lighttpd.conf\n"
            "/usr/sbin/dnsmasq -C /etc/dnsmasq.conf\n"
            "/usr/sbin/httpd -p 8080 -h /www\n"
            "/usr/sbin/dropbear -s\n"
            "chpst -u nobody /usr/sbin/mini_httpd -p 81\n"
            "/etc/init.d/uhttpd start\n"
            "/usr/sbin/mosquitto -c /etc/mosquitto/mosquitto.conf\n"
        ),
        "etc/lighttpd/lighttpd.conf": 'server.port = 80\nserver.username = "root"\n',
        "etc/dnsmasq.conf": "interface=br-lan\n",
        "etc/rc.common": "#!/bin/sh\n",
        "etc/init.d/uhttpd": "#!/bin/sh /etc/rc.common\nUSE_PROCD=1\nstart_service() {\n procd_open_instance\n procd_set_param command /usr/sbin/uhttpd -f -h /www\n procd_set_param user www\n procd_close_instance\n}\n",
        "etc/mosquitto/mosquitto.conf": "user root\nlistener 1883\n",
        "bin/busybox": busybox(), "usr/bin/chpst": manager("chpst"),
        **{f"usr/sbin/{d}": manager(d) for d in ("lighttpd", "dnsmasq", "httpd", "dropbear", "mini_httpd", "uhttpd", "mosquitto")},
    }, links=BASE_LINKS)
    fw = inventory_tree(tmp_path)
    users = {d.command.program: d.user for d in started_daemons(fw)}
    assert users == {"lighttpd": "root", "dnsmasq": "nobody", "httpd": "root", "dropbear": "root", "mini_httpd": "nobody",
                     "uhttpd": "www", "mosquitto": "root"}
    result = run(RootDaemons, tmp_path)
    assert len(result.findings) == 1
    assert result.findings[0].title == "Network daemons run as root (httpd, lighttpd, mosquitto)"
    inventory = run(StartedServices, tmp_path).findings
    assert len(inventory) == 1 and inventory[0].confidence == "possible" and inventory[0].severity.value == "info"
    assert inventory[0].title == "Network services started at boot (7): review that each is needed"
    assert "uhttpd [http] (/etc/init.d/uhttpd:5, procd, runs as www)" in inventory[0].evidence.detail


def test_root_daemons_silent_when_privileges_drop(tmp_path):
    make_tree(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\n",
        "etc/init.d/rcS": "#!/bin/sh\n/usr/sbin/lighttpd -f /etc/lighttpd.conf\n/usr/sbin/httpd -u www -h /www\n/usr/sbin/dropbear\n",
        "etc/lighttpd.conf": 'server.username = "www-data"\n', "bin/busybox": busybox(),
        **{f"usr/sbin/{d}": manager(d) for d in ("lighttpd", "httpd", "dropbear")},
    }, links=BASE_LINKS)
    assert run(RootDaemons, tmp_path).findings == []


# -- debug web pages ---------------------------------------------------------------------------------


def test_debug_pages_fire(tmp_path):
    make_tree(tmp_path, {
        "www/info.php": "<?php phpinfo(); ?>",
        "www/cgi-bin/test.cgi": "#!/bin/sh\necho ok\n",
        "var/www/debug.html": "<html>debug</html>",
        "www/index.html": "<html></html>",
    })
    assert sorted(titles(run(DebugWebPages, tmp_path))) == [
        "Debug or test page in the web root (debug.html)",
        "Debug or test page in the web root (test.cgi)",
        "phpinfo() page in the web root",
    ]


def test_debug_pages_silent_outside_web_root_and_on_normal_pages(tmp_path):
    make_tree(tmp_path, {
        "www/status.cgi": "#!/bin/sh\nuptime\n",
        "www/latest.html": "x",
        "www/contest.html": "x",
        "usr/lib/php/test.php": "<?php phpinfo(); ?>",
        "usr/share/doc/debug.html": "x",
    })
    assert run(DebugWebPages, tmp_path).findings == []


# -- bootloader -----------------------------------------------------------------------------------


def _uboot_env(pairs: dict[str, str], size: int = 0x1000) -> bytes:
    body = b"".join(f"{k}={v}".encode() + b"\x00" for k, v in pairs.items()) + b"\x00"
    body = body.ljust(size - 4, b"\xff")
    return struct.pack("<I", zlib.crc32(body)) + body


def _dtb_with_bootargs(bootargs: str) -> bytes:
    strings = b"bootargs\x00"
    value = bootargs.encode() + b"\x00"
    pad = (4 - len(value) % 4) % 4
    struct_block = (
        struct.pack(">I", 1) + b"\x00\x00\x00\x00"  # root node, empty name
        + struct.pack(">I", 1) + b"chosen\x00\x00"
        + struct.pack(">III", 3, len(value), 0) + value + b"\x00" * pad
        + struct.pack(">I", 2) + struct.pack(">I", 2) + struct.pack(">I", 9)
    )
    off_rsv = 40
    off_struct = off_rsv + 16
    off_strings = off_struct + len(struct_block)
    total = off_strings + len(strings)
    header = struct.pack(">4s9I", b"\xd0\x0d\xfe\xed", total, off_struct, off_strings, off_rsv, 17, 16, 0, len(strings), len(struct_block))
    return header + b"\x00" * 16 + struct_block + strings


def test_bootloader_fires_on_open_autoboot_and_shell_bootargs(tmp_path):
    make_tree(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::respawn:-/bin/sh\n", "bin/busybox": busybox(),
        "boot/uboot-env.bin": _uboot_env({"bootdelay": "3", "bootcmd": "bootm 0x9f050000", "bootargs": "console=ttyS0,115200 root=/dev/mtdblock2"}),
        "boot/board.dtb": _dtb_with_bootargs("console=ttyS1,115200 init=/bin/sh"),
    }, links=BASE_LINKS)
    fw = inventory_tree(tmp_path)
    assert {(s.path, s.key, s.value) for s in boot_settings(fw) if s.key == "bootargs"} == {
        ("/boot/uboot-env.bin", "bootargs", "console=ttyS0,115200 root=/dev/mtdblock2"),
        ("/boot/board.dtb", "bootargs", "console=ttyS1,115200 init=/bin/sh"),
    }
    got = sorted((f.title, f.evidence.path) for f in run(BootloaderConsole, tmp_path).findings)
    assert got == [
        ("Kernel command line boots into a shell", "/boot/board.dtb"),
        ("Kernel console on serial port ttyS0 runs a shell without login", "/boot/uboot-env.bin"),
        ("U-Boot autoboot can be interrupted without a password", "/boot/uboot-env.bin"),
    ]


def test_bootloader_silent_when_locked_down(tmp_path):
    make_tree(tmp_path, {
        "etc/inittab": "::sysinit:/etc/init.d/rcS\nttyS0::askfirst:/bin/login\n",
        "boot/uboot-env.bin": _uboot_env({"bootdelay": "3", "bootstopkeysha256": "a" * 64, "bootargs": "console=ttyS0,115200"}),
        "boot/u-boot-env.txt": "bootdelay=0\nbootargs=console=ttyS0,115200 quiet\n",
        "boot/board.dtb": _dtb_with_bootargs("console=ttyS0,115200 root=/dev/mmcblk0p2"),
    })
    assert run(BootloaderConsole, tmp_path).findings == []


def _gcc_with_env(out: Path, *flags: str, config_file: bool) -> Path:
    """A real ELF carrying a compiled-in default U-Boot environment, as u-boot-tools' fw_printenv does."""
    out.parent.mkdir(parents=True, exist_ok=True)
    src = out.with_suffix(".c")
    reads = 'puts("/etc/fw_env.config");' if config_file else ""
    src.write_text(
        "#include <stdio.h>\n"
        'static const char default_environment[] __attribute__((used, aligned(16))) = '
        '"\\0bootcmd=sf probe 0;bootm 0x42000000\\0bootdelay=1\\0baudrate=115200\\0\\0";\n'
        f"int main(void) {{ {reads} return default_environment[1]; }}\n"
    )
    subprocess.run(["gcc", "-O2", *flags, "-o", str(out), str(src)], check=True, capture_output=True, timeout=60)
    src.unlink()
    return out


def test_environment_compiled_into_fw_printenv_is_not_the_devices(tmp_path):
    # fw_printenv/fw_setenv fall back to their built-in default environment when the flash copy is unreadable;
    # the device boots with the environment in flash (/etc/fw_env.config names it), not with this one.
    make_tree(tmp_path, {"etc/inittab": "::sysinit:/etc/init.d/rcS\n", "etc/fw_env.config": "/dev/mtd1 0x0 0x10000 0x10000\n"},
              links={"usr/sbin/fw_setenv": "fw_printenv"})
    _gcc_with_env(tmp_path / "usr/sbin/fw_printenv", config_file=True)  # dynamically linked
    _gcc_with_env(tmp_path / "sbin/fw_printenv-static", "-static", config_file=True)  # static, reads fw_env.config
    fw = inventory_tree(tmp_path)
    assert [s for s in boot_settings(fw) if s.key == "bootdelay"] == []
    assert run(BootloaderConsole, tmp_path).findings == []
    # The environment of the bootloader itself is still read: an environment partition and a static U-Boot ELF.
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot/uboot-env.bin").write_bytes(_uboot_env({"bootcmd": "bootm 0x42000000", "bootdelay": "1"}))
    _gcc_with_env(tmp_path / "boot/u-boot", "-static", config_file=False)
    got = sorted((f.title, f.evidence.path) for f in run(BootloaderConsole, tmp_path).findings)
    assert got == [("U-Boot autoboot can be interrupted without a password", "/boot/u-boot"),
                   ("U-Boot autoboot can be interrupted without a password", "/boot/uboot-env.bin")]


@pytest.mark.corpus
def test_fact_init_system_fixtures_start_no_network_daemon(tmp_path):
    # FACT_core's init_systems fixtures start foobar (systemd), baz (upstart), foo-service.sh (runit, as user foo),
    # myprocess and rc.local programs: none is a network daemon, debug tool or netcat shell.
    placed = {
        "init_systems__etc__inittab": "etc/inittab", "init_systems__etc__rc.local": "etc/rc.local",
        "init_systems__etc__systemd__system__foobar": "etc/systemd/system/foobar.service",
        "init_systems__etc__init__baz.conf": "etc/init/baz.conf", "init_systems__etc__sv__example__run": "etc/sv/example/run",
        "init_systems__etc__service__lighttpd__run": "etc/service/lighttpd/run", "init_systems__etc__init.d__skeleton": "etc/init.d/skeleton",
    }
    for name, dst in placed.items():
        (tmp_path / dst).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / dst).write_bytes(corpus_file("FACT_core", name).read_bytes())
    fw = inventory_tree(tmp_path)
    assert started_daemons(fw) == ()
    for cls in (DebugTools, RootDaemons, BootloaderConsole, StartedServices):
        assert run(cls, tmp_path).findings == [], cls.ID
