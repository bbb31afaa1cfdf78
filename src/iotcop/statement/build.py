"""The PSTI statement of compliance as data (Act s. 9, SI 2023/1007 Sch. 4).

`build_statement` returns one dict keyed by the catalogue's statement field ids (product,
manufacturers, authorised_representative, prepared_by_manufacturer, compliance_declaration,
standards_relied_on, defined_support_period, signatory, place_and_date_of_issue).  It refuses,
with every reason, when a PSTI requirement is not PASS or DECLARED (psti-1 may also be
NOT_APPLICABLE: a product without passwords), when the support period has no end date or has
ended, or when a required field is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from iotcop.declaration.schema import Declaration
from iotcop.errors import InputError
from iotcop.model import Assessment
from iotcop.standards.catalogue import load_catalogue

STATEMENT_SCHEMA = "iotcop.psti-statement/1"
_MET = {"psti-1": {"PASS", "DECLARED", "NOT_APPLICABLE"}, "psti-2": {"PASS", "DECLARED"}, "psti-3": {"PASS", "DECLARED"}}


class StatementRefused(InputError):
    """The statement cannot honestly be issued; `reasons` says why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__("statement of compliance refused: " + "; ".join(self.reasons))


def _signatory(signatory: Any) -> tuple[str, str]:
    if isinstance(signatory, str):  # "A. Smith, Chief Technology Officer"
        name, _, function = signatory.rpartition(",") if "," in signatory else (signatory, "", "")
        return name.strip(), function.strip()
    if isinstance(signatory, Mapping):
        return str(signatory.get("name") or "").strip(), str(signatory.get("function") or "").strip()
    if isinstance(signatory, (tuple, list)) and len(signatory) == 2:
        return str(signatory[0]).strip(), str(signatory[1]).strip()
    name = getattr(signatory, "name", None)
    if name is not None:
        return str(name).strip(), str(getattr(signatory, "function", "") or "").strip()
    raise TypeError("signatory must be 'Name, Function', {'name': ..., 'function': ...} or (name, function)")


def build_statement(assessment: Assessment, declaration: Declaration, *, signatory: Any, place: str,
                    date: dt.date | str | None = None) -> dict:
    """The Schedule 4 statement as a dict; raises StatementRefused listing every reason it cannot be made."""
    catalogue = load_catalogue()
    issued = date or dt.date.today()
    if isinstance(issued, str):
        try:
            issued = dt.date.fromisoformat(issued)
        except ValueError:
            raise InputError(f"date {issued!r} is not a date (YYYY-MM-DD)") from None
    name, function = _signatory(signatory)
    reasons: list[str] = []

    groups = {g.id: g for g in assessment.psti}
    for group in catalogue.psti:
        got = groups.get(group.id)
        if got is None:
            reasons.append(f"{group.id} ({group.title}) has no verdict in the assessment")
        elif got.verdict.value not in _MET[group.id]:
            failing = [v for v in assessment.provisions if v.id in group.provisions and v.verdict.value not in ("PASS", "DECLARED", "NOT_APPLICABLE")]
            detail = ", ".join(f"{v.id} {v.verdict.value}" + (f" ({v.note})" if v.note else "") for v in failing)
            reasons.append(f"{group.id} ({group.title}) is {got.verdict.value}" + (f": {detail}" if detail else ""))
    support = declaration.support
    if support is None:
        reasons.append("the declaration gives no defined support period (support.end_date)")
    elif support.end_date < issued:
        reasons.append(f"the defined support period ended on {support.end_date.isoformat()}, before the date of issue {issued.isoformat()}")
    if not declaration.product.batch:
        reasons.append("the declaration names no batch (product.batch); Sch. 4 requires the batch the statement covers")
    if not name:
        reasons.append("no signatory name")
    if not function:
        reasons.append("no signatory function")
    if not str(place or "").strip():
        reasons.append("no place of issue")
    if assessment.declaration and assessment.declaration.get("sha256") and declaration.sha256 \
            and assessment.declaration["sha256"] != declaration.sha256:
        reasons.append("the assessment was made with a different declaration file")
    if reasons:
        raise StatementRefused(reasons)

    standard = f"{catalogue.standard} {catalogue.standard_version} ({_standard_date(catalogue)})"
    requirements = []
    for group in catalogue.psti:
        got = groups[group.id]
        requirements.append({
            "id": group.id, "title": group.title, "legal_ref": group.extra.get("legal_ref", ""),
            "verdict": got.verdict.value, "provisions": list(group.provisions),
            "deemed_compliance": group.extra.get("deemed_compliance", ""),
        })
    makers = [{"name": declaration.manufacturer.name, "address": declaration.manufacturer.address}]
    rep = declaration.authorised_representative
    return {
        "schema": STATEMENT_SCHEMA,
        "product": {"type": declaration.product.type, "name": declaration.product.name,
                    "model_designation": declaration.model_designation, "batch": declaration.product.batch,
                    "firmware_version": declaration.firmware_version},
        "manufacturers": makers,
        "authorised_representative": {"name": rep.name, "address": rep.address} if rep else None,
        "prepared_by_manufacturer": f"This statement of compliance has been prepared by or on behalf of {declaration.manufacturer.name}.",
        "compliance_declaration": {
            "text": (f"In the opinion of {declaration.manufacturer.name}, the product has complied with the applicable "
                     "security requirements in Schedule 1 to the Product Security and Telecommunications Infrastructure "
                     "(Security Requirements for Relevant Connectable Products) Regulations 2023, by meeting the deemed "
                     "compliance conditions of Schedule 2."),
            "requirements": requirements,
        },
        "standards_relied_on": [{"number": catalogue.standard, "version": catalogue.standard_version,
                                 "date": _standard_date(catalogue), "reference": standard,
                                 "provisions": [p for g in catalogue.psti for p in g.provisions]}],
        "defined_support_period": {"end_date": support.end_date.isoformat(), "published_url": support.published_url,
                                   "text": f"Security updates will be provided until at least {support.end_date.isoformat()}."},
        "signatory": {"name": name, "function": function, "signature": None},
        "place_and_date_of_issue": {"place": str(place).strip(), "date": issued.isoformat()},
        "basis": {"assessment_generated_at": assessment.generated_at, "target": assessment.target.path,
                  "target_sha256": assessment.target.sha256, "declaration_sha256": declaration.sha256 or None,
                  "tool": f"iotcop {assessment.tool.version}"},
    }


def _standard_date(catalogue) -> str:
    import yaml

    from iotcop.standards.catalogue import (  # the date is in the catalogue header
        DATA_DIR,
        EN_FILE,
    )

    meta = yaml.safe_load((DATA_DIR / EN_FILE).read_text()).get("catalogue", {})
    return str(meta.get("date", ""))
