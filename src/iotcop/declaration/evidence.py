"""What a declaration contributes to an assessment: claims, condition answers, and contradictions.

* every conformance row becomes a Claim (Y -> DECLARED, N-A -> NOT_APPLICABLE) and every N row
  also a Finding (the manufacturer itself says the provision is not met);
* the password, disclosure and support-period sections are claims for 5.1-1, 5.1-2, 5.2-1 and
  5.3-13 even without a row;
* claims iotcop can check itself are marked verified (PASS): 5.2-1 when the security.txt is
  valid and the policy page states a contact and both timelines; 5.3-13 when the end date is in
  the future and the published page is reachable and names it; 4-1 when every recommendation
  has a row;
* condition answers become ConditionFacts (a false one makes provisions NOT_APPLICABLE), and an
  answer the firmware checks contradict becomes a Finding with both sides as evidence.
"""

from __future__ import annotations

import datetime as dt
import re

from iotcop.declaration.schema import Declaration
from iotcop.declaration.securitytxt import check_security_txt, inspect_policy
from iotcop.declaration.web import Verify, visible_text
from iotcop.declaration.web import fetch as fetch_page
from iotcop.model import CheckRun, Claim, ConditionFact, Evidence, Finding, Severity
from iotcop.standards.catalogue import Catalogue, load_catalogue

DeclarationItem = Claim | Finding | ConditionFact


def declaration_evidence(decl: Declaration, firmware=None, check_runs: list[CheckRun] | tuple = (), *,
                         fetch: bool = True, timeout: float = 10, verify: Verify = True,
                         today: dt.date | None = None) -> list[DeclarationItem]:
    """Claims, condition facts and findings from a declaration (see the module docstring)."""
    catalogue = load_catalogue()
    today = today or dt.date.today()
    items: list[DeclarationItem] = []
    items.extend(_condition_facts(decl))
    items.extend(_contradicted_conditions(decl, catalogue, check_runs))

    claims: dict[str, Claim] = {}
    for pid, row in decl.conformance.items():
        where = f"{decl.source}:{row.line}"
        ev = Evidence(path=decl.source, line=row.line, excerpt=_short(row.detail), detail=f"declared {row.support}")
        claims[pid] = Claim(provision=pid, support=row.support, detail=row.detail, source=where, evidence=[ev])
        if row.support == "N":
            p = catalogue.provisions[pid]
            items.append(_finding(
                "declaration.conformance", [pid], Severity.medium if p.mandatory else Severity.low,
                f"The manufacturer declares provision {pid} not met", ev,
                why=p.summary, fix=f"Meet provision {pid}, or keep the justification current (provision 4-1)."))
    for claim in _implicit_claims(decl):
        claims.setdefault(claim.provision, claim)

    if decl.vulnerability_disclosure is not None and claims.get("5.2-1", Claim(provision="5.2-1")).support == "Y":
        claims["5.2-1"] = _verify_disclosure(decl, claims["5.2-1"], fetch=fetch, timeout=timeout, verify=verify)
    if decl.support is not None:
        finding, claim = _verify_support(decl, claims.get("5.3-13"), today, fetch=fetch, timeout=timeout, verify=verify)
        if finding is not None:
            items.append(finding)
        if claim is not None:
            claims["5.3-13"] = claim
    if claims.get("4-1") is None or claims["4-1"].support == "Y":
        claims["4-1"] = _verify_justifications(decl, catalogue, claims.get("4-1"))
    items.extend(claims[p] for p in catalogue.provisions if p in claims)
    return items


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finding(check: str, provisions: list[str], severity: Severity, title: str, evidence: Evidence, *,
             why: str = "", fix: str = "", related: list[Evidence] | None = None) -> Finding:
    return Finding(check=check, severity=severity, provisions=provisions, title=title, evidence=evidence,
                   why=why, fix=fix, related=related or []).with_id()


def _condition_facts(decl: Declaration) -> list[ConditionFact]:
    facts = []
    for number, (holds, field_name) in sorted(decl.condition_answers().items()):
        facts.append(ConditionFact(
            condition=number, holds=holds, source="declaration",
            evidence=Evidence(path=decl.source, line=decl.line(field_name), detail=f"{field_name}: declared {'true' if holds else 'false'}"),
        ))
    return facts


def _contradicted_conditions(decl: Declaration, catalogue: Catalogue, runs) -> list[Finding]:
    """A condition the declaration says does not hold (or an N-A row rests on) that a check saw hold."""
    observed: dict[int, tuple[ConditionFact, str]] = {}
    for run in runs:
        if run.status != "ran":
            continue
        for fact in run.conditions:
            if fact.holds and fact.condition not in observed:
                observed[fact.condition] = (fact, run.check)
    # A declared.* check that already reported the contradiction speaks for it.
    reported = {p for r in runs if r.status == "ran" and r.check.startswith("declared.") for f in r.findings for p in f.provisions}
    findings = []
    answers = decl.condition_answers()
    for number, (holds, field_name) in sorted(answers.items()):
        if holds or number not in observed:
            continue
        fact, check = observed[number]
        affected = [p.id for p in catalogue.provisions.values() if number in p.conditions and p.id not in reported]
        if not affected:
            continue
        summary = catalogue.conditions[number].summary.rstrip(".")
        declared = Evidence(path=decl.source, line=decl.line(field_name), detail=f"declared: condition {number} ({summary}) does not hold ({field_name})")
        findings.append(_finding(
            "declaration.conditions", affected,
            Severity.high if any(catalogue.provisions[p].mandatory for p in affected) else Severity.medium,
            f"Declared that condition {number} does not hold, but the firmware shows it does", fact.evidence or Evidence(detail=check),
            why=f"The declaration makes {', '.join(affected)} not applicable, but {check} observed: {summary.lower()}.",
            fix="Correct the declaration, or remove what the firmware shows.", related=[declared]))
    for pid, row in decl.conformance.items():
        if row.support != "N-A" or pid in reported:
            continue
        hit = next(((n, observed[n]) for n in catalogue.provisions[pid].conditions if n in observed), None)
        if hit is None or any(not answers.get(c, (True, ""))[0] for c in catalogue.provisions[pid].conditions):
            continue  # an answered-false condition above already covers it
        number, (fact, check) = hit
        declared = Evidence(path=decl.source, line=row.line, excerpt=_short(row.detail), detail=f"declared N-A for {pid}")
        findings.append(_finding(
            "declaration.conditions", [pid], Severity.high if catalogue.provisions[pid].mandatory else Severity.medium,
            f"{pid} is declared not applicable, but the firmware shows condition {number} holds",
            fact.evidence or Evidence(detail=check),
            why=f"{check} observed: {catalogue.conditions[number].summary.lower().rstrip('.')}.",
            fix="Correct the conformance row, or remove what the firmware shows.", related=[declared]))
    return findings


def _implicit_claims(decl: Declaration) -> list[Claim]:
    out = []
    pw = decl.password
    if pw is not None and pw.approach in ("user_defined", "unique_per_device"):
        words = "set by the user" if pw.approach == "user_defined" else "unique per device"
        out.append(_section_claim(decl, "5.1-1", "password.approach", f"Passwords are {words}."))
        if pw.approach == "unique_per_device" and pw.generation:
            out.append(_section_claim(decl, "5.1-2", "password.generation", pw.generation))
    vd = decl.vulnerability_disclosure
    if vd is not None:
        out.append(_section_claim(
            decl, "5.2-1", "vulnerability_disclosure",
            f"Disclosure policy at {vd.policy_url}; contact {vd.contact}; acknowledgement within "
            f"{vd.acknowledgement_days} days, status updates every {vd.status_update_days} days."))
    if decl.support is not None:
        out.append(_section_claim(decl, "5.3-13", "support",
                                  f"Support period ends {decl.support.end_date.isoformat()}; published at {decl.support.published_url}."))
    return out


def _section_claim(decl: Declaration, pid: str, field_name: str, detail: str) -> Claim:
    line = decl.line(field_name)
    return Claim(provision=pid, support="Y", detail=detail, source=decl.where(field_name),
                 evidence=[Evidence(path=decl.source, line=line, excerpt=_short(detail), detail=f"declared in {field_name}")])


def _verify_disclosure(decl: Declaration, claim: Claim, *, fetch: bool, timeout: float, verify: Verify) -> Claim:
    vd = decl.vulnerability_disclosure
    assert vd is not None
    if not fetch:
        return claim.model_copy(update={"note": "not verified: fetching was turned off"})
    evidence = list(claim.evidence)
    problems: list[str] = []
    policies: dict[str, dict] = {}
    if vd.security_txt_url:
        result = check_security_txt(vd.security_txt_url, fetch=True, timeout=timeout, verify=verify)
        for finding in result.policy_findings:
            policies[finding["url"]] = finding
        if result.ok:
            expires = result.expires.isoformat() if result.expires else "?"
            evidence.append(Evidence(path=result.url, detail=f"security.txt valid (RFC 9116), expires {expires}"))
        else:
            problems.append(f"security.txt at {vd.security_txt_url} is not valid: {'; '.join(result.errors[:3])}")
    policy = policies.get(vd.policy_url) or inspect_policy(vd.policy_url, timeout=timeout, verify=verify)
    if not policy["reachable"]:
        problems.append(f"policy {vd.policy_url} could not be read ({policy['error']})")
    else:
        for key, label in (("contact", "a contact"), ("acknowledgement", "an acknowledgement timeline"),
                           ("status_updates", "a status-update timeline")):
            if not policy[key]:
                problems.append(f"policy {vd.policy_url} states no {label} that iotcop recognises")
        if policy["contact"]:
            evidence.append(Evidence(path=vd.policy_url, excerpt=", ".join(policy["contact"][:3]), detail="contact on the policy page"))
        for key, declared_days, label in (("acknowledgement", vd.acknowledgement_days, "acknowledgement"),
                                          ("status_updates", vd.status_update_days, "status updates")):
            found = policy[key]
            if not found:
                continue
            evidence.append(Evidence(path=vd.policy_url, excerpt=_short(found["text"]), detail=f"{label}: {found['duration']}"))
            if found["days"] > declared_days:
                problems.append(f"the policy gives {found['duration']} for {label}, the declaration {declared_days} days")
    if problems:
        return claim.model_copy(update={"note": "not verified: " + "; ".join(problems), "evidence": evidence})
    return claim.model_copy(update={
        "verified": True, "evidence": evidence,
        "note": f"verified: {vd.policy_url} is public and states a contact, the acknowledgement and the status-update timelines"
                + ("; security.txt valid" if vd.security_txt_url else ""),
    })


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def date_mentioned(text: str, day: dt.date) -> str | None:
    """The first way of writing `day` found in text (ISO, '31 December 2030', 'December 31, 2030', 31/12/2030 ...)."""
    month = _MONTHS[day.month - 1]
    short = month[:3]
    patterns = [
        rf"\b{day.isoformat()}\b",
        rf"\b0?{day.day}(?:st|nd|rd|th)?\s+(?:{month}|{short}\.?)\s*,?\s+{day.year}\b",
        rf"\b(?:{month}|{short}\.?)\s+0?{day.day}(?:st|nd|rd|th)?\s*,?\s+{day.year}\b",
        rf"\b0?{day.day}[./]0?{day.month}[./]{day.year}\b",
    ]
    next_day = day + dt.timedelta(days=1)
    if next_day.month != day.month:  # the last day of a month may be written as the month
        patterns.append(rf"\b(?:end of\s+)?(?:{month}|{short}\.?)\s+{day.year}\b")
    for pattern in patterns:
        m = re.search(pattern, text, re.I)
        if m:
            return m.group(0)
    return None


def _verify_support(decl: Declaration, claim: Claim | None, today: dt.date, *, fetch: bool, timeout: float,
                    verify: Verify) -> tuple[Finding | None, Claim | None]:
    support = decl.support
    assert support is not None
    line = decl.line("support.end_date")
    declared = Evidence(path=decl.source, line=line, excerpt=support.end_date.isoformat(), detail="declared end of the defined support period")
    if support.end_date < today:
        finding = _finding(
            "declaration.support-period", ["5.3-13"], Severity.high,
            f"The defined support period ended on {support.end_date.isoformat()}", declared,
            why="After the end of the support period the product gets no security updates; a product still on sale "
                "must publish a support period that has not ended (PSTI Sch. 1 para 3).",
            fix="Extend the support period, publish the new end date and update the declaration.")
        return finding, claim
    if claim is None or claim.support != "Y":
        return None, claim
    if not fetch:
        return None, claim.model_copy(update={"note": "not verified: fetching was turned off"})
    page = fetch_page(support.published_url, timeout=timeout, verify=verify)
    if not page.ok:
        return None, claim.model_copy(update={"note": f"not verified: {support.published_url} could not be read ({page.error or page.status})"})
    mention = date_mentioned(visible_text(page), support.end_date)
    if mention is None:
        return None, claim.model_copy(update={
            "note": f"not verified: {support.published_url} does not state the end date {support.end_date.isoformat()}"})
    evidence = list(claim.evidence) + [Evidence(path=support.published_url, excerpt=mention,
                                                detail="the published page states the end of the support period")]
    return None, claim.model_copy(update={
        "verified": True, "evidence": evidence,
        "note": f"verified: ends {support.end_date.isoformat()} (in the future), stated at {support.published_url}"})


def _verify_justifications(decl: Declaration, catalogue: Catalogue, claim: Claim | None) -> Claim:
    """4-1: every recommendation that applies has a row; rows N and N-A carry a justification (validated on load)."""
    answers = decl.condition_answers()
    recommendations = [p for p in catalogue.provisions.values() if not p.mandatory]
    applicable = [p for p in recommendations if not any(answers.get(c, (True, ""))[0] is False for c in p.conditions)]
    missing = [p.id for p in applicable if p.id not in decl.conformance]
    base = claim or Claim(provision="4-1", source=decl.where("conformance"))
    if not decl.conformance or missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        return base.model_copy(update={"note": f"{len(missing)} recommendation(s) have no conformance row: {shown}"})
    unmet = [pid for pid, row in decl.conformance.items() if row.support in ("N", "N-A") and not catalogue.provisions[pid].mandatory]
    return base.model_copy(update={
        "verified": True,
        "evidence": list(base.evidence) + [Evidence(path=decl.source, line=decl.line("conformance"),
                                                    detail=f"{len(applicable)} applicable recommendations have a row; {len(unmet)} not met or N-A, each justified")],
        "note": f"verified: every applicable recommendation has a conformance row, and the {len(unmet)} not met or not applicable are justified",
    })
