"""Cloud/telemetry endpoints (5.8-1, condition 6) and the sensors inventory (5.8-3)."""

from __future__ import annotations

from pathlib import Path

from surface_helpers import make_tree, run

from iotcop.checks.privacy.endpoints import CloudEndpoints, cloud_endpoints
from iotcop.checks.privacy.sensors import sensors
from iotcop.firmware.inventory import inventory_tree

BASE = {"etc/passwd": "root:x:0:0::/root:/bin/sh\n", "bin/sh": Path("/bin/true").read_bytes()}


def test_plaintext_cloud_and_telemetry_endpoints_fire(tmp_path):
    make_tree(tmp_path, {
        **BASE,
        "etc/app/cloud.conf": "[cloud]\nendpoint = http://api.vendor-cloud.example/v1/devices\nbroker_url = mqtt://iot.vendor-cloud.example:1883\n",
        "etc/app/telemetry.json": '{"telemetry_url": "https://telemetry.vendor-cloud.example/ingest", "enabled": true}',
        "etc/mosquitto/conf.d/bridge.conf": "connection cloud\naddress broker.vendor-cloud.example:1883\ntopic # out 0\n",
    })
    result = run(CloudEndpoints, tmp_path)
    got = sorted((f.evidence.path, f.evidence.line, f.title) for f in result.findings)
    assert got == [
        ("/etc/app/cloud.conf", 2, "Cloud endpoint over http (api.vendor-cloud.example)"),
        ("/etc/app/cloud.conf", 3, "Cloud endpoint over mqtt (iot.vendor-cloud.example)"),
        ("/etc/mosquitto/conf.d/bridge.conf", 2, "Cloud endpoint over mqtt (broker.vendor-cloud.example)"),
    ]
    assert all(f.provisions == ["5.8-1"] for f in result.findings)
    assert [(c.condition, c.holds, c.evidence.path) for c in result.conditions] == [(6, True, "/etc/app/telemetry.json")]


def test_encrypted_local_and_documentation_urls_are_silent(tmp_path):
    make_tree(tmp_path, {
        **BASE,
        "etc/app/cloud.conf": "endpoint = mqtts://cloud.example.invalid:8883\nserver = https://api.vendor.example/\n",
        "etc/config/luci": "option mediaurlbase '/luci-static/bootstrap'\nlist url 'http://192.168.1.1/cgi-bin/luci'\n",
        "etc/app/readme.conf": "# see http://www.vendor.example/manual\nhomepage http://www.gnu.org/licenses/\n",
        "etc/lighttpd/lighttpd.conf": 'server.bind = "192.168.1.1"\nproxy.server = ( "" => (( "host" => "127.0.0.1", "port" => 8080 )))\n',
        "etc/opkg/distfeeds.conf": "src/gz core http://downloads.vendor.example/core\n",
        "usr/share/doc/app/README": "upload_url = http://uploads.vendor.example/\n",
    })
    result = run(CloudEndpoints, tmp_path)
    assert result.findings == [] and result.conditions == []
    assert [(e.host, e.encrypted) for e in cloud_endpoints(inventory_tree(tmp_path))] == [
        ("cloud.example.invalid", True), ("api.vendor.example", True),
    ]


def test_sensors_inventory(tmp_path):
    make_tree(tmp_path, {
        **BASE,
        "lib/modules/5.15.0/uvcvideo.ko": "module",
        "lib/modules/5.15.0/videodev.ko": "module",
        "lib/modules/5.15.0/snd-usb-audio.ko": "module",
        "etc/modules.d/70-usb-audio": "snd-usb-audio\n",
        "usr/sbin/gpsd": Path("/bin/true").read_bytes(),
        "etc/default/gpsd": 'DEVICES="/dev/ttyUSB0"\n',
        "usr/bin/arecord": Path("/bin/true").read_bytes(),
    })
    records = {r.kind: r for r in sensors(inventory_tree(tmp_path))}
    assert set(records) == {"camera", "microphone", "gps"}
    assert records["camera"].strength == "driver"
    assert {e.path for e in records["camera"].evidence} == {"/lib/modules/5.15.0/uvcvideo.ko", "/lib/modules/5.15.0/videodev.ko"}
    assert ("/etc/modules.d/70-usb-audio", 1) in {(e.path, e.line) for e in records["microphone"].evidence}
    assert records["gps"].strength == "software" and {e.path for e in records["gps"].evidence} == {"/usr/sbin/gpsd", "/etc/default/gpsd"}


def test_router_without_sensors(tmp_path):
    make_tree(tmp_path, {**BASE, "lib/modules/5.15.0/mt7915e.ko": "m", "lib/modules/5.15.0/usb-storage.ko": "m", "etc/modules.d/usb": "usb-storage\n"})
    assert sensors(inventory_tree(tmp_path)) == ()


def test_upnp_device_description_links_are_not_endpoints(tmp_path):
    # A WPS/UPnP daemon advertises these links to control points; the device sends nothing there.
    make_tree(tmp_path, {
        **BASE,
        "sbin/wscd.conf": (
            'manufacturer = "Realtek Semiconductor Corp."\nmanufacturerURL = "http://www.realtek.example/"\n'
            'modelURL = "http://www.realtek.example/"\nmodel_url = http://www.vendor.example/model\n'
            'presentation_url=http://www.vendor.example/\nupload_url = http://logs.vendor-cloud.example/upload\n'
        ),
        "etc/upnp/rootDesc.xml": (
            '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0">\n<device>\n'
            "<manufacturerURL>http://www.vendor.example/</manufacturerURL>\n<modelURL>http://www.vendor.example/r1</modelURL>\n"
            "<presentationURL>http://www.vendor.example/</presentationURL>\n</device>\n</root>\n"
        ),
    })
    got = [(f.evidence.path, f.evidence.line, f.evidence.detail) for f in run(CloudEndpoints, tmp_path).findings]
    # Only the real upload endpoint of the same file remains.
    assert got == [("/sbin/wscd.conf", 6, "setting 'upload_url' sends data to logs.vendor-cloud.example without encryption")]
