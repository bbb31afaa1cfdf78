"""Capture analysis throughput: `iotcop traffic` against tshark alone (and scapy, dpkt when installed) on one
capture of real traffic made here.

The capture: a device and its cloud in two network namespaces (tests/traffic/netlab.py); the device makes
update checks over HTTP and HTTPS, telemetry POSTs with personal fields, and every few rounds downloads a
large image over HTTP and HTTPS, until the capture reaches --size MB.  Then, on the same file:

  iotcop      the whole analysis (tshark with the needed fields, streamed; peers, TLS, secrets ...)
  tshark -e   tshark alone writing the same fields as EK JSON to /dev/null (with the session reset iotcop
              uses, -M, and without it: tshark's memory then grows with the capture)
  tshark -q   tshark alone dissecting without output
  scapy, dpkt reading every packet (and, for dpkt, parsing TLS ClientHellos and HTTP requests)

Each runs in its own process; peak RSS is that process's (and its children's) maximum resident set.
Run: .venv/bin/python benchmarks/traffic.py [--size 200] [--keep]   (as root: it creates network namespaces)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "traffic"))
import netlab  # noqa: E402

from iotcop.traffic.dissect import command  # noqa: E402

SCAPY = """
import sys
from scapy.all import PcapReader
n = 0
for p in PcapReader(sys.argv[1]):
    n += 1
print(n)
"""
DPKT = """
import sys, dpkt
n = hellos = requests = 0
with open(sys.argv[1], "rb") as fh:
    for ts, buf in dpkt.pcap.UniversalReader(fh):
        n += 1
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP) and ip.data.data:
            data = ip.data.data
            try:
                if data[:1] == b"\\x16":
                    dpkt.ssl.TLSRecord(data); hellos += 1
                elif data[:4] in (b"GET ", b"POST"):
                    dpkt.http.Request(data); requests += 1
            except Exception:
                pass
print(n, hellos, requests)
"""


def make_capture(tmp: Path, size_mb: int) -> Path:
    lab = netlab.NetLab(tmp).up()
    try:
        lab.start_cloud(("dns", "web"))
        (lab.tmp / "www" / "fw" / "big.bin").write_bytes(os.urandom(8 * 1024 * 1024))
        path = tmp / "bench.pcap"
        with lab.capture(path):
            while not path.exists() or path.stat().st_size < size_mb * 1024 * 1024:
                lab.device(["env", f"IOTCOP_IFACE={lab.veth_device}", sys.executable, str(netlab.DEVICE_SCRIPT),
                            "bulk", "200", "50"], timeout=600)
        return path
    finally:
        lab.close()


def measure(argv: list[str], stdout=subprocess.DEVNULL) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the command and its children, and its stdout's last line."""
    wrapper = ("import resource, subprocess, sys, time, json\n"
               "t = time.perf_counter()\n"
               "out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout\n"
               "s = time.perf_counter() - t\n"
               "r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
               "tail = out.strip().splitlines()[-1].decode()[:200] if out.strip() else ''\n"
               "print(json.dumps([s, r, tail]))\n")
    done = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, timeout=3600)
    seconds, rss, tail = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, rss, tail


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=200, help="capture size in MB (default 200)")
    parser.add_argument("--capture", type=Path, help="use this capture instead of making one")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="iotcop-traffic-bench-"))
    try:
        if args.capture:
            capture = args.capture
        else:
            t = time.perf_counter()
            capture = make_capture(tmp, args.size)
            print(f"capture made in {time.perf_counter() - t:.0f} s")
        size = capture.stat().st_size / 1e6
        packets = subprocess.run(["capinfos", "-c", "-M", str(capture)], capture_output=True, text=True).stdout
        print(f"capture: {size:.0f} MB, {packets.strip().splitlines()[-1].split()[-1]} packets")
        rows = []
        exe = str(Path(sys.executable).with_name("iotcop"))
        rows.append(("iotcop traffic", *measure([exe, "traffic", str(capture), "--format", "json", "--quiet"])))
        argv = command(capture)
        rows.append(("tshark -T ek -e (same fields)", *measure(argv)))
        at = argv.index("-M")
        rows.append(("  the same without -M reset", *measure(argv[:at] + argv[at + 2:])))
        rows.append(("tshark -q (dissect only)", *measure(["tshark", "-r", str(capture), "-q"])))
        for name, code in (("scapy PcapReader", SCAPY), ("dpkt (+TLS/HTTP parse)", DPKT)):
            mod = name.split()[0]
            if subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True).returncode == 0:
                rows.append((name, *measure([sys.executable, "-c", code, str(capture)])))
            else:
                print(f"{name}: not installed (pip install {mod} to compare)")
        base = rows[1][1]
        print(f"{'reader':<32} {'seconds':>8} {'MB/s':>7} {'peak RSS MB':>12} {'vs tshark -e':>13}")
        for name, seconds, rss, _ in rows:
            print(f"{name:<32} {seconds:8.1f} {size / seconds:7.1f} {rss / 1024:12.0f} {seconds / base:12.2f}x")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
