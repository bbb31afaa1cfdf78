"""Fuzz targets: one function per parser, taking arbitrary bytes.

A target returns normally or raises one of the errors its parser documents for bad input
(ElfError, SquashFSError, DeclarationError ...).  Anything else escaping is a bug.  The same
targets run under hypothesis in the test suite (tests/hostile/test_fuzz_parsers.py) and under
atheris for long runs (fuzz/run).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from iotcop.firmware.model import FileEntry, Firmware

TARGETS: dict[str, Callable[[bytes], None]] = {}
# Expected error types per target (bad input is reported, not a crash).
EXPECTED: dict[str, tuple[type[BaseException], ...]] = {}


def target(name: str, *expected: type[BaseException]):
    def register(fn):
        TARGETS[name] = fn
        EXPECTED[name] = expected
        return fn
    return register


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _entry(path: str) -> FileEntry:
    return FileEntry(path=path, host_path=Path("/nonexistent"), kind="file", size=0, mode=0o644, uid=0, gid=0,
                     root="rootfs")


_EMPTY_FW = Firmware(work_dir=Path("/nonexistent"), roots=["rootfs"], entries=[])


@target("accounts")
def fuzz_accounts(data: bytes) -> None:
    """passwd, shadow, htpasswd, htdigest, lighttpd and mosquitto password stores, and hashes in binaries."""
    from iotcop.checks.credentials import accounts

    text = _text(data)
    for path, kind in (("/etc/passwd", "passwd"), ("/etc/shadow", "shadow"), ("/www/.htpasswd", "htpasswd"),
                       ("/etc/lighttpd.user", "plain"), ("/etc/htdigest", "htdigest"),
                       ("/etc/mosquitto/passwd", "mosquitto")):
        for account in accounts._parse_store(_entry(path), kind, text):
            account.scheme, account.kind, account.has_password_hash, account.login_disabled  # noqa: B018
            account.matches("admin")
    accounts._scan_embedded(_entry("/bin/login"), data)


@target("boot")
def fuzz_boot(data: bytes) -> None:
    """The boot model on a tree whose inittab, rcS, inetd.conf, crontab and systemd unit hold the input."""
    from iotcop.boot import build_boot_model, formats, shell
    from iotcop.firmware.inventory import inventory_tree

    text = _text(data)
    try:
        shell.parse(text)
    except shell.ParseLimit:
        pass
    formats.parse_unit("x.service", "/lib/systemd/system/x.service", text)
    formats.parse_upstart(text)
    formats.parse_uci(text, "system")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "rootfs"
        for path in ("etc/inittab", "etc/init.d/rcS", "etc/inetd.conf", "etc/crontabs/root",
                     "lib/systemd/system/x.service"):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        (root / "etc/init.d/rcS").chmod(0o755)
        build_boot_model(inventory_tree(root)).report_view()


@target("securitytxt")
def fuzz_securitytxt(data: bytes) -> None:
    from iotcop.declaration import securitytxt

    result = securitytxt.SecurityTxtResult(source="fuzz")
    securitytxt._check_text(result, _text(data), dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
    result.to_dict()
    securitytxt.policy_promises(_text(data))


def _declaration_errors():
    from iotcop.declaration.load import DeclarationError

    return (DeclarationError,)


@target("declaration", *_declaration_errors())
def fuzz_declaration(data: bytes) -> None:
    """The declaration loader and validator (YAML and JSON)."""
    from iotcop.declaration.load import parse_text
    from iotcop.declaration.validate import check_parsed, to_declaration

    for json_syntax in (False, True):
        try:
            parsed = parse_text(_text(data), "decl.yaml", json_syntax=json_syntax)
        except EXPECTED["declaration"]:
            continue
        errors, _ = check_parsed(parsed)
        if not errors:
            to_declaration(parsed)


@target("vuln-feeds", ValueError)
def fuzz_vuln_feeds(data: bytes) -> None:
    """NVD, CVE 5, OSV, Alpine secdb and vulndata documents (the importers' detect_and_parse)."""
    from iotcop.vulns.importers import detect_and_parse

    for name in ("feed.json", "feed.yaml"):
        try:
            for record in detect_and_parse(name, data):
                record.id  # noqa: B018
        except EXPECTED["vuln-feeds"]:
            pass


@target("packages")
def fuzz_packages(data: bytes) -> None:
    """dpkg/opkg status files and BusyBox applet tables (SBOM sources)."""
    from iotcop.sbom.busybox import applet_table
    from iotcop.sbom.packages import parse_control_stanzas

    list(parse_control_stanzas(_text(data)))
    applet_table(data)


def _elf_errors():
    from iotcop.firmware.elf import ElfError

    return (ElfError,)


@target("elf", *_elf_errors())
def fuzz_elf(data: bytes) -> None:
    from iotcop.firmware.elf import parse_elf

    try:
        parse_elf(data)
    except EXPECTED["elf"]:
        pass


def _format_errors():
    from iotcop.formats.fdt import FDTError
    from iotcop.formats.tplink import TPLinkError
    from iotcop.formats.trx import TRXError
    from iotcop.formats.uimage import UImageError

    return (FDTError, TPLinkError, TRXError, UImageError)


@target("uimage-fit-trx", *_format_errors())
def fuzz_containers(data: bytes) -> None:
    """uImage (strict and lenient), device tree / FIT, TRX and TP-Link headers."""
    from iotcop.formats import fdt, fit, tplink, trx, uimage

    for parse in (lambda d: uimage.parse(d, strict=False).summary(), lambda d: uimage.parse(d).summary(),
                  fdt.parse, fit.images, fit.fit_summary, lambda d: trx.parse(d).summary(),
                  lambda d: tplink.parse(d).summary()):
        try:
            parse(data)
        except EXPECTED["uimage-fit-trx"]:
            pass


def _squashfs_errors():
    from iotcop.formats.squashfs.errors import SquashFSError

    return (SquashFSError,)


@target("squashfs", *_squashfs_errors())
def fuzz_squashfs(data: bytes) -> None:
    """The project's SquashFS reader, writing into a throw-away folder with an output bound."""
    from iotcop.formats.squashfs.unpack import extract

    scratch = Path(tempfile.mkdtemp(prefix="fuzz-sqfs-"))
    try:
        image = scratch / "image"
        image.write_bytes(data)
        try:
            extract(image, scratch / "out", max_bytes=8 * 1024 * 1024, max_entries=10_000)
        except EXPECTED["squashfs"]:
            pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# Files the checks read: each fuzzed input is written to all of them, then every check runs inline.
CHECKED_PATHS = (
    "etc/passwd", "etc/shadow", "etc/inittab", "etc/init.d/rcS", "etc/inetd.conf", "etc/config/dropbear",
    "etc/config/uhttpd", "etc/config/system", "etc/lighttpd/lighttpd.conf", "etc/nginx/nginx.conf",
    "etc/ssh/sshd_config", "etc/opkg/status", "usr/lib/opkg/status", "var/lib/dpkg/status", "etc/banner",
    "etc/os-release", "etc/openwrt_release", "www/.htpasswd", "etc/security.txt", "www/cgi-bin/luci",
    "etc/mosquitto/mosquitto.conf", "etc/systemd/system/x.service", "etc/crontabs/root", "etc/hosts",
)


@target("checks-on-configs")
def fuzz_checks(data: bytes) -> None:
    """Every firmware check over a root filesystem whose config files all hold the input."""
    from iotcop.checks.discovery import all_checks
    from iotcop.context import ScanContext
    from iotcop.firmware.inventory import inventory_tree

    scratch = Path(tempfile.mkdtemp(prefix="fuzz-rootfs-"))
    try:
        for rel in CHECKED_PATHS:
            path = scratch / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (scratch / "bin").mkdir(exist_ok=True)
        fw = inventory_tree(scratch)
        ctx = ScanContext.default()
        for cls in _firmware_checks(all_checks()):
            for _ in cls().run(fw, ctx):
                pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _firmware_checks(checks):
    return [c for c in checks if not c.REQUIRES_DECLARATION
            and not c.ID.startswith(("probe.", "vulns."))]
