"""Component identification: speed against cve-bin-tool's version checkers, and recall on its test strings.

    .venv/bin/python benchmarks/sbom_vs_cvebintool.py [--cbt-python /tmp/cbt-venv/bin/python] [--cbt-sdist DIR]

1. Speed.  Builds (or takes from the cache) the 30 MB demo image, inventories its extracted root
   filesystem once and times `identify_components` on it.  Then times cve-bin-tool's
   `VersionScanner.recursive_scan` over the same tree in a separate interpreter where cve-bin-tool is
   installed (python3 -m venv /tmp/cbt-venv && /tmp/cbt-venv/bin/pip install cve-bin-tool), and prints
   the ratio.  Target: identification <= 2 s, >= 10x faster.
2. Recall.  For every entry of `mapping_test_data` in cve-bin-tool's test/test_data/*.py (PyPI sdist:
   pip download --no-deps --no-binary :all: cve-bin-tool), joins its version strings with NUL bytes (as
   they lie in .rodata) and asks the rule of the same product for the version.  Prints recall over the
   products iotcop has a rule for, and lists the misses.
3. Side by side (--trees).  On the demo image's root filesystem and the six real vendor trees of
   ../shared/corpus/realworld, prints every product@version each tool found, which of cve-bin-tool's the
   other misses, and the count.  cve-bin-tool reads a copy of each tree without symlinks (the vendor
   trees hold absolute links that would otherwise lead it to the host's own files).
"""

from __future__ import annotations

import argparse
import json
import runpy
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from iotcop.firmware.inventory import inventory_tree
from iotcop.sbom.identify import identify_components, version_in_bytes
from iotcop.sbom.rules import load_rules
from iotcop.sbom.versions import same_version

# cve-bin-tool product name -> iotcop rule name, where they differ
PRODUCT_NAMES = {"libcurl": "curl", "sqlite3": "sqlite", "mbed_tls": "mbedtls", "libexpat": "expat",
                 "linux_kernel": "linux_kernel", "uclibc": "uclibc", "wpa_supplicant": "wpa_supplicant"}

_CBT_SCRIPT = r"""
import sys, time, json, logging, os
logging.disable(logging.CRITICAL)
os.makedirs(os.path.expanduser("~/.cache/cve-bin-tool"), exist_ok=True)  # its version-map database lives there
# Offline: the SQLite checker downloads sqlite.org/changes.html for its source-id map when imported;
# without network it runs with an empty map (its other patterns still apply).
from cve_bin_tool import version_signature
version_signature.VersionSignatureDb.get_mapping_data = lambda self: []
from cve_bin_tool.version_scanner import VersionScanner

scanner = VersionScanner(should_extract=False)
start = time.perf_counter()
found = set()
for result in scanner.recursive_scan(sys.argv[1]):
    try:
        product_info = result[0]
        found.add(f"{product_info.product}@{product_info.version}")
    except Exception:
        pass
print(json.dumps({"seconds": time.perf_counter() - start, "found": sorted(found)}))
"""


def speed(cbt_python: str | None) -> None:
    from iotcop.demo.builder import build_image

    built = build_image("vulnerable", size="30mb")
    size = sum(p.stat().st_size for p in built.rootfs.rglob("*") if p.is_file() and not p.is_symlink())
    image_mb = built.image.stat().st_size / 1e6
    t0 = time.perf_counter()
    fw = inventory_tree(built.rootfs)
    t_inv = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        comps = identify_components(fw)  # computed afresh each time (not through the per-scan memo)
        runs.append(time.perf_counter() - t0)
    ours = min(runs)
    print(f"image: {built.image.name} ({image_mb:.1f} MB), extracted tree {size / 1e6:.1f} MB, {fw.file_count} files")
    print(f"iotcop inventory (once per scan, shared by all checks): {t_inv:.2f} s")
    print(f"iotcop identify_components: {ours:.3f} s (best of 3; runs {', '.join(f'{r:.3f}' for r in runs)}), "
          f"{len(comps)} components: " + ", ".join(f"{c.name} {c.version}" for c in comps))
    if not cbt_python:
        print("cve-bin-tool: not run (give --cbt-python)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(_CBT_SCRIPT)
    proc = subprocess.run([cbt_python, fh.name, str(built.rootfs)], capture_output=True, text=True, timeout=3600)
    Path(fh.name).unlink()
    if proc.returncode != 0:
        print("cve-bin-tool failed:", proc.stderr[-2000:])
        return
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"cve-bin-tool VersionScanner.recursive_scan: {res['seconds']:.2f} s, {len(res['found'])} product versions: "
          + ", ".join(res["found"]))
    print(f"ratio: iotcop identification is {res['seconds'] / ours:.1f}x faster "
          f"({(res['seconds']) / (ours + t_inv):.1f}x including the inventory)")


def recall(sdist_dir: Path) -> None:
    tests = next(sdist_dir.glob("cve_bin_tool-*/test/test_data"), None)
    if tests is None:
        archive = next(sdist_dir.glob("cve_bin_tool-*.tar.gz"), None)
        if archive is None:
            print(f"recall: no cve-bin-tool sdist in {sdist_dir}")
            return
        with tarfile.open(archive) as tf:
            tf.extractall(sdist_dir, filter="data")
        tests = next(sdist_dir.glob("cve_bin_tool-*/test/test_data"))
    rules = {r.name: r for r in load_rules()}
    total = hit = 0
    uncovered: dict[str, int] = {}
    misses = []
    for path in sorted(tests.glob("*.py")):
        if path.name.startswith("__"):
            continue
        data = runpy.run_path(str(path))
        for entry in data.get("mapping_test_data", []):
            product = PRODUCT_NAMES.get(entry["product"], entry["product"])
            rule = rules.get(product)
            if rule is None:
                uncovered[entry["product"]] = uncovered.get(entry["product"], 0) + 1
                continue
            blob = b"\x00" + b"\x00".join(s.encode() for s in entry["version_strings"]) + b"\x00"
            got = version_in_bytes(rule, blob)
            total += 1
            if got and same_version(got[0], entry["version"]):
                hit += 1
            else:
                misses.append(f"{entry['product']} {entry['version']}: got {got[0] if got else None} "
                              f"from {entry['version_strings']!r}"[:200])
    print(f"recall on cve-bin-tool test strings (products with an iotcop rule): {hit}/{total} = {hit / total:.1%}")
    for m in misses:
        print("  miss:", m)
    print(f"entries for products without an iotcop rule: {sum(uncovered.values())} "
          f"({len(uncovered)} products, e.g. {', '.join(sorted(uncovered)[:8])})")


# cve-bin-tool product name -> iotcop component name, for the side-by-side comparison
CBT_TO_IOTCOP = {"libcurl": "curl", "sqlite": "sqlite", "mbed_tls": "mbedtls", "libexpat": "expat", "expat": "expat",
                 "linux_kernel": "linux_kernel", "glibc": "glibc", "dropbear_ssh": "dropbear", "zlib": "zlib",
                 "uclibc": "uclibc", "dnsmasq": "dnsmasq", "busybox": "busybox", "openssl": "openssl",
                 "libxml2": "libxml2", "pcre2": "pcre2", "gnutls": "gnutls", "libjpeg-turbo": "libjpeg-turbo",
                 "wpa_supplicant": "wpa_supplicant", "hostapd": "hostapd", "point-to-point_protocol": "ppp",
                 "miniupnpd": "miniupnpd", "lighttpd": "lighttpd", "samba": "samba", "openssh": "openssh",
                 "libupnp": "libupnp", "iptables": "iptables", "radvd": "radvd", "ipsec-tools": "ipsec-tools",
                 "vsftpd": "vsftpd", "ntp": "ntp", "xl2tpd": "xl2tpd", "dbus": "dbus", "gmp": "gmp",
                 "libidn2": "libidn2", "libtomcrypt": "libtomcrypt", "appweb": "appweb", "php": "php",
                 "jquery": "jquery", "nginx": "nginx", "boa": "boa", "tcpdump": "tcpdump", "libpcap": "libpcap",
                 "pure-ftpd": "pure-ftpd", "quagga": "quagga", "minidlna": "minidlna", "readymedia": "minidlna",
                 "json-c": "json-c", "libevent": "libevent", "nettle": "nettle", "libgcrypt": "libgcrypt",
                 "ncurses": "ncurses", "e2fsprogs": "e2fsprogs", "util-linux": "util-linux", "bzip2": "bzip2",
                 "xz": "xz", "lz4": "lz4", "zstandard": "zstd", "libnl": "libnl", "curl": "curl",
                 "avahi": "avahi", "mosquitto": "mosquitto", "wolfssl": "wolfssl", "openvpn": "openvpn",
                 "libarchive": "libarchive", "dhcpcd": "dhcpcd", "iproute2": "iproute2", "ethtool": "ethtool",
                 "bash": "bash", "gcc": "gcc", "binutils": "binutils", "libsndfile": "libsndfile",
                 "sqlite3": "sqlite", "libssh2": "libssh2", "nghttp2": "nghttp2", "libpng": "libpng",
                 "freetype": "freetype", "libjpeg": "libjpeg", "gnupg": "gnupg", "kerberos_5": "krb5",
                 "thttpd": "thttpd", "mini_httpd": "mini_httpd", "proftpd": "proftpd", "netatalk": "netatalk",
                 "miniupnpc": "miniupnpc", "libsolv": "libsolv", "libssh": "libssh", "polarssl": "mbedtls",
                 "lua": "lua", "strongswan": "strongswan", "net-snmp": "net-snmp", "hdparm": "hdparm",
                 "d-bus": "dbus", "libdbus": "dbus", "libflac": "flac", "pupnp": "libupnp",
                 "router_advertisement_daemon": "radvd", "tuxera": "ntfs-3g"}


def _symlink_free_copy(src: Path, dest: Path) -> None:
    """Regular files only (hard links where possible): what cve-bin-tool may read without leaving the tree."""
    import os
    import shutil

    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            try:
                os.link(p, dest / rel / name)
            except OSError:
                shutil.copy2(p, dest / rel / name)


def _trees(work: Path) -> list[tuple[str, Path]]:
    from iotcop.demo.builder import build_image

    out = [("demo (vulnerable, mipsel)", build_image("vulnerable").rootfs)]
    corpus = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"
    for archive in sorted(corpus.glob("*.tar.gz")):
        dest = work / archive.name.removesuffix(".tar.gz")
        if not dest.is_dir():
            dest.mkdir(parents=True)
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="tar")  # absolute symlinks stay links; inventory resolves them inside
        out.append((dest.name, dest))
    return out


def side_by_side(cbt_python: str | None, work: Path) -> None:
    totals = {"cbt": 0, "both": 0, "iotcop": 0}
    for label, tree in _trees(work):
        fw = inventory_tree(tree)
        t0 = time.perf_counter()
        comps = identify_components(fw)
        ours_s = time.perf_counter() - t0
        ours = {}
        for c in comps:
            if c.version:
                ours.setdefault(c.name, set()).add(c.version)
        theirs: dict[str, set[str]] = {}
        cbt_s = None
        if cbt_python:
            plain = work / "plain" / tree.name
            if not plain.is_dir():
                _symlink_free_copy(tree, plain)
            with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
                fh.write(_CBT_SCRIPT)
            proc = subprocess.run([cbt_python, fh.name, str(plain)], capture_output=True, text=True, timeout=3600)
            Path(fh.name).unlink()
            if proc.returncode == 0:
                res = json.loads(proc.stdout.strip().splitlines()[-1])
                cbt_s = res["seconds"]
                for pv in res["found"]:
                    product, _, version = pv.partition("@")
                    if version and version != "UNKNOWN":
                        theirs.setdefault(CBT_TO_IOTCOP.get(product, product), set()).add(version)
            else:
                print(f"{label}: cve-bin-tool failed: {proc.stderr[-500:]}")
        print(f"\n== {label}: iotcop {len(comps)} components in {ours_s:.2f} s"
              + (f"; cve-bin-tool {sum(len(v) for v in theirs.values())} product versions in {cbt_s:.1f} s" if cbt_s else ""))
        print(f"   {'component':22} {'iotcop':34} {'cve-bin-tool':34}")
        for name in sorted(set(ours) | set(theirs)):
            a, b = ours.get(name, set()), theirs.get(name, set())
            same = {x for x in b if any(same_version(x, y) or y.startswith(x) for y in a)}
            mark = "" if not b else ("  ok" if same == b else "  MISSED " + ", ".join(sorted(b - same)))
            print(f"   {name:22} {', '.join(sorted(a)) or '-':34} {', '.join(sorted(b)) or '-':34}{mark}")
            totals["cbt"] += len(b)
            totals["both"] += len(same)
            totals["iotcop"] += len(a)
    if cbt_python:
        print(f"\ncve-bin-tool product versions found by iotcop with the same version: {totals['both']}/{totals['cbt']}; "
              f"iotcop component versions in all: {totals['iotcop']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cbt-python", default="/tmp/cbt-venv/bin/python" if Path("/tmp/cbt-venv/bin/python").exists() else None)
    ap.add_argument("--cbt-sdist", type=Path, default=Path("/tmp/cbt"))
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--trees", action="store_true", help="side by side on the demo image and the realworld trees")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "iotcop-sbom-bench")
    args = ap.parse_args()
    if args.trees:
        side_by_side(args.cbt_python, args.work)
        return 0
    recall(args.cbt_sdist)
    if not args.skip_speed:
        speed(args.cbt_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
