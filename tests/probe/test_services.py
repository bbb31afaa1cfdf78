"""Each real daemon, vulnerable and hardened: every planted issue is found, the hardened one gives nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402

from iotcop.probe.engine import ProbeOptions, run_probe  # noqa: E402

# service -> (start(tmp, hardened), expected findings on the vulnerable set-up as {(check, title part)})
SETUPS = {
    "ssh": (lambda tmp, h: [daemons.start_dropbear(tmp, "admin", daemons.strong_password() if h else "admin")],
            {("probe.default-credentials", "SSH login")}),
    "telnet": (lambda tmp, h: [daemons.start_telnetd(tmp, "admin", daemons.strong_password() if h else "admin",
                                                     delay=1 if h else 0)],
               {("probe.default-credentials", "Telnet login"), ("probe.plaintext-login", "Telnet login service")}),
    "web": (lambda tmp, h: [daemons.start_lighttpd(tmp, h, daemons.strong_password() if h else "admin")],
            {("probe.default-credentials", "Web login"), ("probe.unauthenticated-access", "Status page"),
             ("probe.http-plaintext-auth", "plain HTTP"), ("probe.tls-config", "Obsolete TLS"),
             ("probe.tls-config", "expired"), ("probe.tls-config", "key too short")}),
    "mqtt": (lambda tmp, h: [daemons.start_mosquitto(tmp, h)], {("probe.unauthenticated-access", "MQTT")}),
    "ftp": (lambda tmp, h: [daemons.start_vsftpd(tmp, h)], {("probe.unauthenticated-access", "Anonymous FTP"),
                                                          ("probe.plaintext-login", "FTP login without encryption")}),
    "snmp": (lambda tmp, h: [daemons.start_snmpd(tmp, h)], {("probe.snmp-community", "'public'")}),
}


def probe_daemons(started, budget=60):
    tcp = [p for d in started if d.name != "snmpd" for p in (d.port, *d.extra_ports.values())]
    udp = {d.port: "snmp" for d in started if d.name == "snmpd"}
    return run_probe("127.0.0.1", ProbeOptions(budget=budget, ports=",".join(map(str, tcp)) or "1", udp=udp))


def found(result) -> set[tuple[str, str]]:
    return {(f.check, f.title) for r in result.runs for f in r.findings}


@pytest.fixture
def start(tmp_path):
    started = []

    def run(name, hardened):
        started.extend(SETUPS[name][0](tmp_path / ("hardened" if hardened else "vulnerable"), hardened))
        return started

    yield run
    for d in started:
        d.stop()


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_vulnerable_setup_every_planted_issue_found(start, name):
    result = probe_daemons(start(name, hardened=False))
    titles = found(result)
    for check, part in SETUPS[name][1]:
        assert any(c == check and part in t for c, t in titles), (check, part, titles)
    assert all(r.status == "ran" for r in result.runs), [(r.check, r.status, r.error) for r in result.runs]
    assert result.report.attempts and all(a.at <= 60 for a in result.report.attempts)


@pytest.mark.slow  # hardened logins delay each failure by a second or more
@pytest.mark.parametrize("name", sorted(SETUPS))
def test_hardened_setup_gives_no_finding(start, name):
    result = probe_daemons(start(name, hardened=True))
    # telnet, and FTP without AUTH TLS, stay clear-text login services however strong the password (5.5-1)
    plaintext = {(c, t) for c, t in found(result) if c == "probe.plaintext-login"}
    assert bool(plaintext) == (name in ("telnet", "ftp")), plaintext
    assert found(result) - plaintext == set()
    assert result.report.services or name == "snmp"  # the hardened SNMP agent stays silent to guesses
    assert all(r.status == "ran" for r in result.runs), [(r.check, r.status, r.error) for r in result.runs]
