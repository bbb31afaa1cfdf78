"""A tolerant parser for the POSIX/BusyBox shell scripts that boot firmware.

Why not a library: measured on the 803 shell scripts of the six real vendor root filesystems in
../shared/corpus/realworld (benchmarks/boot_shell_parsers.py), bashlex 0.18 raised on 238 of them
(every `case` pattern is NotImplementedError in it, so `S80network` with `case "$x" in ip=*)` cannot be
read), and tree-sitter-bash 0.25 produced ERROR nodes in 11, one of them the camera's `app/initrun.sh`
where `[ $LOCALTIME \\< 2016 ]` makes it read the rest of the file (lines 307-353, the branch that starts
telnetd) as arguments of one command.  Boot scripts must be read past such spots, so this parser
recovers locally: an unexpected token is skipped and recorded, an unclosed compound command is closed
at the end of the file.

The result is a small AST; words keep their source text (`Word.raw`) and are expanded by the walker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RESERVED = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
                      "in", "{", "}", "!", "function"})
_META = " \t\n;&|<>()"
_OPERATOR_START = frozenset(";&|<>()")
_OPERATORS = ("<<-", "&&", "||", ";;", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "|&", ";", "&", "|", "(", ")",
              "<", ">")


class ParseLimit(Exception):
    """The script is larger than the parser is allowed to read."""


# -- AST ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Word:
    raw: str
    line: int


@dataclass(slots=True)
class HereDoc:
    body: str = ""
    quoted: bool = False  # a quoted delimiter: no expansion in the body


@dataclass(slots=True)
class Redirect:
    op: str  # > >> < << <<- >& <& &> <>
    target: Word | None
    fd: int | None = None
    heredoc: HereDoc | None = None


@dataclass(slots=True)
class Simple:
    line: int
    assigns: list[Word] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    text: str = ""  # the command as written (for evidence)


@dataclass(slots=True)
class Pipeline:
    line: int
    commands: list  # Simple | compound nodes
    negate: bool = False


@dataclass(slots=True)
class AndOr:
    line: int
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)  # ("&&" | "||", pipeline)


@dataclass(slots=True)
class Item:
    node: AndOr
    background: bool = False


@dataclass(slots=True)
class Seq:
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class If:
    line: int
    clauses: list[tuple[Seq, Seq]]  # (condition, body) for if and each elif
    orelse: Seq | None = None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class Loop:
    line: int
    kind: str  # while | until
    cond: Seq
    body: Seq
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class For:
    line: int
    var: str
    words: list[Word] | None  # None: "$@"
    body: Seq
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class Case:
    line: int
    word: Word
    items: list[tuple[list[Word], Seq]]
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class Group:
    line: int
    body: Seq
    subshell: bool
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class Function:
    line: int
    name: str
    body: object  # a compound node


@dataclass(slots=True)
class Script:
    body: Seq
    errors: list[tuple[int, str]]  # (line, what was skipped)


# -- lexer -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Token:
    kind: str  # WORD, OP, NL, EOF
    value: str
    line: int
    heredoc: HereDoc | None = None
    fd: int | None = None  # IO number before a redirection operator
    start: int = 0
    end: int = 0


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.pending: list[tuple[HereDoc, str, bool]] = []

    def _skip_blanks(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch in " \t\r":
                self.pos += 1
            elif ch == "\\" and self.pos + 1 < n and text[self.pos + 1] == "\n":
                self.pos += 2
                self.line += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
            else:
                break

    def next(self) -> Token:
        self._skip_blanks()
        start = self.pos
        token = self._next()
        token.start, token.end = start, self.pos if token.kind != "NL" else start
        return token

    def _next(self) -> Token:
        text = self.text
        if self.pos >= len(text):
            return Token("EOF", "", self.line)
        ch = text[self.pos]
        if ch == "\n":
            line = self.line
            self.pos += 1
            self.line += 1
            if self.pending:
                self._read_heredocs()
            return Token("NL", "\n", line)
        fd = None
        if ch.isdigit():
            j = self.pos
            while j < len(text) and text[j].isdigit():
                j += 1
            if j < len(text) and text[j] in "<>" and j - self.pos <= 2:
                fd = int(text[self.pos:j])
                self.pos = j
                ch = text[self.pos]
        for op in (_OPERATORS if ch in _OPERATOR_START else ()):
            if text.startswith(op, self.pos):
                line = self.line
                self.pos += len(op)
                token = Token("OP", op, line, fd=fd)
                if op in ("<<", "<<-"):
                    self._skip_blanks()
                    start = self.pos
                    word = self._word_text()
                    delim = word.replace('"', "").replace("'", "").replace("\\", "")
                    doc = HereDoc(quoted=any(q in word for q in "'\"\\"))
                    self.pending.append((doc, delim, op == "<<-"))
                    token.heredoc = doc
                    token.value = op
                    if self.pos == start:  # no delimiter word: treat as a plain redirection
                        self.pending.pop()
                return token
        line = self.line
        return Token("WORD", self._word_text(), line)

    def _read_heredocs(self) -> None:
        text = self.text
        for doc, delim, strip in self.pending:
            lines = []
            while self.pos < len(text):
                end = text.find("\n", self.pos)
                raw = text[self.pos:] if end < 0 else text[self.pos:end]
                self.pos = len(text) if end < 0 else end + 1
                self.line += 1
                candidate = raw.lstrip("\t") if strip else raw
                if candidate.rstrip("\r") == delim:
                    break
                lines.append(candidate)
            doc.body = "\n".join(lines) + ("\n" if lines else "")
        self.pending = []

    def _word_text(self) -> str:
        """Read one word from the current position; quotes and substitutions stay in the text."""
        text, n = self.text, len(self.text)
        start = self.pos
        while self.pos < n:
            ch = text[self.pos]
            if ch in _META:
                break
            if ch == "\\":
                if self.pos + 1 < n and text[self.pos + 1] == "\n":
                    self.line += 1
                self.pos += 2
            elif ch == "'":
                self._until("'")
            elif ch == '"':
                self._double_quoted()
            elif ch == "`":
                self._backquoted()
            elif ch == "$" and self.pos + 1 < n and text[self.pos + 1] in "({":
                self._dollar()
            else:
                self.pos += 1
        self.pos = min(self.pos, n)
        return text[start:self.pos]

    def _until(self, quote: str) -> None:
        end = self.text.find(quote, self.pos + 1)
        end = len(self.text) - 1 if end < 0 else end
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end + 1

    def _double_quoted(self) -> None:
        text, n = self.text, len(self.text)
        self.pos += 1
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 < n and text[self.pos + 1] == "\n":
                    self.line += 1
                self.pos += 2
            elif ch == '"':
                self.pos += 1
                return
            elif ch == "`":
                self._backquoted()
            elif ch == "$" and self.pos + 1 < n and text[self.pos + 1] in "({":
                self._dollar()
            else:
                if ch == "\n":
                    self.line += 1
                self.pos += 1

    def _backquoted(self) -> None:
        text, n = self.text, len(self.text)
        self.pos += 1
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if ch == "\n":
                self.line += 1
            self.pos += 1
            if ch == "`":
                return

    def _dollar(self) -> None:
        """$( ... ), $(( ... )) or ${ ... }, nested, with quotes inside."""
        text, n = self.text, len(self.text)
        opener = text[self.pos + 1]
        closer = ")" if opener == "(" else "}"
        self.pos += 2
        depth = 1
        while self.pos < n and depth:
            ch = text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if ch == "'" and opener == "(":
                self._until("'")
                continue
            if ch == '"':
                self._double_quoted()
                continue
            if ch == "`":
                self._backquoted()
                continue
            if ch == "$" and self.pos + 1 < n and text[self.pos + 1] in "({":
                self._dollar()
                continue
            if ch == "\n":
                self.line += 1
            if ch == opener:
                depth += 1
            elif ch == closer:
                depth -= 1
            self.pos += 1


# -- parser ------------------------------------------------------------------------------------------


class Parser:
    def __init__(self, text: str, max_nodes: int = 200_000) -> None:
        self.lexer = Lexer(text)
        self.text = text
        self.tok = self.lexer.next()
        self._last = self.tok
        self.errors: list[tuple[int, str]] = []
        self.nodes = 0
        self.max_nodes = max_nodes

    def advance(self) -> Token:
        tok = self._last = self.tok
        self.tok = self.lexer.next()
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise ParseLimit(f"more than {self.max_nodes} tokens")
        return tok

    def at_word(self, *values: str) -> bool:
        return self.tok.kind == "WORD" and self.tok.value in values

    def at_op(self, *values: str) -> bool:
        return self.tok.kind == "OP" and self.tok.value in values

    def linebreak(self) -> None:
        while self.tok.kind == "NL":
            self.advance()

    def expect_word(self, value: str) -> bool:
        self.linebreak()
        if self.at_word(value):
            self.advance()
            return True
        if self.tok.kind != "EOF":
            self.errors.append((self.tok.line, f"expected '{value}', found {self.tok.value!r}"))
        return False

    # program / lists
    def parse(self) -> Script:
        body = self.seq(stop=())
        while self.tok.kind != "EOF":  # a stray closing word at top level: skip it and go on
            self.errors.append((self.tok.line, f"unexpected {self.tok.value!r}"))
            self.advance()
            more = self.seq(stop=())
            body.items.extend(more.items)
        return Script(body, self.errors)

    def seq(self, stop: tuple[str, ...]) -> Seq:
        seq = Seq()
        while True:
            self.linebreak()
            if self.tok.kind == "EOF":
                return seq
            if self.tok.kind == "WORD" and self.tok.value in stop:
                return seq
            if self.tok.kind == "OP" and (self.tok.value in (")", ";;") and (")" in stop or ";;" in stop)):
                return seq
            if self.tok.kind == "OP" and self.tok.value in (";", "&", ")", ";;", "|", "&&", "||"):
                self.errors.append((self.tok.line, f"unexpected {self.tok.value!r}"))
                self.advance()
                continue
            if self.tok.kind == "WORD" and self.tok.value in ("then", "else", "elif", "fi", "do", "done", "esac", "}", "in"):
                if not stop:
                    return seq  # let the caller report it
                self.errors.append((self.tok.line, f"unexpected {self.tok.value!r}"))
                self.advance()
                continue
            node = self.and_or()
            if node is None:
                continue
            background = False
            if self.at_op("&"):
                background = True
                self.advance()
            elif self.at_op(";"):
                self.advance()
            seq.items.append(Item(node, background))

    def and_or(self) -> AndOr | None:
        first = self.pipeline()
        if first is None:
            return None
        node = AndOr(first.line, first)
        while self.at_op("&&", "||"):
            op = self.advance().value
            self.linebreak()
            nxt = self.pipeline()
            if nxt is None:
                break
            node.rest.append((op, nxt))
        return node

    def pipeline(self) -> Pipeline | None:
        line = self.tok.line
        negate = False
        if self.at_word("!"):
            negate = True
            self.advance()
        first = self.command()
        if first is None:
            return None
        pipe = Pipeline(line, [first], negate)
        while self.at_op("|", "|&"):
            self.advance()
            self.linebreak()
            nxt = self.command()
            if nxt is None:
                break
            pipe.commands.append(nxt)
        return pipe

    def command(self):
        tok = self.tok
        if tok.kind == "WORD":
            value = tok.value
            if value == "if":
                return self.redirected(self.if_clause())
            if value in ("while", "until"):
                return self.redirected(self.loop())
            if value == "for":
                return self.redirected(self.for_clause())
            if value == "case":
                return self.redirected(self.case_clause())
            if value == "{":
                return self.redirected(self.group())
            if value == "function":
                return self.function_keyword()
        elif tok.kind == "OP" and tok.value == "(":
            return self.redirected(self.subshell())
        return self.simple()

    def redirected(self, node):
        while self.tok.kind == "OP" and self.tok.value in ("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|", "&>"):
            redirect = self.redirect()
            if redirect is not None:
                node.redirects.append(redirect)
        return node

    def redirect(self) -> Redirect | None:
        op = self.advance()
        if op.heredoc is not None:
            return Redirect(op.value, None, op.fd, op.heredoc)
        if self.tok.kind != "WORD":
            self.errors.append((op.line, f"redirection {op.value} without a target"))
            return None
        target = self.advance()
        return Redirect(op.value, Word(target.value, target.line), op.fd)

    def simple(self) -> Simple | None:
        node = Simple(self.tok.line)
        first, last = self.tok, self.tok
        while True:
            tok = self.tok
            if tok.kind == "WORD":
                if not node.words and _is_assignment(tok.value):
                    node.assigns.append(Word(tok.value, tok.line))
                    last = self.advance()
                    continue
                if not node.words and not node.assigns and tok.value in RESERVED and tok.value != "!":
                    break
                node.words.append(Word(tok.value, tok.line))
                last = self.advance()
                # name() { ... }: a function definition
                if len(node.words) == 1 and not node.assigns and self.at_op("("):
                    save = (self.lexer.pos, self.lexer.line, self.tok)
                    self.advance()
                    if self.at_op(")"):
                        self.advance()
                        self.linebreak()
                        body = self.command()
                        return Function(node.line, node.words[0].raw, body)  # type: ignore[return-value]
                    self.lexer.pos, self.lexer.line, self.tok = save
            elif tok.kind == "OP" and tok.value in ("<", ">", ">>", "<<", "<<-", "<&", ">&", "<>", ">|", "&>"):
                redirect = self.redirect()
                if redirect is not None:
                    node.redirects.append(redirect)
                last = self._last
            else:
                break
        if not node.words and not node.assigns and not node.redirects:
            if self.tok.kind not in ("EOF", "NL"):
                self.errors.append((self.tok.line, f"unexpected {self.tok.value!r}"))
                self.advance()
            return None
        node.text = _one_line(self.text[first.start:max(first.start, last.end)])
        return node

    def if_clause(self) -> If:
        line = self.advance().line  # if
        clauses = []
        cond = self.seq(stop=("then",))
        self.expect_word("then")
        body = self.seq(stop=("elif", "else", "fi"))
        clauses.append((cond, body))
        orelse = None
        while True:
            self.linebreak()
            if self.at_word("elif"):
                self.advance()
                cond = self.seq(stop=("then",))
                self.expect_word("then")
                body = self.seq(stop=("elif", "else", "fi"))
                clauses.append((cond, body))
                continue
            if self.at_word("else"):
                self.advance()
                orelse = self.seq(stop=("fi",))
            self.expect_word("fi")
            break
        return If(line, clauses, orelse)

    def loop(self) -> Loop:
        tok = self.advance()
        cond = self.seq(stop=("do",))
        self.expect_word("do")
        body = self.seq(stop=("done",))
        self.expect_word("done")
        return Loop(tok.line, tok.value, cond, body)

    def for_clause(self) -> For:
        line = self.advance().line
        var = self.advance().value if self.tok.kind == "WORD" else "_"
        words: list[Word] | None = None
        self.linebreak()
        if self.at_word("in"):
            self.advance()
            words = []
            while self.tok.kind == "WORD":
                words.append(Word(self.tok.value, self.tok.line))
                self.advance()
        if self.at_op(";"):
            self.advance()
        self.expect_word("do")
        body = self.seq(stop=("done",))
        self.expect_word("done")
        return For(line, var, words, body)

    def case_clause(self) -> Case:
        line = self.advance().line
        word = Word(self.tok.value, self.tok.line) if self.tok.kind == "WORD" else Word("", line)
        if self.tok.kind == "WORD":
            self.advance()
        self.linebreak()
        self.expect_word("in")
        items: list[tuple[list[Word], Seq]] = []
        while True:
            self.linebreak()
            if self.tok.kind == "EOF" or self.at_word("esac"):
                break
            if self.at_op("("):
                self.advance()
            patterns: list[Word] = []
            while self.tok.kind == "WORD" or self.at_op("|"):
                if self.tok.kind == "WORD":
                    patterns.append(Word(self.tok.value, self.tok.line))
                self.advance()
            if not self.at_op(")"):
                self.errors.append((self.tok.line, f"case pattern without ')': {self.tok.value!r}"))
                if self.tok.kind != "EOF":
                    self.advance()
                continue
            self.advance()
            body = self.seq(stop=("esac", ";;"))
            items.append((patterns, body))
            if self.at_op(";;"):
                self.advance()
        self.expect_word("esac")
        return Case(line, word, items)

    def group(self) -> Group:
        line = self.advance().line
        body = self.seq(stop=("}",))
        self.expect_word("}")
        return Group(line, body, False)

    def subshell(self) -> Group:
        line = self.advance().line
        body = self.seq(stop=(")",))
        self.linebreak()
        if self.at_op(")"):
            self.advance()
        else:
            self.errors.append((self.tok.line, "subshell without ')'"))
        return Group(line, body, True)

    def function_keyword(self) -> Function | None:
        line = self.advance().line
        if self.tok.kind != "WORD":
            return None
        name = self.advance().value
        if self.at_op("("):
            self.advance()
            if self.at_op(")"):
                self.advance()
        self.linebreak()
        return Function(line, name, self.command())


def _one_line(text: str) -> str:
    text = " ".join(part.strip() for part in text.replace("\\\n", " ").split("\n") if part.strip())
    return text[:300]


def _is_assignment(word: str) -> bool:
    eq = word.find("=")
    if eq <= 0:
        return False
    name = word[:eq]
    return (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name)


def parse(text: str, max_tokens: int = 200_000) -> Script:
    """Parse a shell script; never raises on bad syntax (see Script.errors), only on the size limit."""
    return Parser(text, max_tokens).parse()
