"""Safety rules, the BER codec, the MQTT packet, and how probe runs become verdicts."""

from __future__ import annotations

import pytest

from iotcop.assess import AssessmentInputs, assess_provisions
from iotcop.errors import InputError
from iotcop.probe import ber
from iotcop.probe.checks import PROBE_CHECKS, probe_checks
from iotcop.probe.context import LoginTrial, brute_force_issue
from iotcop.probe.engine import check_runs
from iotcop.probe.safety import Budget, BudgetExceeded, resolve_target
from iotcop.probe.scanner import parse_ports
from iotcop.probe.services.mqtt import connect_packet
from iotcop.standards.catalogue import load_catalogue
from iotcop.standards.mapping import mapping


def test_only_the_given_address():
    assert resolve_target("127.0.0.1") == ["127.0.0.1"]
    assert resolve_target("::1") == ["::1"]
    assert resolve_target("localhost") in (["127.0.0.1"], ["::1"])
    for host in ("224.0.0.1", "ff02::1", "0.0.0.0", "198.51.100.255", "198.51.100.0/24", "not a host!"):
        with pytest.raises(InputError):
            resolve_target(host)
    assert resolve_target("127.0.0.0/30", allow_range=True) == ["127.0.0.1", "127.0.0.2"]
    with pytest.raises(InputError):
        resolve_target("198.18.0.0/15", allow_range=True)  # over the range cap even when allowed
    with pytest.raises(InputError):
        resolve_target("224.0.0.0/30", allow_range=True) or pytest.fail("multicast range accepted")


def test_budget_caps_logins_per_service_and_time():
    budget = Budget(seconds=30, per_service=3, pace=0)
    for _ in range(3):
        budget.login_slot("tcp/23")
    with pytest.raises(BudgetExceeded):
        budget.login_slot("tcp/23")
    budget.login_slot("tcp/22")  # another service has its own cap
    spent = Budget(seconds=0.01)
    with pytest.raises(BudgetExceeded):
        spent.timeout(5)


def test_port_lists():
    assert parse_ports("22,80,8000-8002") == [22, 80, 8000, 8001, 8002]
    assert len(parse_ports("all")) == 65535
    assert 23 in parse_ports("common")
    for bad in ("0", "70000", "x", "10-5", ""):
        with pytest.raises(InputError):
            parse_ports(bad)


def test_ber_round_trip_of_an_snmp_get():
    packet = ber.snmp_get("public", 4242, "1.3.6.1.2.1.1.1.0")
    node, rest = ber.decode(packet)
    assert rest == b"" and node.tag == ber.SEQUENCE
    version, community, pdu = node.children
    assert version.as_int() == 1 and community.value == b"public" and pdu.tag == ber.GET_REQUEST
    assert pdu.children[0].as_int() == 4242
    assert pdu.children[3].children[0].children[0].as_oid() == "1.3.6.1.2.1.1.1.0"
    assert ber.decode(ber.oid("2.999.3"))[0].as_oid() == "2.999.3"
    assert ber.decode(ber.integer(-129))[0].as_int() == -129
    long_value = ber.octets(b"x" * 300)
    assert ber.decode(long_value)[0].value == b"x" * 300
    response = ber.sequence(ber.integer(1), ber.octets(b"public"), ber.sequence(
        ber.integer(7), ber.integer(0), ber.integer(0),
        ber.sequence(ber.sequence(ber.oid("1.3.6.1.2.1.1.1.0"), ber.octets(b"router"))), tag=ber.GET_RESPONSE))
    parsed = ber.parse_snmp_response(response)
    assert parsed.request_id == 7 and parsed.values == {"1.3.6.1.2.1.1.1.0": "router"}
    for broken in (b"", b"\x30", b"\x30\x05\x02\x01", b"\x30\x84\xff\xff\xff\xff"):
        with pytest.raises(ber.BerError):
            ber.parse_snmp_response(broken)


def test_mqtt_connect_packet_bytes():
    packet = connect_packet("id", keepalive=30)
    assert packet == bytes([0x10, 14, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 2]) + b"id"


def test_brute_force_judgement():
    fast = [LoginTrial("u", str(i), False, 0.002) for i in range(5)]
    assert not brute_force_issue("tcp/1", fast, 0.001).compliant
    slow = [LoginTrial("u", str(i), False, 1.0) for i in range(5)]
    assert brute_force_issue("tcp/1", slow, 0.001).compliant
    locked = fast[:2] + [LoginTrial("u", "x", False, 0.0, locked=True)]
    assert brute_force_issue("tcp/1", locked, 0.001).compliant
    assert brute_force_issue("tcp/1", fast[:2], 0.001) is None  # too few tries say nothing
    not_checked = [LoginTrial("u", str(i), False, 0.001, checked=False) for i in range(6)]
    assert brute_force_issue("tcp/1", not_checked, 0.001) is None


def test_probe_mapping_is_validated_and_complete():
    assert probe_checks() == PROBE_CHECKS
    assert {c for c in mapping() if c.startswith("probe.")} == {c.ID for c in PROBE_CHECKS}


def test_unreachable_device_makes_probe_only_provisions_not_tested():
    runs = check_runs([], reachable=False, cut_short=False, seconds=1.0)
    assert {r.status for r in runs} == {"skipped"}
    verdicts = {v.id: v for v in assess_provisions(load_catalogue(), AssessmentInputs(runs=runs))}
    assert verdicts["5.1-5"].verdict.value == "NOT_TESTED"  # informed only by the brute-force probe
    assert "probe.bruteforce-protection: skipped" in verdicts["5.1-5"].note


def test_budget_cut_probe_is_a_timeout_not_a_silent_pass():
    runs = check_runs([], reachable=True, cut_short=True, seconds=60.0)
    assert {r.status for r in runs} == {"timeout"}
