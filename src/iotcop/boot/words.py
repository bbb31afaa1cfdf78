"""Shell word expansion over partly known values.

A value the image settles (a literal, a variable set from one, a file's content) is *known*; anything
else (an nvram read, `$?`, a pipeline through awk) stays as written, with where it came from.  Values read
from switches (a sourced default configuration, UCI, U-Boot, nvram, the kernel command line) keep their
default but are flagged, so a test on them becomes a recorded condition instead of being decided.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field


# How a source says a value has no default in the image: a variable no script on the path sets, or one set on
# one side of an unsettled branch (walk.py writes the second into the variable's origin).
UNSET = "is not set on this path"
SET_IN_BRANCH = ", set inside: "


@dataclass(frozen=True, slots=True)
class Var:
    value: str | None  # None: not settled by the image
    origin: str = ""  # "`fw_printenv check3881 | awk ...` (/etc/init.d/S00devs:18)"
    kinds: frozenset[str] = frozenset()
    switch: bool = False  # read from a configurable source: the value is a default
    conditional: bool = False  # assigned inside an unsettled branch


@dataclass(slots=True)
class Seg:
    text: str
    known: bool = True
    quoted: bool = False
    expansion: bool = False
    switch: bool = False
    kinds: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    positional: tuple | None = None  # "$@": one field per positional parameter
    defined: tuple[str, ...] = ()  # where each variable in it got its value: "PW from /etc/rc:3"


@dataclass(slots=True)
class Field:
    text: str
    known: bool = True
    switch: bool = False
    kinds: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    quoted: bool = False
    globbable: bool = False
    parts: list[Seg] = field(default_factory=list)
    raw: str = ""  # the word as written, when it holds an expansion (set by the walk)
    defined: tuple[str, ...] = ()  # where the variables it expands got their values

    def settled(self, use_defaults: bool) -> bool:
        return self.known and (use_defaults or not self.switch)


def _match(raw: str, i: int, opener: str, closer: str) -> int:
    """Index of the closer matching raw[i] (an opener), skipping quotes; len(raw) when unclosed."""
    depth = 0
    n = len(raw)
    j = i
    while j < n:
        c = raw[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and opener == "(":
            k = raw.find("'", j + 1)
            j = n if k < 0 else k + 1
            continue
        if c == '"' and j != i:
            j = _dq_end(raw, j) + 1
            continue
        if c == opener:
            depth += 1
        elif c == closer:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return n


def _dq_end(raw: str, i: int) -> int:
    j = i + 1
    n = len(raw)
    while j < n:
        c = raw[j]
        if c == "\\":
            j += 2
            continue
        if c == '"':
            return j
        if c == "$" and j + 1 < n and raw[j + 1] in "({":
            j = _match(raw, j + 1, raw[j + 1], ")" if raw[j + 1] == "(" else "}") + 1
            continue
        if c == "`":
            k = raw.find("`", j + 1)
            j = n if k < 0 else k + 1
            continue
        j += 1
    return n


def _bq_end(raw: str, i: int) -> int:
    j = i + 1
    while j < len(raw):
        if raw[j] == "\\":
            j += 2
            continue
        if raw[j] == "`":
            return j
        j += 1
    return len(raw)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Expander:
    """Expands words against an environment object that provides lookup() and substitute()."""

    def __init__(self, env) -> None:
        self.env = env

    def segments(self, raw: str, in_dq: bool = False) -> list[Seg]:
        out: list[Seg] = []
        i, n = 0, len(raw)
        while i < n:
            c = raw[i]
            if c == "'" and not in_dq:
                j = raw.find("'", i + 1)
                j = n if j < 0 else j
                out.append(Seg(raw[i + 1:j], True, True))
                i = j + 1
            elif c == '"' and not in_dq:
                j = _dq_end(raw, i)
                out.append(Seg("", True, True))
                for seg in self.segments(raw[i + 1:j], in_dq=True):
                    seg.quoted = True
                    out.append(seg)
                i = j + 1
            elif c == "\\":
                if i + 1 < n:
                    nxt = raw[i + 1]
                    if nxt == "\n":
                        pass
                    elif in_dq and nxt not in '$`"\\':
                        out.append(Seg("\\" + nxt, True, True))
                    else:
                        out.append(Seg(nxt, True, True))
                i += 2
            elif c == "$" and i + 1 < n:
                seg, i = self._dollar(raw, i, in_dq)
                out.append(seg)
            elif c == "`":
                j = _bq_end(raw, i)
                inner = raw[i + 1:j].replace("\\`", "`").replace("\\$", "$").replace("\\\\", "\\")
                seg = self.env.substitute(inner, raw[i:j + 1])
                seg.quoted = in_dq
                out.append(seg)
                i = j + 1
            else:
                j = i + 1
                while j < n and raw[j] not in "'\"\\$`":
                    j += 1
                out.append(Seg(raw[i:j], True, in_dq))
                i = j
        return out

    def _dollar(self, raw: str, i: int, in_dq: bool) -> tuple[Seg, int]:
        nxt = raw[i + 1]
        if raw.startswith("$((", i):
            j = _match(raw, i + 1, "(", ")")
            text = raw[i:j + 1]
            seg = self._arith(raw[i + 3:j - 1], text)
            seg.quoted = in_dq
            return seg, j + 1
        if nxt == "(":
            j = _match(raw, i + 1, "(", ")")
            seg = self.env.substitute(raw[i + 2:j], raw[i:j + 1])
            seg.quoted = in_dq
            return seg, j + 1
        if nxt == "{":
            j = _match(raw, i + 1, "{", "}")
            seg = self._parameter(raw[i + 2:j], raw[i:j + 1], in_dq)
            seg.quoted = in_dq
            return seg, j + 1
        m = _NAME.match(raw, i + 1)
        if m:
            seg = self._var(m.group(0), raw[i:m.end()])
            seg.quoted = in_dq
            return seg, m.end()
        if nxt.isdigit() or nxt in "@*#?$!-":
            seg = self._special(nxt, raw[i:i + 2])
            seg.quoted = in_dq
            return seg, i + 2
        return Seg("$", True, in_dq), i + 1

    def _var(self, name: str, raw: str) -> Seg:
        var = self.env.lookup(name)
        if var is None:
            # Empty for the shell, but no script on this path sets it: the device's configuration or
            # environment may, so a test on it stays a condition.
            return Seg("", True, expansion=True, switch=True, sources=(f"${name} {UNSET}",))
        if var.value is None:
            return Seg(raw, False, expansion=True, kinds=var.kinds, sources=(f"{name} = {var.origin}",) if var.origin else ())
        sources = (f"{name}={var.value!r} from {var.origin}",) if var.origin and (var.switch or var.kinds or var.conditional) else ()
        # A value set inside an unsettled branch still names paths and programs, but a test on it stays a
        # condition (like a switch's default).
        return Seg(var.value, True, expansion=True, switch=var.switch or var.conditional, kinds=var.kinds,
                   sources=sources, defined=(f"{name} from {var.origin}",) if var.origin else ())

    def _special(self, ch: str, raw: str) -> Seg:
        if ch.isdigit():
            args = self.env.positional
            index = int(ch)
            if index == 0:
                return Seg(self.env.script_name, True, expansion=True)
            if index <= len(args):
                value = args[index - 1]
                return Seg(value.text, value.known, expansion=True, switch=value.switch, kinds=value.kinds,
                           defined=value.defined)
            return Seg("", True, expansion=True)
        if ch in "@*":
            args = self.env.positional
            return Seg(" ".join(a.text for a in args), all(a.known for a in args), expansion=True,
                       positional=tuple(args) if ch == "@" else None)
        if ch == "#":
            return Seg(str(len(self.env.positional)), True, expansion=True)
        if ch == "?":
            return Seg(raw, False, expansion=True, kinds=frozenset({"exit-status"}) | getattr(self.env, "last_kinds", frozenset()),
                       sources=(f"$? of `{self.env.last_command}`",) if self.env.last_command else ())
        return Seg(raw, False, expansion=True)

    def _parameter(self, body: str, raw: str, in_dq: bool) -> Seg:
        if body.startswith("#") and _NAME.fullmatch(body[1:]):
            var = self.env.lookup(body[1:])
            if var is None:
                return Seg("0", True, expansion=True)
            if var.value is None:
                return Seg(raw, False, expansion=True)
            return Seg(str(len(var.value)), True, expansion=True)
        m = _NAME.match(body) or re.match(r"[0-9@*#?]", body)
        if not m:
            return Seg(raw, False, expansion=True)
        name, rest = m.group(0), body[m.end():]
        if name.isdigit() or name in "@*#?":
            base = self._special(name, "$" + name)
            var = None if not base.known else Var(base.text)
            unset = name.isdigit() and int(name) > len(self.env.positional)
        else:
            var = self.env.lookup(name)
            unset = var is None
            base = self._var(name, "${" + name + "}")
        if not rest:
            return base
        for op in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
            if rest.startswith(op):
                word = rest[len(op):]
                null = unset or (base.known and base.text == "" and op.startswith(":"))
                if op in (":+", "+"):
                    if unset or (op == ":+" and base.known and base.text == ""):
                        return Seg("", True, expansion=True)
                    if not base.known:
                        return Seg(raw, False, expansion=True)
                    return self._word_value(word, in_dq)
                if op in (":?", "?"):
                    return base
                if null:
                    value = self._word_value(word, in_dq)
                    if op in (":=", "="):
                        self.env.assign(name, Var(value.text if value.known else None, "default in " + raw))
                    return value
                if not base.known:
                    return Seg(raw, False, expansion=True, kinds=base.kinds, sources=base.sources)
                return base
        if rest[0] in "#%" and base.known:
            longest = rest[:2] in ("##", "%%")
            pattern = rest[2:] if longest else rest[1:]
            pat = self._word_value(pattern, True)
            if not pat.known:
                return Seg(raw, False, expansion=True)
            return Seg(_trim(base.text, pat.text, rest[0] == "#", longest), True, expansion=True,
                       switch=base.switch, kinds=base.kinds, sources=base.sources)
        if rest.startswith("/") and base.known:
            parts = rest[1:].split("/", 1)
            pat, rep = parts[0], parts[1] if len(parts) > 1 else ""
            every = pat.startswith("/")
            pat = pat[1:] if every else pat
            if not _has_magic(pat):
                return Seg(base.text.replace(pat, rep) if every else base.text.replace(pat, rep, 1), True,
                           expansion=True)
        if rest.startswith(":") and base.known:
            m2 = re.fullmatch(r":\s*(-?\d+)(?::(\d+))?", rest)
            if m2:
                start = int(m2.group(1))
                text = base.text[start:]
                if m2.group(2):
                    text = text[:int(m2.group(2))]
                return Seg(text, True, expansion=True)
        return Seg(raw, False, expansion=True)

    def _word_value(self, word: str, in_dq: bool) -> Seg:
        segs = self.segments(word, in_dq)
        return Seg("".join(s.text for s in segs), all(s.known for s in segs), expansion=True,
                   switch=any(s.switch for s in segs), kinds=frozenset().union(*(s.kinds for s in segs)),
                   sources=tuple(x for s in segs for x in s.sources), defined=tuple(x for s in segs for x in s.defined))

    def _arith(self, expr: str, raw: str) -> Seg:
        value = self._word_value(expr, True)
        if value.known:
            text = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: self._num(m.group(0)), value.text)
            if re.fullmatch(r"[\d\s+\-*/%()<>=!&|]+", text):
                try:
                    result = eval(compile(text.replace("/", "//"), "<arith>", "eval"), {"__builtins__": {}}, {})  # noqa: S307 - digits and operators only
                    return Seg(str(int(result)), True, expansion=True)
                except Exception:  # noqa: BLE001 - an expression we cannot settle stays as written
                    pass
        return Seg(raw, False, expansion=True)

    def _num(self, name: str) -> str:
        var = self.env.lookup(name)
        if var is None or var.value in (None, ""):
            return "0"
        return var.value if var.value.lstrip("-").isdigit() else "x"

    # -- fields ------------------------------------------------------------------------------------------
    def fields(self, raw: str, split: bool = True) -> list[Field]:
        segs = self.segments(raw)
        out: list[Field] = []
        current: Field | None = None

        def start() -> Field:
            nonlocal current
            if current is None:
                current = Field("")
                out.append(current)
            return current

        for index, seg in enumerate(segs):
            if seg.positional is not None and seg.quoted:
                # "$@": the empty quote opened just before belongs to the first parameter (or vanishes)
                if current is not None and not current.text and current.quoted and len(current.parts) == 1:
                    out.remove(current)
                    current = None
                for k, arg in enumerate(seg.positional):
                    if k > 0:
                        current = None
                    f = start()
                    _add(f, Seg(arg.text, arg.known, True, True, arg.switch, arg.kinds, arg.sources, defined=arg.defined))
                if not seg.positional:
                    current = Field("", True, quoted=False)  # swallow the closing empty quote
                    continue
                continue
            if split and seg.expansion and not seg.quoted and seg.known:
                pieces = re.split(r"[ \t\n]+", seg.text)
                if len(pieces) > 1:
                    for k, piece in enumerate(pieces):
                        if k > 0:
                            current = None
                        if piece:
                            f = start()
                            _add(f, Seg(piece, True, False, True, seg.switch, seg.kinds, seg.sources,
                                        defined=seg.defined))
                    continue
                if seg.text == "":
                    continue
            f = start()
            _add(f, seg)
        return [f for f in out if f.text or f.quoted or not f.known]


def _add(f: Field, seg: Seg) -> None:
    f.text += seg.text
    f.known = f.known and seg.known
    f.switch = f.switch or seg.switch
    if seg.kinds:
        f.kinds = f.kinds | seg.kinds
    if seg.sources:
        f.sources = f.sources + tuple(s for s in seg.sources if s not in f.sources)
    if seg.defined:
        f.defined = f.defined + tuple(d for d in seg.defined if d not in f.defined)
    f.quoted = f.quoted or seg.quoted
    if not seg.quoted and not seg.expansion and _has_magic(seg.text):
        f.globbable = True
    f.parts.append(seg)


def _has_magic(text: str) -> bool:
    return "*" in text or "?" in text or "[" in text


def _trim(value: str, pattern: str, front: bool, longest: bool) -> str:
    indices = range(len(value) + 1)
    if front:
        order = reversed(indices) if longest else indices
        for k in order:
            if fnmatch.fnmatchcase(value[:k], pattern):
                return value[k:]
    else:
        order = indices if longest else reversed(indices)
        for k in order:
            if fnmatch.fnmatchcase(value[k:], pattern):
                return value[:k]
    return value
