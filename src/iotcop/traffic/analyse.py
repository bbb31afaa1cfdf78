"""One pass over the packets of a capture: peers, services, TLS, clear-text secrets, updates, reconnection.

State is bounded whatever the capture's size: per address pair and per service a few counters, per TCP
stream only while it is open, and every list kept to a limit (LIMITS; what was cut is named in
`truncated`).  The device is the address given, or the one that takes part in most packets.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.model import (CleartextItem, ConnectionHistory, PeerObservation, TlsObservation, TrafficReport,
                          UpdateCheck)
from iotcop.traffic import sensitive
from iotcop.traffic.dissect import Dissection, packets

LIMITS = {"peers": 2000, "streams": 20000, "cleartext": 500, "requests": 2000, "tls": 500, "attempts": 400,
          "dns": 2000, "secrets_kept": 2000}
PLAINTEXT_PROTOCOLS = {"http": "HTTP", "mqtt": "MQTT", "telnet": "telnet", "ftp": "FTP", "coap": "CoAP",
                       "pop": "POP3", "imap": "IMAP", "smtp": "SMTP", "snmp": "SNMP", "rtsp": "RTSP",
                       "tftp": "TFTP", "sip": "SIP", "ftp-data": "FTP data"}
INFRASTRUCTURE = {"dns", "mdns", "ntp", "dhcp", "arp", "icmp", "icmpv6", "igmp", "llmnr", "nbns", "ssdp", "dhcpv6"}
_TRANSPORT = {"eth", "ethertype", "ip", "ipv6", "tcp", "udp", "sll", "vlan", "data", "x509sat", "x509ce", "x509af",
              "pkix1explicit", "pkix1implicit", "media", "json", "urlencoded-form", "text", "frame", "null", "loop",
              "tcp.segments", "pkcs-1", "ns_cert_exts", "cms", "ocsp", "ber"}
_UPDATE_WORDS = re.compile(r"(?i)firmware|upgrade|update|\bota\b|/ota|fwupd|/fw/|swupdate|version\.(?:json|xml|txt)|"
                           r"manifest|\.(?:bin|img|trx|chk|swu|ipk|hex)(?:\?|$)")
_UPDATE_HOST = re.compile(r"(?i)(?:^|[.-])(?:update|updates|upgrade|ota|firmware|fw|fota|download|dl)(?:[.-]|\d|$)")
_WEAK_SUITE = re.compile(r"_(?:NULL|EXPORT|anon|RC4|DES|3DES|IDEA|RC2|MD5)_|_WITH_NULL|_anon_|DES_CBC|RC4_|_MD5$|EXPORT")
_CBC_SHA1 = re.compile(r"_CBC_SHA$")
TLS_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3",
                0x0200: "SSL 2.0"}
OLD_TLS = {"SSL 2.0", "SSL 3.0", "TLS 1.0", "TLS 1.1"}
GAP_SECONDS = 5.0  # silence between failed attempts and success that counts as an outage
MIN_STORM = 8  # failed attempts in a row without back-off that count as hammering


@functools.cache
def value_names(field_name: str) -> dict[int, str]:
    """tshark's own names for a field's values (cipher suites, alerts), from `tshark -G values`."""
    return _all_value_names().get(field_name, {})


def _all_value_names() -> dict[str, dict[int, str]]:
    from iotcop.traffic.dissect import tshark_info

    return tshark_info()["values"]


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _num(value, default: int = 0) -> int:
    try:
        return int(str(value), 0)
    except (TypeError, ValueError):
        return default


def _true(value) -> bool:
    return value in (True, "1", "True", "true", 1)


def _is_local_scope(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return ip.is_multicast or addr.endswith(".255") or addr in ("255.255.255.255", "0.0.0.0")


def app_protocol(protocols: str) -> str | None:
    layers = [p for p in protocols.split(":") if p]
    for layer in reversed(layers):
        if layer in ("tcp", "udp"):
            return None
        if layer not in _TRANSPORT:
            return {"ssl": "tls", "bootp": "dhcp"}.get(layer, layer)
    return None


@dataclass
class _Stream:
    client: str
    server: str
    sport: int
    dport: int
    start: float
    app: str | None = None
    established: bool = False
    closed: bool = False
    sni: str | None = None
    offered: list[str] = field(default_factory=list)
    telnet_prompt: str = ""  # last login/password prompt the server sent
    telnet_user: str = ""


@dataclass
class _Service:
    server: str
    port: int
    transport: str
    protocols: Counter = field(default_factory=Counter)
    connections: int = 0
    clients: set = field(default_factory=set)


@dataclass
class _Tls:
    server: str
    sni: str | None
    client: str
    sessions: int = 0
    versions: set = field(default_factory=set)
    offered: set = field(default_factory=set)
    suites: set = field(default_factory=set)
    certificate: dict | None = None
    alerts: set = field(default_factory=set)


@dataclass
class _Attempts:
    endpoint: str
    events: list = field(default_factory=list)  # (time, ok) per SYN outcome, bounded
    pending: dict = field(default_factory=dict)  # stream -> SYN time
    attempts: int = 0
    failures: int = 0


class Analyzer:
    def __init__(self, device: str | None = None, capture_start: float | None = None) -> None:
        self.device = device
        self.t0: float | None = capture_start
        self.t_last = 0.0
        self.pairs: dict[tuple[str, str], list] = {}  # (a, b) -> [packets, bytes, first, last]
        self.streams: dict[str, _Stream] = {}
        self.services: dict[tuple[str, int, str], _Service] = {}
        self.tls: dict[tuple[str, str | None], _Tls] = {}
        self.names: dict[str, set[str]] = {}
        self.cleartext: dict[tuple, CleartextItem] = {}
        self.secret_values: dict[tuple, str] = {}  # same key as cleartext -> the clear value (memory only)
        self.senders: dict[tuple, tuple[str, str]] = {}
        self.updates: dict[tuple[str, str], dict] = {}
        self.attempts: dict[str, _Attempts] = {}
        self.dns: dict[str, dict] = {}
        self.sensors: Counter = Counter()
        self.truncated: set[str] = set()
        self.udp_seen: dict[tuple[str, str, int], float] = {}
        self.dhcp: dict = {"servers": set(), "sent": set(), "messages": 0}
        self.macs: dict[str, str] = {}  # address -> the link-layer source of its first packet
        self.joins: list[tuple[float, str]] = []  # (time, client hardware address) of DHCP sent without an address

    # -- helpers --------------------------------------------------------------------------------------
    def _rel(self, t: float) -> float:
        return round(t - (self.t0 or t), 3)

    def _name(self, addr: str, name: str | None) -> None:
        if not name:
            return
        names = self.names.setdefault(addr, set())
        if len(names) < 20:
            names.add(name.lower().rstrip("."))

    def _service(self, server: str, port: int, transport: str) -> _Service:
        key = (server, port, transport)
        svc = self.services.get(key)
        if svc is None:
            if len(self.services) >= LIMITS["peers"] * 4:
                self.truncated.add("services")
                return _Service(server, port, transport)
            svc = self.services[key] = _Service(server, port, transport)
        return svc

    def _clear(self, kind: str, protocol: str, server: str, port: int, transport: str, client: str, key: str,
               value: str, t: float, category: str = "") -> None:
        ckey = (kind, protocol, server, port, key, value)
        item = self.cleartext.get(ckey)
        if item is not None:
            item.count += 1
            return
        if len(self.cleartext) >= LIMITS["cleartext"]:
            self.truncated.add("cleartext")
            return
        self.cleartext[ckey] = CleartextItem(kind=kind, protocol=protocol, endpoint=f"{server}:{transport}/{port}",
                                             direction="between others", field=key, masked=sensitive.mask(value),
                                             category=category, at=self._rel(t))
        self.secret_values[ckey] = value
        # who sent it is resolved after the pass, when the device may have been inferred
        self.senders[ckey] = (client, server)

    # -- the pass -------------------------------------------------------------------------------------
    def feed(self, p: dict) -> None:
        t = float(p.get("frame_time_epoch") or 0.0)
        if self.t0 is None:
            self.t0 = t
        self.t_last = max(self.t_last, t)
        src = p.get("ip_src") or p.get("ipv6_src")
        dst = p.get("ip_dst") or p.get("ipv6_dst")
        if isinstance(src, list):
            src = src[-1]  # tunnelled: the inner header
        if isinstance(dst, list):
            dst = dst[-1]
        if not src or not dst:
            return
        if src not in self.macs and p.get("eth_src") and len(self.macs) < LIMITS["peers"] * 4:
            self.macs[src] = str(_list(p.get("eth_src"))[0]).lower()
        size = _num(p.get("frame_len"))
        pair = (src, dst) if src <= dst else (dst, src)
        stats = self.pairs.get(pair)
        if stats is None:
            if len(self.pairs) >= LIMITS["peers"] * 4:
                self.truncated.add("peers")
            else:
                stats = self.pairs[pair] = [0, 0, t, t]
        if stats is not None:
            stats[0] += 1
            stats[1] += size
            stats[3] = t
        app = app_protocol(str(p.get("frame_protocols") or ""))
        if p.get("tcp_stream") is not None:
            self._tcp(p, t, src, dst, app)
        elif p.get("udp_srcport") is not None:
            self._udp(p, t, src, dst, app)
        if p.get("dns_qry_name") is not None:
            self._dns(p, t, src, dst)

    def _tcp(self, p: dict, t: float, src: str, dst: str, app: str | None) -> None:
        sid = f"{p.get('_session', 0)}:{_list(p.get('tcp_stream'))[-1]}"
        sport, dport = _num(_list(p.get("tcp_srcport"))[-1]), _num(_list(p.get("tcp_dstport"))[-1])
        syn, ack = _true(p.get("tcp_flags_syn")), _true(p.get("tcp_flags_ack"))
        rst, fin = _true(p.get("tcp_flags_reset")), _true(p.get("tcp_flags_fin"))
        st = self.streams.get(sid)
        if syn and not ack:
            if st is None or st.closed or st.client != src:
                if len(self.streams) >= LIMITS["streams"]:
                    self._evict()
                st = self.streams[sid] = _Stream(src, dst, sport, dport, t)
                svc = self._service(dst, dport, "tcp")
                svc.connections += 1
                svc.clients.add(src) if len(svc.clients) < 50 else None
                self._attempt_start(st, sid, t)
            return
        if st is None:
            # a stream already open when the capture started: the lower (well-known) port is the server's
            client, server, cport, sport_ = (src, dst, sport, dport) if dport < sport else (dst, src, dport, sport)
            st = self.streams[sid] = _Stream(client, server, cport, sport_, t, established=True)
            self._service(server, sport_, "tcp")
        if syn and ack and src == st.server:
            st.established = True
            self._attempt_end(st, sid, t, ok=True)
        elif rst:
            if not st.established:
                self._attempt_end(st, sid, t, ok=False)
            st.closed = True
        elif fin:
            st.closed = True
        if app and app != "tls" or (app == "tls" and st.app is None):
            st.app = app or st.app
        if app:
            self._service(st.server, st.dport, "tcp").protocols[app] += 1
        client_side = src == st.client
        if app == "tls" or p.get("tls_handshake_type") is not None:
            self._tls(p, st, client_side)
        if p.get("http_request_method") is not None or p.get("http_response_code") is not None:
            self._http(p, t, st, src, dst)
        if p.get("mqtt_msgtype") is not None:
            self._mqtt(p, t, st, src, dst)
        if p.get("telnet_data") is not None:
            self._telnet(p, t, st, client_side)
        if p.get("ftp_request_command") is not None:
            self._ftp(p, t, st)

    def _evict(self) -> None:
        closed = [k for k, s in self.streams.items() if s.closed]
        for k in closed or list(self.streams)[: LIMITS["streams"] // 2]:
            self.streams.pop(k, None)
        if not closed:
            self.truncated.add("streams")

    def _attempt_start(self, st: _Stream, sid: str, t: float) -> None:
        key = f"{st.server}:tcp/{st.dport}"
        att = self.attempts.get(key)
        if att is None:
            if len(self.attempts) >= LIMITS["peers"]:
                return
            att = self.attempts[key] = _Attempts(key)
        att.attempts += 1
        att.pending[sid] = t
        if len(att.pending) > 50:
            # unanswered SYNs: each counts as a failure at its own time
            for old in list(att.pending)[:25]:
                self._record(att, att.pending.pop(old), False)

    def _attempt_end(self, st: _Stream, sid: str, t: float, ok: bool) -> None:
        att = self.attempts.get(f"{st.server}:tcp/{st.dport}")
        if att is None or sid not in att.pending:
            return
        self._record(att, att.pending.pop(sid), ok)

    def _record(self, att: _Attempts, t: float, ok: bool) -> None:
        if not ok:
            att.failures += 1
        if len(att.events) >= LIMITS["attempts"]:
            self.truncated.add("connection attempts")
            # keep the most recent ones: reconnection is judged from the end of an outage
            del att.events[: LIMITS["attempts"] // 4]
        att.events.append((t, ok))

    def _udp(self, p: dict, t: float, src: str, dst: str, app: str | None) -> None:
        sport, dport = _num(_list(p.get("udp_srcport"))[-1]), _num(_list(p.get("udp_dstport"))[-1])
        if (dst, src, sport) in self.udp_seen or (sport < dport and (dst, src, sport) not in self.udp_seen
                                                   and (src, dst, dport) not in self.udp_seen and sport < 1024):
            server, sport_srv, client = src, sport, dst
        else:
            server, sport_srv, client = dst, dport, src
            if len(self.udp_seen) < LIMITS["streams"]:
                self.udp_seen.setdefault((client, server, sport_srv), t)
        if app == "dhcp" or 67 in (sport, dport):
            self._dhcp(p, t, src, sport)
            return
        svc = self._service(server, sport_srv, "udp")
        if app:
            svc.protocols[app] += 1
        if len(svc.clients) < 50:
            svc.clients.add(client)
        if p.get("coap_code") is not None:
            self._coap(p, t, server, sport_srv, client, src)

    # -- protocols ------------------------------------------------------------------------------------
    def _dhcp(self, p: dict, t: float, src: str, sport: int) -> None:
        """DHCP goes between 0.0.0.0 and broadcast: kept apart and given to the server as a peer afterwards."""
        if sport == 67 and not _is_local_scope(src):
            self.dhcp["servers"].add(src)
        for key, name in (("dhcp_option_hostname", "hostname"), ("dhcp_option_vendor_class_id", "vendor class")):
            if p.get(key) and len(self.dhcp["sent"]) < 10:
                self.dhcp["sent"].add(f"{name} {_list(p.get(key))[0]}")
        self.dhcp["messages"] += 1
        # DISCOVER, or REQUEST, from no address: a client joining the network (after power-on or a link change)
        if src == "0.0.0.0" and _num((_list(p.get("dhcp_option_dhcp")) or [0])[0]) in (1, 3):
            mac = p.get("dhcp_hw_mac_addr") or p.get("eth_src")
            if mac and len(self.joins) < 100:
                self.joins.append((t, str(_list(mac)[0]).lower()))

    def _tls(self, p: dict, st: _Stream, client_side: bool) -> None:
        types = [_num(x) for x in _list(p.get("tls_handshake_type"))]
        server = f"{st.server}:{st.dport}"
        if 1 in types and client_side:
            st.sni = _list(p.get("tls_handshake_extensions_server_name"))[0] if p.get(
                "tls_handshake_extensions_server_name") else None
            self._name(st.server, st.sni)
            offered = [_num(v) for v in _list(p.get("tls_handshake_extensions_supported_version"))] or [
                _num(_list(p.get("tls_handshake_version"))[0])]
            st.offered = [TLS_VERSIONS.get(v, hex(v)) for v in offered if v in TLS_VERSIONS]
            rec = self._tls_rec(server, st)
            if rec is not None:
                rec.sessions += 1
                rec.offered.update(st.offered)
        rec = self._tls_rec(server, st) if not client_side else None
        if rec is None:
            if p.get("tls_alert_message_desc") is not None:
                rec = self._tls_rec(server, st)
                if rec is not None:
                    for a in _list(p.get("tls_alert_message_desc")):
                        rec.alerts.add(value_names("tls.alert_message.desc").get(_num(a), str(a)))
            return
        if 2 in types:
            supported = [_num(v) for v in _list(p.get("tls_handshake_extensions_supported_version"))]
            version = supported[0] if supported else _num(_list(p.get("tls_handshake_version"))[0])
            rec.versions.add(TLS_VERSIONS.get(version, hex(version)))
            suite = _num(_list(p.get("tls_handshake_ciphersuite"))[0])
            rec.suites.add(value_names("tls.handshake.ciphersuite").get(suite, f"0x{suite:04x}"))
        if 11 in types and rec.certificate is None and p.get("tls_handshake_certificate"):
            rec.certificate = certificate_summary(_list(p.get("tls_handshake_certificate"))[0], st.sni,
                                                  self.t_last)
        for a in _list(p.get("tls_alert_message_desc")):
            rec.alerts.add(value_names("tls.alert_message.desc").get(_num(a), str(a)))

    def _tls_rec(self, server: str, st: _Stream) -> _Tls | None:
        key = (server, st.sni)
        rec = self.tls.get(key)
        if rec is None:
            if len(self.tls) >= LIMITS["tls"]:
                self.truncated.add("tls")
                return None
            rec = self.tls[key] = _Tls(server, st.sni, st.client)
        return rec

    def _http(self, p: dict, t: float, st: _Stream, src: str, dst: str) -> None:
        host = p.get("http_host")
        host = _list(host)[0] if host else None
        self._name(st.server, host.rsplit(":", 1)[0] if host and not host.startswith("[") else host)
        if p.get("http_request_method") is not None:
            uri = str(_list(p.get("http_request_uri"))[0] or "")
            if p.get("http_authorization"):
                item = sensitive.http_authorization(str(_list(p.get("http_authorization"))[0]))
                if item:
                    self._clear(item.kind, "HTTP", st.server, st.dport, "tcp", src, item.key, item.value, t)
            if p.get("http_cookie"):
                for item in sensitive.cookie_tokens(str(_list(p.get("http_cookie"))[0])):
                    self._clear(item.kind, "HTTP", st.server, st.dport, "tcp", src, item.key, item.value, t)
            query = uri.split("?", 1)[1] if "?" in uri else ""
            for text, where in ((query, "URL query"), (str(_list(p.get("http_file_data"))[0] or "")
                                                       if p.get("http_file_data") else "", "body")):
                self._text("HTTP", st.server, st.dport, "tcp", src, text, t, where)
            url = f"http://{host or st.server}{uri}"
            if _UPDATE_WORDS.search(uri) or (host and _UPDATE_HOST.search(host)):
                self._update(st.server, host or st.server, "http", url, t)
            st.app = "http"
        elif p.get("http_response_code") is not None and st.app == "http":
            ctype = str(_list(p.get("http_content_type"))[0] or "") if p.get("http_content_type") else ""
            length = _num(_list(p.get("http_content_length"))[0]) if p.get("http_content_length") else 0
            rec = self.updates.get((st.server, "http"))
            if rec is not None and _num(_list(p.get("http_response_code"))[0]) == 200 and (
                    "octet-stream" in ctype or length > 256 * 1024):
                rec["downloads"] += 1
            if p.get("http_file_data"):
                self._text("HTTP", st.server, st.dport, "tcp", src, str(_list(p.get("http_file_data"))[0]), t,
                           "response body")

    def _text(self, protocol: str, server: str, port: int, transport: str, sender: str, text: str, t: float,
              where: str) -> None:
        if not text:
            return
        for item in sensitive.scan_text(text):
            self._clear(item.kind, protocol, server, port, transport, sender, f"{where}: {item.key}", item.value, t,
                        item.category)
        for s in sensitive.sensors_in(text):
            self.sensors[s] += 1

    def _mqtt(self, p: dict, t: float, st: _Stream, src: str, dst: str) -> None:
        types = [_num(x) for x in _list(p.get("mqtt_msgtype"))]
        if 1 in types:  # CONNECT
            user = p.get("mqtt_username")
            if p.get("mqtt_passwd") is not None:
                self._clear("credential", "MQTT", st.server, st.dport, "tcp", src,
                            f"CONNECT password of '{_list(user)[0] if user else ''}'",
                            str(_list(p.get("mqtt_passwd"))[0]), t)
            elif user:
                self._clear("credential", "MQTT", st.server, st.dport, "tcp", src, "CONNECT user name",
                            str(_list(user)[0]), t)
        if 3 in types:  # PUBLISH
            for raw in _list(p.get("mqtt_msg")):
                text = _hex_text(str(raw))
                self._text("MQTT", st.server, st.dport, "tcp", src, text, t, f"PUBLISH {_list(p.get('mqtt_topic'))[0]}"
                           if p.get("mqtt_topic") else "PUBLISH")
        st.app = "mqtt"

    def _telnet(self, p: dict, t: float, st: _Stream, client_side: bool) -> None:
        text = " ".join(str(x) for x in _list(p.get("telnet_data")))
        if not client_side:
            low = text.lower()
            if "password" in low:
                st.telnet_prompt = "password"
            elif "login" in low or "username" in low:
                st.telnet_prompt = "login"
            return
        typed = text.replace("\\r", "").replace("\\n", "").replace("\r", "").replace("\n", "").strip()
        if not typed:
            return
        if st.telnet_prompt == "login":
            st.telnet_user += typed
        elif st.telnet_prompt == "password":
            self._clear("credential", "telnet", st.server, st.dport, "tcp", st.client,
                        f"login password of '{st.telnet_user}'", typed, t)
            st.telnet_prompt = ""

    def _ftp(self, p: dict, t: float, st: _Stream) -> None:
        cmd = str(_list(p.get("ftp_request_command"))[0]).upper()
        arg = str(_list(p.get("ftp_request_arg"))[0]) if p.get("ftp_request_arg") else ""
        if cmd == "USER":
            st.telnet_user = arg
        elif cmd == "PASS" and arg and st.telnet_user.lower() not in ("anonymous", "ftp"):
            self._clear("credential", "FTP", st.server, st.dport, "tcp", st.client,
                        f"PASS of '{st.telnet_user}'", arg, t)
        elif cmd in ("RETR", "STOR") and _UPDATE_WORDS.search(arg):
            self._update(st.server, st.server, "ftp", f"ftp://{st.server}/{arg}", t)

    def _coap(self, p: dict, t: float, server: str, port: int, client: str, sender: str) -> None:
        path = "/".join(str(x) for x in _list(p.get("coap_opt_uri_path")))
        payload = p.get("coap_payload")
        if payload:
            self._text("CoAP", server, port, "udp", sender, str(_list(payload)[0]), t, f"/{path}")
        query = "&".join(str(x) for x in _list(p.get("coap_opt_uri_query")))
        if query:
            self._text("CoAP", server, port, "udp", sender, query, t, f"/{path} query")
        if _UPDATE_WORDS.search("/" + path):
            self._update(server, server, "coap", f"coap://{server}/{path}", t)

    def _dns(self, p: dict, t: float, src: str, dst: str) -> None:
        names = [str(n).lower().rstrip(".") for n in _list(p.get("dns_qry_name"))]
        if not names:
            return
        name = names[0]
        rec = self.dns.get(name)
        if rec is None:
            if len(self.dns) >= LIMITS["dns"]:
                self.truncated.add("dns")
                return
            rec = self.dns[name] = {"name": name, "addresses": [], "queries": 0, "failures": 0, "servers": [],
                                    "first_at": self._rel(t)}
        if not _true(p.get("dns_flags_response")):
            rec["queries"] += 1
            if dst not in rec["servers"] and len(rec["servers"]) < 5:
                rec["servers"].append(dst)
            if _UPDATE_HOST.search(name):
                self._update(None, name, "dns", name, t)
            return
        if _num(p.get("dns_flags_rcode")) in (2, 5):  # SERVFAIL, REFUSED: the resolver failed (not NXDOMAIN)
            rec["failures"] += 1
        for addr in _list(p.get("dns_a")) + _list(p.get("dns_aaaa")):
            addr = str(addr)
            if addr not in rec["addresses"] and len(rec["addresses"]) < 20:
                rec["addresses"].append(addr)
            self._name(addr, name)

    def _update(self, server: str | None, host: str, channel: str, request: str, t: float) -> None:
        key = (server or host, channel)
        rec = self.updates.get(key)
        if rec is None:
            if len(self.updates) >= 200:
                self.truncated.add("updates")
                return
            rec = self.updates[key] = {"server": server or "", "host": host, "channel": channel, "times": [],
                                       "requests": [], "downloads": 0, "count": 0}
        rec["count"] += 1
        if len(rec["times"]) < 1000:
            rec["times"].append(t)
        if request not in rec["requests"] and len(rec["requests"]) < 8:
            rec["requests"].append(request[:300])

    # -- after the pass -------------------------------------------------------------------------------
    def infer_device(self) -> tuple[str | None, bool]:
        if self.device:
            return self.device, False
        # the device starts connections and asks names: count those first, packets break ties
        initiated: Counter = Counter()
        for st in self.streams.values():
            initiated[st.client] += 1
        for svc in self.services.values():
            for c in svc.clients:
                initiated[c] += 1
        counts: Counter = Counter()
        for (a, b), stats in self.pairs.items():
            for addr in (a, b):
                if not _is_local_scope(addr):
                    counts[addr] += stats[0]
        if not counts:
            return None, True
        best = max(counts, key=lambda a: (initiated.get(a, 0), counts[a]))
        return best, True

    def report(self, dissection: Dissection, capture: Path, seconds: float) -> TrafficReport:
        device, inferred = self.infer_device()
        t0 = self.t0 or 0.0
        peers: dict[str, PeerObservation] = {}
        for (a, b), (n, size, first, last) in self.pairs.items():
            if device is not None and device not in (a, b):
                continue
            other = b if a == device else a
            if len(peers) >= LIMITS["peers"]:
                self.truncated.add("peers")
                break
            peer = peers.get(other)
            if peer is None:
                peer = peers[other] = PeerObservation(address=other)
            peer.packets += n
            peer.bytes += size
            peer.first_seen = round(first - t0, 3)
            peer.last_seen = round(last - t0, 3)
        for (server, port, transport), svc in sorted(self.services.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            other = None
            direction = ""
            if server == device:
                direction = "to device"
                others = [c for c in svc.clients if c != device]
                for c in others:
                    if c in peers:
                        self._add_service(peers[c], svc, port, transport, "to device")
                continue
            if device is None or device in svc.clients:
                other, direction = server, "from device"
            if other is not None and other in peers:
                self._add_service(peers[other], svc, port, transport, direction)
        for server in sorted(self.dhcp["servers"]):
            if server == device:
                continue
            peer = peers.get(server) or peers.setdefault(server, PeerObservation(address=server))
            peer.services.append({"endpoint": "udp/67", "protocol": "dhcp", "direction": "from device",
                                  "connections": self.dhcp["messages"], "protocols": ["dhcp"],
                                  "sent": sorted(self.dhcp["sent"])})
        for rec in self.tls.values():
            host = rec.server.rsplit(":", 1)[0]
            peer = peers.get(host) or (peers.get(rec.client) if rec.client != device else None)
            if peer is None:
                continue
            peer.tls.append(tls_observation(rec))
        for addr, peer in peers.items():
            peer.names = sorted(self.names.get(addr, ()))
        cleartext = []
        for key, item in self.cleartext.items():
            sender, receiver = self.senders[key]
            item.direction = ("from device" if sender == device else "to device" if receiver == device
                              else "between others") if device else "between others"
            cleartext.append(item)
        cleartext.sort(key=lambda c: (c.kind, c.endpoint, c.field))
        updates = [self._update_record(rec, peers) for rec in self.updates.values()]
        updates = [u for u in updates if u is not None]
        connections = [h for h in (connection_history(a) for a in self.attempts.values()) if h is not None]
        mac = self.macs.get(device) if device else None
        joined = [t for t, m in self.joins if m == mac] if mac else []
        if device is not None:
            connections = [c for c in connections if not c.endpoint.startswith(f"{device}:")]
        return TrafficReport(
            capture=str(capture), packets=dissection.packets, wire_bytes=dissection.bytes,
            duration_seconds=round(max(0.0, self.t_last - t0), 3), analysis_seconds=round(seconds, 3),
            device=device, device_inferred=inferred, complete=dissection.partial is None,
            partial_reason=dissection.partial,
            peers=sorted(peers.values(), key=lambda p: (-p.bytes, p.address)),
            cleartext=cleartext, updates=updates, connections=connections,
            dns=sorted(self.dns.values(), key=lambda d: d["first_at"])[:200],
            joined_at=self._rel(min(joined)) if joined else None,
            sensors=sorted(self.sensors), truncated=sorted(self.truncated))

    def _add_service(self, peer: PeerObservation, svc: _Service, port: int, transport: str, direction: str) -> None:
        protocol = svc.protocols.most_common(1)[0][0] if svc.protocols else "unknown"
        peer.services.append({"endpoint": f"{transport}/{port}", "protocol": protocol, "direction": direction,
                              "connections": svc.connections,
                              "protocols": sorted(svc.protocols)})
        name = PLAINTEXT_PROTOCOLS.get(protocol)
        if name and name not in peer.plaintext:
            peer.plaintext.append(name)

    def _update_record(self, rec: dict, peers: dict[str, PeerObservation]) -> UpdateCheck | None:
        times = sorted(rec["times"])
        intervals = [b - a for a, b in zip(times, times[1:]) if b - a > 0.5]
        channel = rec["channel"]
        server = rec["server"]
        valid = None
        if channel in ("tls",):
            pass
        if channel == "dns":
            # a name looked up: the update itself went over whatever followed to that name's addresses
            addrs = self.dns.get(rec["host"], {}).get("addresses", [])
            tls_used = [t for t in self.tls.values() if t.server.rsplit(":", 1)[0] in addrs]
            http_used = any((a, "http") in self.updates for a in addrs)
            if http_used:
                return None  # reported as the HTTP update check
            if tls_used:
                channel = "https (" + ", ".join(sorted({v for t in tls_used for v in t.versions})) + ")"
                server = tls_used[0].server.rsplit(":", 1)[0]
                valid = all((t.certificate or {}).get("valid_at_capture") and not (t.certificate or {}).get(
                    "self_signed") for t in tls_used if t.certificate) if any(t.certificate for t in tls_used) else None
            else:
                channel = "dns only"
        return UpdateCheck(server=server, host=rec["host"], channel=channel, requests=rec["requests"],
                           count=rec["count"], first_at=self._rel(times[0]) if times else 0.0,
                           interval_seconds=round(statistics.median(intervals), 1) if intervals else None,
                           downloads=rec["downloads"], certificate_valid=valid)

    def tls_updates(self) -> None:
        """TLS sessions whose SNI names an update server count as update checks over TLS."""
        for rec in self.tls.values():
            if rec.sni and _UPDATE_HOST.search(rec.sni):
                key = (rec.server.rsplit(":", 1)[0], "tls")
                if key in self.updates:
                    continue
                self.updates[key] = {"server": key[0], "host": rec.sni, "channel": "tls", "times": [],
                                     "requests": [f"TLS to {rec.sni} ({rec.server})"], "downloads": 0,
                                     "count": rec.sessions}


def _hex_text(raw: str) -> str:
    raw = raw.replace(":", "")
    try:
        return bytes.fromhex(raw).decode("utf-8", "replace")
    except ValueError:
        return raw


def tls_observation(rec: _Tls) -> TlsObservation:
    weak = []
    for v in sorted(rec.versions):
        if v in OLD_TLS:
            weak.append(f"{v} negotiated")
    for s in sorted(rec.suites):
        if _WEAK_SUITE.search(s):
            weak.append(f"weak cipher suite {s}")
        elif _CBC_SHA1.search(s) and not any(v == "TLS 1.3" for v in rec.versions):
            weak.append(f"CBC mode with SHA-1 MAC {s}")
    cert = rec.certificate or {}
    if cert:
        if cert.get("valid_at_capture") is False:
            weak.append("certificate not valid at the time of the capture")
        if cert.get("self_signed"):
            weak.append("self-signed certificate")
        if cert.get("matches_sni") is False:
            weak.append("certificate does not name the server (SNI)")
        if cert.get("key_bits") and cert.get("key_type") == "RSA" and cert["key_bits"] < 2048:
            weak.append(f"RSA key of {cert['key_bits']} bits")
    if rec.alerts & {"Unknown CA", "Bad Certificate", "Certificate Unknown"}:
        weak.append("the client rejected the certificate: " + ", ".join(sorted(rec.alerts)))
    return TlsObservation(server=rec.server, sni=rec.sni, client=rec.client, sessions=rec.sessions,
                          versions=sorted(rec.versions), offered_versions=sorted(rec.offered),
                          cipher_suites=sorted(rec.suites), weak=weak, certificate=rec.certificate,
                          alerts=sorted(rec.alerts))


def certificate_summary(hexder: str, sni: str | None, at: float) -> dict:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        cert = x509.load_der_x509_certificate(bytes.fromhex(hexder.replace(":", "")))
    except ValueError as exc:
        return {"error": f"unreadable certificate: {str(exc)[:100]}"}
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    cn = [a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    when = dt.datetime.fromtimestamp(at, dt.timezone.utc) if at else dt.datetime.now(dt.timezone.utc)
    key = cert.public_key()
    key_type = "RSA" if isinstance(key, rsa.RSAPublicKey) else "EC" if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    names = [str(n) for n in sans] or [str(c) for c in cn]
    return {
        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(), "sans": names[:20],
        "not_before": start.isoformat(), "not_after": end.isoformat(),
        "self_signed": cert.issuer == cert.subject,
        "valid_at_capture": start <= when <= end,
        "matches_sni": None if not sni else any(_name_matches(n, sni) for n in names),
        "key_type": key_type, "key_bits": getattr(key, "key_size", None),
        "signature": cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else None,
    }


def _name_matches(pattern: str, host: str) -> bool:
    pattern, host = pattern.lower(), host.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and host.count(".") == pattern.count(".")
    return pattern == host


def connection_history(att: _Attempts) -> ConnectionHistory | None:
    events = sorted(att.events + [(t, False) for t in att.pending.values()])
    if not events:
        return None
    outages = []
    i = 0
    while i < len(events):
        if events[i][1]:
            i += 1
            continue
        j = i
        while j < len(events) and not events[j][1]:
            j += 1
        failed = events[i:j]
        end = events[j][0] if j < len(events) else None
        times = [t for t, _ in failed]
        intervals = [round(b - a, 2) for a, b in zip(times, times[1:])]
        outages.append({"start": times[0], "end": end, "failed_attempts": len(failed),
                        "seconds": round((end or times[-1]) - times[0], 2), "intervals": intervals[:30],
                        "reconnected": end is not None})
        i = j
    if not outages and att.attempts < 2:
        history = ConnectionHistory(endpoint=att.endpoint, attempts=att.attempts, failures=att.failures)
        return history
    backoff = None
    storm = False
    for o in outages:
        iv = o["intervals"]
        if len(iv) >= 3:
            rising = sum(1 for a, b in zip(iv, iv[1:]) if b >= a * 1.3) >= (len(iv) - 1) / 2
            slow = statistics.median(iv) >= 5.0
            backoff = (backoff is not False) and (rising or slow)
            if o["failed_attempts"] >= MIN_STORM and not rising and statistics.median(iv) < 1.0:
                storm = True
    if storm:
        backoff = False
    return ConnectionHistory(endpoint=att.endpoint, attempts=att.attempts, failures=att.failures,
                             outages=outages, reconnected=bool(outages) and outages[-1]["reconnected"],
                             backoff=backoff)


def analyse(capture: Path, device: str | None = None, decode_as: tuple[str, ...] = ()) -> tuple[TrafficReport, dict]:
    """The report of one capture, and the clear values of the secrets it found (for the firmware match)."""
    import time

    started = time.monotonic()
    dissection = Dissection(path=capture)
    analyzer = Analyzer(device=device)
    for pkt in packets(capture, dissection, decode_as):
        analyzer.feed(pkt)
    analyzer.tls_updates()
    report = analyzer.report(dissection, capture, time.monotonic() - started)
    # outage times relative to the capture start
    for c in report.connections:
        for o in c.outages:
            o["start"] = round(o["start"] - (analyzer.t0 or 0.0), 3)
            if o["end"] is not None:
                o["end"] = round(o["end"] - (analyzer.t0 or 0.0), 3)
    secrets = {(c.kind, c.endpoint, c.field, c.masked): analyzer.secret_values[k]
               for k, c in analyzer.cleartext.items()}
    return report, secrets
