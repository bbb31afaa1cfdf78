"""Components x vulnerability database -> matches, by CPE vendor/product, component name or package.

For each (component, vulnerability id) the records are weighed in this order:

1. a distribution's own statement about the installed package version (Debian security tracker,
   OSV Debian/Alpine/OpenWrt, Alpine secdb): when it says the version is fixed or never affected, an
   upstream range match becomes a `distro_fixed` note (VEX not_affected) instead of a finding;
2. precise upstream records (the project's own lists, NVD/CVE ranges, kernel mainline/stable fixes):
   they alone decide when any exists for that id, whether they match or not;
3. approximate records (packaging history: a bump with no first affected version) only when no precise
   record for that id exists; such matches are `approximate` and are reported as possible, apart.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.sbom.identify import Component
from iotcop.sbom.versions import (
    compare,
    in_range,
    release_series,
    same_version,
    series_floor,
    upstream_version,
)
from iotcop.vulns.cvss import severity_from_score, severity_from_word
from iotcop.vulns.db import active_db_path, connect
from iotcop.vulns.importers import DEBIAN_RELEASES


@dataclass
class Source:
    name: str
    ref: dict | None
    approximate: bool
    rule: str  # how the version was matched, for the evidence


@dataclass
class Match:
    component: Component
    id: str
    aliases: list[str] = field(default_factory=list)
    title: str | None = None
    description: str | None = None
    cvss_vector: str | None = None
    cvss_score: float | None = None
    severity: str | None = None  # critical/high/medium/low from CVSS, else from the source's word
    known_exploited: bool = False
    sources: list[Source] = field(default_factory=list)
    epss: float | None = None  # FIRST EPSS probability (0..1)
    epss_percentile: float | None = None
    fixed: str | None = None  # the version(s) the matching records name as fixed
    files: list[str] = field(default_factory=list)  # source files the advisory names (kernel arch/feature)
    # Set when a distribution states that this package version carries the fix (or was never affected):
    # the upstream version matched, the build does not; VEX reports it not_affected with this reason.
    distro_fixed: str | None = None
    # "branch": a kernel fix is known for other stable branches but not for this version's branch.
    uncertainty: str | None = None

    @property
    def approximate(self) -> bool:
        return all(s.approximate for s in self.sources)


_ROW_FIELDS = ("a.*, v.id, v.source, v.title, v.description, v.severity, v.cvss_vector, v.cvss_score, "
               "v.known_exploited, v.source_ref, v.approximate, v.aliases, v.modified")


@dataclass
class _Verdict:
    holds: bool
    rule: str = ""
    fixed: str | None = None
    uncertainty: str | None = None


def _range_text(row: sqlite3.Row) -> str:
    desc = []
    if row["introduced"]:
        desc.append(f">= {row['introduced']}")
    if row["start_excluding"]:
        desc.append(f"> {row['start_excluding']}")
    if row["fixed"]:
        desc.append(f"< {row['fixed']}")
    if row["last_affected"]:
        desc.append(f"<= {row['last_affected']}")
    return "range " + ", ".join(desc or ["(all)"])


def _fixed_in_series(fixed_list: str | None, version: str) -> str | None:
    """The fixed release of this version's series from a list ('3.0.3, 1.1.1o, 1.0.2ze'), else the list."""
    if not fixed_list:
        return None
    items = [f.strip() for f in fixed_list.split(",") if f.strip()]
    floor = series_floor(version)
    same = [f for f in items if series_floor(f) == floor]
    return same[0] if same else ", ".join(items)


def _kernel_verdict(row: sqlite3.Row, version: str) -> _Verdict:
    stable = json.loads(row["versions"] or "{}")
    branch = release_series(version)
    if row["introduced"] and compare(version, row["introduced"]) < 0:
        return _Verdict(False)
    if branch in stable:
        return _Verdict(compare(version, stable[branch]) < 0, f"{branch} stable fix {stable[branch]}", stable[branch])
    if row["fixed"]:
        if compare(version, row["fixed"]) >= 0:
            return _Verdict(False)
        fixed = row["fixed"].lstrip("v")
        newer = [b for b in stable if compare(b, branch) > 0]
        older = [b for b in stable if compare(b, branch) < 0]
        # A branch between two branches that got the fix may have had it too without the source knowing.
        uncertainty = "branch" if newer and older else None
        return _Verdict(True, f"mainline {row['introduced'] or 'before v2.6.12'} .. {row['fixed']}"
                        + ("" if not stable else f"; no fix recorded for the {branch} branch"), fixed, uncertainty)
    # Only stable-branch fixes are known and this branch has none.
    newer = [b for b in stable if compare(b, branch) > 0]
    if newer:
        return _Verdict(True, f"fixed in newer branches ({', '.join(sorted(newer)[:3])}), none recorded for {branch}",
                        None, "branch")
    return _Verdict(False)


def _parallel_branches(rows: list[sqlite3.Row]) -> bool:
    """Whether the project ships fixes on an older release series after a newer one exists (OpenSSL 1.1.1
    after 3.0, PHP 8.1 after 8.2): seen in its own advisories' fixed lists, or in packaging history as a
    bump into an older series dated after a bump into a newer one."""
    dates: dict[str, list[str]] = {}
    for r in rows:
        # A project's own advisory naming fixed releases in two series (OpenSSL: "3.0.3, 1.1.1o") says it too.
        if r["kind"] == "versions" and r["fixed"] and len({series_floor(f) for f in r["fixed"].split(",")}) > 1:
            return True
        if r["approximate"] and r["kind"] == "range" and r["fixed"] and r["modified"]:
            dates.setdefault(series_floor(r["fixed"]), []).append(r["modified"])
    ordered = sorted(dates, key=functools.cmp_to_key(compare))
    earliest_newer = "9999"
    for series in reversed(ordered):  # newest series first
        if max(dates[series]) > earliest_newer:
            return True
        earliest_newer = min(earliest_newer, min(dates[series]))
    return False


def _upstream_verdict(row: sqlite3.Row, version: str, parallel: bool = False) -> _Verdict:
    kind = row["kind"]
    if kind == "all":
        return _Verdict(True, "every version")
    if kind == "versions":
        listed = json.loads(row["versions"] or "[]")
        hit = next((v for v in listed if same_version(v, version)), None)
        if hit is None:
            return _Verdict(False)
        return _Verdict(True, f"listed version {hit}", _fixed_in_series(row["fixed"], version))
    if kind == "range":
        ok = in_range(version, introduced=row["introduced"], fixed=row["fixed"], last_affected=row["last_affected"],
                      start_excluding=row["start_excluding"])
        floor = (json.loads(row["versions"]) or {}).get("series_floor") if row["versions"] else None
        if ok and parallel and floor and compare(version, floor) < 0:
            return _Verdict(False)  # another release branch: the bump says nothing about this one
        return _Verdict(ok, _range_text(row), row["fixed"]) if ok else _Verdict(False)
    if kind == "kernel":
        return _kernel_verdict(row, version)
    return _Verdict(False)


def debian_release(comp: Component) -> str | None:
    """The Debian code name of the release a package version was built for, when known."""
    if comp.distro_release:
        rel = comp.distro_release.lower()
        return DEBIAN_RELEASES.get(rel.split(".")[0], rel)
    import re

    m = re.search(r"[+~]deb(\d+)u\d+", comp.package_version or "")
    return DEBIAN_RELEASES.get(m.group(1)) if m else None


def _distro_verdict(row: sqlite3.Row, comp: Component) -> _Verdict | None:
    """What a distribution record says about this package version; None: it says nothing about it."""
    version = comp.package_version
    if not version:
        return None
    kind = row["kind"]
    if kind == "deb_release":
        info = json.loads(row["versions"] or "{}")
        release = debian_release(comp)
        if release is None or info.get("release") != release:
            return None
        status, fixed = info.get("status"), row["fixed"]
        where = f"Debian {release}"
        if status == "resolved" and fixed == "0":
            return _Verdict(False, f"{where}: never affected")
        if status == "resolved" and fixed:
            if compare(version, fixed, "deb") >= 0:
                return _Verdict(False, f"{where}: fixed in {fixed}", fixed)
            return _Verdict(True, f"{where}: fixed in {fixed}", fixed)
        if status in ("open", "undetermined"):
            return _Verdict(True, f"{where}: {status}, no fixed version yet")
        return None
    if kind == "distro_fixed":  # Alpine: fixed apk versions, one per upstream version it patched
        fixed = json.loads(row["versions"] or "[]")
        base = upstream_version(version, "apk")
        for f in fixed:
            if same_version(upstream_version(f, "apk"), base) and compare(version, f) >= 0:
                return _Verdict(False, f"fixed in {f}", f)
        latest = max(fixed, key=functools.cmp_to_key(compare), default=None)
        if latest is not None and compare(version, latest) < 0:
            return _Verdict(True, f"fixed in {', '.join(fixed)}", latest)
        return _Verdict(False, f"fixed in {', '.join(fixed)}")
    if kind in ("range", "versions"):  # OSV ecosystems: versions in the distribution's own spelling
        scheme = "deb" if row["ecosystem"] in ("deb", "opkg") else "generic"
        if kind == "versions":
            listed = json.loads(row["versions"] or "[]")
            hit = any(compare(v, version, scheme) == 0 for v in listed)
            return _Verdict(hit, "listed package version")
        if row["note"] and row["ecosystem"] == "deb":
            release = debian_release(comp)
            number = row["note"].split(":", 1)[-1]
            if release is not None and DEBIAN_RELEASES.get(number, number) != release:
                return None
        lo, fixed, last = row["introduced"], row["fixed"], row["last_affected"]
        if lo and compare(version, lo, scheme) < 0:
            return _Verdict(False, f"introduced {lo}")
        if fixed:
            return _Verdict(compare(version, fixed, scheme) < 0, f"{row['note'] or row['ecosystem']}: fixed in {fixed}",
                            fixed)
        if last:
            return _Verdict(compare(version, last, scheme) <= 0, f"last affected {last}")
        return _Verdict(True, "no fix in the distribution yet")
    return None


def _candidate_rows(conn: sqlite3.Connection, comp: Component) -> tuple[list[sqlite3.Row], list[sqlite3.Row]]:
    """(upstream rows, distribution rows) that may concern this component."""
    names = {comp.name}
    if comp.product:
        names.add(comp.product)
    q = "SELECT {} FROM affects a JOIN vulns v ON v.rowid = a.vuln WHERE a.product IN ({}) AND a.ecosystem IS NULL"
    upstream = [r for r in conn.execute(q.format(_ROW_FIELDS, ",".join("?" * len(names))), tuple(names))
                if r["vendor"] is None or (r["vendor"] == comp.vendor and r["product"] == comp.product)
                or (comp.vendor is None and r["product"] == comp.name)]
    distro: list[sqlite3.Row] = []
    eco = {"dpkg": "deb", "apk": "apk", "opkg": "opkg"}.get(comp.manager or "") or \
        {"debian": "deb", "ubuntu": "deb", "raspbian": "deb", "alpine": "apk", "openwrt": "opkg"}.get(comp.distro or "")
    if eco:
        packages = {p for p in (comp.package, comp.source_package) if p}
        distro = list(conn.execute(
            "SELECT {} FROM affects a JOIN vulns v ON v.rowid = a.vuln WHERE a.ecosystem = ? AND a.product IN ({})"
            .format(_ROW_FIELDS, ",".join("?" * len(packages))), (eco, *sorted(packages))))
    return upstream, distro


def match_components(components: list[Component], db_path: Path | None = None) -> list[Match]:
    path = db_path or active_db_path()
    if path is None or not path.is_file():
        return []
    out: list[Match] = []
    with contextlib.closing(connect(path, readonly=True)) as conn:
        kev = {r[0] for r in conn.execute("SELECT DISTINCT id FROM vulns WHERE known_exploited = 1")}
        for comp in components:
            if not comp.version:
                continue
            upstream, distro = _candidate_rows(conn, comp)
            parallel = _parallel_branches(upstream)
            by_id: dict[str, list[tuple[sqlite3.Row, _Verdict]]] = {}
            for row in upstream:
                by_id.setdefault(row["id"], []).append((row, _upstream_verdict(row, comp.version, parallel)))
            distro_by_id: dict[str, list[tuple[sqlite3.Row, _Verdict]]] = {}
            for row in distro:
                verdict = _distro_verdict(row, comp)
                if verdict is not None:
                    distro_by_id.setdefault(row["id"], []).append((row, verdict))
            for vid in sorted(set(by_id) | set(distro_by_id)):
                m = _decide(comp, vid, by_id.get(vid, []), distro_by_id.get(vid, []), vid in kev)
                if m is not None:
                    out.append(m)
        _fill_texts(conn, out)
        _fill_epss(conn, out)
    return out


def _decide(comp: Component, vid: str, rows: list[tuple[sqlite3.Row, _Verdict]],
            distro: list[tuple[sqlite3.Row, _Verdict]], kev: bool) -> Match | None:
    precise = [(r, v) for r, v in rows if not r["approximate"]]
    considered = precise if precise else rows
    hits = [(r, v) for r, v in considered if v.holds]
    distro_hits = [(r, v) for r, v in distro if v.holds]
    distro_clear = [(r, v) for r, v in distro if not v.holds]
    if distro_hits:
        # The distribution says this very package version is affected: that is the most precise statement.
        return _build_match(comp, vid, distro_hits + hits, kev)
    if not hits:
        return None
    m = _build_match(comp, vid, hits, kev)
    if distro_clear:
        row, verdict = distro_clear[0]
        m.distro_fixed = f"{verdict.rule} ({row['source']})"
    return m


def _fill_texts(conn: sqlite3.Connection, matches: list[Match]) -> None:
    """Title, description, CVSS and named files from any record of the same id when the matching ones lack them.

    Version-range sources (linux_kernel_cves) carry no text; NVD, CVE 5, KEV and OSV records of the same
    id do, and VEX reads the text and the files to see which feature or architecture an advisory concerns.
    """
    ids = sorted({m.id for m in matches})
    if not ids:
        return
    texts: dict[str, dict] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        q = ("SELECT id, component, title, description, cvss_vector, cvss_score, files, aliases FROM vulns "
             "WHERE id IN ({}) ORDER BY source").format(",".join("?" * len(part)))
        for row in conn.execute(q, part):
            got = texts.setdefault(row["id"], {"files": set(), "aliases": set()})
            for key in ("title", "description", "cvss_vector", "cvss_score"):
                if got.get(key) is None and row[key] is not None:
                    got[key] = row[key]
            got["files"].update(json.loads(row["files"]) if row["files"] else [])
            got["aliases"].update(json.loads(row["aliases"]) if row["aliases"] else [])
    for m in matches:
        got = texts.get(m.id) or {}
        m.title = m.title or got.get("title")
        m.description = m.description or got.get("description")
        if m.cvss_score is None and got.get("cvss_score") is not None:
            m.cvss_score, m.cvss_vector = got["cvss_score"], got.get("cvss_vector")
            m.severity = severity_from_score(m.cvss_score)
        m.files = sorted(got.get("files") or [])
        m.aliases = sorted(set(m.aliases) | (got.get("aliases") or set()))


def _fill_epss(conn: sqlite3.Connection, matches: list[Match]) -> None:
    if not matches or conn.execute("SELECT name FROM sqlite_master WHERE name = 'epss'").fetchone() is None:
        return
    ids = sorted({m.id for m in matches})
    scores: dict[str, tuple[float, float | None]] = {}
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        for row in conn.execute("SELECT cve, score, percentile FROM epss WHERE cve IN ({})".format(
                ",".join("?" * len(part))), part):
            scores[row[0]] = (row[1], row[2])
    for m in matches:
        for key in [m.id, *m.aliases]:
            if key in scores:
                m.epss, m.epss_percentile = scores[key]
                break


def _build_match(comp: Component, vid: str, hits: list[tuple[sqlite3.Row, _Verdict]], kev: bool) -> Match:
    m = Match(component=comp, id=vid, known_exploited=kev)
    seen = set()
    for row, verdict in sorted(hits, key=lambda h: (h[0]["approximate"], -(h[0]["cvss_score"] or 0), h[0]["source"])):
        if m.cvss_score is None and row["cvss_score"] is not None:
            m.cvss_score, m.cvss_vector = row["cvss_score"], row["cvss_vector"]
        m.title = m.title or row["title"]
        m.description = m.description or row["description"]
        m.fixed = m.fixed or verdict.fixed
        if verdict.uncertainty and not row["approximate"]:
            m.uncertainty = m.uncertainty or verdict.uncertainty
        if row["aliases"]:
            m.aliases = sorted(set(m.aliases) | set(json.loads(row["aliases"])))
        word = severity_from_word(row["severity"])
        if m.severity is None and word:
            m.severity = word
        key = (row["source"], row["source_ref"])
        if key not in seen:
            seen.add(key)
            m.sources.append(Source(name=row["source"], ref=json.loads(row["source_ref"]) if row["source_ref"] else None,
                                    approximate=bool(row["approximate"]), rule=verdict.rule))
    if any(not s.approximate and "stable fix" in s.rule for s in m.sources):
        m.uncertainty = None
    if m.cvss_score is not None:
        m.severity = severity_from_score(m.cvss_score)
    return m
