"""Importers for the real formats: NVD CVE API 2.0, CVE JSON 5, OSV, Alpine secdb, the Debian security
tracker JSON, the CISA KEV catalogue JSON, FIRST EPSS CSV and vulndata records.

Each importer turns a parsed document into `Record`s; `store()` writes them.  Nothing here
invents data: a record without usable version information is stored without `affects` rows
(it can still carry a known-exploited flag) or skipped when it says nothing about versions.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import yaml

from iotcop.sbom.rules import load_rules
from iotcop.sbom.versions import compare, looks_like_version, series_floor
from iotcop.vulns.cvss import base_score, split_vector_and_score
from iotcop.vulns.db import dumps


@dataclass
class Affect:
    kind: str  # range | versions | kernel | distro_fixed
    product: str
    vendor: str | None = None
    ecosystem: str | None = None
    introduced: str | None = None
    start_excluding: str | None = None
    fixed: str | None = None
    last_affected: str | None = None
    versions: list | dict | None = None
    note: str | None = None


@dataclass
class Record:
    id: str
    source: str
    component: str
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    cvss_vector: str | None = None
    cvss_score: float | None = None
    published: str | None = None
    known_exploited: bool = False
    source_ref: dict | None = None
    approximate: bool = False
    aliases: list[str] = field(default_factory=list)
    affects: list[Affect] = field(default_factory=list)
    modified: str | None = None  # ISO date the source gives the record (last change, else publication)
    files: list[str] = field(default_factory=list)  # source files the advisory names (kernel: arch/x86/...)


@dataclass
class Epss:
    """One row of FIRST's EPSS CSV: the probability of exploitation activity in the next 30 days."""

    cve: str
    score: float
    percentile: float | None
    score_date: str | None


def iso_date(value) -> str | None:
    """'20220503', '2022-05-03T..', '2026-06-02' -> '2022-05-03'; anything else -> None."""
    text = str(value or "").strip()
    m = re.match(r"^(\d{4})-?(\d{2})-?(\d{2})", text)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def store(conn: sqlite3.Connection, records: Iterable[Record | Epss]) -> int:
    count = 0
    for rec in records:
        if isinstance(rec, Epss):
            conn.execute("INSERT OR REPLACE INTO epss VALUES (?,?,?,?)", (rec.cve, rec.score, rec.percentile, rec.score_date))
            count += 1
            continue
        cur = conn.execute("SELECT rowid FROM vulns WHERE id=? AND source=? AND component=?",
                           (rec.id, rec.source, rec.component))
        row = cur.fetchone()
        if row:
            conn.execute("DELETE FROM affects WHERE vuln=?", (row[0],))
            conn.execute("DELETE FROM vulns WHERE rowid=?", (row[0],))
        cur = conn.execute(
            "INSERT INTO vulns (id, source, component, aliases, title, description, severity, cvss_vector, "
            "cvss_score, published, known_exploited, source_ref, approximate, modified, files) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (rec.id, rec.source, rec.component, dumps(rec.aliases or None), rec.title, rec.description,
             rec.severity, rec.cvss_vector, rec.cvss_score, rec.published, int(rec.known_exploited),
             dumps(rec.source_ref), int(rec.approximate), iso_date(rec.modified or rec.published),
             dumps(rec.files or None)))
        rowid = cur.lastrowid
        conn.executemany(
            "INSERT INTO affects (vuln, vendor, product, ecosystem, kind, introduced, start_excluding, fixed, "
            "last_affected, versions, note) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(rowid, a.vendor, a.product, a.ecosystem, a.kind, a.introduced, a.start_excluding, a.fixed,
              a.last_affected, dumps(a.versions), a.note) for a in rec.affects])
        count += 1
    return count


def _component_for(vendor: str | None, product: str) -> str:
    for rule in load_rules():
        if rule.product == product and (vendor is None or rule.vendor == vendor):
            return rule.name
    return product


# --------------------------------------------------------------------------- CPE 2.3

_CPE_SPLIT = re.compile(r"(?<!\\):")


def parse_cpe(cpe: str) -> dict | None:
    parts = _CPE_SPLIT.split(cpe)
    if len(parts) < 6 or parts[0] != "cpe" or parts[1] != "2.3":
        return None
    unescape = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
    return {"part": parts[2], "vendor": unescape(parts[3]), "product": unescape(parts[4]),
            "version": unescape(parts[5]), "update": unescape(parts[6]) if len(parts) > 6 else "*"}


def _cpe_affect(match: dict) -> Affect | None:
    if not match.get("vulnerable", True):
        return None
    cpe = parse_cpe(match.get("criteria") or match.get("cpe23Uri") or "")
    if cpe is None:
        return None
    version = cpe["version"]
    if cpe["update"] not in ("*", "-", ""):
        version = version + cpe["update"] if re.match(r"^(?:p\d|rc|[a-z]$)", cpe["update"]) else f"{version}-{cpe['update']}"
    bounds = {k: match.get(k) for k in ("versionStartIncluding", "versionStartExcluding",
                                         "versionEndExcluding", "versionEndIncluding")}
    if looks_like_version(version) and not any(bounds.values()):
        return Affect(kind="versions", vendor=cpe["vendor"], product=cpe["product"], versions=[version])
    if not any(bounds.values()) and version in ("*", "-"):
        return Affect(kind="all", vendor=cpe["vendor"], product=cpe["product"], note="every version")
    return Affect(kind="range", vendor=cpe["vendor"], product=cpe["product"],
                  introduced=bounds["versionStartIncluding"], start_excluding=bounds["versionStartExcluding"],
                  fixed=bounds["versionEndExcluding"], last_affected=bounds["versionEndIncluding"])


def _walk_nodes(nodes: list) -> Iterator[dict]:
    for node in nodes or []:
        yield from node.get("cpeMatch", []) or []
        yield from _walk_nodes(node.get("children", []))


# --------------------------------------------------------------------------- NVD CVE API 2.0

def _nvd_metrics(metrics: dict) -> tuple[str | None, float | None, str | None]:
    for key in ("cvssMetricV31", "cvssMetricV30", "cvssMetricV40", "cvssMetricV2"):
        entries = metrics.get(key) or []
        primary = [e for e in entries if e.get("type") == "Primary"] or entries
        if primary:
            data = primary[0].get("cvssData", {})
            sev = data.get("baseSeverity") or primary[0].get("baseSeverity")
            return data.get("vectorString"), data.get("baseScore"), sev
    return None, None, None


def nvd_records(doc: dict, source_url: str | None = None) -> Iterator[Record]:
    """An NVD CVE API 2.0 response page (or a single {"cve": ...} item)."""
    items = doc.get("vulnerabilities") if "vulnerabilities" in doc else [doc]
    for item in items:
        cve = item.get("cve", item)
        cve_id = cve.get("id")
        if not cve_id:
            continue
        desc = next((d["value"] for d in cve.get("descriptions", []) if d.get("lang") == "en"), None)
        vector, score, severity = _nvd_metrics(cve.get("metrics", {}))
        affects = [a for conf in cve.get("configurations", []) or []
                   for a in (_cpe_affect(m) for m in _walk_nodes(conf.get("nodes"))) if a]
        by_component: dict[str, list[Affect]] = {}
        for a in affects:
            by_component.setdefault(_component_for(a.vendor, a.product), []).append(a)
        kev = bool(cve.get("cisaExploitAdd"))
        for component, comp_affects in by_component.items():
            yield Record(id=cve_id, source="nvd", component=component, description=desc, severity=severity,
                         cvss_vector=vector, cvss_score=score, published=cve.get("published"),
                         modified=cve.get("lastModified"),
                         known_exploited=kev, source_ref={"url": source_url} if source_url else None,
                         affects=comp_affects)


# --------------------------------------------------------------------------- CVE JSON 5

def cve5_records(doc: dict, source_url: str | None = None) -> Iterator[Record]:
    meta = doc.get("cveMetadata", {})
    cve_id = meta.get("cveId")
    cna = doc.get("containers", {}).get("cna", {})
    if not cve_id or meta.get("state") == "REJECTED":
        return
    desc = next((d["value"] for d in cna.get("descriptions", []) if d.get("lang", "").startswith("en")), None)
    vector = score = severity = None
    for container in [cna] + doc.get("containers", {}).get("adp", []):
        for metric in container.get("metrics", []) or []:
            for key in ("cvssV3_1", "cvssV3_0", "cvssV4_0"):
                if key in metric and vector is None:
                    vector = metric[key].get("vectorString")
                    score = metric[key].get("baseScore")
                    severity = metric[key].get("baseSeverity")
    by_component: dict[str, list[Affect]] = {}
    files: dict[str, list[str]] = {}
    for aff in cna.get("affected", []) or []:
        vendor, product = (aff.get("vendor") or "").lower(), (aff.get("product") or "").lower()
        cpes = [parse_cpe(c) for c in aff.get("cpes", []) or []]
        cpes = [c for c in cpes if c]
        if cpes:
            vendor, product = cpes[0]["vendor"], cpes[0]["product"]
        if not product or product == "n/a":
            continue
        default_affected = aff.get("defaultStatus") == "affected"
        out: list[Affect] = []
        versions = [v for v in aff.get("versions", []) or [] if v.get("versionType") != "git"]
        # "unaffected, lessThan X" entries bound the affected ranges from below.
        floor = None
        for v in versions:
            if v.get("status") == "unaffected" and looks_like_version(v.get("lessThan")):
                if floor is None or compare(v["lessThan"], floor) > 0:
                    floor = v["lessThan"]
        for v in versions:
            if v.get("status") != "affected":
                continue
            version = v.get("version")
            if v.get("lessThan") or v.get("lessThanOrEqual"):
                upper = v.get("lessThan") or v.get("lessThanOrEqual")
                start = version if looks_like_version(version) else None
                if start and looks_like_version(upper) and compare(start, upper) >= 0:
                    start = None  # some CNAs repeat the upper bound as "version"
                out.append(Affect(kind="range", vendor=vendor, product=product,
                                  introduced=start or floor,
                                  fixed=v.get("lessThan") if v.get("lessThan") not in (None, "*") else None,
                                  last_affected=v.get("lessThanOrEqual") if v.get("lessThanOrEqual") not in (None, "*") else None))
            elif looks_like_version(version):
                out.append(Affect(kind="versions", vendor=vendor, product=product, versions=[version]))
        if not out and default_affected:
            out.append(Affect(kind="all", vendor=vendor, product=product, note="defaultStatus affected"))
        if out:
            component = _component_for(vendor, product)
            by_component.setdefault(component, []).extend(out)
            files.setdefault(component, []).extend(f for f in aff.get("programFiles") or [] if isinstance(f, str))
    for component, affects in by_component.items():
        yield Record(id=cve_id, source="cve5", component=component, description=desc, severity=severity,
                     cvss_vector=vector, cvss_score=score, published=meta.get("datePublished"),
                     modified=meta.get("dateUpdated"), files=sorted(set(files.get(component, []))),
                     title=cna.get("title"), source_ref={"url": source_url} if source_url else None,
                     affects=affects)


# --------------------------------------------------------------------------- OSV

_CVE = re.compile(r"CVE-\d{4}-\d{4,}")

_OSV_ECOSYSTEMS = {"alpine": "apk", "debian": "deb", "openwrt": "opkg"}


def osv_records(doc: dict, source_url: str | None = None) -> Iterator[Record]:
    vid = doc.get("id")
    if not vid or doc.get("withdrawn"):
        return
    aliases = [a for a in doc.get("aliases", []) or [] if a != vid]
    # Distribution records restate one CVE under their own id (DEBIAN-CVE-2023-4911, ALPINE-CVE-...,
    # "upstream": [CVE]): filed under the CVE, they meet the upstream records of the same vulnerability.
    upstream = [u for u in (doc.get("upstream") or []) + aliases if isinstance(u, str) and _CVE.fullmatch(u)]
    own = _CVE.search(vid)
    if not vid.startswith("CVE-") and (len(set(upstream)) == 1 or (own and not upstream)):
        cve = upstream[0] if upstream else own.group(0)
        aliases = sorted({vid, *aliases} - {cve})
        vid = cve
    vector = score = None
    # CVSS v3 first (what NVD and most feeds rate by), then v4, then v2; the cvss library scores each.
    by_type = {str(sev.get("type")): sev.get("score") for sev in doc.get("severity", []) or [] if sev.get("score")}
    for kind in ("CVSS_V3", "CVSS_V4", "CVSS_V2"):
        if by_type.get(kind) and base_score(by_type[kind]) is not None:
            vector, score = by_type[kind], base_score(by_type[kind])
            break
    by_component: dict[str, list[Affect]] = {}
    severity_word = None
    for aff in doc.get("affected", []) or []:
        pkg = aff.get("package", {}) or {}
        name = pkg.get("name")
        if not name:
            continue
        eco_full = pkg.get("ecosystem") or ""
        eco_name = eco_full.split(":")[0].lower()
        ecosystem = _OSV_ECOSYSTEMS.get(eco_name)
        release = eco_full.split(":", 1)[1] if ":" in eco_full else None
        severity_word = severity_word or (aff.get("ecosystem_specific") or {}).get("severity") \
            or (aff.get("database_specific") or {}).get("severity")
        out: list[Affect] = []
        for rng in aff.get("ranges", []) or []:
            if rng.get("type") == "GIT":
                continue
            introduced = None
            for ev in rng.get("events", []) or []:
                if "introduced" in ev:
                    introduced = ev["introduced"] if looks_like_version(ev["introduced"]) else None
                elif "fixed" in ev or "last_affected" in ev:
                    out.append(Affect(kind="range", product=name.lower(), ecosystem=ecosystem, introduced=introduced,
                                      fixed=ev.get("fixed"), last_affected=ev.get("last_affected"),
                                      note=f"{eco_full}" if release else None))
                    introduced = None
            if introduced is not None:
                out.append(Affect(kind="range", product=name.lower(), ecosystem=ecosystem, introduced=introduced,
                                  note=f"{eco_full}" if release else None))
        versions = [v for v in aff.get("versions", []) or [] if looks_like_version(v)]
        if versions:
            out.append(Affect(kind="versions", product=name.lower(), ecosystem=ecosystem, versions=versions))
        if out:
            component = name.lower() if ecosystem else _component_for(None, name.lower())
            by_component.setdefault(component, []).extend(out)
    for component, affects in by_component.items():
        yield Record(id=vid, source="osv", component=component, title=doc.get("summary"),
                     description=doc.get("details"), severity=severity_word, cvss_vector=vector, cvss_score=score,
                     published=doc.get("published"), modified=doc.get("modified"), aliases=aliases,
                     source_ref={"url": source_url} if source_url else None, affects=affects)


# --------------------------------------------------------------------------- Alpine secdb


def alpine_records(doc: dict, source_url: str | None = None, data_date: str | None = None) -> Iterator[Record]:
    """One secdb document (yaml or json): fixed apk versions per package and branch.

    The format carries no dates: `data_date` (the download's) stands for the age of its data."""
    branch = doc.get("distroversion", "")
    fixes: dict[tuple[str, str], list[str]] = {}
    for item in doc.get("packages", []) or []:
        pkg = item.get("pkg", {})
        name = pkg.get("name")
        for fixed, ids in (pkg.get("secfixes") or {}).items():
            for text in ids or []:
                for cve in _CVE.findall(str(text)):
                    fixes.setdefault((cve, name), []).append(str(fixed))
    for (cve, name), fixed in sorted(fixes.items()):
        if all(f == "0" for f in fixed):
            continue  # Alpine: never affected
        yield Record(id=cve, source=f"alpine-secdb {branch}".strip(), component=name, modified=data_date,
                     source_ref={"url": source_url} if source_url else None,
                     affects=[Affect(kind="distro_fixed", product=name, ecosystem="apk",
                                     versions=[f for f in fixed if f != "0"], note=f"Alpine {branch}")])


# --------------------------------------------------------------------------- vulndata records

# When a vulndata source states no date per record, the date of the snapshot it was read from
# (../shared/vulndata/SOURCES.md) is the age of its data.
_SNAPSHOT_DATES = {
    "alpinelinux/alpine-secdb": "2020-06-08", "openssl/web": "2022-10-06", "curl/curl-www": "2026-08-22",
    "nluedtke/linux_kernel_cves": "2024-04-09", "RetireJS/retire.js": "2026-08-22",
    "google/oss-fuzz-vulns": "2026-08-21", "e-m-b-a/emba": "2026-07-21", "buildroot/buildroot": "2026-08-22",
    "openwrt/packages": "2026-08-22",
}
# The first commit of Linux's git history: a "breaking" commit there means "older than git", not a version.
_KERNEL_GIT_START = "v2.6.12-rc2"


def _kernel_tag(tag: str | None) -> str | None:
    if not tag or not looks_like_version(tag):
        return None
    tag = re.sub(r"-dontuse$", "", tag.strip())
    return None if tag == _KERNEL_GIT_START else tag


def _vulndata_affects(rec: dict) -> tuple[list[Affect], bool] | None:
    """(affects, approximate) for one vulndata record; None when it says nothing about versions."""
    a = rec["affected"]
    kind, comp = a["type"], rec["component"]
    if kind == "explicit_versions":
        fixed = ", ".join(a.get("fixed_versions") or []) or None
        return [Affect(kind="versions", product=comp, versions=a.get("affected_versions") or [], fixed=fixed)], False
    if kind == "range":
        return [Affect(kind="range", product=comp, introduced=a.get("introduced"), fixed=a.get("fixed"),
                       last_affected=a.get("last_affected"))], False
    if kind == "mainline_range":
        stable = a.get("stable_fixed_versions") or {}
        fixed = _kernel_tag(a.get("fixed_mainline"))
        intro = _kernel_tag(a.get("introduced"))
        if not fixed and not stable:
            return None  # "unk to unk", "CVE Caused by Backporting", or no fix known: no version claim
        note = a.get("range_text")
        if a.get("introduced") == _KERNEL_GIT_START:
            note = f"{note}; present since before git history (v2.6.12-rc2)"
        return [Affect(kind="kernel", product=comp, introduced=intro, fixed=fixed, versions=stable, note=note)], False
    if kind == "nvd_cpe_match":
        affects = [x for x in (_cpe_affect(m) for m in a.get("cpe_matches", [])) if x]
        return affects, False
    if kind == "distro_fixed":
        by_pkg: dict[str, list[str]] = {}
        for item in a.get("fixed_in_package_versions", []):
            name, _, version = item.partition("=")
            if version and version != "0":
                by_pkg.setdefault(name, []).append(version)
        return [Affect(kind="distro_fixed", product=n, ecosystem="apk", versions=v, note=a.get("distro"))
                for n, v in by_pkg.items()], False
    if kind == "fixed_by_version_bump":
        # Only the packaged release series is known to be affected. For a project that maintains release
        # branches side by side (OpenSSL 3.0/3.5), a bump from 3.5.0 to 3.5.1 is no statement about 3.0.x;
        # the matcher uses `series_floor` as the lower bound for such projects (see match._parallel_branches).
        last = a.get("last_packaged_affected")
        floor = series_floor(last) if last and looks_like_version(last) else None
        return [Affect(kind="range", product=comp, fixed=a.get("fixed"),
                       versions={"series_floor": floor, "last_packaged_affected": last} if floor else None,
                       note=f"packaged {last} was affected; first affected version unknown")], True
    if kind == "fixed_by_backported_patch":
        return [Affect(kind="versions", product=comp, versions=[a["patched_upstream_version"]],
                       note="unpatched upstream version")], True
    if kind == "patched_in_buildroot":
        return [Affect(kind="versions", product=comp, versions=[a["upstream_version"]],
                       note="Buildroot patches or ignores it for this version")], True
    if kind == "package_dropped_as_affected":
        return [Affect(kind="versions", product=comp, versions=[a["affected_version"]])], True
    if kind == "osv":
        versions = [v for v in a.get("affected_versions") or [] if looks_like_version(v)]
        return ([Affect(kind="versions", product=comp, versions=versions)], False) if versions else ([], False)
    if kind == "unspecified":
        return [], False
    return None  # mentioned_only and anything unknown: no claim about versions


_COMPONENT_ALIASES = {"hostapd/wpa_supplicant": ("hostapd", "wpa_supplicant")}


def _vulndata_date(rec: dict) -> str | None:
    for key in ("commit_date", "kev_date_added", "published"):
        if iso_date(rec.get(key)):
            return iso_date(rec.get(key))
    return _SNAPSHOT_DATES.get((rec.get("source_ref") or {}).get("repo"))


def vulndata_records(items: list[dict]) -> Iterator[Record]:
    for rec in items:
        got = _vulndata_affects(rec)
        if got is None:
            continue
        affects, approximate = got
        vector, score = split_vector_and_score(rec.get("cvss"))
        for component in _COMPONENT_ALIASES.get(rec["component"], (rec["component"],)):
            comp_affects = [Affect(**{**a.__dict__, "product": component}) if a.product == rec["component"] else a
                            for a in affects]
            yield Record(
                id=rec["id"], source=rec["source"], component=component, title=rec.get("title"),
                description=rec.get("description"), severity=rec.get("severity"), cvss_vector=vector,
                cvss_score=score, published=rec.get("published"), known_exploited=bool(rec.get("known_exploited")),
                source_ref=rec.get("source_ref"), approximate=approximate, affects=comp_affects,
                modified=_vulndata_date(rec), aliases=list(rec.get("aliases") or []))


# --------------------------------------------------------------------------- Debian security tracker

# Debian's release code names and numbers (a revision "+deb12u3" or "~deb12u1" names the number).
DEBIAN_RELEASES = {"7": "wheezy", "8": "jessie", "9": "stretch", "10": "buster", "11": "bullseye",
                   "12": "bookworm", "13": "trixie", "14": "forky"}


def debian_tracker_records(doc: dict, source_url: str | None = None,
                           data_date: str | None = None) -> Iterator[Record]:
    """https://security-tracker.debian.org/tracker/data/json: {source package: {CVE: {releases: {...}}}}.

    One record per (CVE, source package) with one `deb_release` affect per release: its status
    (resolved / open / undetermined), the fixed version ("0": never affected) and the urgency.
    """
    for package, issues in doc.items():
        if not isinstance(issues, dict):
            continue
        for vid, info in issues.items():
            if not isinstance(info, dict) or not vid.startswith(("CVE-", "DSA-", "DLA-", "TEMP-")):
                continue
            affects = []
            for release, rel in (info.get("releases") or {}).items():
                if not isinstance(rel, dict):
                    continue
                affects.append(Affect(kind="deb_release", product=package, ecosystem="deb",
                                      fixed=rel.get("fixed_version"), note=release,
                                      versions={"release": release, "status": rel.get("status"),
                                                "urgency": rel.get("urgency"), "nodsa": rel.get("nodsa")}))
            if not affects:
                continue
            desc = info.get("description")
            yield Record(id=vid, source="debian-security-tracker", component=package, description=desc,
                         title=desc, modified=data_date, affects=affects,
                         source_ref={"url": f"https://security-tracker.debian.org/tracker/{vid}"})


def _looks_like_debian_tracker(doc: dict) -> bool:
    for issues in list(doc.values())[:20]:
        if isinstance(issues, dict):
            for info in list(issues.values())[:5]:
                if isinstance(info, dict) and isinstance(info.get("releases"), dict):
                    return True
    return False


# --------------------------------------------------------------------------- CISA KEV

# CISA's vendorProject/product spellings for components iotcop has a rule for.
_KEV_PRODUCTS = {("linux", "kernel"): "linux_kernel", ("gnu", "gnu c library"): "glibc",
                 ("gnu", "glibc"): "glibc", ("openssl", "openssl"): "openssl"}


def kev_records(doc: dict, source_url: str | None = None) -> Iterator[Record]:
    """The CISA Known Exploited Vulnerabilities catalogue (known_exploited_vulnerabilities.json)."""
    for item in doc.get("vulnerabilities") or []:
        cve = item.get("cveID")
        if not cve:
            continue
        vendor, product = (item.get("vendorProject") or "").strip(), (item.get("product") or "").strip()
        component = _KEV_PRODUCTS.get((vendor.lower(), product.lower())) or _component_for(
            None, re.sub(r"\W+", "_", product.lower()).strip("_") or "unknown")
        ransomware = item.get("knownRansomwareCampaignUse")
        desc = item.get("shortDescription")
        if ransomware == "Known":
            desc = f"{desc} (known to be used in ransomware campaigns)" if desc else "used in ransomware campaigns"
        yield Record(id=cve, source="cisa-kev", component=component, title=item.get("vulnerabilityName"),
                     description=desc, known_exploited=True, published=item.get("dateAdded"),
                     modified=item.get("dateAdded"),
                     source_ref={"url": source_url or "https://www.cisa.gov/known-exploited-vulnerabilities-catalog"})


# --------------------------------------------------------------------------- FIRST EPSS

def epss_rows(text: str) -> Iterator[Epss]:
    """FIRST's EPSS CSV: '#model_version:...,score_date:2024-01-01T...' then 'cve,epss,percentile'."""
    score_date = None
    lines = text.splitlines()
    body_start = 0
    for i, line in enumerate(lines):
        if line.startswith("#"):
            m = re.search(r"score_date:([0-9T:+\-]+)", line)
            score_date = iso_date(m.group(1)) if m else score_date
            body_start = i + 1
        else:
            break
    reader = csv.DictReader(io.StringIO("\n".join(lines[body_start:])))
    if not reader.fieldnames or "cve" not in reader.fieldnames or "epss" not in reader.fieldnames:
        raise ValueError("not an EPSS CSV (no cve,epss header)")
    for row in reader:
        cve = (row.get("cve") or "").strip()
        if not cve.startswith("CVE-"):
            continue
        try:
            score = float(row["epss"])
            pct = float(row["percentile"]) if row.get("percentile") else None
        except ValueError:
            raise ValueError(f"EPSS row for {cve}: not a number") from None
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"EPSS row for {cve}: score {score} outside 0..1")
        yield Epss(cve=cve, score=score, percentile=pct, score_date=score_date)


# --------------------------------------------------------------------------- format detection

def detect_and_parse(name: str, data: bytes, source_url: str | None = None,
                     data_date: str | None = None) -> Iterator[Record | Epss]:
    """Records from one document of any supported format, told apart by its shape.

    A document that is not valid YAML/JSON/CSV or whose fields have unexpected types raises ValueError.
    `data_date`: the date of a download whose format carries none per record (the Debian tracker's JSON).
    """
    try:
        yield from _parse_document(name, data, source_url, data_date)
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError, yaml.YAMLError) as exc:
        raise ValueError(f"malformed document ({type(exc).__name__}: {str(exc)[:200]})") from None


def _parse_document(name: str, data: bytes, source_url: str | None = None,
                    data_date: str | None = None) -> Iterator[Record | Epss]:
    text = data.decode("utf-8", errors="replace")
    if name.endswith(".csv") or text.startswith(("#model_version", "cve,epss")):
        yield from epss_rows(text)
        return
    if name.endswith((".yaml", ".yml")):
        doc = yaml.safe_load(text)
    else:
        doc = json.loads(text)
    if isinstance(doc, list):
        if doc and isinstance(doc[0], dict) and "affected" in doc[0] and "source_ref" in doc[0]:
            yield from vulndata_records(doc)
        else:
            for item in doc:
                if isinstance(item, dict):
                    yield from detect_doc(item, source_url)
        return
    if isinstance(doc, dict):
        yield from detect_doc(doc, source_url, data_date)


def detect_doc(doc: dict, source_url: str | None = None, data_date: str | None = None) -> Iterator[Record]:
    if "catalogVersion" in doc and "vulnerabilities" in doc:
        yield from kev_records(doc, source_url)
    elif "vulnerabilities" in doc and ("resultsPerPage" in doc or "format" in doc):
        yield from nvd_records(doc, source_url)
    elif "cve" in doc and isinstance(doc["cve"], dict) and "id" in doc["cve"]:
        yield from nvd_records(doc, source_url)
    elif doc.get("dataType") == "CVE_RECORD" or "cveMetadata" in doc:
        yield from cve5_records(doc, source_url)
    elif "packages" in doc and "distroversion" in doc:
        yield from alpine_records(doc, source_url, data_date)
    elif "id" in doc and ("affected" in doc or "modified" in doc) and "schema_version" in doc or (
            "id" in doc and "affected" in doc and isinstance(doc.get("affected"), list)):
        yield from osv_records(doc, source_url)
    elif "component" in doc and "affected" in doc and "source_ref" in doc:
        yield from vulndata_records([doc])
    elif _looks_like_debian_tracker(doc):
        yield from debian_tracker_records(doc, source_url, data_date)
    else:
        raise ValueError("unknown vulnerability data format")
