"""Packets of a capture as small dicts, from tshark's Elasticsearch output (`-T ek`), one line at a time.

tshark (Debian's `tshark` package) dissects every protocol; iotcop asks it only for the fields in
FIELDS (`-e`), so each packet is one short JSON line and the analysis never holds more than one packet.
A large download
is not written out (binary bodies are not printed as strings; a packet line over MAX_LINE is skipped and
counted); TLS handshakes and HTTP bodies are reassembled (certificates and JSON bodies span segments).

A capture that ends mid-packet is analysed up to the cut: tshark reports it on stderr ("appears to
have been cut short"), and the result is marked partial with that one line.  A file tshark cannot
read at all is an InputError (exit 2).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from iotcop.errors import InputError

TSHARK = "tshark"
# tshark field -> key in the packet dict (dots become underscores in the EK output)
FIELDS = (
    "frame.time_epoch", "frame.len", "frame.protocols", "eth.src",
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "tcp.srcport", "tcp.dstport", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "tcp.flags.fin",
    "tcp.stream", "tcp.len",
    "udp.srcport", "udp.dstport", "icmp.type",
    "tls.handshake.type", "tls.handshake.version", "tls.handshake.extensions.supported_version",
    "tls.handshake.ciphersuite", "tls.handshake.extensions_server_name", "tls.handshake.certificate",
    "tls.alert_message.desc", "tls.record.content_type",
    "http.request.method", "http.request.uri", "http.host", "http.authorization", "http.cookie",
    "http.user_agent", "http.response.code", "http.file_data", "http.content_type", "http.content_length",
    "http.www_authenticate",
    "mqtt.msgtype", "mqtt.clientid", "mqtt.username", "mqtt.passwd", "mqtt.topic", "mqtt.msg", "mqtt.conack.val",
    "telnet.data", "ftp.request.command", "ftp.request.arg", "ftp.response.code",
    "dns.flags.response", "dns.qry.name", "dns.a", "dns.aaaa", "dns.flags.rcode", "dns.cname",
    "ntp.flags.mode", "ntp.stratum",
    "dhcp.option.dhcp", "dhcp.option.hostname", "dhcp.option.vendor_class_id", "dhcp.hw.mac_addr",
    "coap.code", "coap.type", "coap.opt.uri_path", "coap.opt.uri_query", "coap.payload",
)
PREFERENCES = ("tcp.desegment_tcp_streams:TRUE", "tls.desegment_ssl_records:TRUE")
STDERR_LIMIT = 64 * 1024
# tshark keeps every reassembled PDU and conversation until the end of a session; resetting the session every
# RESET_PACKETS packets (-M) bounds its memory whatever the capture's size (measured: 915 MB peak on a 1.1 GB
# capture without it; see benchmarks/traffic.py).  TCP stream numbers restart after each reset, so each packet
# carries its session number ("_session") and the analysis keys streams by both.
RESET_PACKETS = 20000
MAX_LINE = 4 * 1024 * 1024  # one packet's fields; a longer line (a huge text body) is skipped, not held


@dataclass
class Dissection:
    """What tshark said about the capture besides the packets."""

    path: Path
    packets: int = 0
    bytes: int = 0  # bytes of the packets on the wire (frame.len summed)
    partial: str | None = None  # one line: why the capture was not read to its end
    oversized: int = 0  # packets whose fields were longer than MAX_LINE (skipped)
    stderr: list[str] = field(default_factory=list)


VALUE_TABLES = ("tls.handshake.ciphersuite", "tls.alert_message.desc")


def tshark_version() -> str:
    return tshark_info()["version"]


@functools.cache
def tshark_info() -> dict:
    """tshark's version line and its names for cipher suites and TLS alerts (`tshark -G values`).

    Asking tshark costs about a second (it loads every dissector), so the answer is kept in the user's cache
    folder, keyed by the tshark binary's size and modification time.
    """
    exe = shutil.which(TSHARK)
    if exe is None:
        return {"version": "", "values": {}}
    st = os.stat(exe)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "iotcop"
    cache = base / f"tshark-{st.st_size}-{int(st.st_mtime)}.json"
    try:
        data = json.loads(cache.read_text())
        return {"version": str(data["version"]),
                "values": {k: {int(n): str(v) for n, v in data["values"][k].items()} for k in VALUE_TABLES}}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        pass
    try:
        version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60).stdout
        out = subprocess.run([exe, "-G", "values"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return {"version": "", "values": {}}
    values: dict[str, dict[int, str]] = {w: {} for w in VALUE_TABLES}
    for line in out.splitlines():
        if not line.startswith("V\ttls."):
            continue
        parts = line.split("\t")
        if len(parts) == 4 and parts[1] in values:
            try:
                values[parts[1]][int(parts[2], 0)] = parts[3]
            except ValueError:
                pass
    info = {"version": version.splitlines()[0] if version else "", "values": values}
    try:
        base.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(info))
    except OSError:
        pass  # a read-only home: tshark is asked again next time
    return info


def command(path: Path, decode_as: tuple[str, ...] = ()) -> list[str]:
    exe = shutil.which(TSHARK)
    if exe is None:
        raise InputError("tshark is not installed (Debian package 'tshark'; run scripts/setup)")
    argv = [exe, "-r", str(path), "-n", "-T", "ek", "-M", str(RESET_PACKETS)]
    for pref in PREFERENCES:
        argv += ["-o", pref]
    for rule in decode_as:
        argv += ["-d", rule]
    for name in FIELDS:
        argv += ["-e", name]
    return argv


def check_capture(path: Path) -> None:
    """Refuse what is not a readable, non-empty file before tshark starts."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not head:
        raise InputError(f"{path}: empty file, not a capture")
    if capture_format(head) is None:
        raise InputError(f"{path}: not a pcap or pcapng capture (starts with {head.hex()})")


_MAGIC = {"a1b2c3d4": "pcap", "d4c3b2a1": "pcap", "a1b23c4d": "pcap (ns)", "4d3cb2a1": "pcap (ns)",
          "0a0d0d0a": "pcapng"}


def capture_format(head: bytes) -> str | None:
    """pcap, pcapng or gzip (tshark reads compressed captures) from the first four bytes."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    return _MAGIC.get(head[:4].hex())


def packets(path: Path, dissection: Dissection, decode_as: tuple[str, ...] = ()) -> Iterator[dict]:
    """Each packet as {field_with_underscores: value or list}, streamed from tshark."""
    check_capture(path)
    argv = command(path, decode_as)
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                env={"LC_ALL": "C", "PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
        assert proc.stdout is not None
        try:
            while line := proc.stdout.readline(MAX_LINE):
                if not line.endswith(b"\n"):
                    dissection.oversized += 1
                    while (rest := proc.stdout.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                        pass
                    continue
                if not line.startswith(b'{"timestamp"'):
                    continue  # the {"index": ...} lines between packets
                try:
                    layers = json.loads(line)["layers"]
                except (ValueError, KeyError):
                    continue
                pkt = {k: (v[0] if len(v) == 1 else v) if isinstance(v, list) else v for k, v in layers.items()}
                pkt["_session"] = (dissection.packets + dissection.oversized) // RESET_PACKETS
                dissection.packets += 1
                dissection.bytes += _int(pkt.get("frame_len"))
                yield pkt
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stdout.close()
            code = proc.wait()
            err.seek(0)
            text = err.read(STDERR_LIMIT).decode("utf-8", "replace")
            lines = [ln.strip() for ln in text.splitlines()
                     if ln.strip() and not ln.startswith("Running as user") and ln.strip() != "resetting session."]
            dissection.stderr = lines[:20]
            _judge(path, dissection, code, lines)


def _judge(path: Path, dissection: Dissection, code: int, lines: list[str]) -> None:
    cut = next((ln for ln in lines if "cut short" in ln or "truncated" in ln.lower()), None)
    bad = next((ln for ln in lines if "isn't a capture file" in ln or "unknown format" in ln.lower()
                or "not a capture file" in ln or "understands" in ln), None)
    if dissection.packets == 0 and (bad or code != 0):
        reason = (bad or cut or (lines[0] if lines else f"tshark exit code {code}"))
        raise InputError(f"{path}: not a readable packet capture ({_short(reason)})")
    if cut:
        dissection.partial = _short(cut)
    elif code not in (0, None) and code > 0:
        dissection.partial = _short(lines[0] if lines else f"tshark stopped with exit code {code}")


def _short(line: str) -> str:
    line = line.replace("tshark: ", "").strip()
    return line if len(line) <= 200 else line[:197] + "..."


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
