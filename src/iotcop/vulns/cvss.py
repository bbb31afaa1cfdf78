"""CVSS base scores from vector strings (v2, v3.0, v3.1 and v4.0) with the `cvss` library (RedHat, PyPI), and
severity words."""

from __future__ import annotations

import re

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError


def base_score(vector: str | None) -> float | None:
    """The base score of a CVSS vector ("CVSS:3.1/AV:N/...", "CVSS:4.0/...", or a bare v2 "AV:N/AC:L/..."),
    or None when it is not a valid one."""
    if not vector:
        return None
    text = vector.strip()
    kind = CVSS4 if text.startswith("CVSS:4") else CVSS3 if text.startswith("CVSS:3") else CVSS2
    if kind is CVSS2:
        text = text.removeprefix("CVSS:2.0/").strip("()")
    try:
        return float(kind(text).base_score)
    except (CVSSError, ValueError, KeyError, IndexError):
        return None


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
