"""RTSP, CoAP, SSDP/UPnP and mDNS probes against real daemons from Debian packages.

RTSP (GStreamer's RTSP server) and CoAP (libcoap's coap-server) listen on 127.0.0.1.  miniupnpd and
avahi-daemon send multicast announcements, so each runs in a network namespace the test creates
(`unshare -n`), with a veth pair whose two ends stand for the LAN and WAN sides; the probe is run in that
namespace with `nsenter`.  No datagram leaves the machine.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import daemons  # noqa: E402

from iotcop.probe.engine import ProbeOptions, run_probe  # noqa: E402
from iotcop.probe.report import device_assessment  # noqa: E402
from iotcop.probe.udp import DnsError, dns_query, dtls_answer, parse_coap, parse_dns  # noqa: E402

UNAUTH = "probe.unauthenticated-access"


@pytest.fixture
def started():
    daemons_started = []
    yield daemons_started
    for d in daemons_started:
        d.stop()


def probe(tcp=(), udp=None, budget=30):
    return run_probe("127.0.0.1", ProbeOptions(budget=budget, ports=",".join(map(str, tcp)) or "1", udp=udp or {}))


def services(result):
    return {s.endpoint: s for s in result.report.services}


def findings(result, check=UNAUTH):
    return [f for r in result.runs if r.check == check for f in r.findings]


def run_status(result, check=UNAUTH):
    return next(r.status for r in result.runs if r.check == check)


# -- RTSP ---------------------------------------------------------------------------------------------

def test_rtsp_open_stream_on_a_camera_path_is_found(tmp_path, started):
    started.append(daemons.start_rtsp(tmp_path, "/stream1"))
    port = started[0].port
    result = probe(tcp=[port])
    seen = services(result)[f"tcp/{port}"]
    # On a port with no RTSP hint the server answers the HTTP GET with 503; it must still be seen as RTSP.
    assert seen.service == "rtsp"
    assert seen.banner == "GStreamer RTSP server"
    assert "DESCRIBE" in seen.facts["methods"]
    assert seen.facts["describe"]["/"] == 404 and seen.facts["describe"]["/stream1"] == 200
    [finding] = findings(result)
    assert finding.title == "RTSP stream described without authentication"
    assert finding.evidence.path == f"tcp/{port}" and "/stream1" in finding.evidence.detail
    assert "media: video" in finding.evidence.detail
    assert run_status(result) == "ran"
    verdicts = {v.id: v.verdict.value for v in device_assessment("127.0.0.1", result).provisions}
    assert verdicts["5.6-2"] == "FAIL"


def test_rtsp_stream_behind_basic_auth_gives_no_finding(tmp_path, started):
    started.append(daemons.start_rtsp(tmp_path, "/stream1", "viewer", daemons.strong_password()))
    port = started[0].port
    result = probe(tcp=[port])
    seen = services(result)[f"tcp/{port}"]
    assert seen.service == "rtsp"
    assert seen.facts["describe"]["/stream1"] == 401
    assert seen.facts["auth"].startswith("Basic")
    assert "open_stream" not in seen.facts
    assert findings(result) == []
    assert run_status(result) == "ran"
    describes = [a for a in result.report.attempts if a.detail.startswith("DESCRIBE")]
    assert 1 < len(describes) <= 11  # every path tried once, no more


# -- CoAP ---------------------------------------------------------------------------------------------

def test_coap_resource_discovery_without_dtls_is_found_and_dtls_endpoint_is_not(tmp_path, started):
    started.append(daemons.start_coap_server(tmp_path, psk=daemons.strong_password()))
    plain, dtls = started[0].port, started[0].extra_ports["dtls"]
    result = probe(udp={plain: "coap", dtls: "coap"})
    seen = services(result)
    assert seen[f"udp/{plain}"].service == "coap"
    assert {"/time", "/example_data"} <= set(seen[f"udp/{plain}"].facts["resources"])
    [finding] = findings(result)
    assert finding.title == "CoAP resource directory readable without authentication"
    assert finding.evidence.path == f"udp/{plain}" and "</time>" in finding.evidence.excerpt
    # The DTLS endpoint answers only the handshake: identified as coaps, and no finding for it.
    assert seen[f"udp/{dtls}"].service == "coaps"
    assert seen[f"udp/{dtls}"].facts["dtls"] == "HelloVerifyRequest"
    assert run_status(result) == "ran"


def test_coap_dtls_only_endpoint_gives_no_finding(tmp_path, started):
    started.append(daemons.start_coap_server(tmp_path, psk=daemons.strong_password()))
    dtls = started[0].extra_ports["dtls"]
    result = probe(udp={dtls: "coap"})
    assert [s.service for s in result.report.services] == ["coaps"]
    assert findings(result) == []
    assert run_status(result) == "ran"
    verdicts = {v.id: v.verdict.value for v in device_assessment("127.0.0.1", result).provisions}
    assert verdicts["5.6-2"] == "INCONCLUSIVE"  # nothing found is not compliance


def test_coap_parser_keeps_0xff_in_header_token_and_options():
    # ACK 2.05, message id 0x12FF, token ff ff, Content-Format 40 (delta 12) and an ETag holding 0xFF.
    data = bytes([0x62, 0x45, 0x12, 0xFF, 0xFF, 0xFF, 0x41, 0xFF, 0x81, 0x28, 0xFF]) + b"</a>"
    msg = parse_coap(data)
    assert msg.message_id == 0x12FF and msg.token == b"\xff\xff" and msg.code_text == "2.05"
    assert msg.options == [(4, b"\xff"), (12, b"\x28")]
    assert msg.payload == b"</a>"
    assert parse_coap(bytes([0x40, 0x45, 0, 1, 0xD1])) is None  # extended delta runs past the end
    assert parse_coap(b"\x16\xfe\xfd") is None and dtls_answer(b"not dtls") is None


def test_dns_parser_follows_compression_and_refuses_loops():
    query = dns_query(7, [("_http._tcp.local", 12)])
    qid, records = parse_dns(query)
    assert qid == 7 and records == []
    # answer: name "_http._tcp.local" by pointer to the question, PTR "cam" + pointer
    answer = bytearray(query)
    answer[6:8] = struct.pack(">H", 1)
    rdata = bytes([3]) + b"cam" + b"\xc0\x0c"
    answer += b"\xc0\x0c" + struct.pack(">HHIH", 12, 1, 120, len(rdata)) + rdata
    assert parse_dns(bytes(answer))[1] == [("_http._tcp.local", 12, "cam._http._tcp.local")]
    looped = bytearray(answer)
    looped[-2:] = struct.pack(">H", 0xC000 | (len(looped) - 2))  # the name points at itself
    with pytest.raises(DnsError):
        parse_dns(bytes(looped))


# -- SSDP / UPnP (miniupnpd) and mDNS (avahi-daemon) in a network namespace ------------------------------

def probe_in_netns(daemon, address, *args, budget=30):
    exe = Path(sys.executable).with_name("iotcop")
    done = daemons.in_netns(daemon, [str(exe), "probe", address, "--format", "json", "--budget", str(budget), *args],
                            timeout=budget + 60)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def report_findings(report, check=UNAUTH):
    return [f for f in report["findings"] if f["check"] == check]


def test_upnp_gateway_description_and_open_port_forwarding_control(tmp_path, started):
    started.append(daemons.start_miniupnpd(tmp_path))
    report = probe_in_netns(started[0], daemons.NETNS_LAN, "--ports", "5000", "--udp", "ssdp:1900")
    seen = {s["endpoint"]: s for s in report["device"]["services"]}
    ssdp = seen["udp/1900"]
    assert ssdp["service"] == "ssdp"
    assert "MiniUPnPd/2.3.1" in ssdp["banner"]
    assert "urn:schemas-upnp-org:device:InternetGatewayDevice:2" in ssdp["facts"]["st"]
    assert ssdp["facts"]["location"] == f"http://{daemons.NETNS_LAN}:5000/rootDesc.xml"
    device = ssdp["facts"]["device"]
    assert device["friendlyName"] == "Test Gateway" and device["serialNumber"] == "RT0042778"
    assert "urn:schemas-upnp-org:service:WANIPConnection:2" in ssdp["facts"]["services"]
    [finding] = report_findings(report)
    assert finding["title"] == "UPnP port forwarding control open without authentication"
    assert finding["evidence"]["path"] == "tcp/5000" and "/ctl/IPConn" in finding["evidence"]["detail"]
    assert set(finding["provisions"]) == {"5.6-2"}
    # AddPortMapping for the prober itself: the permission rules accept it, but miniupnpd cannot forward behind
    # the private WAN address of the test network (UPnP error 501), so nothing was changed and 5.5-5 stays open.
    assert ssdp["facts"]["add_port_mapping"] == "refused: HTTP 500, UPnP error 501"
    verdicts = {v["id"]: v["verdict"] for v in report["provisions"]}
    assert verdicts["5.5-5"] == "INCONCLUSIVE" and verdicts["5.6-2"] == "FAIL"
    posts = [a for a in report["device"]["attempts"] if a["detail"].startswith("POST")]
    assert [a["detail"] for a in posts] == ["POST /ctl/IPConn", "POST /ctl/IPConn"]
    assert report["device"]["complete"] is True


def test_upnp_gateway_refusing_port_mappings_passes_5_5_5(tmp_path, started):
    started.append(daemons.start_miniupnpd(tmp_path, allow_lan=False))
    report = probe_in_netns(started[0], daemons.NETNS_LAN, "--ports", "5000", "--udp", "ssdp:1900", "--view",
                            "ts103701")
    case = next(c for c in report["ts103701"]["test_cases"] if c["id"] == "5.5-5-1")
    assert case["verdict"] == "PASS" and case["units"][0]["source"] == "probe"
    ssdp = next(s for s in report["device"]["services"] if s["endpoint"] == "udp/1900")
    assert ssdp["facts"]["add_port_mapping"] == "refused: HTTP 500, UPnP error 606"
    verdicts = {v["id"]: v for v in report["provisions"]}
    assert verdicts["5.5-5"]["verdict"] == "PASS" and "refused AddPortMapping" in verdicts["5.5-5"]["note"]
    assert not report_findings(report, "probe.unauthenticated-config")


def test_upnp_gateway_wan_side_gives_no_finding(tmp_path, started):
    # miniupnpd listens on its LAN interface only: asked on the WAN address, nothing answers.
    started.append(daemons.start_miniupnpd(tmp_path))
    report = probe_in_netns(started[0], daemons.NETNS_WAN, "--ports", "5000", "--udp", "ssdp:1900")
    assert report["device"]["services"] == []
    assert report["findings"] == []
    assert [a["result"] for a in report["device"]["attempts"] if a["service"] == "udp/1900"] == ["no answer"]


def test_mdns_lists_the_announced_services(tmp_path, started):
    started.append(daemons.start_avahi(tmp_path, publish_services=True))
    report = probe_in_netns(started[0], daemons.NETNS_LAN, "--ports", "1", "--udp", "mdns:5353")
    [mdns] = report["device"]["services"]
    assert mdns["service"] == "mdns" and mdns["banner"] == "test-camera.local"
    assert mdns["facts"]["service_types"] == ["_http._tcp.local", "_rtsp._tcp.local"]
    by_type = {s["type"]: s for s in mdns["facts"]["services"]}
    assert by_type["_rtsp._tcp.local"] == {"type": "_rtsp._tcp.local", "name": "Test Camera", "port": 554,
                                           "host": "test-camera.local", "txt": ["path=/stream1"]}
    assert by_type["_http._tcp.local"]["txt"] == ["model=CAM-100"]
    assert report["findings"] == []  # discovery is reported as what the device exposes, not as a finding


def test_mdns_responder_without_services_lists_none(tmp_path, started):
    started.append(daemons.start_avahi(tmp_path, publish_services=False))
    report = probe_in_netns(started[0], daemons.NETNS_LAN, "--ports", "1", "--udp", "mdns:5353")
    [mdns] = report["device"]["services"]
    assert mdns["banner"] == "test-camera.local"  # found by its reverse-lookup answer
    assert mdns["facts"]["service_types"] == [] and mdns["facts"]["services"] == []
    assert report["findings"] == []


def test_upnp_description_is_fetched_only_from_the_probed_address():
    from iotcop.model import ServiceObservation
    from iotcop.probe.context import ProbeContext, ServiceResult
    from iotcop.probe.safety import Budget
    from iotcop.probe.services import upnp

    ctx = ProbeContext("127.0.0.9", Budget(seconds=5))  # nothing is sent: URL checks only
    result = ServiceResult(ServiceObservation(endpoint="udp/1900", service="ssdp"))
    upnp.examine(ctx, "http://192.0.2.7:5000/rootDesc.xml", result)  # another host: never contacted
    assert result.observation.facts["description"].startswith("not fetched") and ctx.budget.attempts == []
    assert upnp.same_host(ctx, "https://127.0.0.9/d.xml") is None
    assert upnp.same_host(ctx, "http://127.0.0.9:49152/d.xml?x=1") == ("127.0.0.9", 49152, "/d.xml?x=1")
    assert upnp.parse_description(b'<!DOCTYPE r [<!ENTITY a "aaaa">]><root><device/></root>') is None
    parsed = upnp.parse_description(b'<root xmlns="urn:schemas-upnp-org:device-1-0"><device><friendlyName>R'
                                    b'</friendlyName><serviceList><service><serviceType>urn:x:service:Y:1'
                                    b'</serviceType><controlURL>/c</controlURL></service></serviceList></device></root>')
    assert parsed["device"] == {"friendlyName": "R"} and parsed["services"] == [{"type": "urn:x:service:Y:1",
                                                                                   "control": "/c"}]
