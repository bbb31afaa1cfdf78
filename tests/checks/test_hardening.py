"""Binary and kernel hardening: FACT_core fixtures through the real pipeline, binaries built here with gcc."""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import corpus_file, run_cli
from surface_helpers import make_tree, run

from iotcop.checks.hardening.binaries import (
    BinaryHardening,
    bad_search_path,
    is_executable,
    libc_has_fortify,
)
from iotcop.checks.hardening.kernel_config import (
    KernelHardening,
    extract_ikconfig,
    kernel_configs,
    parse_config,
)
from iotcop.firmware.inventory import inventory_tree

HOST_LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


def _findings(report: dict, check: str) -> dict[str, dict]:
    return {f["title"].split(" (")[0]: f for f in report["findings"] if f["check"] == check}


def _fact(name: str) -> Path:
    return corpus_file("FACT_core", name)


@functools.cache
def _fact_rootfs_report(root: str) -> dict:
    result = run_cli("scan", root, "--format", "json", "--quiet", "--check", "hardening")
    assert result.code in (0, 1), result.stderr
    return result.json()


@pytest.fixture(scope="module")
def fact_rootfs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fact-rootfs")
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    placed = {
        "Hallo.out": "usr/bin/hallo", "Hallo_no_pie": "usr/bin/hallo_no_pie", "Hallo_Canary": "usr/bin/hallo_canary",
        "Hallo_rpath": "usr/bin/hallo_rpath", "Hallo_runpath": "usr/bin/hallo_runpath", "Hallo.so": "usr/lib/libhallo.so",
        "Hallo.o": "usr/lib/hallo.o", "Hallo_stripped": "usr/bin/hallo_stripped",
        "qemu_exec__test_tmp_dir__usr__bin__test_mips": "usr/bin/test_mips",
    }
    for src, dst in placed.items():
        name = src if src.startswith("qemu_exec") else f"exploit_mitigations__{src}"
        (root / dst).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_fact(name), root / dst)
    (root / "lib/x86_64-linux-gnu").mkdir(parents=True)
    shutil.copy(HOST_LIBC, root / "lib/x86_64-linux-gnu/libc.so.6")
    return root


@pytest.mark.corpus
def test_fact_exploit_mitigations_through_the_pipeline(fact_rootfs):
    found = _findings(_fact_rootfs_report(str(fact_rootfs)), "hardening.binaries")
    # FACT_core: Hallo_no_pie has PIE disabled; Hallo.out PIE enabled, NX, full RELRO, no canary; Hallo_Canary has one.
    no_pie = found["Executables without PIE"]["evidence"]["detail"]
    assert "/usr/bin/hallo_no_pie" in no_pie and "/usr/bin/hallo," not in no_pie and "/usr/bin/hallo_canary" not in no_pie
    canary = found["Executables without stack canaries"]["evidence"]["detail"]
    assert "/usr/bin/hallo," in canary or canary.endswith("/usr/bin/hallo")
    assert "/usr/bin/hallo_canary" not in canary
    relro = found["Executables with partial RELRO only"]["evidence"]["detail"]
    assert "/usr/bin/hallo_no_pie" in relro and "/usr/bin/hallo," not in relro
    # Libraries and objects are not judged as executables; the MIPS binary's executable stack is the toolchain default.
    assert "libhallo.so" not in str(found) and "hallo.o" not in str(found)
    assert "Executables with an executable stack" not in found
    # /some/path is neither relative nor writable: recorded by the inventory, not a finding.
    assert "Library search path in a relative or writable folder" not in found
    # The image's glibc exports __*_chk, so FORTIFY is judged: Hallo imports none.
    assert "/usr/bin/hallo" in found["Executables without FORTIFY_SOURCE"]["evidence"]["detail"]


def _gcc(out: Path, *flags: str, source: str = "#include <string.h>\n#include <stdio.h>\nint main(int c, char **v){char b[64]; strcpy(b, v[0]); puts(b); return 0;}\n") -> Path:
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-O2", *flags, "-o", str(out), str(src)], check=True, capture_output=True, timeout=60)
    src.unlink()
    return out


@pytest.fixture(scope="module")
def built_rootfs(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.fail("gcc is required (scripts/setup installs it)")
    root = tmp_path_factory.mktemp("built")
    (root / "usr/bin").mkdir(parents=True)
    (root / "etc").mkdir()
    _gcc(root / "usr/bin/hardened", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie", "-Wl,-z,relro,-z,now")
    _gcc(root / "usr/bin/soft", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-no-pie", "-z", "execstack", "-Wl,-z,norelro", "-Wl,--disable-new-dtags,-rpath,/tmp/lib")
    _gcc(root / "usr/bin/relative", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie", "-Wl,-z,relro,-z,now", "-Wl,--enable-new-dtags,-rpath,lib")
    (root / "lib/x86_64-linux-gnu").mkdir(parents=True)
    shutil.copy(HOST_LIBC, root / "lib/x86_64-linux-gnu/libc.so.6")
    return root


def test_every_weakness_class_fires_on_a_soft_build(built_rootfs):
    result = run(BinaryHardening, built_rootfs)
    found = {f.title.split(" (")[0]: f for f in result.findings}
    assert found["Executables with an executable stack"].evidence.detail.endswith("/usr/bin/soft")
    assert found["Executables without PIE"].evidence.detail.endswith("/usr/bin/soft")
    assert found["Executables without RELRO"].evidence.detail.endswith("/usr/bin/soft")
    assert found["Executables without stack canaries"].evidence.detail.endswith("/usr/bin/soft")
    assert found["Executables without FORTIFY_SOURCE"].evidence.detail.endswith("/usr/bin/soft")
    paths = found["Library search path in a relative or writable folder"].evidence.detail
    assert "/usr/bin/soft (RPATH /tmp/lib)" in paths and "/usr/bin/relative (RUNPATH lib)" in paths
    assert "hardened" not in " ".join(f.evidence.detail for f in result.findings)
    assert found["Executables without PIE"].title == "Executables without PIE (1 of 3 executables)"
    confidence = {title: f.confidence for title, f in found.items()}
    assert confidence["Executables without stack canaries"] == confidence["Executables without FORTIFY_SOURCE"] == "possible"
    assert confidence["Executables without PIE"] == confidence["Executables with an executable stack"] == "confirmed"


def test_hardened_build_is_silent(tmp_path, built_rootfs):
    root = make_tree(tmp_path, {"etc/passwd": ""})
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(built_rootfs / "usr/bin/hardened", root / "usr/bin/hardened")
    shutil.copytree(built_rootfs / "lib", root / "lib")
    assert run(BinaryHardening, root).findings == []


def test_fortify_is_not_judged_against_a_libc_without_chk(tmp_path, built_rootfs):
    # A musl-style libc exports no __*_chk: a program without FORTIFY is then not a finding.
    root = make_tree(tmp_path, {"lib/ld-musl-mipsel.so.1": Path("/bin/true").read_bytes()})
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy(built_rootfs / "usr/bin/soft", root / "usr/bin/soft")
    fw = inventory_tree(root)
    assert libc_has_fortify(fw) == (False, "/lib/ld-musl-mipsel.so.1")
    titles = [f.title for f in run(BinaryHardening, root).findings]
    assert not any("FORTIFY" in t for t in titles)


@pytest.mark.parametrize("path, bad", [("/usr/lib/app", False), ("$ORIGIN/../lib", False), ("lib", True), ("", True),
                                       ("/tmp/lib", True), ("/overlay/lib", True), ("./", True)])
def test_search_path_rule(path, bad):
    assert bad_search_path(path) is bad


def test_build_host_search_paths_are_not_writable_library_paths(tmp_path, built_rootfs):
    # Folders of the build machine that the image does not hold: the loader finds nothing there and only root
    # could create them on the device.  The same folder names become findings once the image makes them writable.
    root = make_tree(tmp_path, {"etc/passwd": "root:x:0:0::/root:/bin/sh\n"}, links={"home": "var/home"})
    (root / "opt/plugins").mkdir(parents=True)
    os.chmod(root / "opt/plugins", 0o777)
    (root / "usr/lib/app").mkdir(parents=True)
    (root / "usr/bin").mkdir()
    shutil.copytree(built_rootfs / "lib", root / "lib")
    rpaths = {
        "usr/bin/build-home": "/home/builder/work/libnl/lib",  # /home -> /var/home: a RAM disk on the device
        "usr/bin/build-opt": "/opt/buildroot/output/target/usr/lib",  # absent, not writable: build host
        "usr/bin/build-sda": "/mnt/sda6/work/GemGateway/dlna/libogg/.libs",  # /mnt: removable media
        "usr/bin/own-lib": "/usr/lib/app",  # the image's own library folder
        "usr/bin/plugins": "/opt/plugins/lib",  # below a folder the image ships world-writable
    }
    for name, rpath in rpaths.items():
        _gcc(root / name, "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie", "-Wl,-z,relro,-z,now",
             f"-Wl,--disable-new-dtags,-rpath,{rpath}")
    fw = inventory_tree(root)
    assert [bad_search_path(p, fw) for p in rpaths.values()] == [True, False, True, False, True]
    found = {f.title.split(" (")[0]: f for f in run(BinaryHardening, root).findings}
    listed = found["Library search path in a relative or writable folder"].evidence.detail
    assert "/usr/bin/build-home" in listed and "/usr/bin/build-sda" in listed and "/usr/bin/plugins" in listed
    assert "build-opt" not in listed and "own-lib" not in listed
    # Without the symlink /home is the image's own folder and the build-host path under it is no finding.
    os.unlink(root / "home")
    (root / "home").mkdir()
    assert bad_search_path("/home/builder/work/libnl/lib", inventory_tree(root)) is False


# -- kernel configuration --------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.parametrize("name, is_config", [
    ("kernel_config__configs__CONFIG", True),
    ("kernel_config__configs__old_config_build_file", True),
    ("kernel_config__configs__CONFIG_MAGIC_CORRUPT", False),
    ("kernel_config__configs__CONFIG_MAGIC", False),
    ("kernel_config__random_invalid__a.image", False),
    ("kernel_config__random_invalid__c.image", False),
])
def test_fact_plain_configs(name, is_config):
    data = _fact(name).read_bytes()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = ""
    assert (parse_config(text) is not None) is is_config


@pytest.mark.corpus
@pytest.mark.parametrize("name, extracts", [
    ("kernel_config__synthetic__configs.ko", True),
    ("kernel_config__synthetic__gz.image", True),
    ("kernel_config__synthetic__plain.image", True),
    ("kernel_config__synthetic__configs.ko.corrupted", False),
    ("kernel_config__synthetic__ko_failure__configs.ko", False),
    ("kernel_config__configs__CONFIG", False),
    *[(f"kernel_config__random_invalid__{c}.image", False) for c in "abcd"],
])
def test_fact_ikconfig_extraction(name, extracts):
    text = extract_ikconfig(_fact(name).read_bytes())
    assert (bool(text) and parse_config(text.decode()) is not None) is extracts


@pytest.mark.corpus
def test_fact_configs_through_the_pipeline(tmp_path):
    root = make_tree(tmp_path / "rootfs", {"etc/passwd": "", "bin/sh": Path("/bin/true").read_bytes(), "usr/lib/.keep": ""})
    (root / "boot").mkdir()
    shutil.copy(_fact("kernel_config__configs__CONFIG"), root / "boot/config-5.4.0")
    shutil.copy(_fact("kernel_config__configs__CONFIG.gz"), root / "proc_config.gz")
    (root / "proc_config.gz").rename(root / "boot/config.gz")
    shutil.copy(_fact("kernel_config__synthetic__gz.image"), root / "boot/vmlinux-gz.image")
    shutil.copy(_fact("kernel_config__synthetic__configs.ko.corrupted"), root / "boot/configs.ko")
    for c in "abcd":
        shutil.copy(_fact(f"kernel_config__random_invalid__{c}.image"), root / f"boot/random-{c}.image")
    fw = inventory_tree(root)
    assert sorted((c.path, c.source) for c in kernel_configs(fw)) == [
        ("/boot/config-5.4.0", "text"), ("/boot/config.gz", "gzip"), ("/boot/vmlinux-gz.image", "ikconfig"),
    ]
    report = _fact_rootfs_report(str(root))
    kernel = [f for f in report["findings"] if f["check"] == "hardening.kernel-config"]
    assert {f["evidence"]["path"] for f in kernel} == {"/boot/config-5.4.0", "/boot/config.gz", "/boot/vmlinux-gz.image"}
    detail = next(f["evidence"]["detail"] for f in kernel if f["evidence"]["path"] == "/boot/config-5.4.0")
    # FACT_core's checksec run on this config: heap randomisation on (COMPAT_BRK off); it has no HARDENED_USERCOPY.
    assert "CONFIG_HARDENED_USERCOPY not set" in detail and "COMPAT_BRK" not in detail
    assert "STRICT_KERNEL_RWX" not in detail and "RANDOMIZE_BASE" not in detail


def test_kernel_rules_fire_and_stay_silent(tmp_path):
    weak = "\n".join(["CONFIG_MODULES=y", "# CONFIG_STRICT_KERNEL_RWX is not set", "CONFIG_DEVMEM=y", "# CONFIG_STRICT_DEVMEM is not set",
                      "CONFIG_STACKPROTECTOR=y", "# CONFIG_STACKPROTECTOR_STRONG is not set", "CONFIG_COMPAT_BRK=y", "# CONFIG_MODULE_SIG is not set"])
    strong = "\n".join(["CONFIG_MODULES=y", "CONFIG_STRICT_KERNEL_RWX=y", "CONFIG_DEVMEM=y", "CONFIG_STRICT_DEVMEM=y", "CONFIG_STACKPROTECTOR=y",
                        "CONFIG_STACKPROTECTOR_STRONG=y", "# CONFIG_COMPAT_BRK is not set", "CONFIG_MODULE_SIG=y"])
    make_tree(tmp_path / "a", {"etc/passwd": "", "boot/config-6.1": weak + "\n"})
    make_tree(tmp_path / "b", {"etc/passwd": "", "boot/config-6.1": strong + "\n"})
    (tmp_path / "a/proc").mkdir()
    (tmp_path / "a/proc/config.gz").write_bytes(gzip.compress(strong.encode()))
    found = run(KernelHardening, tmp_path / "a").findings
    assert [(f.evidence.path, f.severity.value, f.title) for f in found] == [
        ("/boot/config-6.1", "medium", "Kernel memory protections switched off (2)"),
        ("/boot/config-6.1", "low", "Kernel hardening options off (3)"),
    ]
    assert run(KernelHardening, tmp_path / "b").findings == []


def test_is_executable_skips_libraries_and_objects(tmp_path, built_rootfs):
    root = make_tree(tmp_path, {})
    (root / "lib").mkdir()
    shutil.copy(HOST_LIBC, root / "lib/libc.so.6")
    shutil.copy(built_rootfs / "usr/bin/soft", root / "lib/soft")
    fw = inventory_tree(root)
    assert {e.path: is_executable(e) for e in fw.elf_files()} == {"/lib/libc.so.6": False, "/lib/soft": True}
