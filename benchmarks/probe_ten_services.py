"""Time `iotcop probe` against a loopback host with 10 open services (real Debian daemons), default budget.

Services: dropbear, BusyBox telnetd, lighttpd HTTP + HTTPS, mosquitto, vsftpd (vulnerable set-ups) and a
hardened dropbear, telnetd, mosquitto and vsftpd (slow failed logins), plus snmpd on UDP.
Run: .venv/bin/python benchmarks/probe_ten_services.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "probe"))
import daemons as d  # noqa: E402
from iotcop.probe.engine import ProbeOptions, run_probe  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="iotcop-bench-"))
    started = []
    try:
        started += [d.start_dropbear(tmp / "ssh", "admin", "admin"), d.start_telnetd(tmp / "tn", "admin", "admin", 0),
                    d.start_lighttpd(tmp / "web", False, "admin"), d.start_mosquitto(tmp / "mq", False),
                    d.start_vsftpd(tmp / "ftp", False), d.start_dropbear(tmp / "ssh2", "admin", d.strong_password()),
                    d.start_telnetd(tmp / "tn2", "admin", d.strong_password(), 1), d.start_mosquitto(tmp / "mq2", True),
                    d.start_vsftpd(tmp / "ftp2", True), d.start_snmpd(tmp / "snmp", False)]
        tcp = [p for x in started if x.name != "snmpd" for p in (x.port, *x.extra_ports.values())]
        udp = {x.port: "snmp" for x in started if x.name == "snmpd"}
        t0 = time.monotonic()
        result = run_probe("127.0.0.1", ProbeOptions(budget=60, ports=",".join(map(str, tcp)), udp=udp))
        seconds = time.monotonic() - t0
        print(f"open services: {len(result.report.services)} ({len(tcp)} TCP + {len(udp)} UDP started)")
        print(f"probe time: {seconds:.1f} s (budget 60 s), complete={result.report.complete}, "
              f"attempts logged: {len(result.report.attempts)}")
        print(f"findings: {sum(len(r.findings) for r in result.runs)}; runs: "
              + ", ".join(f"{r.check.split('.')[1]}={r.status}" for r in result.runs))
    finally:
        for x in started:
            x.stop()


if __name__ == "__main__":
    main()
