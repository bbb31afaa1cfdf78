"""Management and messaging services configured without encryption.

Telnet and FTP are covered by the services family; this module reads web
server, MQTT broker and SNMP agent configuration.
"""

from __future__ import annotations

import re
from typing import Iterator

from iotcop.boot import BOOT_MODEL
from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.checks.secrets.files import TEXT, logical_path, text_files
from iotcop.checks.services.boot import BOOT_COMMANDS, boot_commands
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity

_REFS = ("CWE-319: Cleartext Transmission of Sensitive Information",)


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _uncommented(text: str) -> str:
    """The text with comments blanked (line numbers kept)."""
    return re.sub(r"(?m)#.*$", "", text)


def _program_present(fw: Firmware, *names: str) -> bool:
    return any(e.kind in ("file", "symlink") for e in fw.by_name(*names))


# -- web servers -------------------------------------------------------------------------------

def _lighttpd(path: str, text: str) -> dict | None:
    t = _uncommented(text)
    if "server.document-root" not in t and "server.port" not in t and "server.modules" not in t:
        return None
    global_part = re.split(r"\$SERVER\[", t)[0]
    tls_global = re.search(r"ssl\.engine\s*=\s*\"enable\"", global_part)
    if tls_global:
        return None
    port_m = re.search(r"server\.port\s*=\s*(\d+)", global_part)
    redirect = re.search(r"url\.redirect\s*=.*https://", t, re.S)
    if redirect:
        return None
    auth = re.search(r"auth\.require|\"mod_auth\"|auth\.backend\s*=", t)
    dynamic = re.search(r"cgi\.assign|\"mod_cgi\"|\"mod_fastcgi\"|fastcgi\.server|\"mod_magnet\"|\"mod_proxy\"|scgi\.server", t)
    m = auth or dynamic or port_m
    return {"server": "lighttpd", "port": port_m.group(1) if port_m else "80", "auth": bool(auth), "dynamic": bool(dynamic),
            "line": _line(t, m.start()) if m else 1}


def _uhttpd(path: str, text: str) -> list[dict]:
    out = []
    for block in re.finditer(r"(?ms)^config\s+uhttpd\s+['\"]?(\w+)['\"]?(.*?)(?=^config\s|\Z)", text):
        body = block.group(2)
        http = re.search(r"list\s+listen_http\s+['\"]?([^'\"\s]+)", body)
        if not http or re.search(r"option\s+redirect_https\s+['\"]?(?:1|on|true)", body):
            continue
        out.append({
            "server": "uhttpd", "port": http.group(1),
            "auth": bool(re.search(r"option\s+(?:realm|config)\b", body)),
            "dynamic": bool(re.search(r"option\s+(?:cgi_prefix|lua_prefix|ubus_prefix)\b|list\s+(?:lua_prefix|ucode_prefix)\b", body)),
            "line": _line(text, block.start() + http.start()),
        })
    return out


def _nginx(path: str, text: str) -> list[dict]:
    out = []
    t = _uncommented(text)
    blocks = []
    for m in re.finditer(r"\bserver\s*\{", t):
        depth, i = 1, m.end()
        while i < len(t) and depth:
            depth += {"{": 1, "}": -1}.get(t[i], 0)
            i += 1
        body = t[m.end():i]
        listens = [(x.group(1), m.end() + x.start(1)) for x in re.finditer(r"^\s*listen\s+([^;]+);", body, re.M)]
        roots = set(re.findall(r"(?:^|[{;])\s*root\s+([^;\s]+)\s*;", body, re.M)) - {"html"}
        blocks.append((m, body, listens, roots))
    tls_roots = {r for _, _, listens, roots in blocks if any(re.search(r"\bssl\b", x) for x, _ in listens) for r in roots}
    for m, body, listens, roots in blocks:
        plain = [(x, at) for x, at in listens if not re.search(r"\bssl\b|\bquic\b", x)]
        if not plain or re.search(r"return\s+30[178]\s+https://|rewrite\s+\S+\s+https://", body):
            continue
        out.append({
            "server": "nginx", "port": plain[0][0].split()[0],
            "auth": bool(re.search(r"auth_basic\s+(?!off)", body)),
            "dynamic": bool(re.search(r"fastcgi_pass|uwsgi_pass|scgi_pass|proxy_pass|cgi", body)),
            "mirrors_tls": sorted(roots & tls_roots),  # the site it also serves over HTTPS, in clear text
            "line": _line(t, plain[0][1]),  # the plain listen directive
        })
    return out


def _boa(path: str, text: str) -> dict | None:
    t = _uncommented(text)
    port = re.search(r"^\s*Port\s+(\d+)", t, re.M)
    if not port:
        return None
    return {"server": "boa", "port": port.group(1), "auth": bool(re.search(r"^\s*Auth\b", t, re.M)),
            "dynamic": bool(re.search(r"^\s*ScriptAlias\b|^\s*AddType\s+application/x-httpd-cgi", t, re.M)),
            "line": _line(t, port.start())}


_SEVERITY = {True: Severity.high, False: Severity.medium}


class HttpAdmin(Check):
    ID = "comms.http-admin"
    VERSION = "1.1.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS, TEXT)
    DOC = CheckDoc(
        title="Administration web interface served over plain HTTP",
        why=(
            "A web interface with a login or with handlers that change settings, served without TLS, sends the "
            "administrator's password, session cookies and settings in clear text to anyone on the network path."
        ),
        fix=(
            "Serve the administration interface over HTTPS only (with a per-device certificate) and redirect "
            "plain HTTP to it, or do not serve it on plain HTTP at all."
        ),
        references=_REFS + ("OWASP IoT Top 10 2018: I7 Insecure Data Transfer and Storage",),
        limitations=(
            "Reads lighttpd (lighttpd.conf and included *.conf), OpenWrt uhttpd (/etc/config/uhttpd), nginx server "
            "blocks and boa.conf; GoAhead and BusyBox httpd (neither has TLS in the usual builds) when started at "
            "boot with a web root that holds CGI programs.  A lighttpd, nginx or Boa the boot model starts is also "
            "judged by the configuration its command line names, wherever it lies, or by the file the boot chain "
            "builds it from (a template run through sed, a copy). A plain-HTTP listener counts as an administration "
            "interface only when the configuration shows authentication or dynamic handlers (CGI, FastCGI, Lua, "
            "ubus, proxy); a server of static pages is not reported. A redirect of all HTTP to HTTPS clears the "
            "listener. An nginx server that serves over plain HTTP the same web root as its HTTPS server counts too "
            "(the site meant for TLS is reachable without it). Whether the port is reachable from outside "
            "(firewall) is not judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        hits: list[tuple[str, dict]] = []
        read: set[str] = set()  # configuration files judged (each once)
        for entry, text in text_files(fw):
            lp = logical_path(entry.path)
            name = entry.name
            if lp.startswith("/etc/lighttpd/") and name.endswith(".conf") and _program_present(fw, "lighttpd"):
                if name == "lighttpd.conf" or "/conf-enabled/" in lp:
                    read.add(entry.path)
                    h = _lighttpd(entry.path, text)
                    if h:
                        hits.append((entry.path, h))
            elif lp.endswith("/etc/config/uhttpd"):
                hits.extend((entry.path, h) for h in _uhttpd(entry.path, text))
            elif lp.startswith("/etc/nginx/") and name.endswith(".conf") or lp.startswith("/etc/nginx/sites-enabled/"):
                read.add(entry.path)
                hits.extend((entry.path, h) for h in _nginx(entry.path, text))
            elif name == "boa.conf" and _program_present(fw, "boa"):
                read.add(entry.path)
                h = _boa(entry.path, text)
                if h:
                    hits.append((entry.path, h))
        for cmd in boot_commands(fw):
            if cmd.program in ("goahead", "webs") and not any("https://" in a for a in cmd.args):
                hits.append((cmd.path, {"server": cmd.program, "port": next((a for a in cmd.args if a.startswith("http://")), "80"),
                                        "auth": any(fw.glob("*/goahead/auth.txt")), "dynamic": True, "line": cmd.line}))
            elif cmd.program == "httpd" and "-p" in cmd.args or cmd.program == "httpd" and "-h" in cmd.args:
                home = cmd.args[cmd.args.index("-h") + 1] if "-h" in cmd.args and cmd.args.index("-h") + 1 < len(cmd.args) else "/www"
                cgi = any(fw.glob(f"{home.rstrip('/')}/cgi-bin/*"))
                conf = fw.get("/etc/httpd.conf")
                auth = bool(conf and re.search(r"^/[^:\n]*:[^:\n]+:", fw.read_text(conf) or "", re.M))
                if cgi or auth:
                    port = cmd.args[cmd.args.index("-p") + 1] if "-p" in cmd.args and cmd.args.index("-p") + 1 < len(cmd.args) else "80"
                    hits.append((cmd.path, {"server": "BusyBox httpd", "port": port, "auth": auth, "dynamic": cgi, "line": cmd.line}))
        hits.extend(_started_server_configs(fw, read))
        for path, h in hits:
            mirrored = h.get("mirrors_tls")
            if not (h["auth"] or h["dynamic"] or mirrored):
                continue
            what = " and ".join(x for x, y in (("a password login", h["auth"]), ("dynamic handlers (CGI/Lua/FastCGI)", h["dynamic"]),
                                               (f"the web root its HTTPS server serves ({', '.join(mirrored or ())})", mirrored)) if y)
            yield self.finding(
                path,
                title=f"{h['server']} serves its administration interface over plain HTTP (port {h['port']})",
                line=h["line"],
                detail=f"{h['server']} listens on {h['port']} without TLS and with no redirect to HTTPS; its configuration has "
                       f"{what}" + (f"; {h['started']}" if h.get("started") else ""),
                severity=_SEVERITY[h["auth"]],
                provisions=("5.5-1", "5.1-3") if h["auth"] else ("5.5-1",),
                confidence=h.get("confidence", "confirmed"),
            )


# Web servers started at boot -> (options naming their configuration file, the file they read without one, parser).
_SERVER_CONFIG = {
    "lighttpd": (("-f",), "/etc/lighttpd/lighttpd.conf", lambda p, t: [h for h in [_lighttpd(p, t)] if h]),
    "nginx": (("-c",), "/etc/nginx/nginx.conf", _nginx),
    "boa": (("-f",), "/etc/boa/boa.conf", lambda p, t: [h for h in [_boa(p, t)] if h]),
}


def _config_text(fw: Firmware, model, path: str) -> tuple[str, str] | None:
    """(file to cite, text) of a configuration file: the file in the image, or what the boot chain builds it
    from (a copy, or a template run through sed/awk), or the text a script writes into it."""
    if fw.get(path) is not None:
        text = fw.read_text(path, 1024 * 1024)
        return (path, text) if text is not None else None
    for write in model.writes_to(path):
        if write.source and fw.get(write.source) is not None:
            text = fw.read_text(write.source, 1024 * 1024)
            if text is not None:
                return write.source, text
    written = [w for w in model.writes_to(path) if w.content]
    if written and written[0].chain:
        step = written[0].chain[-1]
        return step.file, "\n".join(w.content for w in written)
    return None


def _started_server_configs(fw: Firmware, read: set[str]) -> list[tuple[str, dict]]:
    """Configurations of the web servers the boot model starts, wherever they are and whatever their name,
    that the pass over the usual places has not judged."""
    model = BOOT_MODEL.of(fw)
    out: list[tuple[str, dict]] = []
    for cmd in boot_commands(fw):
        spec = _SERVER_CONFIG.get(cmd.program)
        if spec is None:
            continue
        options, default, parse = spec
        conf = next((cmd.args[i + 1] for i, a in enumerate(cmd.args[:-1]) if a in options), default)
        if not conf.startswith("/"):
            continue
        found = _config_text(fw, model, conf)
        if found is None or found[0] in read:
            continue
        cite, text = found
        read.add(cite)
        started = f"{cmd.program} is started with {conf}" + (f" (built at boot from {cite})" if cite != conf else "") + \
            f"; {cmd.describe()}"
        out.extend((cite, {**h, "started": started, "confidence": cmd.confidence}) for h in parse(cite, text))
    return out


# -- MQTT ---------------------------------------------------------------------------------------

_LOOPBACK = re.compile(r"^(?:127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$")


def mosquitto_listeners(text: str) -> list[dict]:
    """Listeners of a mosquitto.conf with their TLS and authentication settings."""
    listeners: list[dict] = []
    current: dict | None = None
    globals_: dict = {"allow_anonymous": None, "password_file": False}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        key = words[0]
        if key == "listener" and len(words) >= 2:
            current = {"port": words[1], "bind": words[2] if len(words) > 2 else None, "line": number, "tls": False,
                       "websockets": False, "allow_anonymous": None, "password_file": False}
            listeners.append(current)
        elif key == "port" and len(words) >= 2:
            current = {"port": words[1], "bind": None, "line": number, "tls": False, "websockets": False,
                       "allow_anonymous": None, "password_file": False}
            listeners.append(current)
        target = current if current is not None else globals_
        if key in ("certfile", "keyfile", "cafile", "capath", "psk_hint") and current is not None:
            current["tls"] = True
        elif key == "bind_address" and current is not None and len(words) > 1:
            current["bind"] = words[1]
        elif key == "protocol" and current is not None and len(words) > 1:
            current["websockets"] = words[1] == "websockets"
        elif key == "allow_anonymous" and len(words) > 1:
            target["allow_anonymous"] = words[1] == "true"
        elif key in ("password_file", "auth_plugin", "plugin"):
            target["password_file"] = True
    for lst in listeners:
        for k in ("allow_anonymous", "password_file"):
            if lst[k] in (None, False) and globals_[k] not in (None, False):
                lst[k] = globals_[k]
    return listeners


class MqttPlaintext(Check):
    ID = "comms.mqtt-plaintext"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (TEXT,)
    DOC = CheckDoc(
        title="MQTT broker listens without TLS",
        why=(
            "An MQTT listener without TLS (usually port 1883) carries messages, and any MQTT user name and "
            "password, in clear text; with anonymous access anyone on the network can read and publish."
        ),
        fix="Configure certfile/keyfile (and cafile for client certificates) on every network listener, or bind plain listeners to 127.0.0.1.",
        references=_REFS,
        limitations=(
            "Reads Mosquitto configuration (mosquitto.conf and *.conf under a mosquitto directory). A listener "
            "counts as TLS when certfile/keyfile/cafile/capath/psk_hint follow it; listeners bound to loopback are "
            "ignored. With no listener configured, Mosquitto 2 listens on loopback only and nothing is reported. "
            "Other brokers (EMQX, VerneMQ, vendor brokers) are not read."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, text in text_files(fw):
            if not (entry.name == "mosquitto.conf" or ("/mosquitto/" in entry.path and entry.name.endswith(".conf"))):
                continue
            for lst in mosquitto_listeners(text):
                if lst["tls"] or (lst["bind"] and _LOOPBACK.match(lst["bind"])):
                    continue
                anonymous = lst["allow_anonymous"] is True
                auth = lst["password_file"]
                notes = []
                if anonymous:
                    notes.append("anonymous clients are allowed")
                if auth:
                    notes.append("MQTT passwords cross the network in clear text")
                yield self.finding(
                    entry,
                    title=f"MQTT listener on port {lst['port']} without TLS" + (" (WebSockets)" if lst["websockets"] else ""),
                    line=lst["line"],
                    excerpt=text.splitlines()[lst["line"] - 1].strip(),
                    detail=f"listener {lst['port']}" + (f" on {lst['bind']}" if lst["bind"] else " on all interfaces")
                           + " has no certfile/keyfile/cafile" + (f"; {', '.join(notes)}" if notes else ""),
                    severity=Severity.high if anonymous or auth else Severity.medium,
                    provisions=("5.5-1", "5.1-3") if auth else ("5.5-1",),
                )


# -- SNMP ---------------------------------------------------------------------------------------

_SNMP_LINE = re.compile(r"^\s*(rocommunity6?|rwcommunity6?|com2sec6?|community)\s+(.*)$", re.M)
_DEFAULT_COMMUNITIES = frozenset({"public", "private", "admin", "secret", "community", "write", "read", "snmp", "mngt", "manager"})


class SnmpCommunity(Check):
    ID = "comms.snmp-community"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (BOOT_COMMANDS, TEXT)
    DOC = CheckDoc(
        title="SNMP v1/v2c community configured",
        why=(
            "SNMP v1 and v2c authenticate with a community string sent in clear text in every packet; 'public' "
            "and 'private' are the defaults every scanner tries, and a write community gives control of the device."
        ),
        fix="Use SNMPv3 with authPriv (per-device credentials), or disable the SNMP agent.",
        references=("CWE-1392: Use of Default Credentials",),
        limitations=(
            "Reads net-snmp snmpd.conf (rocommunity, rwcommunity, com2sec), OpenWrt /etc/config/snmpd "
            "(option community) and mini_snmpd -c at boot. Whether the agent is reachable from outside is not judged."
        ),
    )

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        for entry, text in text_files(fw):
            lp = logical_path(entry.path)
            if entry.name == "snmpd.conf":
                for m in _SNMP_LINE.finditer(text):
                    words = m.group(2).split()
                    if not words:
                        continue
                    directive = m.group(1)
                    community = words[-1] if directive.startswith("com2sec") and len(words) >= 3 else words[0]
                    yield self._finding(entry.path, _line(text, m.start()), m.group(0).strip(), directive, community)
            elif lp.endswith("/etc/config/snmpd"):
                for m in re.finditer(r"option\s+(?:community|ro_community|rw_community)\s+['\"]?([^'\"\s]+)", text):
                    yield self._finding(entry.path, _line(text, m.start()), m.group(0).strip(), "community", m.group(1))
        for cmd in boot_commands(fw):
            if cmd.program == "mini_snmpd":
                args = list(cmd.args)
                community = args[args.index("-c") + 1] if "-c" in args and args.index("-c") + 1 < len(args) else "public"
                yield self._finding(cmd.path, cmd.line, cmd.text, "mini_snmpd", community)

    def _finding(self, path, line, excerpt, directive, community):
        write = directive.startswith("rw")
        default = community.lower() in _DEFAULT_COMMUNITIES
        severity = Severity.high if write or default else Severity.medium
        return self.finding(
            path,
            title=f"SNMP {'write' if write else 'v1/v2c'} community '{community}'" + (" (a well-known default)" if default else ""),
            line=line,
            excerpt=excerpt,
            detail=f"{directive} grants {'read-write' if write else 'access'} with community '{community}', sent in clear text "
                   "in every SNMP v1/v2c packet" + ("; it is the first community any scanner tries" if default else ""),
            severity=severity,
            provisions=("5.5-1", "5.1-1") if default else ("5.5-1",),
        )
