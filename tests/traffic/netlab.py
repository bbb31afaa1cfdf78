"""A device and its cloud in two network namespaces this module creates, joined by a veth pair.

    device namespace  10.203.0.2  <-- veth -->  10.203.0.1  cloud namespace
    (the device's programs, tcpdump)             dnsmasq (DNS, DHCP), lighttpd (HTTP 80, HTTPS 443 with a
                                                 certificate from a test CA, HTTPS 8443 with an expired
                                                 self-signed one and TLS 1.0), mosquitto (1883 with a
                                                 password, 8883 over TLS), chronyd (NTP), vsftpd (21),
                                                 coap-server (5683)

With gateway=True a third namespace routes between the two (device 10.203.0.2 -> 10.203.0.1 gateway
10.203.1.1 -> 10.203.1.2 cloud): the place where iotcop runs for the resilience step (probe --outage).

Every daemon is a real Debian program.  Names under vendor.example resolve to the cloud through
dnsmasq (the device namespace's resolv.conf is /etc/netns/<name>/resolv.conf, which `ip netns exec`
mounts over /etc/resolv.conf).  Nothing leaves the two namespaces; close() kills what was started (by
process group) and deletes the namespaces and the resolv.conf folder.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

CLOUD, DEVICE = "10.203.0.1", "10.203.0.2"
DOMAIN = "vendor.example"
SYSTEM_PYTHON = "/usr/bin/python3"
DEVICE_SCRIPT = Path(__file__).parent / "device.py"
PROGRAMS = ("ip", "tcpdump", "dnsmasq", "lighttpd", "mosquitto", "mosquitto_pub", "chronyd", "vsftpd",
            "coap-server-openssl", "coap-client-openssl", "curl", "wget", "busybox", "unshare", "openssl")


def missing_programs() -> list[str]:
    return [p for p in PROGRAMS if shutil.which(p) is None]


def require_lab() -> None:
    import pytest

    if os.geteuid() != 0:
        pytest.fail("the traffic tests create network namespaces and need root")
    missing = missing_programs()
    if missing:
        pytest.fail(f"missing programs {missing}: run scripts/setup (Debian packages in APT_PACKAGES)")


def device_step(lab: "NetLab", *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """One action of tests/traffic/device.py in the device namespace."""
    env = ["env", f"IOTCOP_IFACE={lab.veth_device}"]
    return lab.device(env + [sys.executable, str(DEVICE_SCRIPT), *args], check=check)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _cert_pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path) -> dict[str, Path]:
    """A test CA, a server certificate for *.vendor.example signed by it, and an expired self-signed one."""
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vendor Test Root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [f"*.{DOMAIN}", DOMAIN]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{DOMAIN}")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    weak_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "device-cloud")])
    weak = (x509.CertificateBuilder().subject_name(weak_name).issuer_name(weak_name).public_key(weak_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now - dt.timedelta(days=30)).sign(weak_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    out = {"ca": folder / "ca.pem", "cert": folder / "server.crt", "key": folder / "server.key",
           "pem": folder / "server.pem", "weak_pem": folder / "weak.pem"}
    out["ca"].write_bytes(_cert_pem(ca))
    out["cert"].write_bytes(_cert_pem(cert))
    out["key"].write_bytes(_key_pem(key))
    out["pem"].write_bytes(_key_pem(key) + _cert_pem(cert))
    out["weak_pem"].write_bytes(_key_pem(weak_key) + _cert_pem(weak))
    for p in out.values():
        p.chmod(0o644)
    return out


class NetLab:
    def __init__(self, tmp: Path, gateway: bool = False) -> None:
        self.tmp = tmp
        tag = secrets.token_hex(3)
        self.cloud_ns, self.device_ns, self.gateway_ns = f"iotcop-{tag}-c", f"iotcop-{tag}-d", f"iotcop-{tag}-g"
        self.veth_cloud, self.veth_device = f"ic{tag}", f"id{tag}"
        self.gateway = gateway
        self.gw_lan, self.gw_wan = f"gl{tag}", f"gw{tag}"  # the gateway's sides towards the device and the cloud
        self.cloud_ip = "10.203.1.2" if gateway else CLOUD
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.pki: dict[str, Path] = {}
        self.mqtt_user, self.mqtt_password = "device", "Mq7-" + secrets.token_urlsafe(9)
        self.ftp_user, self.ftp_password = "device", "Ft9-" + secrets.token_urlsafe(9)
        self.created = False

    # -- namespaces -----------------------------------------------------------------------------------
    def up(self) -> "NetLab":
        self.tmp.mkdir(parents=True, exist_ok=True)
        for d in (self.tmp,):
            d.chmod(0o755)
        run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=30)  # noqa: E731
        run("ip", "netns", "add", self.cloud_ns)
        self.created = True
        run("ip", "netns", "add", self.device_ns)
        if not self.gateway:
            run("ip", "link", "add", self.veth_cloud, "netns", self.cloud_ns, "type", "veth", "peer", "name",
                self.veth_device, "netns", self.device_ns)
            links = ((self.cloud_ns, self.veth_cloud, CLOUD), (self.device_ns, self.veth_device, DEVICE))
        else:
            run("ip", "netns", "add", self.gateway_ns)
            run("ip", "link", "add", self.veth_device, "netns", self.device_ns, "type", "veth", "peer", "name",
                self.gw_lan, "netns", self.gateway_ns)
            run("ip", "link", "add", self.veth_cloud, "netns", self.cloud_ns, "type", "veth", "peer", "name",
                self.gw_wan, "netns", self.gateway_ns)
            links = ((self.cloud_ns, self.veth_cloud, self.cloud_ip), (self.device_ns, self.veth_device, DEVICE),
                     (self.gateway_ns, self.gw_lan, "10.203.0.1"), (self.gateway_ns, self.gw_wan, "10.203.1.1"))
        for ns, dev, addr in links:
            run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
        if self.gateway:
            run("ip", "netns", "exec", self.gateway_ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            run("ip", "-n", self.device_ns, "route", "add", "default", "via", "10.203.0.1")
            run("ip", "-n", self.cloud_ns, "route", "add", "10.203.0.0/24", "via", "10.203.1.1")
        resolv = Path("/etc/netns") / self.device_ns
        resolv.mkdir(parents=True, exist_ok=True)
        (resolv / "resolv.conf").write_text(f"nameserver {self.cloud_ip}\noptions timeout:1 attempts:1\n")
        return self

    def close(self) -> None:
        for _, proc in reversed(self.procs):
            _stop(proc)
        self.procs.clear()
        if self.created:
            for ns in (self.cloud_ns, self.device_ns) + ((self.gateway_ns,) if self.gateway else ()):
                subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
            shutil.rmtree(Path("/etc/netns") / self.device_ns, ignore_errors=True)
            self.created = False

    def _ns(self, ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def start(self, name: str, ns: str, argv: list[str], ready=None) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        with open(log, "ab") as fh:
            proc = subprocess.Popen(self._ns(ns, argv), stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=self.tmp)
        self.procs.append((name, proc))
        deadline = time.monotonic() + 15
        while ready is not None and not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.1)
        return proc

    def stop(self, name: str) -> None:
        for n, proc in list(self.procs):
            if n == name:
                _stop(proc)
                self.procs.remove((n, proc))

    def device(self, argv: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(self._ns(self.device_ns, argv), capture_output=True, text=True, timeout=timeout,
                              cwd=self.tmp)
        if check and done.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {(done.stderr or done.stdout)[-1500:]}")
        return done

    def device_background(self, name: str, argv: list[str], ready=None) -> subprocess.Popen:
        return self.start(name, self.device_ns, argv, ready=ready)

    def in_gateway(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(self._ns(self.gateway_ns, argv), capture_output=True, text=True, timeout=timeout,
                              cwd=self.tmp)

    def cloud_listening(self, port: int, udp: bool = False) -> bool:
        out = subprocess.run(self._ns(self.cloud_ns, ["ss", "-ulnH" if udp else "-tlnH"]), capture_output=True,
                             text=True, timeout=10).stdout
        return any(line.split()[3].endswith(f":{port}") for line in out.splitlines() if len(line.split()) > 3)

    # -- cloud services -------------------------------------------------------------------------------
    def start_cloud(self, services: tuple[str, ...] = ("dns", "web", "mqtt", "ntp", "ftp", "coap")) -> None:
        self.pki = make_pki(self.tmp / "pki")
        if "dns" in services:
            self.start("dnsmasq", self.cloud_ns, [
                "dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                f"--listen-address={self.cloud_ip}", f"--address=/{DOMAIN}/{self.cloud_ip}", "--log-facility=-", "-u", "root",
                "--dhcp-range=10.203.0.50,10.203.0.60,1h", f"--dhcp-leasefile={self.tmp}/leases",
                f"--pid-file={self.tmp}/dnsmasq.pid"], ready=lambda: self.cloud_listening(53, udp=True))
        if "web" in services:
            self._start_lighttpd()
        if "mqtt" in services:
            self._start_mosquitto()
        if "ntp" in services:
            (self.tmp / "chrony-server.conf").write_text(
                f"allow 10.203.0.0/24\nlocal stratum 8\nbindaddress {CLOUD}\ncmdport 0\nuser root\n"
                f"pidfile {self.tmp}/chronyd-server.pid\ndriftfile {self.tmp}/chrony.drift\n")
            self.start("chronyd", self.cloud_ns, ["chronyd", "-d", "-x", "-f", str(self.tmp / "chrony-server.conf")],
                       ready=lambda: self.cloud_listening(123, udp=True))
        if "ftp" in services:
            self._start_vsftpd()
        if "coap" in services:
            self.start("coap-server", self.cloud_ns, ["coap-server-openssl", "-A", CLOUD, "-p", "5683"],
                       ready=lambda: self.cloud_listening(5683, udp=True))

    def _start_lighttpd(self) -> None:
        www = self.tmp / "www"
        (www / "fw").mkdir(parents=True, exist_ok=True)
        (www / "api").mkdir(parents=True, exist_ok=True)
        (www / "fw" / "version.json").write_text('{"latest": "1.3.0", "url": "/fw/firmware-1.3.0.bin"}\n')
        (www / "fw" / "firmware-1.3.0.bin").write_bytes(secrets.token_bytes(300 * 1024))
        (www / "api" / "telemetry").write_text("ok\n")
        for d in (www, www / "fw", www / "api"):
            d.chmod(0o755)
        conf = f"""server.document-root = "{www}"
server.bind = "{self.cloud_ip}"
server.port = 80
server.errorlog = "{self.tmp}/lighttpd-error.log"
server.modules = ( "mod_openssl" )
mimetype.assign = ( ".bin" => "application/octet-stream", ".json" => "application/json", "" => "text/plain" )
$SERVER["socket"] == "{self.cloud_ip}:443" {{
  ssl.engine = "enable"
  ssl.pemfile = "{self.pki['pem']}"
  ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2" )
}}
$SERVER["socket"] == "{self.cloud_ip}:8443" {{
  ssl.engine = "enable"
  ssl.pemfile = "{self.pki['weak_pem']}"
  ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1", "CipherString" => "ALL:@SECLEVEL=0" )
}}
"""
        (self.tmp / "lighttpd.conf").write_text(conf)
        self.start("lighttpd", self.cloud_ns, ["lighttpd", "-D", "-f", str(self.tmp / "lighttpd.conf")],
                   ready=lambda: self.cloud_listening(443) and self.cloud_listening(8443))

    def _start_mosquitto(self) -> None:
        pw = self.tmp / "mosquitto.passwd"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), self.mqtt_user, self.mqtt_password], check=True,
                       capture_output=True, timeout=30)
        pw.chmod(0o600)
        (self.tmp / "mosquitto.conf").write_text(
            f"per_listener_settings false\nallow_anonymous false\npassword_file {pw}\npersistence false\n"
            f"log_dest stderr\nuser root\nlistener 1883 {CLOUD}\nlistener 8883 {CLOUD}\n"
            f"cafile {self.pki['ca']}\ncertfile {self.pki['cert']}\nkeyfile {self.pki['key']}\n")
        self.start("mosquitto", self.cloud_ns, ["mosquitto", "-c", str(self.tmp / "mosquitto.conf")],
                   ready=lambda: self.cloud_listening(1883) and self.cloud_listening(8883))

    def _start_vsftpd(self) -> None:
        root, empty = self.tmp / "ftproot", self.tmp / "ftpempty"
        root.mkdir(exist_ok=True)
        empty.mkdir(exist_ok=True)
        for d in (root, empty):
            d.chmod(0o755)
        hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=self.ftp_password, capture_output=True,
                                text=True, check=True, timeout=30).stdout.strip()
        (self.tmp / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\nftp:x:120:120::{root}:/usr/sbin/nologin\n"
                                         f"{self.ftp_user}:x:0:0::{root}:/bin/sh\n")
        (self.tmp / "shadow").write_text(f"root:*:19000:0:99999:7:::\nftp:*:19000:0:99999:7:::\n"
                                         f"{self.ftp_user}:{hashed}:19000:0:99999:7:::\n")
        (self.tmp / "shadow").chmod(0o600)
        (self.tmp / "vsftpd.conf").write_text(f"""listen=YES
listen_ipv6=NO
listen_address={CLOUD}
listen_port=21
background=NO
anonymous_enable=NO
local_enable=YES
local_root={root}
pam_service_name=vsftpd
write_enable=YES
secure_chroot_dir={empty}
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
pasv_enable=YES
pasv_address={CLOUD}
check_shell=NO
""")
        (self.tmp / "vsftpd.conf").chmod(0o600)
        script = (f"mount --bind {self.tmp}/passwd /etc/passwd && mount --bind {self.tmp}/shadow /etc/shadow && "
                  f"exec vsftpd {self.tmp}/vsftpd.conf")
        self.start("vsftpd", self.cloud_ns, ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                   ready=lambda: self.cloud_listening(21))

    # -- capture and outages --------------------------------------------------------------------------
    @contextmanager
    def capture(self, path: Path, snaplen: int = 0):
        """tcpdump on the device's side of the link, written unbuffered to PATH."""
        argv = ["tcpdump", "-i", self.veth_device, "-U", "--immediate-mode", "-B", "32768", "-n", "-w", str(path), "-Z", "root"]
        if snaplen:
            argv += ["-s", str(snaplen)]
        log = self.tmp / "tcpdump.log"
        proc = self.start("tcpdump", self.device_ns, argv,
                          ready=lambda: "listening on" in log.read_text(errors="replace") if log.exists() else False)
        try:
            yield path
        finally:
            time.sleep(0.3)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    _stop(proc)
            self.procs = [(n, p) for n, p in self.procs if p is not proc]

    def link(self, up: bool) -> None:
        """The cloud side of the link down (the device sees no carrier) or up again."""
        subprocess.run(["ip", "-n", self.cloud_ns, "link", "set", self.veth_cloud, "up" if up else "down"],
                       check=True, capture_output=True, timeout=30)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def outage_capture(tmp: Path, mode: str) -> Path:
    """The device keeps a TLS session to its telemetry service; the service is down for 6 s in the middle."""
    require_lab()
    lab = NetLab(tmp).up()
    try:
        lab.start_cloud(("dns", "web"))
        path = tmp / f"outage-{mode}.pcap"
        with lab.capture(path):
            device = lab.device_background("device", ["env", f"IOTCOP_IFACE={lab.veth_device}", sys.executable,
                                                      str(DEVICE_SCRIPT), "reconnect", mode, "22"])
            time.sleep(3)
            lab.stop("lighttpd")
            time.sleep(6)
            lab._start_lighttpd()
            device.wait(40)
        return path
    finally:
        lab.close()
