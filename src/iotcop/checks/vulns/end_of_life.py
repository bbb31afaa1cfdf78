"""Platforms whose upstream security support has ended: Linux kernel branches, OpenWrt and Debian releases.

The end-of-life dates are data (`checks/data/end-of-life.yaml`, with its sources and review date).  The kernel
version comes from component identification; the distribution release from /etc/openwrt_release,
/etc/openwrt_version, /etc/os-release and /etc/debian_version.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Iterator

import yaml

from iotcop.checks.base import Check, CheckDoc, CheckOutput
from iotcop.context import ScanContext
from iotcop.firmware.model import Firmware
from iotcop.model import Severity
from iotcop.sbom.identify import COMPONENTS


@dataclass(frozen=True)
class EolTable:
    as_of: dt.date
    families: dict  # family -> {"name", "source", "dates": {release: date}}


@cache
def eol_table() -> EolTable:
    data = yaml.safe_load(resources.files("iotcop.checks").joinpath("data/end-of-life.yaml").read_text("utf-8"))
    families = {}
    for family, row in data["platforms"].items():
        dates = row.get("branches") or row.get("releases")
        if not row.get("source") or not dates or not all(isinstance(d, dt.date) for d in dates.values()):
            raise ValueError(f"end-of-life.yaml: {family} needs a source and a date per release")
        families[family] = {"name": row["name"], "source": row["source"], "dates": {str(k): v for k, v in dates.items()}}
    return EolTable(data["as_of"], families)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def kernel_branch_end(version: str, table: EolTable) -> tuple[str, dt.date | None] | None:
    """(branch, end date) of a kernel version; date None for a non-longterm branch that ended with its successor."""
    dates = table.families["linux"]["dates"]
    parts = re.findall(r"\d+", version)
    if len(parts) < 2:
        return None
    branch = ".".join(parts[:3]) if parts[0] == "2" else ".".join(parts[:2])
    if branch in dates:
        return branch, dates[branch]
    ended = [b for b, d in dates.items() if d <= table.as_of]
    if ended and _key(branch) < max(_key(b) for b in ended):
        return branch, None
    return None


def distribution_release(fw: Firmware) -> tuple[str, str, str] | None:
    """(family, release, path) of the distribution the image is built on, when a release file says it."""
    for path in ("/etc/openwrt_release", "/etc/openwrt_version", "/etc/os-release", "/usr/lib/os-release", "/etc/debian_version"):
        entry = fw.get(path)
        text = fw.read_text(entry, 8192) if entry is not None else None
        if not text:
            continue
        if "openwrt" in path or re.search(r"(?im)^(?:ID|DISTRIB_ID)=\"?openwrt", text):
            m = re.search(r"\b(\d{2}\.\d{2})(?:\.\d+)?\b", text)
            if m:
                return "openwrt", m.group(1), path
        if path.endswith("debian_version"):
            m = re.match(r"\s*(\d+)", text)
            if m:
                return "debian", m.group(1), path
        if re.search(r"(?im)^ID=\"?debian", text):
            m = re.search(r"(?im)^VERSION_ID=\"?(\d+)", text)
            if m:
                return "debian", m.group(1), path
    return None


class EndOfLifePlatform(Check):
    ID = "vulns.end-of-life"
    VERSION = "1.0.0"
    SEVERITY = Severity.medium
    TIMEOUT = 60.0
    USES = (COMPONENTS,)
    DOC = CheckDoc(
        title="Platform past the end of its upstream security support",
        why=(
            "A kernel branch or distribution release whose upstream support has ended gets no more security fixes: "
            "unless the vendor backports every fix alone, known vulnerabilities stay open, and a support period "
            "promised beyond that date rests on work nobody upstream does."
        ),
        fix="Move the product to a maintained kernel branch and distribution release, or document and staff the backports.",
        references=("kernel.org Releases", "OpenWrt releases", "Debian LTS"),
        limitations=(
            "Dates come from end-of-life.yaml (reviewed as of the date it records).  A kernel branch is judged by its "
            "first two numbers (2.6.x by three); a non-longterm branch counts as ended once a newer longterm branch "
            "has ended.  Vendor backports are not seen, hence confidence likely.  With a declaration, a declared "
            "support end date past the platform's end of life is reported against 5.3-13."
        ),
    )

    @classmethod
    def environment(cls) -> str:
        return f"end-of-life table as of {eol_table().as_of.isoformat()}"

    def run(self, fw: Firmware, ctx: ScanContext) -> Iterator[CheckOutput]:
        table = eol_table()
        today = dt.date.today()
        declared_end = getattr(getattr(ctx.declaration, "support", None), "end_date", None)
        seen = set()
        for comp in COMPONENTS.of(fw):
            if comp.name not in ("linux_kernel", "linux") or not comp.version:
                continue
            found = kernel_branch_end(comp.version, table)
            if found is None or found[0] in seen:
                continue
            branch, end = found
            if end is not None and end > today:
                continue
            seen.add(branch)
            where = (comp.evidence or [{}])[0].get("path")
            yield from self._report(table, "linux", f"Linux {branch}", comp.version, end, where, declared_end)
        release = distribution_release(fw)
        if release is not None:
            family, version, path = release
            end = table.families[family]["dates"].get(version)
            if end is not None and end <= today:
                yield from self._report(table, family, f"{table.families[family]['name']} {version}", version, end, path,
                                        declared_end)

    def _report(self, table: EolTable, family: str, what: str, version: str, end: dt.date | None, where: str | None,
                declared_end: dt.date | None) -> Iterator[CheckOutput]:
        source = table.families[family]["source"]
        when = f"on {end.isoformat()}" if end else "when its successor branches were released (it was never a longterm branch)"
        yield self.finding(
            where,
            title=f"{what} is past the end of its upstream security support",
            excerpt=f"{what} ({version})",
            detail=(f"{what} (version {version} in the image) stopped receiving upstream security fixes {when} "
                    f"(source: {source}; table as of {table.as_of.isoformat()}). Fixes published since reach this "
                    "image only through backports by its vendor"),
            confidence="likely",
            provisions=("5.3-8",),
        )
        if declared_end is not None and (end is None or declared_end > end):
            yield self.finding(
                where,
                title=f"Declared support period outlasts {what}",
                excerpt=f"support until {declared_end.isoformat()}; {what} ended {end.isoformat() if end else 'earlier'}",
                detail=(f"the declaration promises security updates until {declared_end.isoformat()}, but {what} ended "
                        f"upstream {when}: the declared period depends on backports the manufacturer must make alone, "
                        "which the published support period should say"),
                confidence="likely",
                provisions=("5.3-13",),
            )
