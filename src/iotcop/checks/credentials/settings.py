"""Settings of vendor configuration files, read by format rather than by file name.

A configuration file becomes a list of `Record`s: settings that belong together (an INI section, the
children of one XML element, the keys sharing a prefix and index such as `User_2_*` or `*_12`, one
JSON object, one UCI section).  Each `Field` keeps its line, so a finding points at the line a
reviewer reads.  The formats are recognised from the text itself:

* XML (parsed with expat; entity declarations are refused, as defusedxml does);
* JSON objects;
* OpenWrt UCI (`config` / `option` lines);
* INI (`[section]` headers with `key=value` lines);
* flat `key=value` / `key: value` files: nvram defaults, shell-variable defaults, properties, hostapd;
* SQLite tables, one record per row (opened read-only and immutable, with a bound on sqlite's work).

What a key means (user name, password, Wi-Fi key, WPS PIN) is decided from the words of its name
(`words`, `role_of`), not from a list of vendor spellings, so `DefaultPasswd`, `superpass`,
`Password_12`, `Services_TR069_ACSPassword` and `<DevicePassword>` under `<WPS>` are understood alike.
"""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.parse
from dataclasses import dataclass, field
from xml.parsers import expat

# -- key words ---------------------------------------------------------------------------------------

_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

PASSWORD_HEADS = frozenset({"password", "passwd", "passwort", "passwrd", "pwd", "pswd", "psw", "passcode", "pass",
                            "passphrase", "pword"})
# Words that may be glued in front of a password word in one token ("superpass", "adminpwd").
_GLUED_ROLES = ("super", "admin", "root", "user", "usr", "login", "default", "web", "http", "ftp", "telnet", "ssh",
                "guest", "sys", "acs", "dev", "conn", "srv", "ppp", "pppoe", "wan", "db", "sql", "mail", "smtp",
                "mqtt", "cloud", "app", "device", "manage", "mgmt", "factory", "debug", "service", "support")
_GLUED = re.compile(r"^(" + "|".join(_GLUED_ROLES) + r")(password|passwd|pwd|pswd|pass)$")
USER_HEADS = frozenset({"user", "username", "usr", "uname", "login", "loginname", "loginid", "account", "acct", "userid"})
_WIFI_WORDS = frozenset({"wpa", "wpa2", "wpa3", "wep", "psk", "wifi", "wlan", "wl", "wireless", "ssid", "sae", "wpapsk"})
_WPS_WORDS = frozenset({"wps", "wsc"})


def words(key: str) -> list[str]:
    """The words of a setting name, lower case, without numeric indexes: `WANPPPConnection_Password_2` ->
    [wan, ppp, connection, password]."""
    out = []
    for part in re.split(r"[^A-Za-z0-9]+", key):
        out.extend(w.lower() for w in _CAMEL.findall(part) if not w.isdigit())
    merged: list[str] = []
    for w in out:  # "PassWord", "PassPhrase": one word written in two capitals
        if merged and merged[-1] == "pass" and w in ("word", "wd", "phrase", "code"):
            merged[-1] += w
        else:
            merged.append(w)
    glued = []
    for w in merged:
        m = _GLUED.match(w)
        glued.extend([m.group(1), m.group(2)] if m else [w])
    return glued


def role_of(key: str, context: tuple[str, ...] = ()) -> str | None:
    """user, password, wifi-psk or wps-pin for a setting name (context: the words of the enclosing record)."""
    ws = words(key)
    if not ws:
        return None
    head, before = ws[-1], ws[:-1]
    near = set(before) | set(context)
    if head in ("pin", "pincode") or (head == "code" and "pin" in before):
        return "wps-pin" if near & _WPS_WORDS or "ap" in before else None
    if head in PASSWORD_HEADS:
        if near & _WPS_WORDS:
            return "wps-pin"
        if head == "passphrase" or (near & _WIFI_WORDS and head in ("password", "pass", "psk")):
            return "wifi-psk" if near & _WIFI_WORDS or head == "passphrase" else "password"
        if head == "pass" and not before and key.lower() != "pass":
            return None
        return "password"
    if head == "psk" or (head == "key" and set(before) & _WIFI_WORDS) or head in ("wpakey", "wepkey", "presharedkey"):
        return "wifi-psk"
    if head in USER_HEADS or (head == "name" and before and before[-1] in ("user", "login", "account", "admin")):
        return "user"
    if head == "name" and not before and set(context) & {"user", "users", "account", "accounts", "login"}:
        return "user"
    return None


def qualifier(key: str) -> tuple[str, ...]:
    """The words before the role word: pairs `ACSLogin` with `ACSPassword`, `SrvLogin` with `SrvPassword`."""
    ws = words(key)
    if len(ws) >= 2 and ws[-1] == "name" and ws[-2] in ("user", "login", "account", "admin"):
        ws = ws[:-1]
    rest = tuple(w for w in ws[:-1] if w not in ("default", "config"))
    return rest


# -- records -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    value: str
    line: int
    excerpt: str
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Record:
    fmt: str  # xml, json, uci, ini, keyvalue
    name: str  # section, element path or key prefix, as written
    fields: list[Field] = field(default_factory=list)
    context: tuple[str, ...] = ()  # words of the record's name and its ancestors' names
    ancestors: tuple[dict[str, str], ...] = ()  # scalar settings of enclosing records, nearest first


# -- format recognition --------------------------------------------------------------------------------

_UCI_CONFIG = re.compile(r"^\s*config\s+\S+", re.M)
_UCI_OPTION = re.compile(r"^\s*(?:option|list)\s+\S+", re.M)
_INI_SECTION = re.compile(r"^\s*\[([^\]\n]{1,80})\]\s*$", re.M)
_KV_LINE = re.compile(
    r"""^\s*(?:export\s+)?["']?([A-Za-z0-9_][\w.\-\[\]@]{0,127})["']?\s*(=|:)\s*(.*?)\s*$""")


def format_of(text: str) -> str | None:
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith("<"):
        return "xml"
    if head.startswith(("{", "[")) and not _INI_SECTION.match(head.split("\n", 1)[0]):
        return "json"
    if _UCI_CONFIG.search(text) and _UCI_OPTION.search(text):
        return "uci"
    if _INI_SECTION.search(text):
        return "ini"
    return "keyvalue"


def records(text: str, fmt: str | None = None) -> list[Record]:
    fmt = fmt or format_of(text)
    if fmt == "xml":
        return _xml_records(text)
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError:
            return _keyvalue_records(text, "keyvalue")
        return _json_records(text, data)
    if fmt == "uci":
        return _uci_records(text)
    return _keyvalue_records(text, fmt)


# -- flat and INI ---------------------------------------------------------------------------------------

def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if value and value[0] not in "'\"":
        # an unquoted value ends at a trailing comment
        value = re.split(r"\s+[#;]", value, maxsplit=1)[0].rstrip(",;")
    return value


def _group_of(key: str) -> tuple[str, str]:
    """(group, leaf) of a flat key: `User_2_Password` -> (User_2, Password), `Password_12` -> (#12, Password)."""
    m = re.match(r"^(.*[_.\-])([^_.\-]+)$", key)
    prefix, leaf = (m.group(1).rstrip("_.-"), m.group(2)) if m else ("", key)
    if leaf.isdigit() and prefix:  # Password_12: the index is the group
        inner = re.match(r"^(.*?)([^_.\-]+)$", prefix)
        return f"#{leaf}", (inner.group(2) if inner else prefix)
    lead = re.match(r"^(\d+)([A-Za-z].*)$", leaf)
    if lead:  # 0Password_0 style: a leading index
        return f"{prefix}#{lead.group(1)}", lead.group(2)
    return prefix, leaf


def _keyvalue_records(text: str, fmt: str) -> list[Record]:
    out: dict[tuple[str, str], Record] = {}
    done: list[Record] = []
    section = ""
    for number, raw in enumerate(re.split(r"\r?\n|\x00", text), 1):
        line = raw.strip()
        if not line or line[0] in "#;!" or line.startswith("//"):
            continue
        m = _INI_SECTION.match(line) if fmt == "ini" else None
        if m:
            section = m.group(1).strip()
            continue
        m = _KV_LINE.match(raw)
        if not m:
            continue
        key, sep, value = m.group(1), m.group(2), m.group(3)
        if sep == ":" and value.startswith(("//", "/")) and "://" in raw:
            continue
        group, leaf = _group_of(key)
        name = f"{section}/{group}" if section and group else section or group
        rec = out.get((section, group))
        if rec is not None and any(f.key.lower() == key.lower() for f in rec.fields):
            # the same key again: the next row of a table written as repeated blocks (GoAhead umconfig ROW=)
            done.append(rec)
            rec = None
        if rec is None:
            context = tuple(words(section)) + tuple(words(group.lstrip("#")))
            rec = out[(section, group)] = Record(fmt, name or section, context=context)
        rec.fields.append(Field(key, _unquote(value), number, line[:200]))
    found = done + list(out.values())
    # A record's enclosing records are those whose name is a prefix of its own (WLANInterface_1 encloses
    # WLANInterface_1_Config): their Enable/InUse settings apply to it, as an XML parent's do.
    by_name = {r.name: r for r in found}
    for rec in found:
        parts = re.split(r"(?<=[_.\-/])", rec.name)
        enclosing = ["".join(parts[:i]).rstrip("_.-/") for i in range(len(parts) - 1, 0, -1)]
        rec.ancestors = tuple({f.key.rsplit("_", 1)[-1]: f.value for f in by_name[n].fields}
                              for n in enclosing if n in by_name and by_name[n] is not rec)
    return found


# -- UCI -------------------------------------------------------------------------------------------------

_UCI_SECTION_LINE = re.compile(r"""^\s*config\s+(\S+)(?:\s+['"]?([^'"\s]+)['"]?)?""")
_UCI_OPTION_LINE = re.compile(r"""^\s*option\s+(\S+)\s+(?:'([^']*)'|"([^"]*)"|(\S+))\s*$""")


def _uci_records(text: str) -> list[Record]:
    out: list[Record] = []
    current: Record | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        m = _UCI_SECTION_LINE.match(raw)
        if m:
            name = m.group(1) + (f" '{m.group(2)}'" if m.group(2) else "")
            current = Record("uci", name, context=tuple(words(m.group(1))) + tuple(words(m.group(2) or "")))
            out.append(current)
            continue
        m = _UCI_OPTION_LINE.match(raw)
        if m and current is not None:
            value = next(g for g in m.groups()[1:] if g is not None)
            current.fields.append(Field(m.group(1), value, number, raw.strip()[:200]))
    return out


# -- JSON ------------------------------------------------------------------------------------------------


def _json_records(text: str, data) -> list[Record]:
    out: list[Record] = []
    lines = text.splitlines()

    def line_of(key: str, value: str, start: int) -> int:
        needle = f'"{key}"'
        for i in range(start, len(lines)):
            if needle in lines[i] and (not value or value in lines[i] or i + 1 < len(lines) and value in lines[i + 1]):
                return i + 1
        return start + 1

    cursor = 0

    def walk(node, path: tuple[str, ...]) -> None:
        nonlocal cursor
        if isinstance(node, dict):
            rec = Record("json", "/".join(path) or "/", context=tuple(w for p in path for w in words(p)))
            for key, value in node.items():
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    text_value = str(value)
                    number = line_of(str(key), text_value, cursor)
                    cursor = max(cursor, number - 1)
                    rec.fields.append(Field(str(key), text_value, number, lines[number - 1].strip()[:200] if lines else ""))
            if rec.fields:
                out.append(rec)
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    walk(value, path + (str(key),))
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(data, ())
    return out


# -- XML -------------------------------------------------------------------------------------------------


class _Refused(ValueError):
    pass


@dataclass(slots=True)
class _Element:
    tag: str
    attrs: dict[str, str]
    line: int
    parent: _Element | None
    text: list[str] = field(default_factory=list)
    children: list[_Element] = field(default_factory=list)


def parse_xml(text: str) -> _Element | None:
    """The element tree with line numbers, or None when the text is not well-formed XML."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root = _Element("#document", {}, 0, None)
    stack = [root]

    def start(tag, attrs):
        el = _Element(tag, attrs, parser.CurrentLineNumber, stack[-1])
        stack[-1].children.append(el)
        stack.append(el)

    def end(tag):
        stack.pop()

    def data(chunk):
        stack[-1].text.append(chunk)

    def refuse(*_args):
        raise _Refused("entity declarations are not read")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(text, True)
    except (expat.ExpatError, _Refused, RecursionError):
        return None
    return root


def _xml_records(text: str) -> list[Record]:
    root = parse_xml(text)
    if root is None:
        return []
    lines = text.splitlines()
    out: list[Record] = []

    def scalars(el: _Element) -> dict[str, str]:
        return {c.tag: "".join(c.text).strip() for c in el.children if not c.children}

    def walk(el: _Element, path: tuple[str, ...], ancestors: tuple[dict[str, str], ...]) -> None:
        leaves = [c for c in el.children if not c.children]
        rec = Record("xml", "/".join(path) or "/", context=tuple(w for p in path[-3:] for w in words(p)),
                     ancestors=ancestors)
        for c in leaves:
            value = "".join(c.text).strip()
            excerpt = lines[c.line - 1].strip()[:200] if 0 < c.line <= len(lines) else ""
            rec.fields.append(Field(c.tag, value, c.line, excerpt, tuple(sorted(c.attrs.items()))))
        # settings kept as attributes: <user name="admin" password="x"/>
        for c in [el] + leaves:
            if c is el and el.tag == "#document":
                continue
            if any(role_of(a) in ("password", "wifi-psk", "wps-pin") for a in c.attrs):
                excerpt = lines[c.line - 1].strip()[:200] if 0 < c.line <= len(lines) else ""
                attr_rec = Record("xml", "/".join(path + ((c.tag,) if c is not el else ())),
                                  context=rec.context + tuple(words(c.tag)), ancestors=(scalars(el),) + ancestors)
                attr_rec.fields.extend(Field(k, v, c.line, excerpt) for k, v in c.attrs.items())
                out.append(attr_rec)
        if rec.fields:
            out.append(rec)
        mine = scalars(el)
        for c in el.children:
            if c.children:
                walk(c, path + (c.tag,), (mine,) + ancestors)

    for top in root.children:
        walk(top, (top.tag,), ())
    return out


# -- SQLite ----------------------------------------------------------------------------------------------

MAX_TABLE_ROWS = 1000


def sqlite_tables(host_path: str) -> list[tuple[str, list[str], list[tuple]]]:
    """(table, columns, first rows) of a SQLite file opened read-only, or [] when it is not readable."""
    uri = "file:" + urllib.parse.quote(str(host_path)) + "?mode=ro&immutable=1"
    try:
        con = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return []
    steps = [0]

    def budget() -> int:
        steps[0] += 1
        return 1 if steps[0] > 20000 else 0  # non-zero aborts the statement: a bound on hostile files

    con.set_progress_handler(budget, 1000)
    out = []
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' LIMIT 200")]
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            cur = con.execute(f"SELECT * FROM {quoted} LIMIT {MAX_TABLE_ROWS}")
            columns = [d[0] for d in cur.description or ()]
            out.append((name, columns, cur.fetchall()))
    except sqlite3.Error:
        pass
    finally:
        con.close()
    return out


def sqlite_records(host_path: str) -> list[Record]:
    """One record per row of every table (line: the row's number in the table)."""
    out = []
    for table, columns, rows in sqlite_tables(host_path):
        for number, row in enumerate(rows, 1):
            rec = Record("sqlite", table, context=tuple(words(table)))
            for column, value in zip(columns, row):
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    rec.fields.append(Field(str(column), str(value), number, f"{table} row {number}: {column}"))
            out.append(rec)
    return out
