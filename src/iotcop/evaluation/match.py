"""Match a scan's JSON report against expected results (rules: expected.schema.yaml, in its header).

Works on the report as the CLI prints it (`iotcop scan --format json`), so a saved report, a report from
another machine and a fresh scan are judged the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from iotcop.evaluation.expected import (
    CONFIDENCE_RANK,
    ComponentPart,
    Expected,
    ExtractionPart,
    Fact,
    FindingPart,
    Negative,
    Part,
)

# Findings of these checks are matched like any other, but when they match nothing they are counted per
# component instead of listed: the facts files give component versions, not the advisories against them.
PER_COMPONENT_CHECKS = ("vulns.",)
FAILING = ("confirmed", "likely")


def finding_ref(f: dict) -> dict:
    ev = f.get("evidence") or {}
    return {"check": f.get("check"), "path": ev.get("path"), "line": ev.get("line"), "title": f.get("title"),
            "confidence": f.get("confidence", "confirmed"), "provisions": list(f.get("provisions") or [])}


@dataclass
class PartResult:
    part: str
    state: str  # "counts", "touched", "none"
    by: list[dict] = field(default_factory=list)  # findings, components or readers that touched or counted


@dataclass
class FactResult:
    id: str
    title: str
    state: str  # "found", "partial", "missed", "disputed"
    parts: list[PartResult] = field(default_factory=list)
    capability: str | None = None
    disputed: str | None = None

    def to_dict(self) -> dict:
        out = {"id": self.id, "title": self.title, "state": self.state,
               "parts": [{"part": p.part, "state": p.state, "by": p.by} for p in self.parts]}
        if self.capability:
            out["capability"] = self.capability
        if self.disputed:
            out["disputed"] = self.disputed
        return out


@dataclass
class NegativeResult:
    id: str
    title: str
    hits: list[dict] = field(default_factory=list)
    possible: list[dict] = field(default_factory=list)  # touching findings below the negative's confidence

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "hit": bool(self.hits), "hits": self.hits, "possible": self.possible}


@dataclass
class ImageResult:
    image: str
    facts: list[FactResult]
    negatives: list[NegativeResult]
    unmatched: list[dict]  # groups: {check, path, count, titles, confidence}
    vulnerabilities: list[dict]  # per-component groups of vulnerability findings that matched no fact
    seconds: float | None = None
    exit_code: int | None = None
    expected: Expected | None = None

    def count(self, state: str) -> int:
        return sum(1 for f in self.facts if f.state == state)

    @property
    def countable(self) -> int:
        return sum(1 for f in self.facts if f.state != "disputed")

    @property
    def recall(self) -> float:
        return self.count("found") / self.countable if self.countable else 0.0

    @property
    def found_ids(self) -> list[str]:
        return [f.id for f in self.facts if f.state == "found"]

    @property
    def negatives_hit(self) -> list[str]:
        return [n.id for n in self.negatives if n.hits]

    @property
    def unmatched_count(self) -> int:
        return sum(g["count"] for g in self.unmatched)

    def ratchet_problems(self) -> tuple[list[str], list[str]]:
        """(regressions, stale record): what the corpus tests fail on; empty when the file records no ratchet."""
        exp = self.expected
        if exp is None or exp.ratchet_found is None:
            return [], []
        regress, stale = [], []
        found, hit = set(self.found_ids), set(self.negatives_hit)
        lost = [f for f in exp.ratchet_found if f not in found]
        if lost:
            regress.append(f"{self.image}: facts recorded as found are no longer found: {', '.join(lost)}")
        new_hits = [n for n in self.negatives_hit if n not in exp.ratchet_negatives]
        if new_hits:
            regress.append(f"{self.image}: negatives hit that were not before: "
                           + "; ".join(f"{n.id} ({n.title}) by {_refs(n.hits)}" for n in self.negatives if n.id in new_hits))
        gained = [f for f in self.found_ids if f not in exp.ratchet_found]
        cleared = [n for n in exp.ratchet_negatives if n not in hit]
        if gained or cleared:
            stale.append(f"{self.image}: the ratchet in {exp.path.name} is out of date, record "
                         f"found: [{', '.join(self.found_ids)}] and negatives_hit: [{', '.join(self.negatives_hit)}]")
        return regress, stale

    def to_dict(self) -> dict:
        return {
            "image": self.image,
            "facts": len(self.facts), "countable": self.countable,
            "found": self.count("found"), "partial": self.count("partial"), "missed": self.count("missed"),
            "disputed": self.count("disputed"), "recall": round(self.recall, 4),
            "found_ids": self.found_ids,
            "negatives": len(self.negatives), "negatives_hit": self.negatives_hit,
            "possible_on_negatives": [n.id for n in self.negatives if n.possible and not n.hits],
            "unmatched_count": self.unmatched_count, "unmatched": self.unmatched,
            "vulnerability_findings": sum(g["count"] for g in self.vulnerabilities), "vulnerabilities": self.vulnerabilities,
            "seconds": self.seconds, "exit_code": self.exit_code,
            "fact_results": [f.to_dict() for f in self.facts],
            "negative_results": [n.to_dict() for n in self.negatives],
        }


def _refs(findings: list[dict]) -> str:
    return ", ".join(f"{f['check']} at {f['path']}{':' + str(f['line']) if f.get('line') else ''}" for f in findings[:3]) + (
        f" and {len(findings) - 3} more" if len(findings) > 3 else "")


def _roots(report: dict) -> list[str]:
    extraction = report.get("extraction") or {}
    return sorted([*(extraction.get("roots") or []), *(extraction.get("partitions") or [])], key=len, reverse=True)


def reader_paths(report: dict) -> list[str]:
    """Device paths of the files the extraction readers opened ("<image>/..." outside every root)."""
    roots = _roots(report)
    out = []
    for reader in (report.get("extraction") or {}).get("readers") or []:
        path = reader.get("path") or ""
        for root in roots:
            if path.startswith(root + "/"):
                out.append(path[len(root):])
                break
        else:
            out.append(f"<image>/{path}")
    return out


def _component_state(part: ComponentPart, components: list[dict]) -> PartResult:
    counted, touched = [], []
    for comp in components:
        if not part.name.fullmatch(str(comp.get("name") or "")):
            continue
        paths = [e.get("path") for e in comp.get("evidence") or [] if e.get("path")]
        ref = {"component": comp.get("name"), "version": comp.get("version"), "paths": paths[:5]}
        version_ok = part.version is None or str(comp.get("version") or "").lower() == part.version.lower()
        path_ok = not part.paths or any(p.matches(path, None) for p in part.paths for path in paths)
        (counted if version_ok and path_ok else touched).append(ref)
    if counted:
        return PartResult(part.describe(), "counts", counted)
    return PartResult(part.describe(), "touched" if touched else "none", touched)


def _finding_state(part: FindingPart, fact: Fact, findings: list[dict]) -> PartResult:
    counted, touched = [], []
    floor = CONFIDENCE_RANK[fact.min_confidence]
    for f in findings:
        if not part.touches(f):
            continue
        shares = bool(fact.provisions & set(f.get("provisions") or []))
        strong = CONFIDENCE_RANK.get(f.get("confidence", "confirmed"), 2) >= floor
        (counted if shares and strong else touched).append(finding_ref(f))
    if counted:
        return PartResult(part.describe(), "counts", counted + touched)
    return PartResult(part.describe(), "touched" if touched else "none", touched)


def _part_state(part: Part, fact: Fact, report: dict, readers: list[str]) -> PartResult:
    if isinstance(part, ComponentPart):
        return _component_state(part, report.get("components") or [])
    if isinstance(part, ExtractionPart):
        opened = [p for p in readers if part.path.matches(p, None)]
        return PartResult(part.describe(), "counts" if opened else "none", [{"opened": p} for p in opened[:5]])
    return _finding_state(part, fact, report.get("findings") or [])


def judge_fact(fact: Fact, report: dict, readers: list[str]) -> FactResult:
    if fact.disputed:
        return FactResult(fact.id, fact.title, "disputed", capability=fact.capability, disputed=fact.disputed)
    parts = [_part_state(p, fact, report, readers) for p in fact.evidence]
    if all(p.state == "counts" for p in parts):
        state = "found"
    elif any(p.state != "none" for p in parts):
        state = "partial"
    else:
        state = "missed"
    return FactResult(fact.id, fact.title, state, parts, capability=fact.capability)


def judge_negative(neg: Negative, report: dict) -> NegativeResult:
    result = NegativeResult(neg.id, neg.title)
    if neg.component is not None:
        for comp in report.get("components") or []:
            paths = [e.get("path") for e in comp.get("evidence") or [] if e.get("path")]
            at_paths = any(pattern.matches(p, None) for pattern in neg.locator.paths for p in paths)
            if at_paths and neg.component.fullmatch(str(comp.get("name") or "")):
                result.hits.append({"component": comp.get("name"), "version": comp.get("version"), "paths": paths[:5]})
        return result
    floor = CONFIDENCE_RANK[neg.min_confidence]
    for f in report.get("findings") or []:
        if not neg.locator.touches(f):
            continue
        if neg.provisions and not neg.provisions & set(f.get("provisions") or []):
            continue
        strong = CONFIDENCE_RANK.get(f.get("confidence", "confirmed"), 2) >= floor
        (result.hits if strong else result.possible).append(finding_ref(f))
    return result


def _touches_anything(f: dict, expected: Expected) -> bool:
    for fact in expected.facts:
        if any(isinstance(p, FindingPart) and p.touches(f) for p in fact.evidence):
            return True
    for neg in expected.negatives:
        if neg.component is None and neg.locator.touches(f) and (not neg.provisions or neg.provisions & set(f.get("provisions") or [])):
            return True
    return False


def _group(findings: list[dict]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for f in findings:
        ref = finding_ref(f)
        key = (ref["check"], ref["path"])
        g = groups.setdefault(key, {"check": ref["check"], "path": ref["path"], "count": 0, "titles": [], "lines": [],
                                    "confidence": ref["confidence"]})
        g["count"] += 1
        if len(g["titles"]) < 3 and ref["title"] not in g["titles"]:
            g["titles"].append(ref["title"])
        if ref["line"] is not None and len(g["lines"]) < 10:
            g["lines"].append(ref["line"])
        if CONFIDENCE_RANK[ref["confidence"]] > CONFIDENCE_RANK[g["confidence"]]:
            g["confidence"] = ref["confidence"]
    return sorted(groups.values(), key=lambda g: (g["check"], g["path"] or ""))


def evaluate(expected: Expected, report: dict, *, seconds: float | None = None, exit_code: int | None = None) -> ImageResult:
    """Judge one report against one expected-results file."""
    readers = reader_paths(report)
    facts = [judge_fact(f, report, readers) for f in expected.facts]
    negatives = [judge_negative(n, report) for n in expected.negatives]
    loose = [f for f in report.get("findings") or [] if f.get("confidence", "confirmed") in FAILING and not _touches_anything(f, expected)]
    unmatched = _group([f for f in loose if not str(f.get("check", "")).startswith(PER_COMPONENT_CHECKS)])
    vulns = _group([f for f in loose if str(f.get("check", "")).startswith(PER_COMPONENT_CHECKS)])
    return ImageResult(image=expected.image, facts=facts, negatives=negatives, unmatched=unmatched, vulnerabilities=vulns,
                       seconds=seconds, exit_code=exit_code, expected=expected)


def totals(results: list[ImageResult]) -> dict:
    countable = sum(r.countable for r in results)
    found = sum(r.count("found") for r in results)
    return {
        "images": len(results), "facts": sum(len(r.facts) for r in results), "countable": countable,
        "found": found, "partial": sum(r.count("partial") for r in results), "missed": sum(r.count("missed") for r in results),
        "disputed": sum(r.count("disputed") for r in results), "recall": round(found / countable, 4) if countable else 0.0,
        "negatives": sum(len(r.negatives) for r in results), "negatives_hit": sum(len(r.negatives_hit) for r in results),
        "unmatched_count": sum(r.unmatched_count for r in results),
        "vulnerability_findings": sum(sum(g["count"] for g in r.vulnerabilities) for r in results),
        "seconds": round(sum(r.seconds or 0.0 for r in results), 2),
    }
