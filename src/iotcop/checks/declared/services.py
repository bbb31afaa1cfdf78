"""Network services started at boot that the declaration does not list (EN 303 645 5.6-1)."""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Evidence, Severity

# Program -> (service names it answers to, its usual ports).  Only programs that listen on the network.
SERVERS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    **dict.fromkeys(("telnetd", "utelnetd", "in.telnetd"), (("telnet",), (23,))),
    **dict.fromkeys(("dropbear", "sshd"), (("ssh", "sftp", "scp"), (22,))),
    **dict.fromkeys(("ftpd", "in.ftpd", "vsftpd", "proftpd", "pure-ftpd", "bftpd", "uftpd"), (("ftp",), (21,))),
    **dict.fromkeys(("tftpd", "in.tftpd", "atftpd", "tftpd-hpa"), (("tftp",), (69,))),
    **dict.fromkeys(("httpd", "uhttpd", "lighttpd", "nginx", "boa", "goahead", "mini_httpd", "thttpd", "apache2",
                     "mongoose", "webs", "civetweb"), (("http", "https", "web", "www"), (80, 443, 8080, 8443))),
    **dict.fromkeys(("dnsmasq",), (("dns", "dhcp", "tftp"), (53, 67))),
    **dict.fromkeys(("named", "unbound", "dnsd"), (("dns",), (53,))),
    **dict.fromkeys(("udhcpd", "dhcpd", "odhcpd"), (("dhcp", "dhcpv6"), (67, 547))),
    **dict.fromkeys(("mosquitto",), (("mqtt", "mqtts"), (1883, 8883))),
    **dict.fromkeys(("snmpd", "mini_snmpd"), (("snmp",), (161,))),
    **dict.fromkeys(("smbd", "nmbd"), (("smb", "cifs", "netbios"), (445, 139, 137))),
    **dict.fromkeys(("miniupnpd", "upnpd", "minidlna"), (("upnp", "ssdp", "dlna"), (1900, 5000, 8200))),
    **dict.fromkeys(("avahi-daemon", "mdnsd", "umdns"), (("mdns", "dns-sd", "bonjour"), (5353,))),
    **dict.fromkeys(("adbd",), (("adb",), (5555,))),
    **dict.fromkeys(("gdbserver",), (("gdb", "debugger"), ())),
    **dict.fromkeys(("rtspd", "live555MediaServer", "mediamtx"), (("rtsp",), (554,))),
    **dict.fromkeys(("rpcbind", "portmap"), (("rpc", "portmap"), (111,))),
}
_PORT_OPTION = re.compile(r"^(?:-p|--port)=?(.*)$")


def _ports_in_args(args: tuple[str, ...]) -> set[int]:
    """Ports named on a daemon's command line (-p 22, -p 192.168.1.1:22, --port=80)."""
    ports: set[int] = set()
    for i, arg in enumerate(args):
        m = _PORT_OPTION.match(arg)
        if not m:
            continue
        value = m.group(1) or (args[i + 1] if i + 1 < len(args) else "")
        tail = value.rsplit(":", 1)[-1]
        if tail.isdigit():
            ports.add(int(tail))
    return ports


def declared_service(cmd, decl) -> bool | None:
    """Whether the declaration's network services account for this boot command.

    None when the command starts no known network server.  A service counts as declared by the
    program's name, one of the service names it answers to, or one of its ports.
    """
    program = cmd.program
    if program is None:
        return None
    known, usual = SERVERS.get(program, ((), ()))
    if cmd.mechanism in ("inetd", "xinetd") and cmd.service:
        services = (cmd.service.lower(), *known)
    elif program in SERVERS:
        services = known
    else:
        return None
    declared = decl.network_services or []
    names = {s.name.strip().lower() for s in declared}
    ports = {s.port for s in declared if s.port is not None}
    on_ports = _ports_in_args(cmd.args) or set(usual)
    return bool(program.lower() in names or names & set(services) or (on_ports & ports))


class UndeclaredBootService(Check):
    ID = "declared.undeclared-service"
    VERSION = "2.0.0"
    SEVERITY = Severity.high
    TIMEOUT = 60.0
    REQUIRES_DECLARATION = True
    USES = (BOOT_COMMANDS,)
    DOC = CheckDoc(
        title="Network service started at boot but not declared",
        why=(
            "The declaration lists the network services the product is meant to offer; a server the firmware "
            "starts that is not on that list is an interface nobody accounted for, so it is not known to be used "
            "and is not known to be disabled (EN 303 645 5.6-1)."
        ),
        fix="Stop starting the service in the firmware, or add it to network_services in the declaration with its purpose.",
        references=("ETSI TS 103 701 5.6-1-2 (IXIT 15-Intf completeness)",),
        limitations=(
            "Knows the common embedded servers by program name; a vendor's own server binary is not recognised. "
            "Reads what the boot model finds started (a start behind a switch is likely, one found as a string "
            "inside a program possible), not what listens at run time."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        decl = ctx.declaration
        if decl is None or decl.network_services is None:
            return
        declared = decl.network_services
        listed = ", ".join(s.label() for s in declared) or "no services"
        side = Evidence(path=decl.source, line=decl.line("network_services"), excerpt=listed[:200],
                        detail="declared network services")
        for cmd in boot_commands(fw):
            if declared_service(cmd, decl) is not False:
                continue
            program = cmd.program
            known, usual = SERVERS.get(program, ((), ()))
            services = (cmd.service.lower(), *known) if cmd.mechanism in ("inetd", "xinetd") and cmd.service else known
            on_ports = _ports_in_args(cmd.args) or set(usual)
            what = f"{cmd.service} via {program}" if cmd.service else program
            yield self.finding(
                cmd.path, line=cmd.line, excerpt=cmd.text,
                title=f"{what} is started at boot but is not a declared network service",
                detail=f"started: {what} ({'/'.join(services)}, port {', '.join(map(str, sorted(on_ports))) or '?'}); "
                       f"declared ({decl.where('network_services')}): {listed}; {cmd.describe()}",
                confidence=cmd.confidence,
            ).model_copy(update={"related": [side]})
