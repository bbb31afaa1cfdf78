"""Real daemons from Debian packages, started on 127.0.0.1 high ports in a temporary folder.

Each daemon runs in the foreground in its own process group and is killed (group, by its own pid) at
teardown.  dropbear checks passwords against /etc/passwd and /etc/shadow of the machine, so it runs in a
private mount namespace (`unshare -m`) where a test passwd/shadow pair is bind-mounted over the real
files: the machine's accounts are never touched, and the mounts vanish with the process.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 15.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def strong_password() -> str:
    return "Zq7-" + secrets.token_urlsafe(18)


@dataclass
class Daemon:
    name: str
    port: int
    proc: subprocess.Popen
    log: Path
    extra_ports: dict[str, int] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)


def require(*programs: str) -> None:
    import pytest

    missing = [p for p in programs if shutil.which(p) is None]
    if missing:
        pytest.fail(f"missing programs {missing}: run scripts/setup (Debian packages in APT_PACKAGES)")


def _wait_tcp(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"daemon did not listen on {port}: {log.read_text(errors='replace')[-2000:]}")


def _start(name: str, argv: list[str], port: int, tmp: Path, udp: bool = False, **extra) -> Daemon:
    log = tmp / f"{name}.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=tmp)
    daemon = Daemon(name, port, proc, log, extra)
    try:
        if udp:
            time.sleep(0.5)
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
        else:
            _wait_tcp(port, proc, log)
            for p in extra.values():
                _wait_tcp(p, proc, log)
    except Exception:
        daemon.stop()
        raise
    return daemon


# -- dropbear ---------------------------------------------------------------------------------------

def start_dropbear(tmp: Path, user: str, password: str) -> Daemon:
    require("dropbear", "dropbearkey", "unshare", "openssl")
    tmp.mkdir(parents=True, exist_ok=True)
    keys = []
    for kind in ("ed25519", "rsa"):  # dropbear offers both algorithms and needs a key for each
        keys.append(tmp / f"dropbear_{kind}_host_key")
        subprocess.run(["dropbearkey", "-t", kind, "-f", str(keys[-1])], check=True, capture_output=True, timeout=60)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True, text=True,
                            check=True, timeout=30).stdout.strip()
    (tmp / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\n{user}:x:1000:1000::/tmp:/bin/sh\n")
    (tmp / "shadow").write_text(f"root:*:19000:0:99999:7:::\n{user}:{hashed}:19000:0:99999:7:::\n")
    (tmp / "shadow").chmod(0o600)
    port = free_port()
    script = (f"mount --bind {tmp}/passwd /etc/passwd && mount --bind {tmp}/shadow /etc/shadow && "
              f"exec dropbear -r {keys[0]} -r {keys[1]} -p {LOOPBACK}:{port} -F -E")
    return _start("dropbear", ["unshare", "-m", "--propagation", "private", "sh", "-c", script], port, tmp)


# -- BusyBox telnetd with a login script ------------------------------------------------------------

LOGIN_SCRIPT = r"""#!/bin/sh
# Asks for a user and password; a wrong pair costs DELAY seconds; three failures end the session.
tries=0
while [ $tries -lt 3 ]; do
  printf 'login: '
  IFS= read -r u || exit 1
  printf 'Password: '
  IFS= read -r p || exit 1
  u=$(printf %s "$u" | tr -d '\r\n')
  p=$(printf %s "$p" | tr -d '\r\n')
  if [ "$u" = "@USER@" ] && [ "$p" = "@PASSWORD@" ]; then
    printf '\nBusyBox built-in shell\n# '
    IFS= read -r x
    exit 0
  fi
  sleep @DELAY@
  printf '\nLogin incorrect\n'
  tries=$((tries + 1))
done
exit 1
"""


def start_telnetd(tmp: Path, user: str, password: str, delay: float) -> Daemon:
    require("busybox")
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / "login.sh"
    script.write_text(LOGIN_SCRIPT.replace("@USER@", user).replace("@PASSWORD@", password)
                      .replace("@DELAY@", f"{delay:g}"))
    script.chmod(0o755)
    port = free_port()
    return _start("telnetd", ["busybox", "telnetd", "-F", "-b", f"{LOOPBACK}:{port}", "-l", str(script)], port, tmp)


# -- lighttpd ---------------------------------------------------------------------------------------

def make_certificate(tmp: Path, bits: int, expired: bool) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "iotcop-test.local")])
    now = dt.datetime.now(dt.timezone.utc)
    start, end = (now - dt.timedelta(days=400), now - dt.timedelta(days=30)) if expired else (
        now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .sign(key, hashes.SHA256()))
    pem = tmp / "server.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    pem.chmod(0o600)
    return pem


def start_lighttpd(tmp: Path, hardened: bool, password: str) -> Daemon:
    require("lighttpd")
    tmp.mkdir(parents=True, exist_ok=True)
    www = tmp / "www"
    (www / "admin").mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text("<html><body><h1>Router</h1><a href='/admin/'>admin</a></body></html>")
    (www / "admin" / "index.html").write_text("<html><body>settings</body></html>")
    (tmp / "users").write_text(f"admin:{password}\n")
    http_port, https_port = free_port(), free_port()
    pem = make_certificate(tmp, 2048 if hardened else 1024, expired=not hardened)
    common = f"""
server.document-root = "{www}"
server.bind = "{LOOPBACK}"
server.port = {http_port}
server.errorlog = "{tmp}/lighttpd-error.log"
index-file.names = ( "index.html" )
auth.backend = "plain"
auth.backend.plain.userfile = "{tmp}/users"
auth.require = ( "/admin/" => ( "method" => "basic", "realm" => "Router", "require" => "valid-user" ) )
"""
    if hardened:
        (www / ".well-known").mkdir(exist_ok=True)
        (www / ".well-known" / "security.txt").write_text(
            "Contact: mailto:security@example.invalid\nExpires: 2099-01-01T00:00:00Z\n")
        conf = common + f"""
server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_redirect", "mod_setenv", "mod_openssl" )
$SERVER["socket"] == "{LOOPBACK}:{https_port}" {{
  ssl.engine = "enable"
  ssl.pemfile = "{pem}"
  ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1.2", "CipherString" => "ECDHE+AESGCM:ECDHE+CHACHA20" )
}}
$HTTP["scheme"] == "http" {{
  url.redirect = ( "" => "https://${{url.authority}}${{url.path}}${{qsa}}" )
}}
setenv.add-response-header = (
  "Strict-Transport-Security" => "max-age=31536000",
  "Content-Security-Policy" => "default-src 'self'",
  "X-Content-Type-Options" => "nosniff",
  "X-Frame-Options" => "DENY",
  "Referrer-Policy" => "no-referrer" )
"""
    else:
        conf = common + f"""
server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_status", "mod_openssl" )
status.status-url = "/server-status"
$SERVER["socket"] == "{LOOPBACK}:{https_port}" {{
  ssl.engine = "enable"
  ssl.pemfile = "{pem}"
  ssl.openssl.ssl-conf-cmd = ( "MinProtocol" => "TLSv1", "CipherString" => "ALL:@SECLEVEL=0" )
}}
"""
    (tmp / "lighttpd.conf").write_text(conf)
    return _start("lighttpd", ["lighttpd", "-D", "-f", str(tmp / "lighttpd.conf")], http_port, tmp,
                  https=https_port)


# -- mosquitto --------------------------------------------------------------------------------------

def start_mosquitto(tmp: Path, hardened: bool) -> Daemon:
    require("mosquitto", "mosquitto_passwd")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [f"listener {port} {LOOPBACK}", "persistence false", "log_dest stderr", "user root"]
    if hardened:
        pw = tmp / "mosquitto.passwd"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "device", strong_password()], check=True,
                       capture_output=True, timeout=30)
        pw.chmod(0o600)
        lines += ["allow_anonymous false", f"password_file {pw}"]
    else:
        lines += ["allow_anonymous true"]
    (tmp / "mosquitto.conf").write_text("\n".join(lines) + "\n")
    return _start("mosquitto", ["mosquitto", "-c", str(tmp / "mosquitto.conf")], port, tmp)


# -- vsftpd -----------------------------------------------------------------------------------------

def start_vsftpd(tmp: Path, hardened: bool, password: str = "") -> Daemon:
    """vsftpd in a private mount namespace whose passwd/shadow hold the ftp user and a test user."""
    require("vsftpd", "unshare", "openssl")
    tmp.mkdir(parents=True, exist_ok=True)
    root, empty = tmp / "ftproot", tmp / "empty"
    root.mkdir(exist_ok=True)
    empty.mkdir(exist_ok=True)
    (root / "readme.txt").write_text("firmware notes\n")
    for d in (tmp, root, empty):
        d.chmod(0o755)
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password or strong_password(),
                            capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    (tmp / "passwd").write_text(f"root:x:0:0:root:/root:/bin/sh\nftp:x:120:120::{root}:/usr/sbin/nologin\n"
                                f"device:x:1000:1000::{root}:/bin/sh\n")
    (tmp / "shadow").write_text(f"root:*:19000:0:99999:7:::\nftp:*:19000:0:99999:7:::\n"
                                f"device:{hashed}:19000:0:99999:7:::\n")
    (tmp / "shadow").chmod(0o600)
    port = free_port()
    conf = f"""listen=YES
listen_ipv6=NO
listen_address={LOOPBACK}
listen_port={port}
background=NO
anonymous_enable={'NO' if hardened else 'YES'}
local_enable={'YES' if hardened else 'NO'}
pam_service_name=vsftpd
write_enable=NO
anon_root={root}
secure_chroot_dir={empty}
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
pasv_enable=NO
ftp_username=ftp
delay_failed_login=1
max_login_fails=3
"""
    (tmp / "vsftpd.conf").write_text(conf)
    (tmp / "vsftpd.conf").chmod(0o600)
    script = (f"mount --bind {tmp}/passwd /etc/passwd && mount --bind {tmp}/shadow /etc/shadow && "
              f"exec vsftpd {tmp}/vsftpd.conf")
    return _start("vsftpd", ["unshare", "-m", "--propagation", "private", "sh", "-c", script], port, tmp)


# -- snmpd ------------------------------------------------------------------------------------------

def start_snmpd(tmp: Path, hardened: bool) -> Daemon:
    require("snmpd")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port(socket.SOCK_DGRAM)
    community = secrets.token_hex(12) if hardened else "public"
    (tmp / "snmpd.conf").write_text(
        f"agentAddress udp:{LOOPBACK}:{port}\nrocommunity {community} {LOOPBACK}\n"
        "sysDescr iotcop test router\nsysName test-router\n")
    (tmp / "snmp-persist").mkdir(exist_ok=True)
    env_argv = ["env", f"SNMP_PERSISTENT_DIR={tmp}/snmp-persist", "snmpd", "-f", "-Lo", "-C", "-c",
                str(tmp / "snmpd.conf"), "-p", str(tmp / "snmpd.pid")]
    return _start("snmpd", env_argv, port, tmp, udp=True)


# -- GStreamer RTSP server (a camera stream) ---------------------------------------------------------

SYSTEM_PYTHON = "/usr/bin/python3"  # has python3-gi; the project venv does not


def start_rtsp(tmp: Path, path: str, user: str = "", password: str = "") -> Daemon:
    """A live test stream at PATH; with USER and PASSWORD it needs Basic authentication."""
    require(SYSTEM_PYTHON)
    check = subprocess.run([SYSTEM_PYTHON, "-c", "import gi; gi.require_version('GstRtspServer', '1.0'); "
                            "from gi.repository import GstRtspServer"], capture_output=True, text=True, timeout=60)
    if check.returncode != 0:
        import pytest

        pytest.fail("GStreamer RTSP server bindings missing: run scripts/setup (gir1.2-gst-rtsp-server-1.0, "
                    f"python3-gi): {check.stderr.strip()[-300:]}")
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [SYSTEM_PYTHON, str(Path(__file__).with_name("rtsp_server.py")), LOOPBACK, str(port), path]
    return _start("rtsp", argv + ([user, password] if user else []), port, tmp)


# -- libcoap coap-server (plain CoAP and CoAP over DTLS) --------------------------------------------

def _coap_answers(port: int) -> bool:
    """A CoAP ping (empty CON) is answered with a reset by a listening server."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.connect((LOOPBACK, port))
        try:
            sock.send(bytes([0x40, 0x00, 0x12, 0x34]))
            return len(sock.recv(64)) >= 4
        except OSError:
            return False


def start_coap_server(tmp: Path, psk: str) -> Daemon:
    """coap-server answering plain CoAP on `port` and, with the pre-shared key, CoAP over DTLS on `port + 1`."""
    require("coap-server-openssl")
    tmp.mkdir(parents=True, exist_ok=True)
    for _ in range(20):  # two neighbouring free UDP ports
        port = free_port(socket.SOCK_DGRAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((LOOPBACK, port + 1))
            break
        except OSError:
            continue
    daemon = _start("coap-server", ["coap-server-openssl", "-A", LOOPBACK, "-p", str(port), "-k", psk, "-v", "5"],
                    port, tmp, udp=True, dtls=port + 1)
    deadline = time.monotonic() + START_TIMEOUT
    while not _coap_answers(port):
        if time.monotonic() > deadline or daemon.proc.poll() is not None:
            daemon.stop()
            raise RuntimeError(f"coap-server did not answer: {daemon.log.read_text(errors='replace')[-2000:]}")
    return daemon


# -- daemons that announce by multicast: in a private network namespace ----------------------------

# Inside the namespace a veth pair stands for the device's two sides: v0 the LAN, v1 the WAN.
NETNS_LAN, NETNS_WAN = "10.77.0.1", "10.77.1.1"
NETNS_SETUP = ("ip link set lo up && ip link add v0 type veth peer name v1 && "
               f"ip addr add {NETNS_LAN}/24 dev v0 && ip addr add {NETNS_WAN}/24 dev v1 && "
               "ip link set v0 up && ip link set v1 up")


def _start_in_netns(name: str, tmp: Path, command: str, ready: str, mounts: str = "") -> Daemon:
    """COMMAND in new network and mount namespaces (unshare -n -m); started once READY is in its log."""
    require("unshare", "nsenter", "ip")
    log = tmp / f"{name}.log"
    script = NETNS_SETUP + mounts + " && exec " + command
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["unshare", "-n", "-m", "--propagation", "private", "sh", "-c", script],
                                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=tmp)
    daemon = Daemon(name, 0, proc, log)
    deadline = time.monotonic() + START_TIMEOUT
    while ready not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            raise RuntimeError(f"{name} did not start: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.1)
    return daemon


def in_netns(daemon: Daemon, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ARGV in the daemon's network namespace (its only peer there is the daemon)."""
    return subprocess.run(["nsenter", f"--net=/proc/{daemon.proc.pid}/ns/net", *argv], capture_output=True,
                          text=True, timeout=timeout)


def start_miniupnpd(tmp: Path, allow_lan: bool = True) -> Daemon:
    """miniupnpd as a home gateway's UPnP IGD: LAN side v0 (HTTP on 5000), WAN side v1.  Without allow_lan its
    permission rules refuse every port mapping."""
    require("miniupnpd")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "miniupnpd.conf").write_text(f"""ext_ifname=v1
listening_ip=v0
http_port=5000
enable_natpmp=no
enable_upnp=yes
secure_mode=yes
system_uptime=yes
uuid=3d3cec3a-8cf0-11e0-98ee-00163e5d0a01
serial=RT0042778
model_number=4.2
friendly_name=Test Gateway
lease_file={tmp}/leases
{"allow 1024-65535 10.77.0.0/24 1024-65535" if allow_lan else ""}
deny 0-65535 0.0.0.0/0 0-65535
""")
    # the nftables chains miniupnpd adds its port mappings to (its default table and chain names)
    (tmp / "upnp.nft").write_text("""table ip filter {
  chain miniupnpd { }
  chain prerouting_miniupnpd { type nat hook prerouting priority -100; }
  chain postrouting_miniupnpd { type nat hook postrouting priority 100; }
}
""")
    return _start_in_netns("miniupnpd", tmp, f"miniupnpd -f {tmp}/miniupnpd.conf -d -P {tmp}/miniupnpd.pid",
                           ready="HTTP listening on port 5000", mounts=f" && nft -f {tmp}/upnp.nft")


AVAHI_SERVICE = """<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Test Camera</name>
  <service><type>_http._tcp</type><port>80</port><txt-record>model=CAM-100</txt-record></service>
  <service><type>_rtsp._tcp</type><port>554</port><txt-record>path=/stream1</txt-record></service>
</service-group>
"""


def start_avahi(tmp: Path, publish_services: bool) -> Daemon:
    """avahi-daemon without D-Bus on the LAN side v0, with or without static services (Debian's service files
    folder is replaced by a test one, and /run by a tmpfs, in the daemon's own mount namespace)."""
    require("avahi-daemon")
    tmp.mkdir(parents=True, exist_ok=True)
    services = tmp / "services"
    services.mkdir(exist_ok=True)
    if publish_services:
        (services / "camera.service").write_text(AVAHI_SERVICE)
    (tmp / "avahi-daemon.conf").write_text("""[server]
host-name=test-camera
domain-name=local
use-ipv4=yes
use-ipv6=no
allow-interfaces=v0
enable-dbus=no
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
""")
    mounts = (f" && mount --bind {services} /etc/avahi/services && mount -t tmpfs tmpfs /run"
              " && mkdir /run/avahi-daemon")
    ready = "successfully established" if publish_services else "Server startup complete"
    return _start_in_netns("avahi", tmp, f"avahi-daemon -f {tmp}/avahi-daemon.conf --no-drop-root --no-chroot "
                           "--no-rlimits --debug", ready=ready, mounts=mounts)
