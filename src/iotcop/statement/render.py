"""The PSTI statement of compliance as HTML (printed to PDF), from the statement data.

Fields are shown in the order of the catalogue's Schedule 4 list, each under a short heading with the
catalogue's description beneath it.  Known fields are written as sentences and small tables (a
document a person signs, not a data dump); a value of an unexpected shape, and keys the catalogue
does not name, are shown generically.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from iotcop.report.view import catalogue, jinja_env

HEADINGS = {
    "product": "Product",
    "manufacturers": "Manufacturer",
    "authorised_representative": "Authorised representative",
    "prepared_by_manufacturer": "Prepared by",
    "compliance_declaration": "Declaration of compliance",
    "standards_relied_on": "Standard relied on",
    "defined_support_period": "Defined support period",
    "signatory": "Signatory",
    "place_and_date_of_issue": "Place and date of issue",
}
_MET = {"PASS": "met, verified by iotcop", "DECLARED": "met, as declared by the manufacturer",
        "NOT_APPLICABLE": "not applicable"}
_NOT_GIVEN = Markup('<span class="muted">not given</span>')


def _html(value) -> Markup:
    if value is None or value == "" or value == [] or value == {}:
        return _NOT_GIVEN
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    if isinstance(value, dict):
        items = "".join(f"<li>{escape(str(k).replace('_', ' '))}: {_html(v)}</li>" for k, v in value.items())
        return Markup(f"<ul>{items}</ul>")
    if isinstance(value, (list, tuple)):
        return Markup("<ul>" + "".join(f"<li>{_html(v)}</li>" for v in value) + "</ul>")
    return escape(str(value))


def _text(value) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _product(v: dict) -> Markup:
    name = " ".join(x for x in (_text(v.get("name")), _text(v.get("model_designation"))) if x)
    head = escape(_text(v.get("type")) or "product") + (Markup(": <b>") + escape(name) + Markup("</b>") if name else "")
    lines = [head]
    if v.get("firmware_version"):
        lines.append(Markup("Firmware version ") + escape(_text(v["firmware_version"])))
    lines.append(Markup("Batch: ") + (escape(_text(v.get("batch"))) if v.get("batch") else _NOT_GIVEN))
    return Markup("<br>").join(lines)


def _party(v: dict) -> Markup:
    return Markup("<b>") + escape(_text(v.get("name"))) + Markup("</b><br>") + escape(_text(v.get("address")))


def _manufacturers(v: list) -> Markup:
    return Markup('<div class="gap"></div>').join(_party(m) for m in v if isinstance(m, dict))


def _compliance(v: dict) -> Markup:
    rows = []
    for r in v.get("requirements") or []:
        provisions = ", ".join(map(str, r.get("provisions") or []))
        verdict = str(r.get("verdict", ""))
        rows.append(Markup("<tr><td><b>{}</b><br><span class='muted'>{}</span></td><td>{}</td><td>{}</td></tr>").format(
            r.get("title", r.get("id", "")), r.get("legal_ref", ""),
            f"EN 303 645 {provisions}" if provisions else "", _MET.get(verdict, verdict.lower().replace("_", " "))))
    table = (Markup("<table class='inner'><tr><th>Requirement</th><th>Relied on</th><th>Status</th></tr>")
             + Markup("").join(rows) + Markup("</table>")) if rows else Markup("")
    return Markup("<p>") + escape(_text(v.get("text"))) + Markup("</p>") + table


def _standards(v: list) -> Markup:
    parts = []
    for s in v:
        if not isinstance(s, dict):
            parts.append(_html(s))
            continue
        ref = _text(s.get("reference")) or " ".join(x for x in (_text(s.get("number")), _text(s.get("version"))) if x)
        line = Markup("<b>") + escape(ref) + Markup("</b>")
        line += Markup("<br>Number {}, version {}, dated {}").format(s.get("number", ""), s.get("version", ""),
                                                                    s.get("date", ""))
        if s.get("provisions"):
            line += Markup("<br>Provisions ") + escape(", ".join(map(str, s["provisions"])))
        parts.append(line)
    return Markup('<div class="gap"></div>').join(parts)


def _support(v: dict) -> Markup:
    out = Markup("<b>") + escape(_text(v.get("text")) or f"Until {_text(v.get('end_date'))}") + Markup("</b>")
    if v.get("published_url"):
        out += Markup("<br>Published at <span class='url'>") + escape(_text(v["published_url"])) + Markup("</span>")
    return out


def _signatory(v: dict) -> Markup:
    signed = v.get("signature")
    sign = escape(str(signed)) if signed else Markup("&nbsp;")
    return (Markup("<b>") + escape(_text(v.get("name"))) + Markup("</b>, ") + escape(_text(v.get("function")))
            + Markup("<div class='signature'><span class='line'>") + sign + Markup("</span><span class='muted'>"
                                                                                   "Signature</span></div>"))


def _place_date(v: dict) -> Markup:
    return escape(", ".join(x for x in (_text(v.get("place")), _text(v.get("date"))) if x))


_RENDER = {"product": (dict, _product), "manufacturers": (list, _manufacturers),
           "authorised_representative": (dict, _party), "compliance_declaration": (dict, _compliance),
           "standards_relied_on": (list, _standards), "defined_support_period": (dict, _support),
           "signatory": (dict, _signatory), "place_and_date_of_issue": (dict, _place_date)}


def _value(fid: str, value) -> Markup:
    kind, render = _RENDER.get(fid, (None, None))
    if render is not None and isinstance(value, kind) and value:
        try:
            return render(value)
        except (AttributeError, TypeError, ValueError):  # an unexpected shape: show it as it is
            pass
    return _html(value)


def statement_fields(data: dict) -> tuple[list[dict], list[tuple[str, Markup]]]:
    fields = []
    known = {"schema", "basis"}
    for spec in catalogue().psti_statement_fields:
        fid = spec["id"]
        known.add(fid)
        if fid in data or spec.get("required"):
            fields.append({"id": fid, "heading": HEADINGS.get(fid, fid.replace("_", " ").capitalize()),
                           "description": spec["description"], "html": _value(fid, data.get(fid))})
    extra = [(k, _html(v)) for k, v in data.items() if k not in known and not k.startswith("_")]
    return fields, extra


def _basis(data: dict) -> str:
    b = data.get("basis") if isinstance(data.get("basis"), dict) else {}
    parts = []
    if b.get("target"):
        parts.append(f"assessment of {b['target']}" + (f" (sha256 {b['target_sha256']})" if b.get("target_sha256") else ""))
    if b.get("assessment_generated_at"):
        parts.append(f"made {b['assessment_generated_at']}")
    if b.get("declaration_sha256"):
        parts.append(f"declaration sha256 {b['declaration_sha256']}")
    if b.get("tool"):
        parts.append(str(b["tool"]))
    if data.get("schema"):
        parts.append(f"data {data['schema']}")
    return "; ".join(parts)


def render_statement_html(data: dict) -> str:
    fields, extra = statement_fields(data)
    return jinja_env().get_template("statement.html.j2").render(fields=fields, extra=extra, basis=_basis(data))
