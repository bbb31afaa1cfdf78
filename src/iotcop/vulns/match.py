"""Components x vulnerability database -> matches, by CPE vendor/product, component name or purl."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from iotcop.sbom.identify import Component
from iotcop.vulns.cvss import severity_from_score, severity_from_word
from iotcop.vulns.db import active_db_path, connect
from iotcop.vulns.versions import (
    compare,
    in_range,
    release_series,
    same_version,
    upstream_version,
)


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

    @property
    def approximate(self) -> bool:
        return all(s.approximate for s in self.sources)


def _affect_holds(row: sqlite3.Row, version: str) -> tuple[bool, str]:
    kind = row["kind"]
    if kind == "all":
        return True, "every version"
    if kind == "versions":
        listed = json.loads(row["versions"] or "[]")
        hit = next((v for v in listed if same_version(v, version)), None)
        return hit is not None, f"listed version {hit}" if hit else ""
    if kind == "range":
        ok = in_range(version, introduced=row["introduced"], fixed=row["fixed"], last_affected=row["last_affected"],
                      start_excluding=row["start_excluding"])
        desc = []
        if row["introduced"]:
            desc.append(f">= {row['introduced']}")
        if row["start_excluding"]:
            desc.append(f"> {row['start_excluding']}")
        if row["fixed"]:
            desc.append(f"< {row['fixed']}")
        if row["last_affected"]:
            desc.append(f"<= {row['last_affected']}")
        return ok, "range " + ", ".join(desc or ["(all)"])
    if kind == "kernel":
        stable = json.loads(row["versions"] or "{}")
        branch = release_series(version)
        if branch in stable:
            return compare(version, stable[branch]) < 0, f"{branch} stable fix {stable[branch]}"
        if row["introduced"] and compare(version, row["introduced"]) < 0:
            return False, ""
        if row["fixed"]:
            return compare(version, row["fixed"]) < 0, f"mainline {row['introduced'] or '?'} .. {row['fixed']}"
        if stable:
            return False, ""  # fixed in other branches; nothing known about this one
        return True, f"introduced {row['introduced']}, no fix known to the source"
    if kind == "distro_fixed":
        fixed = json.loads(row["versions"] or "[]")
        base = upstream_version(version, "apk")
        for f in fixed:
            if same_version(upstream_version(f, "apk"), base) and compare(version, f) >= 0:
                return False, ""
        latest = max(fixed, key=functools.cmp_to_key(compare), default=None)
        return (latest is not None and compare(version, latest) < 0), f"fixed in {', '.join(fixed)}"
    return False, ""


def _candidate_rows(conn: sqlite3.Connection, comp: Component) -> list[sqlite3.Row]:
    names = {comp.name}
    if comp.product:
        names.add(comp.product)
    q = ("SELECT a.*, v.id, v.source, v.title, v.description, v.severity, v.cvss_vector, v.cvss_score, "
         "v.known_exploited, v.source_ref, v.approximate, v.aliases FROM affects a JOIN vulns v ON v.rowid = a.vuln "
         "WHERE a.product IN ({}) AND a.ecosystem IS NULL".format(",".join("?" * len(names))))
    rows = [r for r in conn.execute(q, tuple(names))
            if r["vendor"] is None or (r["vendor"] == comp.vendor and r["product"] == comp.product)
            or (comp.vendor is None and r["product"] == comp.name)]
    if comp.package and comp.manager:
        eco = {"dpkg": "deb", "apk": "apk", "opkg": "opkg"}[comp.manager]
        rows += list(conn.execute(
            "SELECT a.*, v.id, v.source, v.title, v.description, v.severity, v.cvss_vector, v.cvss_score, "
            "v.known_exploited, v.source_ref, v.approximate, v.aliases FROM affects a JOIN vulns v "
            "ON v.rowid = a.vuln WHERE a.ecosystem = ? AND a.product = ?", (eco, comp.package)))
    return rows


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
            by_id: dict[str, list[tuple[sqlite3.Row, bool, str]]] = {}
            for row in _candidate_rows(conn, comp):
                version = comp.package_version if row["ecosystem"] else comp.version
                if not version:
                    continue
                holds, why = _affect_holds(row, version)
                by_id.setdefault(row["id"], []).append((row, holds, why))
            for vid, rows in sorted(by_id.items()):
                hits = [(r, why) for r, holds, why in rows if holds]
                if not hits:
                    continue
                # A precise source saying "not this version" outweighs inferences from packaging history.
                precise_hit = any(not r["approximate"] for r, _ in hits)
                precise_clear = any(not r["approximate"] and not holds for r, holds, _ in rows)
                if not precise_hit and precise_clear:
                    continue
                out.append(_build_match(comp, vid, hits, vid in kev))
        _fill_texts(conn, out)
    return out


def _fill_texts(conn: sqlite3.Connection, matches: list[Match]) -> None:
    """Title and description from another record of the same id and component when the matching ones have none.

    Version-range sources (linux_kernel_cves) carry no text; a record without versions (CISA KEV) often does,
    and VEX reads the text to see which feature an advisory concerns.
    """
    bare = [m for m in matches if not (m.title or m.description)]
    if not bare:
        return
    names = sorted({n for m in bare for n in (m.component.name, m.component.product) if n})
    texts: dict[tuple[str, str], tuple[str | None, str | None]] = {}
    q = ("SELECT id, component, title, description FROM vulns WHERE component IN ({}) "
         "AND (title IS NOT NULL OR description IS NOT NULL) ORDER BY source").format(",".join("?" * len(names)))
    for row in conn.execute(q, names):
        texts.setdefault((row["id"], row["component"]), (row["title"], row["description"]))
    for m in bare:
        got = texts.get((m.id, m.component.name)) or texts.get((m.id, m.component.product or ""))
        if got:
            m.title, m.description = got


def _build_match(comp: Component, vid: str, hits: list[tuple[sqlite3.Row, str]], kev: bool) -> Match:
    m = Match(component=comp, id=vid, known_exploited=kev)
    seen = set()
    for row, why in sorted(hits, key=lambda h: (h[0]["approximate"], -(h[0]["cvss_score"] or 0), h[0]["source"])):
        if m.cvss_score is None and row["cvss_score"] is not None:
            m.cvss_score, m.cvss_vector = row["cvss_score"], row["cvss_vector"]
        m.title = m.title or row["title"]
        m.description = m.description or row["description"]
        if row["aliases"]:
            m.aliases = sorted(set(m.aliases) | set(json.loads(row["aliases"])))
        word = severity_from_word(row["severity"])
        if m.severity is None and word:
            m.severity = word
        key = (row["source"], row["source_ref"])
        if key not in seen:
            seen.add(key)
            m.sources.append(Source(name=row["source"], ref=json.loads(row["source_ref"]) if row["source_ref"] else None,
                                    approximate=bool(row["approximate"]), rule=why))
    if m.cvss_score is not None:
        m.severity = severity_from_score(m.cvss_score)
    return m
