"""comms.*: plaintext admin web servers, MQTT, SNMP, TLS verification off, weak TLS, self-signed certificates."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from boot_trees import APPLETS, busybox, manager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from iotcop.checks.comms.plaintext import (
    HttpAdmin,
    MqttPlaintext,
    SnmpCommunity,
    mosquitto_listeners,
)
from iotcop.checks.comms.tls import (
    SelfSignedCertificate,
    TlsVerificationDisabled,
    WeakTlsConfig,
    weak_ciphers,
)
from iotcop.checks.runner import run_check_inline
from iotcop.firmware.inventory import inventory_tree


def make_tree(root: Path, files: dict) -> Path:
    for rel, content in files.items():
        target = root / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        if rel.startswith(("usr/sbin/", "etc/init.d/")):
            os.chmod(target, 0o755)
    return root


def run(cls, root: Path, files: dict):
    result = run_check_inline(cls, inventory_tree(make_tree(root, files)))
    assert result.status == "ran", result.error
    return result


LIGHTTPD_ADMIN = (
    'server.modules = ( "mod_access", "mod_auth", "mod_authn_file", "mod_cgi" )\n'
    'server.document-root = "/www"\nserver.port = 80\n'
    'auth.backend = "htpasswd"\nauth.backend.htpasswd.userfile = "/etc/lighttpd/.htpasswd"\n'
    'auth.require = ( "/admin/" => ( "method" => "basic", "realm" => "R", "require" => "valid-user" ) )\n'
    'cgi.assign = ( ".cgi" => "" )\n'
)
LIGHTTPD_STATIC = 'server.modules = ( "mod_access" )\nserver.document-root = "/www"\nserver.port = 80\n'
LIGHTTPD_TLS = LIGHTTPD_ADMIN.replace("server.port = 80", 'server.port = 443\nssl.engine = "enable"\nssl.pemfile = "/etc/lighttpd/server.pem"')
LIGHTTPD_REDIRECT = (LIGHTTPD_ADMIN.replace('"mod_cgi"', '"mod_cgi", "mod_openssl", "mod_redirect"')
                     + '$SERVER["socket"] == ":443" { ssl.engine = "enable"\n  ssl.pemfile = "/etc/lighttpd/server.pem" }\n'
                     + 'url.redirect = ( "^/(.*)" => "https://%0/$1" )\n')
UHTTPD = ("config uhttpd 'main'\n\tlist listen_http '0.0.0.0:80'\n\tlist listen_https '0.0.0.0:443'\n"
          "\toption home '/www'\n\toption cgi_prefix '/cgi-bin'\n\toption redirect_https '{r}'\n")
NGINX = "server {{\n  listen {listen};\n  location / {{ fastcgi_pass unix:/var/run/fcgi.sock; auth_basic \"admin\"; }}\n{extra}}}\n"
LIGHTTPD_BIN = {"usr/sbin/lighttpd": b"\x7fELF"}
# BusyBox init that runs /etc/init.d/S* (servers the checks judge by their start must be started)
BOOT = {"etc/inittab": "::sysinit:/etc/init.d/rcS\n", "etc/init.d/rcS": "#!/bin/sh\nfor s in /etc/init.d/S*; do $s start; done\n",
        "usr/sbin/httpd": busybox(sorted([*APPLETS, "httpd"]))}

HTTP_FIRE = {
    "lighttpd-auth-cgi": ({"etc/lighttpd/lighttpd.conf": LIGHTTPD_ADMIN, **LIGHTTPD_BIN}, "high"),
    "uhttpd-no-redirect": ({"etc/config/uhttpd": UHTTPD.format(r="0")}, "medium"),
    "nginx-plain": ({"etc/nginx/nginx.conf": NGINX.format(listen="80", extra="")}, "high"),
    "boa": ({"etc/boa/boa.conf": "Port 80\nDocumentRoot /www\nScriptAlias /cgi-bin/ /www/cgi-bin/\n", "usr/sbin/boa": b"\x7fELF"}, "medium"),
    "busybox-httpd": ({**BOOT, "etc/init.d/S80httpd": "#!/bin/sh\nhttpd -p 80 -h /www\n", "www/cgi-bin/login.cgi": "#!/bin/sh\n",
                       "etc/httpd.conf": "/cgi-bin:admin:admin\n"}, "high"),
}
HTTP_QUIET = {
    "lighttpd-static": {"etc/lighttpd/lighttpd.conf": LIGHTTPD_STATIC, **LIGHTTPD_BIN},
    "lighttpd-tls": {"etc/lighttpd/lighttpd.conf": LIGHTTPD_TLS, **LIGHTTPD_BIN},
    "lighttpd-redirect": {"etc/lighttpd/lighttpd.conf": LIGHTTPD_REDIRECT, **LIGHTTPD_BIN},
    "lighttpd-config-without-server": {"etc/lighttpd/lighttpd.conf": LIGHTTPD_ADMIN},
    "uhttpd-redirect": {"etc/config/uhttpd": UHTTPD.format(r="1")},
    "nginx-ssl": {"etc/nginx/nginx.conf": NGINX.format(listen="443 ssl", extra="")},
    "nginx-redirect": {"etc/nginx/nginx.conf": "server {\n  listen 80;\n  return 301 https://$host$request_uri;\n}\n"},
    "busybox-httpd-static": {**BOOT, "etc/init.d/S80httpd": "#!/bin/sh\nhttpd -p 80 -h /www\n", "www/index.html": "hi"},
    "busybox-httpd-not-started": {"etc/init.d/httpd.off": "#!/bin/sh\nhttpd -p 80 -h /www\n", "www/cgi-bin/login.cgi": "#!/bin/sh\n",
                                  "etc/httpd.conf": "/cgi-bin:admin:admin\n", **BOOT},
}


@pytest.mark.parametrize("name", sorted(HTTP_FIRE))
def test_http_admin_fires(tmp_path, name):
    files, severity = HTTP_FIRE[name]
    found = run(HttpAdmin, tmp_path, files).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert found[0].severity.value == severity
    assert ("5.1-3" in found[0].provisions) == (severity == "high")


@pytest.mark.parametrize("name", sorted(HTTP_QUIET))
def test_http_admin_stays_quiet(tmp_path, name):
    assert run(HttpAdmin, tmp_path, HTTP_QUIET[name]).findings == []


@pytest.mark.skipif(shutil.which("lighttpd") is None, reason="lighttpd is not installed")
@pytest.mark.parametrize("conf", [LIGHTTPD_ADMIN, LIGHTTPD_STATIC, LIGHTTPD_REDIRECT])
def test_lighttpd_fixtures_are_configurations_lighttpd_accepts(tmp_path, conf):
    (tmp_path / "www").mkdir()
    path = tmp_path / "lighttpd.conf"
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "server.pem").write_bytes(_key(key) + _cert(key, "localhost"))
    path.write_text(conf.replace('"/www"', f'"{tmp_path / "www"}"').replace("/etc/lighttpd/server.pem", str(tmp_path / "server.pem")))
    proc = subprocess.run(["lighttpd", "-tt", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


MQTT_FIRE = {
    "listener-anonymous": ("listener 1883\nallow_anonymous true\n", "high", False),
    "port-password": ("port 1883\npassword_file /etc/mosquitto/passwd\n", "high", True),
    "plain-plus-tls": ("listener 8883\ncertfile /etc/c.pem\nkeyfile /etc/k.pem\nlistener 1883 0.0.0.0\n", "medium", False),
    "websockets": ("listener 9001\nprotocol websockets\n", "medium", False),
}
MQTT_QUIET = {
    "debian-default": "pid_file /run/mosquitto/mosquitto.pid\npersistence true\nlog_dest file /var/log/mosquitto/mosquitto.log\ninclude_dir /etc/mosquitto/conf.d\n",
    "tls-only": "listener 8883\ncafile /etc/ca.pem\ncertfile /etc/c.pem\nkeyfile /etc/k.pem\n",
    "loopback": "listener 1883 127.0.0.1\nallow_anonymous true\n",
    "commented": "#listener 1883\n",
}


@pytest.mark.parametrize("name", sorted(MQTT_FIRE))
def test_mqtt_plaintext_fires(tmp_path, name):
    conf, severity, auth = MQTT_FIRE[name]
    found = run(MqttPlaintext, tmp_path, {"etc/mosquitto/mosquitto.conf": conf}).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert found[0].severity.value == severity and ("5.1-3" in found[0].provisions) == auth


@pytest.mark.parametrize("name", sorted(MQTT_QUIET))
def test_mqtt_plaintext_stays_quiet(tmp_path, name):
    assert run(MqttPlaintext, tmp_path, {"etc/mosquitto/mosquitto.conf": MQTT_QUIET[name]}).findings == []


def test_mosquitto_listener_parsing_inherits_global_auth():
    lst = mosquitto_listeners("password_file /p\nlistener 1883\nlistener 8883\ncertfile /c\n")
    assert [(x["port"], x["tls"], x["password_file"]) for x in lst] == [("1883", False, True), ("8883", True, True)]


SNMP_FIRE = {
    "rocommunity-public": ({"etc/snmp/snmpd.conf": "rocommunity public default\n"}, "high"),
    "rwcommunity-custom": ({"etc/snmp/snmpd.conf": "rwcommunity Xy7!kq 10.0.0.0/8\n"}, "high"),
    "com2sec": ({"etc/snmp/snmpd.conf": "com2sec readonly default s3cretcomm\n"}, "medium"),
    "uci": ({"etc/config/snmpd": "config com2sec public\n\toption secname ro\n\toption source default\n\toption community public\n"}, "high"),
    "mini_snmpd": ({**BOOT, "etc/init.d/S90snmp": "#!/bin/sh\nmini_snmpd -c private -D router\n",
                    "usr/sbin/mini_snmpd": manager("mini_snmpd")}, "high"),
}
SNMP_QUIET = {
    "v3-only": {"etc/snmp/snmpd.conf": "createUser admin SHA authpass12 AES privpass12\nrouser admin priv\n"},
    "commented": {"etc/snmp/snmpd.conf": "# rocommunity public\n"},
}


@pytest.mark.parametrize("name", sorted(SNMP_FIRE))
def test_snmp_community_fires(tmp_path, name):
    files, severity = SNMP_FIRE[name]
    found = run(SnmpCommunity, tmp_path, files).findings
    assert len(found) == 1, [f.evidence for f in found]
    assert found[0].severity.value == severity


@pytest.mark.parametrize("name", sorted(SNMP_QUIET))
def test_snmp_community_stays_quiet(tmp_path, name):
    assert run(SnmpCommunity, tmp_path, SNMP_QUIET[name]).findings == []


INSECURE_FIRE = {
    "curl-k": ("usr/sbin/fetch-update", "#!/bin/sh\ncurl -sk https://update.example.invalid/fw.bin -o /tmp/fw.bin\n"),
    "curl-insecure": ("usr/sbin/fetch-update", "#!/bin/sh\ncurl --insecure -o /tmp/x https://example.invalid/x\n"),
    "wget": ("usr/sbin/fetch-update", "#!/bin/sh\nwget --no-check-certificate -O /tmp/fw https://example.invalid/fw\n"),
    "uclient-fetch": ("usr/sbin/fetch-update", "#!/bin/sh\nuclient-fetch --no-check-certificate -O /tmp/fw https://e.invalid/fw\n"),
    "python": ("usr/share/app/cloud.py", "import requests\nrequests.get('https://api.example.invalid', verify=False)\n"),
    "node": ("usr/share/app/agent.js", "const agent = new https.Agent({ rejectUnauthorized: false });\n"),
    "c-source": ("usr/share/app/client.c", "SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);\n"),
    "curlopt": ("usr/share/app/up.php", "curl_setopt($ch, CURLOPT_SSL_VERIFYPEER, 0);\n"),
    "mosquitto-bridge": ("etc/mosquitto/conf.d/bridge.conf", "connection cloud\naddress cloud.example.invalid:8883\nbridge_insecure true\n"),
    "binary-command": ("usr/bin/updater", b"\x7fELF" + b"\x00" * 60 + b"wget --no-check-certificate -q -O /tmp/fw %s\x00"),
}
INSECURE_QUIET = {
    "curl-normal": ("usr/sbin/fetch", "#!/bin/sh\ncurl -fsSL https://example.invalid/x -o /tmp/x\n"),
    "curl-cacert": ("usr/sbin/fetch", "#!/bin/sh\ncurl --cacert /etc/ssl/ca.pem -o /tmp/k https://e.invalid/k\n"),
    "comment": ("usr/sbin/fetch", "#!/bin/sh\n# never use curl -k here\n"),
    "verify-true": ("usr/share/app/cloud.py", "requests.get(url, verify=True)\n"),
    "curl-binary-help": ("usr/bin/curl", b"\x7fELF" + b"\x00" * 60 + b" -k, --insecure  Allow insecure server connections\x00"),
    "stdlib": ("usr/lib/python3.11/ssl.py", "context.check_hostname = False\n"),
}


@pytest.mark.parametrize("name", sorted(INSECURE_FIRE))
def test_tls_verification_disabled_fires(tmp_path, name):
    path, content = INSECURE_FIRE[name]
    found = run(TlsVerificationDisabled, tmp_path, {path: content}).findings
    assert len(found) == 1, [f.evidence for f in found]


@pytest.mark.parametrize("name", sorted(INSECURE_QUIET))
def test_tls_verification_disabled_stays_quiet(tmp_path, name):
    path, content = INSECURE_QUIET[name]
    assert run(TlsVerificationDisabled, tmp_path, {path: content}).findings == []


WEAK_FIRE = {
    "lighttpd-sslv3": ("etc/lighttpd/lighttpd.conf", 'ssl.engine = "enable"\nssl.use-sslv3 = "enable"\n'),
    "lighttpd-rc4": ("etc/lighttpd/lighttpd.conf", 'ssl.cipher-list = "RC4-SHA:AES128-GCM-SHA256"\n'),
    "lighttpd-minprotocol": ("etc/lighttpd/conf-enabled/10-ssl.conf", 'ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1")\n'),
    "nginx-protocols": ("etc/nginx/nginx.conf", "ssl_protocols TLSv1 TLSv1.1 TLSv1.2;\n"),
    "nginx-ciphers": ("etc/nginx/conf.d/ssl.conf", "ssl_ciphers EXP-RC4-MD5:HIGH;\n"),
    "stunnel": ("etc/stunnel/stunnel.conf", "[https]\naccept = 443\nsslVersion = SSLv3\n"),
    "mosquitto": ("etc/mosquitto/mosquitto.conf", "listener 8883\ncertfile /c\ntls_version tlsv1\n"),
    "uhttpd-bits": ("etc/config/uhttpd", "config cert 'defaults'\n\toption bits '1024'\n"),
}
WEAK_QUIET = {
    "nginx-modern": ("etc/nginx/nginx.conf", "ssl_protocols TLSv1.2 TLSv1.3;\nssl_ciphers ECDHE+AESGCM:!RC4:!DES:!aNULL:!MD5;\n"),
    "lighttpd-modern": ("etc/lighttpd/lighttpd.conf", 'ssl.openssl.ssl-conf-cmd = ("MinProtocol" => "TLSv1.2", "CipherString" => "EECDH+AESGCM:!aNULL")\n'),
    "mosquitto-12": ("etc/mosquitto/mosquitto.conf", "listener 8883\ncertfile /c\ntls_version tlsv1.2\n"),
    "uhttpd-2048": ("etc/config/uhttpd", "config cert 'defaults'\n\toption bits '2048'\n"),
    "commented": ("etc/nginx/nginx.conf", "# ssl_protocols SSLv3;\n"),
}


@pytest.mark.parametrize("name", sorted(WEAK_FIRE))
def test_weak_tls_fires(tmp_path, name):
    path, content = WEAK_FIRE[name]
    found = run(WeakTlsConfig, tmp_path, {path: content}).findings
    assert len(found) == 1, [f.evidence for f in found]


@pytest.mark.parametrize("name", sorted(WEAK_QUIET))
def test_weak_tls_stays_quiet(tmp_path, name):
    path, content = WEAK_QUIET[name]
    assert run(WeakTlsConfig, tmp_path, {path: content}).findings == []


def test_weak_cipher_tokens_honour_exclusions():
    assert weak_ciphers("HIGH:!RC4:-DES:!aNULL") == []
    assert weak_ciphers("AES128-SHA:DES-CBC3-SHA:+RC4") == ["DES-CBC3-SHA", "+RC4"]


def _cert(key, cn, issuer_key=None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")]) if issuer_key else name
    now = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key()).serial_number(3)
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365)).sign(issuer_key or key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM))


def _key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_self_signed_certificate_with_key_fires_and_without_key_does_not(tmp_path):
    served, anchor, ca = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    leaf = ec.generate_private_key(ec.SECP256R1())
    found = run(SelfSignedCertificate, tmp_path, {
        "etc/ssl/certs/server.crt": _cert(served, "router.lan"),
        "etc/ssl/private/server.key": _key(served),
        "etc/ssl/certs/vendor-ca.crt": _cert(anchor, "Vendor Root"),  # trust anchor, key not shipped
        "etc/ssl/certs/leaf.crt": _cert(leaf, "leaf", issuer_key=ca),  # issued by a CA, key shipped
        "etc/ssl/private/leaf.key": _key(leaf),
    }).findings
    assert [f.evidence.path for f in found] == ["/etc/ssl/certs/server.crt"]
    assert "/etc/ssl/private/server.key" in found[0].evidence.detail


def test_self_signed_certificate_ignores_encrypted_key(tmp_path):
    served = ec.generate_private_key(ec.SECP256R1())
    encrypted = served.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"pw"))
    found = run(SelfSignedCertificate, tmp_path, {"etc/ssl/certs/s.crt": _cert(served, "x"), "etc/ssl/private/s.key": encrypted}).findings
    assert found == []


def test_http_admin_reads_the_template_a_started_server_is_configured_from(tmp_path):
    script = ("#!/bin/sh\nmkdir -p /var/web\nsed -e 's/@PORT@/8080/' /etc/web/lighttpd.conf.tpl > /var/web/lighttpd.conf\n"
              "/usr/sbin/lighttpd -f /var/web/lighttpd.conf\n")
    template = LIGHTTPD_ADMIN.replace("server.port = 80", "server.port = @PORT@")
    files = {**BOOT, "etc/init.d/S70web": script, "etc/web/lighttpd.conf.tpl": template, **LIGHTTPD_BIN}
    (found,) = run(HttpAdmin, tmp_path / "started", files).findings
    assert found.evidence.path == "/etc/web/lighttpd.conf.tpl" and found.severity.value == "high"
    assert "built at boot from /etc/web/lighttpd.conf.tpl" in found.evidence.detail
    assert "/etc/init.d/S70web:4" in found.evidence.detail
    # the same template with no server started from it is not judged
    files["etc/init.d/S70web"] = "#!/bin/sh\nsed -e 's/@PORT@/8080/' /etc/web/lighttpd.conf.tpl > /var/web/lighttpd.conf\n"
    assert run(HttpAdmin, tmp_path / "idle", files).findings == []


def test_nginx_serving_its_https_site_also_on_plain_http_fires_at_the_listen_line(tmp_path):
    conf = ("http {\n  server {\n    listen 80;\n    location / { root /srv/ui; }\n  }\n"
            "  server {\n    listen 443 ssl;\n    ssl_certificate /c.pem;\n    location / { root /srv/ui; }\n  }\n"
            "  server {\n    listen 8080;\n    location / { root /srv/other; }\n  }\n}\n")
    (found,) = run(HttpAdmin, tmp_path, {"etc/nginx/nginx.conf": conf}).findings
    assert (found.evidence.line, found.severity.value) == (3, "medium")
    assert "the web root its HTTPS server serves (/srv/ui)" in found.evidence.detail
