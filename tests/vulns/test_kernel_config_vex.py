"""VEX rule "kernel feature disabled in the kernel configuration", with real records from ../shared/vulndata.

No Linux kernel record in ../shared/vulndata (vulns.json, derived/, verified/) names a CONFIG_ option: the
linux_kernel_cves records carry only version ranges, and the CISA KEV records carry a short description
that names the subsystem instead. The closest real records are therefore those whose KEV description
names a subsystem that a single kernel option builds:

* CVE-2024-1086: "use-after-free vulnerability in the netfilter: nf_tables component" -> CONFIG_NF_TABLES
  (net/netfilter/Kconfig); linux_kernel_cves: v3.15-rc1 .. v6.8-rc2, 5.10 stable fix 5.10.210.
* CVE-2021-22600: "a flaw in the packet socket (AF_PACKET) implementation" -> CONFIG_PACKET
  (net/packet/Kconfig); linux_kernel_cves: v5.6 .. v5.16-rc6, 5.10 stable fix 5.10.88.

The kernel below reports 5.10.50, inside both ranges. Only the banner is needed for identification: the
component rule reads "Linux version X (" from files named vmlinux*.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from iotcop.firmware.inventory import inventory_tree
from iotcop.vulns.db import STARTER_DB
from iotcop.vulns.vex import analyse, kernel_config

BANNER = b"Linux version 5.10.50 (builder@buildhost) (mipsel-linux-gnu-gcc (GCC) 10.2.0) #1 SMP Fri Jul 16 2021\n"
NF_TABLES = "CVE-2024-1086"
AF_PACKET = "CVE-2021-22600"


def _tree(root: Path, config_lines: list[str] | None, where: str = "/proc/config.gz") -> Path:
    (root / "boot").mkdir(parents=True)
    (root / "boot" / "vmlinux-5.10.50").write_bytes(b"\x7fKERNEL\x00" * 16 + BANNER + b"\x00" * 64)
    if config_lines is not None:
        text = ("\n".join(["#", "# Automatically generated file; DO NOT EDIT.", "#", *config_lines]) + "\n").encode()
        target = root / where.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(text) if where.endswith(".gz") else text)
    return root


def _by_id(root: Path) -> dict[str, object]:
    results = analyse(inventory_tree(root), STARTER_DB)
    kernel = {a.match.id: a for a in results if a.match.component.name == "linux_kernel"}
    assert kernel, "the kernel banner was not identified or matched nothing"
    assert all(a.match.component.version == "5.10.50" for a in kernel.values())
    return kernel


@pytest.mark.parametrize("where", ["/proc/config.gz", "/boot/config-5.10.50"])
def test_feature_not_built_is_not_affected(tmp_path, where):
    root = _tree(tmp_path / "fw", ["CONFIG_NETFILTER=y", "# CONFIG_NF_TABLES is not set", "CONFIG_PACKET=y"], where)
    found = _by_id(root)
    vex = found[NF_TABLES]
    assert vex.state == "not_affected" and vex.justification == "requires_configuration"
    assert "CONFIG_NF_TABLES" in vex.detail and where in vex.detail
    # The range comes from linux_kernel_cves (no text); the text VEX read comes from the KEV record of the same id.
    assert [s.name for s in vex.match.sources] == ["linux_kernel_cves"] and "nf_tables" in vex.match.description
    # The packet socket is built in: that record stays open.
    assert found[AF_PACKET].state == "in_triage" and found[AF_PACKET].justification is None


@pytest.mark.parametrize("value", ["y", "m"])
def test_feature_built_stays_affected(tmp_path, value):
    root = _tree(tmp_path / "fw", ["CONFIG_NETFILTER=y", f"CONFIG_NF_TABLES={value}", "# CONFIG_PACKET is not set"])
    found = _by_id(root)
    assert found[NF_TABLES].state == "in_triage" and found[NF_TABLES].justification is None
    vex = found[AF_PACKET]
    assert vex.state == "not_affected" and "CONFIG_PACKET" in vex.detail


def test_without_a_kernel_configuration_nothing_is_ruled_out(tmp_path):
    root = _tree(tmp_path / "fw", None)
    assert kernel_config(inventory_tree(root)) is None
    found = _by_id(root)
    assert found[NF_TABLES].state == "in_triage" and found[AF_PACKET].state == "in_triage"
    assert not [a for a in found.values() if a.state == "not_affected"]


def test_config_parse_reads_unset_and_module_values(tmp_path):
    root = _tree(tmp_path / "fw", ["CONFIG_NF_TABLES=m", "# CONFIG_PACKET is not set", "CONFIG_LOCALVERSION=\"\""])
    where, cfg = kernel_config(inventory_tree(root))
    assert where == "/proc/config.gz"
    assert cfg["CONFIG_NF_TABLES"] == "m" and cfg["CONFIG_PACKET"] == "n" and cfg["CONFIG_LOCALVERSION"] == '""'


# --------------------------------------------------------------------------- applicability beyond the configuration

def _kernel_tree(root: Path, version: str, arch: str | None = None, modules: list[str] = (),
                 config: list[str] | None = None, config_at: str = "/boot/config-x") -> Path:
    """A root with a kernel banner, optionally a real Debian busybox of `arch` (so the image's programs say
    which CPU it is for), shipped modules and a configuration file."""
    banner = f"Linux version {version} (builder@buildhost) (gcc version 4.2.4) #1 Mon Jan 1 2001\n".encode()
    (root / "boot").mkdir(parents=True)
    (root / "boot" / f"vmlinux-{version}").write_bytes(b"\x7fKERNEL\x00" * 16 + banner + b"\x00" * 64)
    if arch:
        from iotcop.demo.builder import default_cache_dir, ensure_debian_packages

        (pkg,) = ensure_debian_packages(["busybox-static"], arch, default_cache_dir())
        (root / "bin").mkdir()
        shutil.copy2(pkg.root / "bin" / "busybox", root / "bin" / "busybox")
    for name in modules:
        target = root / "lib" / "modules" / version / "kernel" / f"{name}.ko"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"\x7fELF-not-really\x00vermagic=" + version.encode() + b" mod_unload\x00")
    if config is not None:
        target = root / config_at.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(["#", "# Automatically generated file; DO NOT EDIT.", *config]) + "\n")
    return root


def _kernel_results(root: Path, version: str) -> dict[str, object]:
    results = analyse(inventory_tree(root), STARTER_DB)
    kernel = {a.match.id: a for a in results if a.match.component.name == "linux_kernel"}
    assert kernel and all(a.match.component.version == version for a in kernel.values())
    return kernel


ARM_ONLY = "CVE-2013-6282"  # KEV: get_user/put_user "on ARM v6k/v7 platforms"; v2.6.12-rc2 .. v3.6-rc6
OVERLAYFS = "CVE-2023-0386"  # KEV: OverlayFS setuid copy-up; linux_kernel_cves v2.6.12-rc2 .. v6.2-rc6


@pytest.mark.parametrize("arch,affected", [("mipsel", False), ("armel", True)])
def test_architecture_of_the_image_rules_out_other_cpus(tmp_path, arch, affected):
    found = _kernel_results(_kernel_tree(tmp_path / "fw", "3.4.11", arch), "3.4.11")
    vex = found[ARM_ONLY]
    if affected:
        assert vex.state == "in_triage"
    else:
        assert vex.state == "not_affected" and vex.justification == "code_not_present"
        assert "arm" in vex.detail and "mips" in vex.detail


def test_subsystem_newer_than_the_kernel_is_not_present(tmp_path):
    # v2.6.12-rc2 is where git history starts, not where OverlayFS came in (3.18).
    old = _kernel_results(_kernel_tree(tmp_path / "old", "2.6.33"), "2.6.33")
    assert old[OVERLAYFS].state == "not_affected" and "Linux 3.18" in old[OVERLAYFS].detail
    new = _kernel_results(_kernel_tree(tmp_path / "new", "5.10.50"), "5.10.50")
    assert new[OVERLAYFS].state == "in_triage"


def test_four_part_version_and_records_older_than_git(tmp_path):
    # CVE-2016-0723 (tty TIOCGETD): "v2.6.12-rc2 to v4.5-rc2" - the code predates git, so 2.6.8.1 has it too.
    found = _kernel_results(_kernel_tree(tmp_path / "fw", "2.6.8.1"), "2.6.8.1")
    assert "CVE-2016-0723" in found
    assert "CVE-2018-14734" not in found  # introduced in v2.6.21-rc1


@pytest.mark.parametrize("shipped,state", [([], "not_affected"), (["nf_tables"], "in_triage")])
def test_modular_feature_without_its_module(tmp_path, shipped, state):
    # nf_tables built as a module (=m): present only if the image ships nf_tables.ko.
    root = _kernel_tree(tmp_path / "fw", "5.10.50", modules=["x_tables", *shipped],
                        config=["CONFIG_NETFILTER=y", "CONFIG_NF_TABLES=m", "CONFIG_PACKET=y"],
                        config_at="/usr/share/kernel/.config")
    vex = _kernel_results(root, "5.10.50")[NF_TABLES]
    assert vex.state == state
    if state == "not_affected":
        assert vex.justification == "code_not_present" and "nf_tables.ko" in vex.detail
        assert "/usr/share/kernel/.config" in vex.detail
