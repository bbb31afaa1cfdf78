"""The probe checks: what each live observation means for EN 303 645.

A probe check is a Check-like item (ID, VERSION, SEVERITY, DOC) that is fed by the service probes
instead of by a firmware image.  Like a firmware check, its provisions are its row in
standards/data/mapping/ (probe.yaml), read as PROVISIONS and validated at start-up.

Each probe check becomes one CheckRun (source "device") in the assessment: status "ran" when it
examined every service it applies to, "timeout" when the time budget stopped it, "skipped" when the
device could not be reached.  Provisions informed only by probes thus become NOT_TESTED when the probe
could not run, and a probe that ran and found nothing leaves them INCONCLUSIVE, never PASS.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from iotcop.checks.base import CheckDoc
from iotcop.model import Severity
from iotcop.standards.catalogue import load_catalogue
from iotcop.standards.mapping import mapping, provisions_of, validate_mapping


@dataclass(frozen=True)
class ProbeCheck:
    ID: str
    SEVERITY: Severity
    DOC: CheckDoc
    VERSION: str = "1.0.0"
    NEEDS_FIRMWARE: bool = False  # True: only meaningful with `iotcop scan FW --device HOST`
    STEP: str | None = None  # an optional step that adds the run when asked for ("outage": probe --outage)

    @property
    def PROVISIONS(self) -> tuple[str, ...]:  # noqa: N802 - read like a firmware check's PROVISIONS
        return provisions_of(self.ID)


PROBE_CHECKS: tuple[ProbeCheck, ...] = (
    ProbeCheck(
        "probe.default-credentials", Severity.critical,
        CheckDoc(
            title="A network login accepts a publicly known default credential",
            why="Anyone on the network can log in with a password published in default-credential lists; "
                "Mirai-style botnets do exactly this.",
            fix="Use a password unique to each device or set by the user before network services start.",
            limitations="Only a short list of the most common pairs is tried, a few per service.",
        ),
    ),
    ProbeCheck(
        "probe.snmp-community", Severity.high,
        CheckDoc(
            title="The SNMP agent answers a default community string",
            why="'public' and 'private' are universal default passwords; SNMP then discloses the device's "
                "configuration (and with 'private' may change it).",
            fix="Disable SNMP v1/v2c or use a per-device community; prefer SNMPv3 with authentication.",
        ),
    ),
    ProbeCheck(
        "probe.unauthenticated-access", Severity.high,
        CheckDoc(
            title="A service gives access without authentication",
            why="Anonymous FTP, anonymous MQTT, unauthenticated RTSP streams, CoAP resource directories over plain "
                "UDP and open status pages disclose security-relevant information; MQTT lets anyone publish commands "
                "and an open UPnP port-forwarding control lets anyone on the network open the gateway's firewall.",
            fix="Require authentication on every network service (CoAP over DTLS, RTSP with credentials), disable UPnP "
                "port forwarding or restrict it, or remove the service.",
            limitations="RTSP: the root and ten common camera stream paths are described, no other path. UPnP: the "
                        "control is shown open by a read-only GetStatusInfo; no port mapping is added, so a device "
                        "that allows reads but refuses changes is still reported.",
        ),
        VERSION="1.1.0",
    ),
    ProbeCheck(
        "probe.http-plaintext-auth", Severity.high,
        CheckDoc(
            title="Web login over plain HTTP without a redirect to HTTPS",
            why="Credentials and session tokens cross the network in clear text.",
            fix="Serve the interface over HTTPS only and redirect plain HTTP to it.",
        ),
    ),
    ProbeCheck(
        "probe.unauthenticated-functions", Severity.high,
        CheckDoc(
            title="A web function of the firmware answers without authentication",
            why="CGI programs and API endpoints the firmware serves give access to device functions; answering "
                "them without a login lets anyone on the network use them.",
            fix="Require authentication for every handler except the login page itself.",
            limitations="Only the firmware's web roots (/www, /var/www, cgi-bin ...) are read; each handler gets one GET "
                        "without parameters; handlers whose name suggests a state change (reboot, reset, upgrade ...) "
                        "are not requested; at most 30 per service and 60 in all.",
        ),
        NEEDS_FIRMWARE=True,
    ),
    ProbeCheck(
        "probe.authenticated-access", Severity.medium,
        CheckDoc(
            title="A web function refuses the valid test credentials",
            why="Authentication that does not let the legitimate user in is broken: users then look for ways around "
                "it, and the manufacturer for ways to switch it off.",
            fix="Make every protected function accept the credentials of an authorised user.",
            limitations="Only with scan --device-credentials; HTTP Basic only; at most 10 functions.",
        ),
        NEEDS_FIRMWARE=True,
    ),
    ProbeCheck(
        "probe.input-validation", Severity.high,
        CheckDoc(
            title="A web handler of the firmware mishandles malformed input",
            why="A handler that passes what it is sent to a shell or to a file path, or fails on it, lets anyone who "
                "can reach it run commands, read files or crash it; validated input is refused.",
            fix="Check every request parameter against what it may hold (type, length, allowed characters) and refuse "
                "the rest with an error, before it reaches a command, a path or a buffer.",
            limitations="Only script handlers of the firmware's web roots whose source shows they change nothing (no "
                        "configuration or file write, no service, network, account or download command) and that "
                        "accept a benign value; GET only, at most 3 parameters, 6 handlers and 60 requests; the "
                        "shell value runs only echo if a handler executes it.  Compiled handlers are not tried.",
        ),
        NEEDS_FIRMWARE=True,
    ),
    ProbeCheck(
        "probe.unauthenticated-config", Severity.high,
        CheckDoc(
            title="A configuration change is accepted without authentication",
            why="Anyone on the network can change security-relevant settings: a UPnP gateway that adds a port "
                "mapping for any caller opens its firewall to the Internet.",
            fix="Require authentication for configuration changes, or disable UPnP port forwarding.",
            limitations="Tried with UPnP IGD AddPortMapping for the prober's own address only (one port, 60 s lease, "
                        "deleted at once); a refusal counts only as SOAP error 606 or HTTP 401/403.",
        ),
    ),
    ProbeCheck(
        "probe.plaintext-login", Severity.high,
        CheckDoc(
            title="A login service without encryption is open",
            why="Telnet, and FTP without AUTH TLS, carry the user name and password in clear text: an open one is "
                "itself a channel that does not use best-practice cryptography.",
            fix="Remove telnet; serve files over SFTP or FTPS (AUTH TLS); administer over SSH or HTTPS.",
            limitations="FTP counts as encrypted when its FEAT answer lists AUTH TLS; whether a client is forced to "
                        "use it is not tried.",
        ),
    ),
    ProbeCheck(
        "probe.tls-config", Severity.medium,
        CheckDoc(
            title="Weak TLS configuration",
            why="TLS 1.0/1.1, weak cipher suites, expired certificates or short keys make the encrypted "
                "channel breakable or teach users to click through warnings.",
            fix="Accept TLS 1.2 and 1.3 only with AEAD cipher suites; use a 2048-bit RSA or EC key and a "
                "certificate that is valid.",
            limitations="Only protocol versions the local OpenSSL can still speak are tested.",
        ),
    ),
    ProbeCheck(
        "probe.ssh-weak-algorithms", Severity.medium,
        CheckDoc(
            title="The SSH server offers broken algorithms",
            why="SHA-1 Diffie-Hellman group 1, DSA host keys, CBC/arcfour ciphers and MD5 MACs are broken "
                "or deprecated.",
            fix="Offer only curve25519/ecdh key exchange, ed25519/ecdsa/rsa-sha2 host keys and AEAD or CTR "
                "ciphers with SHA-2 MACs.",
        ),
    ),
    ProbeCheck(
        "probe.bruteforce-protection", Severity.medium,
        CheckDoc(
            title="No protection against password guessing",
            why="Without a delay or a lockout after failed logins, a password can be guessed at network speed.",
            fix="Delay each failed login increasingly or lock the account or source out after a few failures.",
            limitations="Judged from the few failed default-credential tries only.",
        ),
    ),
    ProbeCheck(
        "probe.service-correlation", Severity.high,
        CheckDoc(
            title="A network service on the device is not accounted for by its firmware",
            why="Every exposed interface is attack surface; one the firmware does not start (or the manufacturer "
                "does not declare) is unexplained, and an insecure one the firmware starts is confirmed reachable.",
            fix="Disable interfaces that are not needed, and declare the ones that are.",
            limitations="Services are matched by kind (telnet, ssh, http ...), not by port: a port set at run time "
                        "is not known from the image.  The firmware side is the boot model's starts, including "
                        "those behind switches and command lines inside vendor programs (each row says how sure).",
        ),
        VERSION="2.0.0",
        NEEDS_FIRMWARE=True,
    ),
    ProbeCheck(
        "probe.outage-local-function", Severity.medium,
        CheckDoc(
            title="The device's local functions during a network outage",
            why="A device that stops serving its local interface when its Internet link or DNS fails leaves the user "
                "without control exactly when the network is down.",
            fix="Keep local functions independent of cloud connectivity.",
            limitations="Only with probe --outage on a test network the user controls (iotcop on the device's "
                        "gateway); local functions are the TCP services the probe found, checked by connecting.",
        ),
        STEP="outage",
    ),
    ProbeCheck(
        "probe.outage-recovery", Severity.medium,
        CheckDoc(
            title="The device's recovery after a network outage",
            why="After the link or DNS comes back the device must work again on its own: answer locally and "
                "re-establish its connections to its services.",
            fix="Retry connections with back-off and keep local services running through outages.",
            limitations="Watched for the recovery window only (--recovery-seconds); connections are judged from a "
                        "capture when --capture-interface is given.",
        ),
        STEP="outage",
    ),
    ProbeCheck(
        "probe.power-recovery", Severity.medium,
        CheckDoc(
            title="The device's recovery after a power loss",
            why="After a power cut the device must come back on its own, serve locally and reconnect, without the "
                "user setting it up again.",
            fix="Keep configuration in persistent storage and start every service and connection at boot.",
            limitations="Only with probe --outage power and the user's --power-off/--power-on commands (a switched "
                        "socket or bench supply); recovery is judged by the TCP services answering again, and with a "
                        "capture by the device's connections coming back.",
        ),
        STEP="outage",
    ),
    ProbeCheck(
        "probe.model-designation", Severity.low,
        CheckDoc(
            title="The device announces a model designation other than the declared one",
            why="The model designation lets a user find the support period and the updates that apply; the "
                "device and its documentation must name the same model.",
            fix="Announce the model designation printed on the label and declared (UPnP modelName, mDNS TXT).",
            limitations="Only UPnP descriptions and mDNS TXT records are read; the label itself needs a person.",
        ),
        STEP="declaration",
    ),
    ProbeCheck(
        "probe.security-txt", Severity.info,
        CheckDoc(
            title="The device publishes a vulnerability disclosure contact",
            why="/.well-known/security.txt (RFC 9116) tells researchers where to report issues.",
            fix="Publish /.well-known/security.txt with a Contact line.",
            limitations="Positive evidence only: a missing file does not show that no policy exists.",
        ),
    ),
)


def get_probe_check(check_id: str) -> ProbeCheck:
    for check in PROBE_CHECKS:
        if check.ID == check_id:
            return check
    raise KeyError(check_id)


@functools.cache
def probe_checks() -> tuple[ProbeCheck, ...]:
    """Every probe check, validated against its mapping rows."""
    validate_mapping(mapping(), PROBE_CHECKS, load_catalogue(), prefix="probe.")
    return PROBE_CHECKS
