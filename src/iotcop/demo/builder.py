"""Deterministic, cached builder of realistic demo firmware images from real Debian packages.

An image is laid out like a typical NOR-flash router firmware::

    legacy uImage ("kernel")  | 0xFF pad to 64 KiB
    SquashFS 4 (xz) rootfs    | 0xFF pad to 64 KiB
    JFFS2 config partition    (padded to the 64 KiB erase block)

The root filesystem is assembled from Debian bookworm packages for the target
architecture (``apt-get download`` + ``dpkg-deb -x``), trimmed of docs and
translations (each package's changelog.Debian.gz is kept, with the dpkg status
database listing the installed packages, as dpkg leaves them), with BusyBox
applet links and the files described in ``recipes.yaml``.  The "kernel" is a gzip'd payload carrying a realistic Linux
version banner, not a bootable kernel (no MIPS/ARM kernel package is small
enough to be worth shipping in a test image).

BusyBox applets: the applet *names* are read from the applet name table inside
the target-architecture binary (a NUL-separated, sorted string list starting
``[\\0[[\\0``); their install *directories* come from ``busybox --list-full``
of the same Debian busybox-static package for the build host's architecture,
which Debian builds with the same configuration for every architecture.
If the host binary cannot be had, every applet goes to /bin.

Builds are deterministic: fixed timestamps (SOURCE_DATE_EPOCH), sorted inputs,
``mksquashfs -all-root -mkfs-time 0 -all-time 0``, gzip without a timestamp and
key material derived from fixed seeds.  Images are cached under
``$IOTCOP_CACHE`` (default ``~/.cache/iotcop/images``) keyed by the recipe data,
the builder version and the resolved Debian package versions.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as _dt
import fcntl
import gzip
import hashlib
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from iotcop.demo import recipes
from iotcop.errors import IotcopError

BUILDER_VERSION = "1.1"
KEEP_OTHER_BUILDS = 3  # cached builds of other recipe versions kept beside the current one
SOURCE_DATE_EPOCH = 1704067200  # 2024-01-01T00:00:00Z
ERASE_BLOCK = 0x10000
REQUIRED_TOOLS = ("apt-get", "apt-cache", "dpkg", "dpkg-deb", "mksquashfs", "mkfs.jffs2", "mkimage")


class BuildError(IotcopError):
    """A demo image could not be built (missing tool, failed download, bad recipe ...)."""


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    arch: str  # Architecture field of the .deb ("mipsel", "all" ...)
    deb: Path  # the downloaded .deb in the cache
    root: Path  # its unpacked tree (dpkg-deb -x) in the cache


@dataclass
class BuiltImage:
    image: Path  # the firmware file
    rootfs: Path  # unpacked root filesystem the squashfs was made from
    manifest: Path  # JSON: variant, arch, size, packages, planted issues, layout
    planted: list[dict] = field(default_factory=list)
    layout: dict = field(default_factory=dict)
    key: str = ""
    cached: bool = False


# --------------------------------------------------------------------------- helpers


def default_cache_dir() -> Path:
    env = os.environ.get("IOTCOP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "iotcop" / "images"


def _require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        hint = {
            "mksquashfs": "squashfs-tools",
            "mkfs.jffs2": "mtd-utils",
            "mkimage": "u-boot-tools",
            "apt-get": "apt",
            "apt-cache": "apt",
            "dpkg": "dpkg",
            "dpkg-deb": "dpkg",
        }
        pk = sorted({hint.get(t, t) for t in missing})
        raise BuildError(
            f"cannot build demo firmware: missing tool(s) {', '.join(missing)} "
            f"(on Debian: apt-get install {' '.join(pk)})"
        )


def _run(cmd: list[str], *, what: str, cwd: Path | None = None, epoch: bool = True,
         check: bool = True) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, LC_ALL="C")
    full_env.pop("SOURCE_DATE_EPOCH", None)
    if epoch:
        full_env["SOURCE_DATE_EPOCH"] = str(SOURCE_DATE_EPOCH)
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    except OSError as exc:
        raise BuildError(f"{what}: cannot run {cmd[0]}: {exc}") from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise BuildError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mode(value: Any, default: int) -> int:
    if value is None:
        return default
    return value if isinstance(value, int) else int(str(value), 0)


# --------------------------------------------------------------------------- Debian packages


def _native_arch() -> str:
    return _run(["dpkg", "--print-architecture"], what="dpkg --print-architecture").stdout.strip()


def _apt_lists_dir() -> Path:
    return Path("/var/lib/apt/lists")


def _has_lists_for(arch: str) -> bool:
    d = _apt_lists_dir()
    return d.is_dir() and any(d.glob(f"*binary-{arch}_Packages*"))


def _ensure_arch(arch: str) -> None:
    """Make apt know the target architecture (dpkg --add-architecture + apt-get update when root)."""
    native = _native_arch()
    if arch in (native, "all"):
        return
    foreign = _run(["dpkg", "--print-foreign-architectures"], what="dpkg").stdout.split()
    needs_update = not _has_lists_for(arch)
    if arch not in foreign:
        if os.geteuid() != 0:
            raise BuildError(
                f"apt does not know architecture {arch}; run as root: "
                f"dpkg --add-architecture {arch} && apt-get update"
            )
        _run(["dpkg", "--add-architecture", arch], what=f"dpkg --add-architecture {arch}")
        needs_update = True
    if needs_update:
        if os.geteuid() != 0:
            raise BuildError(f"no apt package lists for {arch}; run as root: apt-get update")
        _run(["apt-get", "update", "-q"], what="apt-get update")


def _apt_fingerprint() -> str:
    """Cheap fingerprint of apt's package lists: changes whenever `apt-get update` changes them."""
    h = hashlib.sha256()
    d = _apt_lists_dir()
    if d.is_dir():
        for p in sorted(d.iterdir()):
            if p.is_file() and "Packages" in p.name:
                st = p.stat()
                h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _parse_policy(text: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    current = None
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            current = line[:-1]
            out[current] = None
        elif current and line.strip().startswith("Candidate:"):
            cand = line.split(":", 1)[1].strip()
            out[current] = None if cand == "(none)" else cand
    return out


def resolve_versions(packages: list[str], arch: str, cache_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """Candidate version of each package for `arch` -> {name: {"version", "arch"}} ("all" for arch-independent).

    Cached per apt-lists fingerprint so a repeated lookup does not run apt-cache.
    """
    cache_dir = cache_dir or default_cache_dir()
    fp = hashlib.sha256(json.dumps([_apt_fingerprint(), arch, sorted(set(packages))]).encode()).hexdigest()
    memo = cache_dir / "resolved" / f"{arch}-{fp[:24]}.json"
    if memo.is_file():
        with contextlib.suppress(ValueError):
            return json.loads(memo.read_text())
    _require_tools("apt-cache", "dpkg")
    _ensure_arch(arch)
    # The fingerprint may have changed if _ensure_arch ran apt-get update.
    fp = hashlib.sha256(json.dumps([_apt_fingerprint(), arch, sorted(set(packages))]).encode()).hexdigest()
    memo = cache_dir / "resolved" / f"{arch}-{fp[:24]}.json"

    native = _native_arch()
    qualified = [p if arch == native else f"{p}:{arch}" for p in packages]
    pol = _parse_policy(_run(["apt-cache", "policy", *qualified], what="apt-cache policy").stdout)
    result: dict[str, dict[str, str]] = {}
    missing = []
    for name, q in zip(packages, qualified):
        cand = pol.get(q) or pol.get(name)
        if cand:
            result[name] = {"version": cand, "arch": arch}
        else:
            missing.append(name)
    if missing:  # Architecture: all packages are listed without the foreign qualifier
        pol2 = _parse_policy(_run(["apt-cache", "policy", *missing], what="apt-cache policy").stdout)
        for name in missing:
            cand = pol2.get(name)
            if not cand:
                raise BuildError(f"Debian package {name} is not available for {arch} (apt-cache policy: no candidate)")
            show = _run(["apt-cache", "show", f"{name}={cand}"], what=f"apt-cache show {name}").stdout
            archs = {ln.split(":", 1)[1].strip() for ln in show.splitlines() if ln.startswith("Architecture:")}
            if "all" not in archs:
                raise BuildError(f"Debian package {name} is not available for {arch} (only {', '.join(sorted(archs))})")
            result[name] = {"version": cand, "arch": "all"}
    memo.parent.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    tmp.replace(memo)
    return result


def _deb_filename(name: str, version: str, arch: str) -> str:
    return f"{name}_{version.replace(':', '%3a')}_{arch}.deb"


def _deb_fields(deb: Path) -> dict[str, str]:
    out = _run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Architecture"], what=f"dpkg-deb -f {deb.name}").stdout
    fields = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields


def ensure_debian_packages(packages: list[str], arch: str, dest: Path, *,
                           versions: dict[str, dict[str, str]] | None = None) -> list[DebPackage]:
    """Download (apt-get download) and unpack (dpkg-deb -x) Debian packages into `dest`.

    `dest/debs/` keeps the .deb files, `dest/trees/<name>_<version>_<arch>/` their contents.
    Both are reused on later calls.  Returns the packages in the order asked for.
    """
    _require_tools("apt-get", "apt-cache", "dpkg", "dpkg-deb")
    dest = Path(dest)
    if versions is None:
        versions = resolve_versions(packages, arch, dest)
    debs_dir = dest / "debs"
    trees_dir = dest / "trees"
    debs_dir.mkdir(parents=True, exist_ok=True)
    trees_dir.mkdir(parents=True, exist_ok=True)

    wanted = []
    for name in packages:
        v = versions[name]
        wanted.append((name, v["version"], v["arch"]))
    todo = [w for w in wanted if not (debs_dir / _deb_filename(*w)).is_file()]
    if todo:
        _ensure_arch(arch)
        native = _native_arch()
        specs = [f"{n}={v}" if a in ("all", native) else f"{n}:{a}={v}" for n, v, a in todo]
        with tempfile.TemporaryDirectory(dir=debs_dir, prefix=".dl-") as tmp:
            cmd = ["apt-get", "download", "-q"]
            if os.geteuid() == 0:
                cmd += ["-o", "APT::Sandbox::User=root"]
            _run(cmd + specs, what=f"apt-get download ({len(specs)} packages for {arch})", cwd=Path(tmp))
            for n, v, a in todo:
                fn = _deb_filename(n, v, a)
                got = Path(tmp) / fn
                if not got.is_file():
                    cands = sorted(Path(tmp).glob(f"{n}_*.deb"))
                    if not cands:
                        raise BuildError(f"apt-get download did not produce {fn}")
                    got = cands[0]
                got.replace(debs_dir / fn)

    out = []
    for n, v, a in wanted:
        deb = debs_dir / _deb_filename(n, v, a)
        fields = _deb_fields(deb)
        real_arch = fields.get("Architecture", a)
        tree = trees_dir / f"{n}_{fields.get('Version', v).replace(':', '%3a')}_{real_arch}"
        if not tree.is_dir():
            tmp_tree = Path(tempfile.mkdtemp(dir=trees_dir, prefix=".x-"))
            _run(["dpkg-deb", "-x", str(deb), str(tmp_tree)], what=f"dpkg-deb -x {deb.name}")
            try:
                tmp_tree.rename(tree)
            except OSError:
                shutil.rmtree(tmp_tree, ignore_errors=True)
        out.append(DebPackage(name=fields.get("Package", n), version=fields.get("Version", v), arch=real_arch,
                              deb=deb, root=tree))
    return out


# --------------------------------------------------------------------------- BusyBox applets


def parse_busybox_applet_names(binary: Path) -> list[str]:
    """Applet names from the applet name table compiled into a BusyBox binary (any architecture)."""
    data = binary.read_bytes()
    start = data.find(b"[\x00[[\x00")
    if start < 0:
        return []
    names = []
    pos = start
    while True:
        end = data.find(b"\x00", pos)
        if end < 0:
            break
        s = data[pos:end]
        if not s or len(s) > 32 or not all(33 <= c < 127 for c in s):
            break
        names.append(s.decode())
        pos = end + 1
    return names


def busybox_applets(target_pkg: DebPackage, cache_dir: Path) -> tuple[list[tuple[str, str]], str]:
    """[(name, install_dir)], method.  See the module docstring for how they are determined."""
    binary = target_pkg.root / "bin" / "busybox"
    names = parse_busybox_applet_names(binary)
    native = _native_arch()
    if target_pkg.arch == native:
        listing = _run([str(binary), "--list-full"], what="busybox --list-full").stdout.split()
        locations = {e.rpartition("/")[2]: e.rpartition("/")[0] for e in listing}
        source = "busybox --list-full of the target binary"
    else:
        memo = cache_dir / "busybox" / f"{native}-{target_pkg.version.replace(':', '%3a')}.json"
        saved = None
        if memo.is_file():
            with contextlib.suppress(ValueError, KeyError):
                saved = json.loads(memo.read_text())
                saved["locations"], saved["source"]  # noqa: B018 - shape check
        if saved is None:
            try:
                vers = resolve_versions(["busybox-static"], native, cache_dir)
                host = ensure_debian_packages(["busybox-static"], native, cache_dir, versions=vers)[0]
                listing = _run([str(host.root / "bin" / "busybox"), "--list-full"],
                               what="busybox --list-full").stdout.split()
                saved = {"locations": {e.rpartition("/")[2]: e.rpartition("/")[0] for e in listing},
                         "source": f"busybox --list-full of busybox-static {host.version} ({native})"}
            except BuildError:
                saved = {"locations": {}, "source": "none (host busybox unavailable): all linked in /bin"}
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(json.dumps(saved, sort_keys=True))
        locations, source = saved["locations"], saved["source"]
    if names:
        method = f"names from the {target_pkg.arch} binary's applet table; directories from {source}"
    else:
        names = sorted(locations)
        method = f"names and directories from {source} (no applet table found in the target binary)"
    if not names:
        raise BuildError(f"cannot determine the BusyBox applet list of {binary}")
    return [(n, locations.get(n, "bin")) for n in names], method


# --------------------------------------------------------------------------- key material (deterministic)

_SMALL_PRIMES = [p for p in range(3, 20000, 2) if all(p % q for q in range(3, int(p**0.5) + 1, 2))]


def _is_probable_prime(n: int, rng: random.Random, rounds: int = 16) -> bool:
    if n < 2:
        return False
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _rsa_key_from_seed(seed: int, bits: int = 2048):
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random(f"iotcop-demo-rsa-{seed}")
    e = 65537

    def prime(nbits: int) -> int:
        while True:
            c = rng.getrandbits(nbits) | (3 << (nbits - 2)) | 1
            if math.gcd(e, c - 1) == 1 and _is_probable_prime(c, rng):
                return c

    p = prime(bits // 2)
    q = prime(bits // 2)
    while q == p:
        q = prime(bits // 2)
    if p < q:
        p, q = q, p
    d = pow(e, -1, (p - 1) * (q - 1))
    pub = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), pub).private_key()


def _ec_key_from_seed(seed: int):
    from cryptography.hazmat.primitives.asymmetric import ec

    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(hashlib.sha256(f"iotcop-demo-ec-{seed}".encode()).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _self_signed_cert(key, cn: str, seed: int, *, ca: bool) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "IoTCop Demo Devices Ltd"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])
    utc = _dt.timezone.utc
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(f"iotcop-demo-serial-{seed}".encode()).digest()[:16], "big") >> 1)
        .not_valid_before(_dt.datetime(2024, 1, 1, tzinfo=utc))
        .not_valid_after(_dt.datetime(2044, 1, 1, tzinfo=utc))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
    cert = builder.sign(key, hashes.SHA256())  # RSA PKCS#1 v1.5: deterministic
    return cert.public_bytes(serialization.Encoding.PEM)


def _ssh_string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _ssh_mpint(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b""
    return _ssh_string(raw)


def _openssh_ed25519(seed: int, comment: str) -> tuple[bytes, bytes]:
    """(private key in OpenSSH format, public key line), deterministic (fixed check-int)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sk = hashlib.sha256(f"iotcop-demo-ed25519-{seed}".encode()).digest()
    pk = Ed25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    pub_blob = _ssh_string(b"ssh-ed25519") + _ssh_string(pk)
    check = hashlib.sha256(sk).digest()[:4]
    priv = check + check + _ssh_string(b"ssh-ed25519") + _ssh_string(pk) + _ssh_string(sk + pk) + _ssh_string(comment.encode())
    i = 1
    while len(priv) % 8:
        priv += bytes([i])
        i += 1
    blob = (b"openssh-key-v1\x00" + _ssh_string(b"none") + _ssh_string(b"none") + _ssh_string(b"")
            + struct.pack(">I", 1) + _ssh_string(pub_blob) + _ssh_string(priv))
    b64 = base64.b64encode(blob).decode()
    body = "\n".join(b64[i:i + 70] for i in range(0, len(b64), 70))
    pem = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n".encode()
    pub = f"ssh-ed25519 {base64.b64encode(pub_blob).decode()} {comment}\n".encode()
    return pem, pub


def _dropbear_ecdsa(seed: int) -> bytes:
    """A dropbear-format ECDSA P-256 host key (what dropbearkey -t ecdsa writes)."""
    from cryptography.hazmat.primitives import serialization

    key = _ec_key_from_seed(seed)
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return (_ssh_string(b"ecdsa-sha2-nistp256") + _ssh_string(b"nistp256") + _ssh_string(point)
            + _ssh_mpint(key.private_numbers().private_value))


def _key_files(spec: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """[(path, content, mode)] for one `keys:` entry of the recipe."""
    from cryptography.hazmat.primitives import serialization

    kind, seed = spec["kind"], int(spec["seed"])
    mode = _mode(spec.get("mode"), 0o600)
    nopw = serialization.NoEncryption()
    if kind == "rsa-pem":
        key = _rsa_key_from_seed(seed)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, nopw)
        out = [(spec["path"], pem, mode)]
        if spec.get("cert"):
            out.append((spec["cert"], _self_signed_cert(key, spec.get("cn", "device"), seed, ca=False), 0o644))
        return out
    if kind == "rsa-cert-only":
        key = _rsa_key_from_seed(seed)
        return [(spec["cert"], _self_signed_cert(key, spec.get("cn", "device"), seed, ca=True), 0o644)]
    if kind == "openssh-ed25519":
        pem, pub = _openssh_ed25519(seed, spec.get("comment", ""))
        out = [(spec["path"], pem, mode)]
        if spec.get("pub"):
            out.append((spec["pub"], pub, 0o644))
        return out
    if kind == "pkcs8-ec":
        pem = _ec_key_from_seed(seed).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, nopw)
        header = (spec.get("header", "") + "\n").encode() if spec.get("header") else b""
        return [(spec["path"], header + pem, mode)]
    if kind == "dropbear-ecdsa":
        return [(spec["path"], _dropbear_ecdsa(seed), mode)]
    raise BuildError(f"recipes.yaml: unknown key kind {kind!r}")


# --------------------------------------------------------------------------- filesystem assembly


def _write(root: Path, path: str, content: bytes, mode: int) -> None:
    dest = root / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        else:
            dest.unlink()
    dest.write_bytes(content)
    os.chmod(dest, mode)


def _render(text: str, subst: dict[str, str]) -> bytes:
    for k, v in subst.items():
        text = text.replace("{" + k + "}", v)
    return text.encode()


def _write_files(root: Path, files: dict[str, Any], subst: dict[str, str]) -> None:
    for path in sorted(files):
        spec = files[path] or {}
        if "content_base64" in spec:  # binary content (a seed file)
            content = base64.b64decode(spec["content_base64"], validate=True)
        else:
            content = _render(spec.get("content", ""), subst)
        _write(root, path, content, _mode(spec.get("mode"), 0o644))


def _merge_tree(src: Path, dst: Path) -> None:
    """Copy a package tree over the rootfs (later packages win), keeping symlinks."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = Path(dirpath).relative_to(src)
        target_dir = dst / rel
        if target_dir.is_symlink():
            target_dir.unlink()
        target_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(target_dir, os.stat(dirpath).st_mode & 0o7777)
        for name in sorted(filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]):
            s = Path(dirpath) / name
            t = target_dir / name
            if t.is_symlink() or t.is_file():
                t.unlink()
            elif t.is_dir():
                shutil.rmtree(t)
            if s.is_symlink():
                os.symlink(os.readlink(s), t)
            else:
                shutil.copy2(s, t, follow_symlinks=False)
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]


def _normalise_times(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH), follow_symlinks=False)
    os.utime(root, (SOURCE_DATE_EPOCH, SOURCE_DATE_EPOCH))


def _trim(root: Path, patterns: list[str], triplet: str) -> None:
    for pat in patterns:
        for p in sorted(root.glob(pat.format(triplet=triplet))):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def _dpkg_database(root: Path, debs: list[DebPackage]) -> None:
    """What dpkg itself leaves in an installed system: var/lib/dpkg/status with each package's control
    fields, and the package's changelog.Debian.gz (the record of which revision fixed which CVE)."""
    stanzas = []
    for pkg in sorted(debs, key=lambda p: p.name):
        control = _run(["dpkg-deb", "-f", str(pkg.deb)], what=f"dpkg-deb -f {pkg.deb.name}").stdout.strip()
        lines = control.splitlines()
        at = next((i + 1 for i, line in enumerate(lines) if line.startswith("Package:")), 1)
        lines.insert(at, "Status: install ok installed")
        stanzas.append("\n".join(lines))
        for log in (pkg.root / "usr" / "share" / "doc").glob("*/changelog.Debian.gz"):
            target = root / log.relative_to(pkg.root)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(log, target)
    status = root / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True, exist_ok=True)
    status.write_text("\n\n".join(stanzas) + "\n")


def _assemble_rootfs(root: Path, debs: list[DebPackage], variant_name: str, arch: str, size: str,
                     cache_dir: Path) -> tuple[list[tuple[str, str]], str]:
    data = recipes.load_recipes()
    ainfo = recipes.arch_info(arch)
    var = recipes.variant(variant_name)
    triplet = ainfo["triplet"]
    root.mkdir(parents=True)
    os.chmod(root, 0o755)
    for pkg in debs:
        _merge_tree(pkg.root, root)
    _trim(root, data.get("trim", []), triplet)
    compact = data.get("trim_compact") or {}
    if size in compact.get("sizes", []):
        _trim(root, compact.get("paths", []), triplet)
    _dpkg_database(root, debs)

    bb = next((p for p in debs if p.name == "busybox-static"), None)
    if bb is None:
        raise BuildError("recipe has no busybox-static package")
    applets, method = busybox_applets(bb, cache_dir)
    for name, d in applets:
        link = root / d / name if d else root / name
        if os.path.lexists(link):
            continue  # a real program from a package wins over the applet
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(root / "bin" / "busybox", link.parent), link)

    for d in data.get("directories", []):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    os.chmod(root / "etc" / "ssl" / "private", 0o700)

    subst = {"version": str(var["version"]), "variant": variant_name, "arch": arch}
    _write_files(root, data.get("common_files") or {}, subst)
    _write_files(root, var.get("files") or {}, subst)
    for spec in var.get("keys") or []:
        for path, content, mode in _key_files(spec):
            _write(root, path, content, mode)
    if (root / "root" / ".ssh").is_dir():
        os.chmod(root / "root" / ".ssh", 0o700)
    _normalise_times(root)
    return applets, method


# --------------------------------------------------------------------------- packing


def _kernel_uimage(out: Path, work: Path, arch: str, variant_name: str) -> None:
    ainfo = recipes.arch_info(arch)
    banner = " ".join(str(ainfo["kernel_banner"]).split())
    rng = random.Random(f"iotcop-demo-kernel-{arch}")
    payload = (b"\x00" * 64 + banner.encode() + b"\n\x00"
               + f"Machine model: {ainfo.get('machine', '')}\x00".encode()
               + b"Kernel command line: console=ttyS0,115200 rootfstype=squashfs,jffs2\x00"
               + rng.randbytes(160 * 1024))
    gz = work / "kernel.bin.gz"
    gz.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    version = banner.split()[2] if len(banner.split()) > 2 else "unknown"
    _run(["mkimage", "-A", ainfo["mkimage_arch"], "-O", "linux", "-T", "kernel", "-C", "gzip",
          "-a", str(ainfo["load_addr"]), "-e", str(ainfo["entry_addr"]),
          "-n", f"IoTCop Demo Linux-{version}", "-d", str(gz), str(out)], what="mkimage")


def _squashfs(rootfs: Path, out: Path) -> None:
    cmd = ["mksquashfs", str(rootfs), str(out), "-comp", "xz", "-b", "256K", "-noappend", "-all-root",
           "-mkfs-time", "0", "-all-time", "0", "-no-xattrs", "-quiet", "-no-progress"]
    for dev in recipes.load_recipes().get("device_nodes", []):
        cmd += ["-p", dev]
    _run(cmd, what="mksquashfs", epoch=False)  # it refuses SOURCE_DATE_EPOCH together with -all-time


def _jffs2(tree: Path, out: Path) -> None:
    _run(["mkfs.jffs2", "--little-endian", "-e", hex(ERASE_BLOCK), "-p", "-U", "-d", str(tree), "-o", str(out)],
         what="mkfs.jffs2")


def _pad(fh, boundary: int) -> None:
    pos = fh.tell()
    rem = (-pos) % boundary
    if rem:
        fh.write(b"\xff" * rem)


# --------------------------------------------------------------------------- top level


def _image_key(variant_name: str, arch: str, size: str, versions: dict[str, dict[str, str]]) -> str:
    blob = json.dumps({
        "builder": BUILDER_VERSION,
        "recipes": recipes.recipe_digest(),
        "variant": variant_name,
        "arch": arch,
        "size": size,
        "packages": sorted((n, v["version"], v["arch"]) for n, v in versions.items()),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _load_built(out_dir: Path, cached: bool) -> BuiltImage:
    manifest = out_dir / "manifest.json"
    m = json.loads(manifest.read_text())
    return BuiltImage(image=out_dir / m["image"], rootfs=out_dir / "rootfs", manifest=manifest,
                      planted=m["planted"], layout=m["layout"], key=m["key"], cached=cached)


def build_image(variant: str = "vulnerable", *, arch: str = "mipsel", size: str = "small",
                cache_dir: Path | None = None, rebuild: bool = False) -> BuiltImage:
    """Build (or fetch from the cache) a demo firmware image.  See the module docstring."""
    try:
        recipes.variant(variant)
        recipes.arch_info(arch)
        names = recipes.package_names(size, variant)
    except KeyError as exc:
        raise BuildError(str(exc.args[0])) from exc
    cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)

    versions = resolve_versions(names, arch, cache_dir)
    key = _image_key(variant, arch, size, versions)
    out_dir = cache_dir / f"{variant}-{arch}-{size}-{key[:16]}"
    if not rebuild and (out_dir / "manifest.json").is_file():
        return _load_built(out_dir, cached=True)

    _require_tools(*REQUIRED_TOOLS)
    with _locked(cache_dir / ".build.lock"):
        if not rebuild and (out_dir / "manifest.json").is_file():
            return _load_built(out_dir, cached=True)
        debs = ensure_debian_packages(names, arch, cache_dir, versions=versions)
        work = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".build-{variant}-{arch}-{size}-"))
        os.chmod(work, 0o755)
        try:
            rootfs = work / "rootfs"
            applets, applet_method = _assemble_rootfs(rootfs, debs, variant, arch, size, cache_dir)
            cfg = work / "config"
            cfg.mkdir()
            _write_files(cfg, recipes.variant(variant).get("config_partition") or {}, {})
            _normalise_times(cfg)

            kernel, sqfs, jffs2 = work / "kernel.uimage", work / "rootfs.squashfs", work / "config.jffs2"
            _kernel_uimage(kernel, work, arch, variant)
            _squashfs(rootfs, sqfs)
            _jffs2(cfg, jffs2)

            image_name = f"iotcop-demo-{variant}-{arch}-{size}.bin"
            image = work / image_name
            layout: dict[str, Any] = {}
            with open(image, "wb") as fh:
                for part, path, kind in (("kernel", kernel, "uimage"), ("rootfs", sqfs, "squashfs"),
                                         ("config", jffs2, "jffs2")):
                    if part != "kernel":
                        _pad(fh, ERASE_BLOCK)
                    layout[part] = {"offset": fh.tell(), "size": path.stat().st_size, "type": kind}
                    fh.write(path.read_bytes())
                layout["total_size"] = fh.tell()
            layout["erase_block"] = ERASE_BLOCK
            for p in (kernel, sqfs, jffs2, work / "kernel.bin.gz"):
                p.unlink()
            shutil.rmtree(cfg)

            manifest = {
                "variant": variant,
                "arch": arch,
                "size": size,
                "key": key,
                "builder_version": BUILDER_VERSION,
                "source_date_epoch": SOURCE_DATE_EPOCH,
                "suite": recipes.load_recipes().get("suite"),
                "image": image_name,
                "sha256": _sha256_file(image),
                "packages": [{"name": p.name, "version": p.version, "arch": p.arch} for p in debs],
                "busybox_applets": {"count": len(applets), "method": applet_method},
                "planted": recipes.planted_issues(variant),
                "layout": layout,
            }
            (work / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            old = None
            if out_dir.exists():
                old = out_dir.with_name(f".old-{out_dir.name}-{os.getpid()}")
                out_dir.rename(old)
            work.rename(out_dir)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            # Builds from other recipes or package sets: keep the newest few, since another checkout of
            # iotcop on this machine may be using one of them right now.
            others = [p for p in cache_dir.glob(f"{variant}-{arch}-{size}-*")
                      if p != out_dir and (p / "manifest.json").is_file()]
            others.sort(key=lambda p: (p / "manifest.json").stat().st_mtime, reverse=True)
            for stale in others[KEEP_OTHER_BUILDS:]:
                shutil.rmtree(stale, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return _load_built(out_dir, cached=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m iotcop.demo.builder",
                                 description="Build a demo firmware image from Debian packages and print its path.")
    ap.add_argument("--variant", default="vulnerable", choices=recipes.VARIANTS)
    ap.add_argument("--arch", default="mipsel")
    ap.add_argument("--size", default="small", choices=recipes.SIZES)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--rebuild", action="store_true", help="build again even if a cached image exists")
    ap.add_argument("--json", action="store_true", help="print image, rootfs, manifest and planted issues as JSON")
    args = ap.parse_args(argv)
    try:
        built = build_image(args.variant, arch=args.arch, size=args.size, cache_dir=args.cache_dir,
                            rebuild=args.rebuild)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps({"image": str(built.image), "rootfs": str(built.rootfs), "manifest": str(built.manifest),
                          "cached": built.cached, "planted": built.planted}, indent=2))
    else:
        print(built.image)
    return 0


if __name__ == "__main__":
    sys.exit(main())
