"""What a small IoT device does on its network, run inside the device namespace of netlab.

    device.py boot                      DHCP (BusyBox udhcpc) and an NTP query (chronyd -Q)
    device.py update SCHEME N SECONDS   N update checks (curl), then the image download (wget or curl)
    device.py telemetry SCHEME N        N telemetry reports with personal fields (HTTP POST, JSON)
    device.py mqtt tls|plain            one MQTT report (mosquitto_pub, with the broker password)
    device.py coap                      one CoAP PUT of a sensor reading (coap-client)
    device.py ftp                       a log upload over FTP (ftplib)
    device.py reconnect backoff|hammer SECONDS
                                        keeps a TLS connection to the telemetry service, reconnecting after
                                        failures with a doubling delay (backoff) or every 0.1 s (hammer)

SCHEME is http, https (certificate checked against the test CA) or weak (TLS 1.0, no check).
"""

from __future__ import annotations

import ftplib
import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import sys
import time

CLOUD = "10.203.0.1"
DOMAIN = "vendor.example"
HERE = os.getcwd()
CA = os.path.join(HERE, "pki", "ca.pem")
PERSONAL = {"device_id": "cam-0042", "owner": {"name": "Alice Example", "email": "alice@example.org",
                                               "phone": "+44 20 7946 0958"},
            "location": {"lat": 51.5072, "lon": -0.1276}, "temperature": 21.5, "humidity": 40}


def _context(scheme: str) -> ssl.SSLContext:
    if scheme == "weak":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1
        return ctx
    return ssl.create_default_context(cafile=CA)


def _connection(scheme: str, host: str, timeout: float = 5.0):
    if scheme == "http":
        return http.client.HTTPConnection(host, 80, timeout=timeout)
    port = 8443 if scheme == "weak" else 443
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=_context(scheme))


def boot() -> None:
    subprocess.run(["busybox", "udhcpc", "-i", os.environ["IOTCOP_IFACE"], "-n", "-q", "-f", "-t", "3", "-T", "1",
                    "-s", "/bin/true", "-x", "hostname:cam-0042", "-V", "VendorCam/1.2"], check=False, timeout=20)
    conf = os.path.join(HERE, "chrony-client.conf")
    with open(conf, "w") as fh:
        fh.write(f"server {CLOUD} iburst maxsamples 1\ncmdport 0\npidfile {HERE}/chronyd-client.pid\n")
    subprocess.run(["chronyd", "-Q", "-t", "10", "-f", conf], check=False, timeout=20)


def update(scheme: str, count: int, interval: float) -> None:
    host = f"update.{DOMAIN}"
    for i in range(count):
        if i:
            time.sleep(interval)
        conn = _connection(scheme, host)
        conn.request("GET", "/fw/version.json?model=CAM-100&current=1.2.0")
        conn.getresponse().read()
        conn.close()
    if scheme == "http":
        subprocess.run(["wget", "-q", "-O", "/dev/null", f"http://{host}/fw/firmware-1.3.0.bin"], check=True, timeout=30)
    else:
        conn = _connection(scheme, host)
        conn.request("GET", "/fw/firmware-1.3.0.bin")
        conn.getresponse().read()
        conn.close()


def telemetry(scheme: str, count: int) -> None:
    host = f"telemetry.{DOMAIN}"
    for i in range(count):
        conn = _connection(scheme, host)
        body = json.dumps({**PERSONAL, "seq": i})
        conn.request("POST", "/api/telemetry", body=body, headers={"Content-Type": "application/json",
                                                                    "Authorization": "Bearer dvc-7f3a9c0e2b4d6f81"})
        conn.getresponse().read()
        conn.close()


def mqtt(mode: str, user: str, password: str) -> None:
    argv = ["mosquitto_pub", "-h", f"mqtt.{DOMAIN}", "-u", user, "-P", password, "-t", "home/cam-0042/telemetry",
            "-m", json.dumps(PERSONAL), "-i", "cam-0042"]
    argv += ["-p", "8883", "--cafile", CA] if mode == "tls" else ["-p", "1883"]
    subprocess.run(argv, check=True, timeout=20)


def coap() -> None:
    subprocess.run(["coap-client-openssl", "-m", "put", "-e", json.dumps({"temperature": 21.5, "lat": 51.5072,
                                                                          "lon": -0.1276}),
                    f"coap://{CLOUD}/telemetry"], check=False, timeout=20)


def ftp(user: str, password: str) -> None:
    with ftplib.FTP(CLOUD, timeout=10) as conn:
        conn.login(user, password)
        conn.storbinary("STOR device.log", io.BytesIO(b"boot ok\n"))


def keep_connected(mode: str, seconds: float, on_failure=None) -> None:
    """Fetch from the telemetry service once a second for SECONDS; after a failure retry with a doubling delay
    (backoff), every 0.1 s (hammer), or stop when ON_FAILURE says so."""
    host = f"telemetry.{DOMAIN}"
    deadline = time.monotonic() + seconds
    delay = 0.5
    while time.monotonic() < deadline:
        try:
            conn = _connection("https", host, timeout=1.0)
            conn.request("GET", "/fw/version.json")
            conn.getresponse().read()
            conn.close()
            delay = 0.5
            time.sleep(1.0)
        except (OSError, http.client.HTTPException):
            if on_failure is not None and on_failure():
                return
            if mode == "hammer":
                time.sleep(0.1)
            else:
                time.sleep(delay)
                delay = min(delay * 2, 8.0)


def reconnect(mode: str, seconds: float) -> None:
    keep_connected(mode, seconds)


def bulk(rounds: int, big_every: int) -> None:
    """Benchmark traffic: per round an update check over HTTP and HTTPS and a telemetry POST; every BIG_EVERY
    rounds the large image over HTTP and over HTTPS."""
    for i in range(rounds):
        for scheme in ("http", "https"):
            conn = _connection(scheme, f"update.{DOMAIN}")
            conn.request("GET", f"/fw/version.json?round={i}")
            conn.getresponse().read()
            conn.close()
        conn = _connection("http", f"telemetry.{DOMAIN}")
        conn.request("POST", "/api/telemetry", body=json.dumps({**PERSONAL, "seq": i}),
                     headers={"Content-Type": "application/json"})
        conn.getresponse().read()
        conn.close()
        if big_every and i % big_every == 0:
            for scheme in ("http", "https"):
                conn = _connection(scheme, f"update.{DOMAIN}", timeout=60)
                conn.request("GET", "/fw/big.bin")
                resp = conn.getresponse()
                while resp.read(1 << 20):
                    pass
                conn.close()


def appliance(mode: str, seconds: float) -> None:
    """A device with a local web interface (port 8080) and a connection to its cloud service.  resilient: the local
    interface stays up through cloud outages and the connection is retried with back-off; fragile: the first failed
    cloud connection stops the local interface and the device gives up."""
    import http.server
    import threading

    class Local(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Local)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def fragile_stops() -> bool:
        if mode != "fragile":
            return False
        server.shutdown()
        server.server_close()
        return True

    keep_connected("backoff", seconds, on_failure=fragile_stops)


def main(argv: list[str]) -> None:
    action = argv[0]
    if action == "boot":
        boot()
    elif action == "update":
        update(argv[1], int(argv[2]), float(argv[3]))
    elif action == "telemetry":
        telemetry(argv[1], int(argv[2]))
    elif action == "mqtt":
        mqtt(argv[1], argv[2], argv[3])
    elif action == "coap":
        coap()
    elif action == "ftp":
        ftp(argv[1], argv[2])
    elif action == "appliance":
        appliance(argv[1], float(argv[2]))
    elif action == "bulk":
        bulk(int(argv[1]), int(argv[2]))
    elif action == "reconnect":
        reconnect(argv[1], float(argv[2]))
    else:
        raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    socket.setdefaulttimeout(10)
    main(sys.argv[1:])
