"""RFC 9116 security.txt validation, and what the disclosure policy it links to promises.

`check_security_txt(source)` reads a file or fetches a URL (a bare origin gets
/.well-known/security.txt) and reports errors (the RFC's MUSTs), warnings (its SHOULDs),
the fields, and - when fetching is allowed - what each Policy page says: contact points and
the acknowledgement and status-update timelines EN 303 645 5.2-1 and PSTI Sch. 1 para 2 ask for.
A PGP cleartext signature is noted, not verified (no key is given).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from iotcop.declaration.web import Page, Verify, fetch, visible_text
from iotcop.errors import InputError

MAX_SECURITY_TXT_BYTES = 64 * 1024
WELL_KNOWN = "/.well-known/security.txt"

_KNOWN = {"acknowledgments", "canonical", "contact", "encryption", "expires", "hiring", "policy",
          "preferred-languages", "csaf"}
_URI_FIELDS = {"acknowledgments", "canonical", "policy", "hiring", "csaf"}
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_LANG_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


@dataclass
class SecurityTxtResult:
    source: str
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fields: dict[str, list[str]] = field(default_factory=dict)  # lower-case field name -> values in order
    policy_findings: list[dict] = field(default_factory=list)  # one per Policy URL followed
    url: str | None = None  # where it was fetched from
    signed: bool = False
    expires: dt.datetime | None = None

    def to_dict(self) -> dict:
        return {
            "source": self.source, "url": self.url, "ok": self.ok, "signed": self.signed,
            "expires": self.expires.isoformat() if self.expires else None,
            "errors": self.errors, "warnings": self.warnings, "fields": self.fields,
            "policy_findings": self.policy_findings,
        }


def security_txt_url(source: str) -> str:
    """The URL to fetch: a bare origin (https://example.com) gets the well-known path."""
    parts = urlsplit(source)
    if parts.path in ("", "/") and not parts.query:
        return f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}"
    return source


def check_security_txt(source: str | Path, *, fetch: bool = True, timeout: float = 10,
                       verify: Verify = True, now: dt.datetime | None = None) -> SecurityTxtResult:
    """Validate a security.txt file or URL.  Raises InputError when a file cannot be read or fetching is off."""
    now = now or dt.datetime.now(dt.timezone.utc)
    text_source = str(source)
    is_url = isinstance(source, str) and text_source.lower().startswith(("http://", "https://"))
    result = SecurityTxtResult(source=text_source)
    if is_url:
        if not fetch:
            raise InputError(f"{text_source}: fetching is turned off; give a file instead")
        url = security_txt_url(text_source)
        result.url = url
        page = _fetch_page(url, timeout, verify)
        if page.error:
            result.errors.append(f"{url}: {page.error}")
            return result
        _check_transport(result, url, page)
        text = page.text
    else:
        path = Path(source)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        if len(raw) > MAX_SECURITY_TXT_BYTES:
            raise InputError(f"{path}: larger than {MAX_SECURITY_TXT_BYTES // 1024} KiB; not a security.txt")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            result.errors.append("the file is not UTF-8 text (RFC 9116 section 2.3)")
            text = raw.decode("utf-8", errors="replace")
    _check_text(result, text, now)
    if fetch:
        for policy in result.fields.get("policy", []):
            if policy.lower().startswith("https://"):
                result.policy_findings.append(inspect_policy(policy, timeout=timeout, verify=verify))
    result.ok = not result.errors
    return result


def _fetch_page(url: str, timeout: float, verify: Verify) -> Page:
    return fetch(url, timeout=timeout, verify=verify, max_bytes=MAX_SECURITY_TXT_BYTES)


def _check_transport(result: SecurityTxtResult, url: str, page: Page) -> None:
    if not url.lower().startswith("https://"):
        result.errors.append(f"{url}: security.txt must be served over HTTPS (RFC 9116 section 3)")
    elif page.final_url and not page.final_url.lower().startswith("https://"):
        result.errors.append(f"{url}: redirected to {page.final_url}, which is not HTTPS")
    ctype = page.content_type.lower()
    if not ctype.startswith("text/plain"):
        result.errors.append(f"Content-Type is {page.content_type or 'missing'!r}; it must be text/plain (RFC 9116 section 3)")
    elif "charset=utf-8" not in ctype.replace(" ", ""):
        result.warnings.append(f"Content-Type {page.content_type!r} should name charset=utf-8")
    if page.final_url and page.final_url != url:
        result.warnings.append(f"redirected to {page.final_url}")


def _strip_signature(result: SecurityTxtResult, lines: list[str]) -> list[tuple[int, str]]:
    """The signed body (line number, line) of a PGP cleartext message, or every line when unsigned."""
    numbered = list(enumerate(lines, start=1))
    first = next((i for i, (_, l) in enumerate(numbered) if l.strip()), None)
    if first is None or numbered[first][1].strip() != "-----BEGIN PGP SIGNED MESSAGE-----":
        if any(l.strip() == "-----BEGIN PGP SIGNATURE-----" for l in lines):
            result.errors.append("a PGP signature block without a '-----BEGIN PGP SIGNED MESSAGE-----' header")
        return numbered
    result.signed = True
    body_start = first + 1
    while body_start < len(numbered) and numbered[body_start][1].strip():  # armor headers (Hash: ...)
        body_start += 1
    end = next((i for i in range(body_start, len(numbered)) if numbered[i][1].strip() == "-----BEGIN PGP SIGNATURE-----"), None)
    if end is None:
        result.errors.append("signed message has no '-----BEGIN PGP SIGNATURE-----' block")
        end = len(numbered)
    elif not any(l.strip() == "-----END PGP SIGNATURE-----" for _, l in numbered[end:]):
        result.errors.append("the PGP signature block is not closed")
    result.warnings.append("PGP cleartext signature present; not verified (no key given)")
    body = []
    for number, line in numbered[body_start + 1:end]:
        body.append((number, line[2:] if line.startswith("- ") else line))  # dash-escaping (RFC 4880 7.1)
    return body


def _check_text(result: SecurityTxtResult, text: str, now: dt.datetime) -> None:
    lines = text.replace("\r\n", "\n").split("\n")
    body = _strip_signature(result, lines)
    where: dict[str, list[int]] = {}
    for number, line in body:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9-]+):\s*(.*)$", stripped)
        if not m:
            result.errors.append(f"line {number}: not a 'Field: value' line: {stripped[:60]!r}")
            continue
        name, value = m.group(1).lower(), m.group(2).strip()
        if not value:
            result.errors.append(f"line {number}: {m.group(1)}: empty value")
            continue
        result.fields.setdefault(name, []).append(value)
        where.setdefault(name, []).append(number)

    def line_of(name: str, i: int = 0) -> str:
        return f"line {where[name][i]}: " if name in where else ""

    contacts = result.fields.get("contact", [])
    if not contacts:
        result.errors.append("Contact is missing (at least one is required, RFC 9116 section 2.5.3)")
    for i, value in enumerate(contacts):
        low = value.lower()
        if low.startswith("http://"):
            result.errors.append(f"{line_of('contact', i)}Contact {value!r}: web URIs must use https://")
        elif not low.startswith(("mailto:", "tel:", "https://")):
            hint = " (write mailto:" + value + ")" if "@" in value and ":" not in value else ""
            result.errors.append(f"{line_of('contact', i)}Contact {value!r} is not a mailto:, tel: or https:// URI{hint}")

    expires = result.fields.get("expires", [])
    if not expires:
        result.errors.append("Expires is missing (exactly one is required, RFC 9116 section 2.5.5)")
    elif len(expires) > 1:
        result.errors.append(f"Expires appears {len(expires)} times (lines {', '.join(map(str, where['expires']))}); exactly one is allowed")
    if expires:
        value = expires[0]
        when = None
        if _RFC3339.match(value):
            try:
                when = dt.datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
            except ValueError:
                when = None
        if when is None:
            result.errors.append(f"{line_of('expires')}Expires {value!r} is not an RFC 3339 date-time (like 2026-12-31T23:59:59Z)")
        else:
            result.expires = when
            if when <= now:
                result.errors.append(f"{line_of('expires')}Expires {value}: the file has expired")
            elif when - now > dt.timedelta(days=366):
                result.warnings.append(f"{line_of('expires')}Expires {value} is more than a year away (RFC 9116 recommends less)")

    langs = result.fields.get("preferred-languages", [])
    if len(langs) > 1:
        result.errors.append(f"Preferred-Languages appears {len(langs)} times; at most one is allowed")
    for value in langs[:1]:
        bad = [t.strip() for t in value.split(",") if not _LANG_TAG.match(t.strip())]
        if bad:
            result.errors.append(f"{line_of('preferred-languages')}Preferred-Languages: {', '.join(bad)} not a language tag")

    for name in _URI_FIELDS:
        for i, value in enumerate(result.fields.get(name, [])):
            low = value.lower()
            label = name.capitalize() if name != "csaf" else "CSAF"
            if low.startswith("http://"):
                result.errors.append(f"{line_of(name, i)}{label} {value!r}: web URIs must use https://")
            elif not re.match(r"^[a-z][a-z0-9+.-]*:", low):
                result.errors.append(f"{line_of(name, i)}{label} {value!r} is not a URI")
    for i, value in enumerate(result.fields.get("encryption", [])):
        low = value.lower()
        if "begin pgp" in low or not re.match(r"^[a-z][a-z0-9+.-]*:", low):
            result.errors.append(f"{line_of('encryption', i)}Encryption must be a URI to the key, not the key itself")
        elif low.startswith("http://"):
            result.errors.append(f"{line_of('encryption', i)}Encryption {value!r}: web URIs must use https://")

    canonical = result.fields.get("canonical", [])
    if result.url and canonical and result.url not in canonical:
        result.errors.append(f"Canonical ({', '.join(canonical)}) does not list {result.url}, where the file was fetched from")
    if result.signed and not canonical:
        result.warnings.append("signed, but without a Canonical field (RFC 9116 section 2.3 asks for one)")
    if "policy" not in result.fields:
        result.warnings.append("no Policy field: nothing links to the vulnerability disclosure policy")
    unknown = sorted(set(result.fields) - _KNOWN)
    if unknown:
        result.warnings.append(f"unknown fields ignored: {', '.join(unknown)}")


# -- the disclosure policy ---------------------------------------------------------------

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90}
_DURATION = re.compile(
    r"\b(\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s*(?:\(\d{1,3}\)\s*)?(?:business |working |calendar )?"
    r"(hours?|days?|weeks?|months?)\b", re.I)
_ACK_WORDS = re.compile(r"acknowledg|confirm(?:ation of)? receipt|receipt of (?:your|the) report|initial response|respond to (?:your|the|all|each) report", re.I)
_STATUS_WORDS = re.compile(r"status update|update(?:s)? (?:on|about) (?:the )?(?:status|progress)|progress update|keep (?:you|the reporter|reporters) (?:informed|updated)|regular updates|updates? (?:you|the reporter) (?:every|at least)", re.I)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CONTACT_URI = re.compile(r"\b(?:mailto:|tel:)[^\s\"'<>]+|https://[^\s\"'<>]*(?:report|contact|security|vulnerab|disclos)[^\s\"'<>]*", re.I)
_UNIT_DAYS = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30}


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def _timeline(sentences: list[str], words: re.Pattern) -> dict | None:
    for sentence in sentences:
        if not words.search(sentence):
            continue
        m = _DURATION.search(sentence)
        if m:
            amount = m.group(1).lower()
            number = int(amount) if amount.isdigit() else _NUMBER_WORDS[amount]
            unit = m.group(2).lower().rstrip("s")
            return {"text": sentence[:300], "duration": m.group(0), "days": round(number * _UNIT_DAYS[unit], 2)}
    return None


def policy_promises(text: str) -> dict:
    """Contact points and the acknowledgement / status-update timelines stated in a policy text."""
    sentences = _sentences(text)
    contacts = sorted({m.group(0) for m in _EMAIL.finditer(text)} | {m.group(0).rstrip(".,;)") for m in _CONTACT_URI.finditer(text)})
    return {
        "contact": contacts[:10],
        "acknowledgement": _timeline(sentences, _ACK_WORDS),
        "status_updates": _timeline(sentences, _STATUS_WORDS),
    }


def inspect_policy(url: str, *, timeout: float = 10, verify: Verify = True) -> dict:
    """Fetch a disclosure policy and report what it promises; 'complete' when contact and both timelines are there."""
    page = fetch(url, timeout=timeout, verify=verify)
    out: dict = {"url": url, "reachable": page.ok, "error": page.error}
    if not page.ok:
        out.update(contact=[], acknowledgement=None, status_updates=None, complete=False,
                   missing=["contact", "acknowledgement", "status_updates"])
        if page.error is None:
            out["error"] = f"HTTP {page.status}"
        return out
    out.update(policy_promises(visible_text(page)))
    out["complete"] = bool(out["contact"] and out["acknowledgement"] and out["status_updates"])
    missing = [k for k in ("contact", "acknowledgement", "status_updates") if not out[k]]
    out["missing"] = missing
    return out
