"""CVSS v3.x base score from a vector string (FIRST CVSS v3.1 specification, section 7)."""

from __future__ import annotations

import math
import re

_W = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(x: float) -> float:
    i = int(round(x * 100000))
    return i / 100000.0 if i % 10000 == 0 else (math.floor(i / 10000) + 1) / 10.0


def base_score(vector: str) -> float | None:
    """The base score of a CVSS:3.0/3.1 vector, or None when it is not one."""
    if not vector or not vector.startswith("CVSS:3"):
        return None
    m = dict(part.split(":", 1) for part in vector.split("/")[1:] if ":" in part)
    try:
        scope = m["S"]
        iss = 1 - (1 - _W["C"][m["C"]]) * (1 - _W["I"][m["I"]]) * (1 - _W["A"][m["A"]])
        impact = 6.42 * iss if scope == "U" else 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
        expl = 8.22 * _W["AV"][m["AV"]] * _W["AC"][m["AC"]] * _PR[scope][m["PR"]] * _W["UI"][m["UI"]]
    except KeyError:
        return None
    if impact <= 0:
        return 0.0
    total = impact + expl if scope == "U" else 1.08 * (impact + expl)
    return _roundup(min(total, 10))


def severity_from_score(score: float | None) -> str | None:
    if score is None:
        return None
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0:
        return "low"
    return "info"


_WORDS = {"critical": "critical", "high": "high", "important": "high", "moderate": "medium", "medium": "medium",
          "low": "low", "none": "info"}


def severity_from_word(word: str | None) -> str | None:
    return _WORDS.get((word or "").strip().lower())


def split_vector_and_score(text: str | None) -> tuple[str | None, float | None]:
    """'CVSS:3.1/AV:N/... 8.8' -> (vector, 8.8)."""
    if not text:
        return None, None
    m = re.match(r"(CVSS:[0-9.]+/\S+)(?:\s+([0-9.]+))?", text.strip())
    if not m:
        return None, None
    vector = m.group(1)
    return vector, float(m.group(2)) if m.group(2) else base_score(vector)
