"""The PSTI statement of compliance as HTML (printed to PDF), from the statement data.

Fields are shown in the order of the catalogue's Schedule 4 list; values may be
text, lists or mappings.  Keys the catalogue does not name are shown after them.
"""

from __future__ import annotations

from markupsafe import Markup, escape

from iotcop.report.view import catalogue, jinja_env


def _html(value) -> Markup:
    if value is None or value == "" or value == [] or value == {}:
        return Markup('<span class="muted">not given</span>')
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    if isinstance(value, dict):
        items = "".join(f"<li>{escape(str(k).replace('_', ' '))}: {_html(v)}</li>" for k, v in value.items())
        return Markup(f"<ul>{items}</ul>")
    if isinstance(value, (list, tuple)):
        return Markup("<ul>" + "".join(f"<li>{_html(v)}</li>" for v in value) + "</ul>")
    return escape(str(value))


def statement_fields(data: dict) -> tuple[list[dict], list[tuple[str, Markup]]]:
    fields = []
    known = set()
    for spec in catalogue().psti_statement_fields:
        fid = spec["id"]
        known.add(fid)
        if fid in data or spec.get("required"):
            fields.append({"id": fid, "description": spec["description"], "html": _html(data.get(fid))})
    extra = [(k, _html(v)) for k, v in data.items() if k not in known and not k.startswith("_")]
    return fields, extra


def render_statement_html(data: dict) -> str:
    fields, extra = statement_fields(data)
    return jinja_env().get_template("statement.html.j2").render(fields=fields, extra=extra)
