"""Network daemons started at boot and the account each runs as.

A function of the boot model (through BOOT_COMMANDS): every start whose program is a known network
server becomes a StartedDaemon.  The model gives the account it starts as (systemd User=, procd's user
parameter, chpst -u, start-stop-daemon -c, su, setuidgid, inetd/xinetd user fields, tcpsvd -u, and root
for init and its scripts); the daemon's own settings then say whether it drops root itself (-u options,
lighttpd server.username, dnsmasq user=, mosquitto user).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iotcop.checks.services.boot import BOOT_COMMANDS, BootCommand, boot_commands
from iotcop.firmware.derived import DerivedFact
from iotcop.firmware.model import Firmware

# Program name -> service kind, for programs that listen on the network.
NETWORK_DAEMONS: dict[str, str] = {
    **dict.fromkeys(("telnetd", "utelnetd", "in.telnetd"), "telnet"),
    **dict.fromkeys(("dropbear", "sshd"), "ssh"),
    **dict.fromkeys(("ftpd", "in.ftpd", "vsftpd", "proftpd", "pure-ftpd", "bftpd", "uftpd"), "ftp"),
    **dict.fromkeys(("tftpd", "in.tftpd", "atftpd", "tftpd-hpa", "opentftpd"), "tftp"),
    **dict.fromkeys(("httpd", "uhttpd", "lighttpd", "nginx", "boa", "goahead", "mini_httpd", "thttpd", "apache2", "mongoose", "webs", "civetweb", "shttpd"), "http"),
    **dict.fromkeys(("dnsmasq", "named", "unbound", "dnsd"), "dns"),
    **dict.fromkeys(("udhcpd", "dhcpd", "odhcpd"), "dhcp"),
    **dict.fromkeys(("mosquitto",), "mqtt"),
    **dict.fromkeys(("snmpd", "mini_snmpd"), "snmp"),
    **dict.fromkeys(("smbd", "nmbd", "samba"), "smb"),
    **dict.fromkeys(("miniupnpd", "upnpd", "minidlna", "ushare"), "upnp"),
    **dict.fromkeys(("avahi-daemon", "mdnsd", "umdns"), "mdns"),
    **dict.fromkeys(("hostapd",), "wifi-ap"),
    **dict.fromkeys(("adbd",), "adb"),
    **dict.fromkeys(("gdbserver",), "debugger"),
    **dict.fromkeys(("rtspd", "live555MediaServer", "mediamtx"), "rtsp"),
    **dict.fromkeys(("ntpd", "chronyd"), "ntp"),
    **dict.fromkeys(("xinetd", "inetd", "inetutils-inetd"), "super-server"),
    **dict.fromkeys(("rpcbind", "portmap"), "rpc"),
}

# Daemons that must start as root to do their job (user switching after login).
NEEDS_ROOT = frozenset({"dropbear", "sshd", "telnetd", "utelnetd", "in.telnetd", "ftpd", "in.ftpd", "vsftpd", "proftpd", "pure-ftpd", "bftpd", "uftpd", "xinetd", "inetd", "inetutils-inetd", "hostapd", "odhcpd", "udhcpd", "dhcpd", "ntpd", "chronyd", "miniupnpd"})

_USER_OPTION = {"httpd": "-u", "mini_httpd": "-u", "thttpd": "-u", "boa": None, "dnsmasq": "-u", "mosquitto": None, "uhttpd": None}


@dataclass(frozen=True, slots=True)
class StartedDaemon:
    command: BootCommand
    kind: str  # service kind: ssh, http, dns ...
    user: str | None  # account it runs as; None when the image does not show it
    user_source: str  # how `user` was learnt


def _arg_after(args: tuple[str, ...], *options: str) -> str | None:
    for i, arg in enumerate(args):
        for opt in options:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if opt.startswith("--") and arg.startswith(opt + "="):
                return arg.split("=", 1)[1]
    return None


def _config_value(fw: Firmware, path: str, pattern: str) -> tuple[bool, str | None]:
    """(config file found, value of the setting or None)."""
    text = fw.read_text(path, 1024 * 1024)
    if text is None:
        return False, None
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = re.match(pattern, line.strip())
        if m:
            return True, m.group(1)
    return True, None


def _own_config_user(fw: Firmware, cmd: BootCommand) -> tuple[str | None, str]:
    name = cmd.program
    if name == "lighttpd":
        conf = _arg_after(cmd.args, "-f") or "/etc/lighttpd/lighttpd.conf"
        found, user = _config_value(fw, conf, r'server\.username\s*=\s*"([^"]*)"')
        if found:
            return (user or "root"), f"{conf}: server.username" + ("" if user else " not set, so it keeps root")
    elif name == "dnsmasq":
        user = _arg_after(cmd.args, "-u", "--user")
        if user:
            return user, "dnsmasq -u"
        conf = _arg_after(cmd.args, "-C", "--conf-file") or "/etc/dnsmasq.conf"
        found, user = _config_value(fw, conf, r"user\s*=\s*(\S+)")
        return (user or "nobody"), (f"{conf}: user=" if user else "dnsmasq drops to 'nobody' by default")
    elif name == "mosquitto":
        conf = _arg_after(cmd.args, "-c") or "/etc/mosquitto/mosquitto.conf"
        found, user = _config_value(fw, conf, r"user\s+(\S+)")
        return (user or "mosquitto"), (f"{conf}: user" if user else "mosquitto drops to 'mosquitto' by default")
    elif name in ("httpd", "mini_httpd", "thttpd"):
        user = _arg_after(cmd.args, "-u")
        return (user or "root"), ("-u option" if user else f"{name} started without -u keeps root")
    elif name in ("uhttpd", "boa", "goahead", "webs"):
        return "root", f"{name} has no privilege drop of its own"
    return None, ""


def _collect(fw: Firmware) -> tuple[StartedDaemon, ...]:
    out = []
    for cmd in boot_commands(fw):
        if cmd.program not in NETWORK_DAEMONS:
            continue
        user, source = cmd.user, cmd.user_source or f"started by {cmd.mechanism} with no user switch"
        if user == "root":
            own, own_source = _own_config_user(fw, cmd)
            if own is not None:
                user, source = own, own_source
        out.append(StartedDaemon(cmd, NETWORK_DAEMONS[cmd.program], user, source))
    return tuple(out)


STARTED_DAEMONS = DerivedFact("services.started-daemons", _collect, uses=(BOOT_COMMANDS,))


def started_daemons(fw: Firmware) -> tuple[StartedDaemon, ...]:
    """Network daemons the image starts at boot, memoised per image."""
    return STARTED_DAEMONS.of(fw)
