"""Text -> AST. Every AST node carries the span it came from.

The grammar lives in grammar.lark (LALR). lark builds the AST during the parse:
each rule's callback in `_Builder` receives its children (AST nodes, or the
tokens the grammar keeps) and returns a node, so no parse tree is built or
walked. Newlines end statements except inside `( )` and `[ ]` and after a
trailing `->`, so long lists and chains can wrap. lark's errors are turned into
plain words ("missing '}'") before anyone sees them.

    >>> parse("network n() { input 3x8x8; relu }").networks[0].body[1].chain.terms[0].span
    Span(file='<string>', line=1, col=28, end_line=1, end_col=32)
"""

from __future__ import annotations

import os
import re
import stat
import threading
from functools import lru_cache
from importlib import resources
from typing import Any

import lark
from lark import Lark, Token, Transformer

from . import ast as A
from . import lex
from .errors import SOURCES, SpecError, source_lines
from .files import MAX_FILE_BYTES
from .lalr import Fallback, FastParser
from .lex import Newlines, SharedScannerLexer, TooDeep


class _Body:
    """A `{ ... }` body on its way into its parent node: the statements and the braces' span."""

    __slots__ = ("stmts", "span")

    def __init__(self, stmts: tuple[A.Stmt, ...], span: A.Span) -> None:
        self.stmts = stmts
        self.span = span


def _unquote(s: str) -> str:
    return s[1:-1]


def _tspan(file: str, tok: Token) -> A.Span:
    return A.Span(file, tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)


class _Builder(Transformer[Token, Any]):
    """lark's inline transformer: one method per rule (or alias), AST nodes out.

    A node's span runs from the start of its first child to the end of its last,
    counting the keywords and brackets the grammar keeps for that purpose. A few
    rules hand back a child node itself (`(x)`, `+x`): the child keeps its own span,
    but the parent must cover the brackets, so `outer` records the wider extent by
    object id for the length of one parse.
    """

    def __init__(self) -> None:
        super().__init__()
        self.file = "<string>"
        self.outer: dict[int, tuple[int, int, int, int]] = {}

    # ------------------------------------------------------------ spans
    # lark types a token's position as optional; its lexer always sets it.
    def _start(self, x: Any) -> tuple[int, int]:
        if isinstance(x, Token):
            return x.line or 1, x.column or 1
        o = self.outer.get(id(x))
        if o is not None:
            return o[0], o[1]
        return x.span.line, x.span.col

    def _end(self, x: Any) -> tuple[int, int]:
        if isinstance(x, Token):
            return x.end_line or 1, x.end_column or 1
        o = self.outer.get(id(x))
        if o is not None:
            return o[2], o[3]
        return x.span.end_line, x.span.end_col

    def _span(self, first: Any, last: Any) -> A.Span:
        return A.Span(self.file, *self._start(first), *self._end(last))

    def _tok(self, tok: Token) -> A.Span:
        return A.Span(self.file, tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)

    # ------------------------------------------------------------ file level
    def start(self, ch: list[Any]) -> list[Any]:
        return ch

    def import_stmt(self, ch: list[Token]) -> A.Import:
        kw, tok = ch
        is_path = tok.type == "STRING"
        return A.Import(_unquote(tok) if is_path else str(tok), is_path, self._span(kw, tok))

    def params(self, ch: list[Any]) -> tuple[A.Param, ...]:
        return tuple(c for c in ch if c is not None)

    def param(self, ch: list[Any]) -> A.Param:
        name, typ, default = ch
        last = default if default is not None else typ if typ is not None else name
        return A.Param(str(name), str(typ) if typ else None, default, self._span(name, last))

    def block_def(self, ch: list[Any]) -> A.BlockDef:
        kw, name, params, body = ch
        return A.BlockDef(str(name), params or (), body.stmts, self._span(kw, body))

    def network_def(self, ch: list[Any]) -> A.NetworkDef:
        kw, name, params, body = ch
        return A.NetworkDef(str(name), params or (), body.stmts, self._span(kw, body))

    def network_alias(self, ch: list[Any]) -> A.NetworkAlias:
        kw, name, target, args, close = ch
        pos, kw_args = args or ((), ())
        return A.NetworkAlias(str(name), str(target), pos, kw_args, self._span(kw, close))

    def body(self, ch: list[Any]) -> _Body:
        return _Body(tuple(c for c in ch[1:-1] if c is not None), self._span(ch[0], ch[-1]))

    # ------------------------------------------------------------ statements
    def label(self, ch: list[Token]) -> A.Expr:
        tok = ch[0]
        span = self._tok(tok)
        if tok.type == "STRING" and "{" not in tok:
            return A.Const(span, _unquote(tok))
        if tok.type == "STRING":
            return _template(_unquote(tok), span)
        if tok.type == "NAME_TEMPLATE":
            return _template(str(tok), span)
        return A.Const(span, str(tok))

    def layer_stmt(self, ch: list[Any]) -> A.LayerStmt:
        label, chain, cond = ch
        span = self._span(chain if label is None else label, chain if cond is None else cond)
        return A.LayerStmt(span, label, chain, cond)

    def let_stmt(self, ch: list[Any]) -> A.Let:
        kw, name, value = ch
        return A.Let(self._span(kw, value), str(name), value)

    def targets(self, ch: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in ch)

    def for_stmt(self, ch: list[Any]) -> A.For:
        kw, targets, source, body = ch
        return A.For(self._span(kw, body), targets, source, body.stmts)

    def repeat_stmt(self, ch: list[Any]) -> A.Repeat:
        kw, count, body = ch
        return A.Repeat(self._span(kw, body), count, body.stmts)

    def if_stmt(self, ch: list[Any]) -> A.If:
        kw, cond, then, other = ch
        span = self._span(kw, then if other is None else other)
        if isinstance(other, A.If):
            return A.If(span, cond, then.stmts, (other,))
        return A.If(span, cond, then.stmts, other.stmts if other is not None else ())

    def input_stmt(self, ch: list[Any]) -> A.Input:
        kw, *rest = ch
        if isinstance(rest[0], Token):  # DIMS: 3x224x224
            span = self._tok(rest[0])
            dims = tuple(A.Const(span, int(d)) for d in str(rest[0]).split("x"))
        else:
            dims = tuple(c for c in rest if c is not None)
        return A.Input(self._span(kw, next(c for c in reversed(rest) if c is not None)), dims)

    def output_stmt(self, ch: list[Any]) -> A.Output:
        kw, train, layer = ch
        return A.Output(self._span(kw, layer), train is not None, layer)

    def init_stmt(self, ch: list[Any]) -> A.Init:
        kw, kind, *kwargs = ch
        return A.Init(self._span(kw, kwargs[-1]), str(kind), tuple(kwargs), self._tok(kind))

    # ------------------------------------------------------------ layers
    def chain(self, ch: list[Any]) -> A.Chain:
        terms, labels = [ch[0]], [None]  # `a -> [label] b -> ...`: a label (or None) before each later term
        for i in range(1, len(ch), 2):
            labels.append(ch[i])
            terms.append(ch[i + 1])
        return A.Chain(self._span(ch[0], ch[-1]), tuple(terms), tuple(labels) if any(labels) else ())

    def arg(self, ch: list[Any]) -> Any:
        return ch[0]

    def kwarg(self, ch: list[Any]) -> A.Kwarg:
        name, value = ch
        return A.Kwarg(str(name), value, self._span(name, value))

    kwarg_t = kwarg

    def args(self, ch: list[Any]) -> tuple[tuple[A.Expr, ...], tuple[A.Kwarg, ...]]:
        return _split_args(c for c in ch if c is not None)

    def op_call(self, ch: list[Any]) -> A.OpCall:
        name, *rest = ch
        pos, kw = _split_args(rest)
        return A.OpCall(self._span(name, ch[-1]), str(name), pos, kw, self._tok(name))

    def block_call(self, ch: list[Any]) -> A.OpCall:
        name, args, _close, *rest = ch
        pos, kw = args or ((), ())
        pos2, kw2 = _split_args(rest)
        return A.OpCall(self._span(name, ch[-1]), str(name), pos + pos2, kw + kw2, self._tok(name))

    def ref_term(self, ch: list[Token]) -> A.RefTerm:
        return A.RefTerm(self._tok(ch[0]), str(ch[0])[1:])

    def seq(self, ch: list[Any]) -> A.Seq:
        if len(ch) == 1:  # { ... }
            return A.Seq(ch[0].span, ch[0].stmts)
        return A.Seq(self._span(ch[0], ch[-1]), tuple(c for c in ch[1:-1] if c is not None))

    def parallel(self, ch: list[Any]) -> A.Parallel:
        name, body = ch
        return A.Parallel(self._span(name, body), str(name), body.stmts, self._tok(name))

    def residual(self, ch: list[Any]) -> A.Residual:
        kw, *opts, body = ch
        given: dict[str, Any] = {}
        for key, value in filter(None, opts):
            given.setdefault(key, value)
        return A.Residual(self._span(kw, body), body.stmts, given.get("shortcut"), given.get("when"))

    def res_shortcut(self, ch: list[Any]) -> tuple[str, Any]:
        return ("shortcut", ch[0])

    def res_when(self, ch: list[Any]) -> tuple[str, Any]:
        return ("when", ch[0])

    def dense(self, ch: list[Any]) -> A.Dense:
        kw, body = ch
        return A.Dense(self._span(kw, body), body.stmts)

    # ------------------------------------------------------------ expressions
    def ternary(self, ch: list[Any]) -> A.Ternary:
        return A.Ternary(self._span(ch[0], ch[2]), ch[0], ch[1], ch[2])

    def or_(self, ch: list[Any]) -> A.BoolOp:
        return A.BoolOp(self._span(ch[0], ch[-1]), "or", tuple(ch))

    def and_(self, ch: list[Any]) -> A.BoolOp:
        return A.BoolOp(self._span(ch[0], ch[-1]), "and", tuple(ch))

    def not_(self, ch: list[Any]) -> A.Not:
        return A.Not(self._span(ch[0], ch[1]), ch[1])

    def compare(self, ch: list[Any]) -> A.Compare:
        rest = tuple((str(ch[i]), ch[i + 1]) for i in range(1, len(ch), 2))
        return A.Compare(self._span(ch[0], ch[-1]), ch[0], rest)

    def binop(self, ch: list[Any]) -> A.Expr:
        # Each BinOp spans its operands' own spans; the chain as a whole also
        # covers brackets around its first and last operand.
        left = ch[0]
        for i in range(1, len(ch), 2):
            right = ch[i + 1]
            span = A.Span(self.file, left.span.line, left.span.col, right.span.end_line, right.span.end_col)
            left = A.BinOp(span, str(ch[i]), left, right)
        return self._widen(left, ch[0], ch[-1])

    def neg(self, ch: list[Any]) -> A.Expr:
        sign, value = ch
        if sign == "-":
            return A.Neg(self._span(sign, value), value)
        return self._widen(value, sign, value)

    def paren(self, ch: list[Any]) -> A.Expr:
        return self._widen(ch[1], ch[0], ch[2])

    def _widen(self, node: A.Expr, first: Any, last: Any) -> A.Expr:
        """Record that `node` stands for the text from `first` to `last` (brackets, a sign)."""
        extent = (*self._start(first), *self._end(last))
        s = node.span
        if extent != (s.line, s.col, s.end_line, s.end_col):
            self.outer[id(node)] = extent
        return node

    def pow_(self, ch: list[Any]) -> A.BinOp:
        return A.BinOp(self._span(ch[0], ch[-1]), "**", ch[0], ch[-1])

    def index(self, ch: list[Any]) -> A.Index:
        return A.Index(self._span(ch[0], ch[2]), ch[0], ch[1])

    def attr(self, ch: list[Any]) -> A.Attr:
        return A.Attr(self._span(ch[0], ch[1]), ch[0], str(ch[1]))

    def int_(self, ch: list[Token]) -> A.Const:
        span = self._tok(ch[0])
        return A.Const(span, _number(ch[0], int, span))

    def float_(self, ch: list[Token]) -> A.Const:
        span = self._tok(ch[0])
        return A.Const(span, _number(ch[0], float, span))

    def string(self, ch: list[Token]) -> A.Const:
        return A.Const(self._tok(ch[0]), _unquote(ch[0]))

    def name(self, ch: list[Token]) -> A.Expr:
        word = str(ch[0])
        if word in _CONSTS:
            return A.Const(self._tok(ch[0]), _CONSTS[word])
        return A.Name(self._tok(ch[0]), word)

    def ref_expr(self, ch: list[Token]) -> A.Ref:
        return A.Ref(self._tok(ch[0]), str(ch[0])[1:])

    def in_(self, ch: list[Token]) -> A.InShape:
        return A.InShape(self._tok(ch[0]))

    def func_call(self, ch: list[Any]) -> A.Call:
        name, args, close = ch
        pos, kw = args or ((), ())
        return A.Call(self._span(name, close), str(name), pos, kw)

    def list_(self, ch: list[Any]) -> A.ListExpr:
        return A.ListExpr(self._span(ch[0], ch[-1]), tuple(c for c in ch[1:-1] if c is not None))

    def tuple_(self, ch: list[Any]) -> A.ListExpr:
        return A.ListExpr(self._span(ch[0], ch[-1]), tuple(c for c in ch[1:-1] if c is not None), True)

    def listcomp(self, ch: list[Any]) -> A.ListComp:
        _open, item, targets, source, cond, close = ch
        return A.ListComp(self._span(_open, close), item, targets, source, cond)


_CONSTS = {"true": True, "false": False, "none": None}

_BUILDER = _Builder()
_LOCK = threading.RLock()  # _BUILDER holds the file being parsed; templates parse re-entrantly


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return build_lark("", maybe_placeholders=True, start=["start", "test"], transformer=_BUILDER)


@lru_cache(maxsize=1)
def _fast_parser() -> FastParser:
    return FastParser(_parser())


def build_lark(cache_note: str, **options: Any) -> Lark:
    """grammar.lark as a LALR parser with netspec's lexer and newline rules; `options` go to `Lark`.

    `cache_note` tells this parser's cached tables apart from the others' (the tables
    depend on options such as `keep_all_tokens`).
    """
    grammar = resources.files("netspec").joinpath("grammar.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=Newlines(),
        _plugins={"ContextualLexer": SharedScannerLexer},
        cache=_cache_path(grammar + cache_note),
        **options,
    )


def _cache_path(grammar: str) -> str | bool:
    """Where lark keeps the built LALR tables (startup ~0.25 s -> ~0.02 s), or False for none.

    lark unpickles this file, so it must sit where only this user can write:
    `$XDG_CACHE_HOME/netspec` (an absolute XDG_CACHE_HOME only, as the XDG spec says)
    or `~/.cache/netspec`, a real directory owned by this user with mode 0700, in a
    parent that others cannot write to (or a sticky one, like /tmp). A folder of ours
    that nobody else can write is tightened to 0700; anything else (a symlink, another
    owner, group or world write, no home) turns the cache off. There is no fallback to
    the shared temp folder.
    """
    import hashlib

    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return False
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.environ.get("HOME")
        if home is None:
            home = os.path.expanduser("~")  # the password database
        if not os.path.isabs(home):
            return False
        base = os.path.join(home, ".cache")
    folder = os.path.join(base, "netspec")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        st, parent = os.lstat(folder), os.stat(base)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != getuid() or st.st_mode & 0o022:
            return False
        if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX:
            return False  # others could swap the folder for theirs after this check
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(folder, 0o700)
    except OSError:
        return False
    digest = hashlib.sha256((grammar + lark.__version__).encode()).hexdigest()[:16]
    return os.path.join(folder, f"grammar-{digest}.lark")


def _run(text: str, file: str, start: str) -> Any:
    """Parse `text` from rule `start`, building AST nodes whose spans name `file`."""
    with _LOCK:
        saved = _BUILDER.file, _BUILDER.outer
        _BUILDER.file, _BUILDER.outer = file, {}
        try:
            try:
                return _fast_parser().parse(text, start)
            except Fallback:  # lark's own loop gives the error, or the tree where ours stepped aside
                _BUILDER.outer = {}
                return _parser().parse(text, start=start)
        finally:
            _BUILDER.file, _BUILDER.outer = saved


def _split_args(items: Any) -> tuple[tuple[A.Expr, ...], tuple[A.Kwarg, ...]]:
    pos: list[A.Expr] = []
    kw: list[A.Kwarg] = []
    for it in items:
        (kw if isinstance(it, A.Kwarg) else pos).append(it)
    return tuple(pos), tuple(kw)


def _number(tok: Token, kind: type, span: A.Span) -> int | float:
    text = str(tok)
    if len(text) > 30:
        raise SpecError(f"number '{text[:20]}...' is too long", span, hint="numbers have at most 30 digits")
    value = kind(text)
    if isinstance(value, float) and (value != value or abs(value) == float("inf")):
        raise SpecError(f"number '{text}' is out of range", span)
    number: int | float = value
    return number


def _template(text: str, span: A.Span) -> A.Template:
    """Split `denselayer{i+1}` into literal parts and parsed expressions."""
    parts: list[str | A.Expr] = []
    for piece in re.split(r"(\{[^{}]*\})", text):
        if piece.startswith("{"):
            parts.append(_parse_expr(piece[1:-1], span))
        elif piece:
            parts.append(piece)
    return A.Template(span, tuple(parts))


def _parse_expr(text: str, span: A.Span) -> A.Expr:
    """Parse one expression (a `{...}` in a name, a --set value); every node gets `span`."""
    try:
        expr: A.Expr = _run(text, span.file, "test")
    except lark.exceptions.UnexpectedInput as e:
        raise SpecError(f"bad expression '{{{text}}}' in name", span) from e
    except TooDeep:
        raise _nesting_error(span) from None
    except SpecError as e:  # e.g. a number too long: report it at the host token
        raise SpecError(e.message, span, hint=e.hint) from None
    respanned: A.Expr = _respan(expr, span)
    return respanned


def _respan(expr: Any, span: A.Span) -> Any:
    """Give every node of a sub-parsed expression the span of its host token."""
    import dataclasses

    if isinstance(expr, A.Span):
        return expr
    if isinstance(expr, tuple):
        return tuple(_respan(e, span) for e in expr)
    if not dataclasses.is_dataclass(expr):
        return expr
    changes = {f.name: _respan(getattr(expr, f.name), span) for f in dataclasses.fields(expr)}
    changes["span"] = span if "span" in changes else None
    changes = {k: v for k, v in changes.items() if v is not None or k != "span"}
    return dataclasses.replace(expr, **changes)  # type: ignore[type-var]


# ---------------------------------------------------------------- errors

_WORDS = {
    "NAME": "a name",
    "CALL_NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "REF": "a reference like @name",
    "DIMS": "a shape like 3x224x224",
    "_NL": "a new line",
    "$END": "the end of the file",
}
_CLOSERS = {"RBRACE": "}", "RPAR": ")", "RSQB": "]"}


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "_NL":
        return "end of line"
    return f"'{tok.value}'"


def _syntax_error(e: lark.exceptions.UnexpectedInput, file: str, text: str) -> SpecError:
    line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    if line < 1:  # lark reports -1 at end of input
        lines = source_lines(text.rstrip("\n")) or [""]
        line, col = len(lines), len(lines[-1]) + 1
    span = A.Span(file, line, col, line, col + 1)
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else "?"
        return SpecError(f"unexpected character {ch!r}", span, hint=_char_hint(ch))
    tok: Token = getattr(e, "token", Token("$END", ""))
    expected = set(getattr(e, "expected", set()) or set())
    if tok.type not in ("$END", "_NL"):
        span = _tspan(file, tok)
    for closer, ch in _CLOSERS.items():
        if expected == {closer} or (tok.type in ("$END",) and closer in expected):
            return SpecError(f"missing '{ch}' before {_describe(tok)}", span)
    if tok.value == ":":
        hint = "a name goes before a layer, at the start of a statement or after '->': 'name: layer'"
        return SpecError("unexpected ':'", span, hint=hint)
    if tok.value == "else":
        return SpecError("unexpected 'else'", span, hint=_else_hint(text, tok))
    if tok.type in KEYWORDS and tok.value in KEYWORDS[tok.type] and ("NAME" in expected or "CALL_NAME" in expected):
        hint = (
            f"'{tok.value}' is a reserved word here; pick another name (a layer may still be named '{tok.value}: ...')"
        )
        return SpecError(f"unexpected {_describe(tok)}", span, hint=hint)
    if tok.type == "$END":
        return SpecError("unexpected end of file", span, hint="a block or list is not closed")
    if tok.type == "_NL":
        wanted = sorted({_WORDS.get(x, f"'{_literal(x)}'") for x in expected})
        return SpecError("statement ends too early", span, hint=f"expected {' or '.join(wanted[:4])}")
    if tok.type in ("CALL_NAME", "NAME") and "_NL" in expected:
        return SpecError(
            f"unexpected {_describe(tok)}",
            span,
            hint="put each statement on its own line or separate them with ';'",
        )
    if "EQUAL" in expected and tok.type in ("INT", "FLOAT", "NAME", "STRING"):
        return SpecError(f"unexpected {_describe(tok)}", span, hint="a parameter needs '=': name=value")
    wanted = sorted({_WORDS.get(x, f"'{_literal(x)}'") for x in expected if not x.startswith("__")})
    expected_hint = f"expected {' or '.join(wanted[:5])}" if wanted else None
    return SpecError(f"unexpected {_describe(tok)}", span, hint=expected_hint)


def _char_hint(ch: str) -> str | None:
    if ch in "\"'":
        return "strings use \"double\" or 'single' quotes"
    if ch.isdigit():
        return "numbers use the ASCII digits 0-9"
    if ch.isalpha() or ch.isnumeric():
        return "names use ASCII letters, digits and '_'"
    return None


# Characters a spec may not hold anywhere, strings and comments included: controls (but tab,
# form feed and line ends), and the bidirectional and invisible format characters that make
# source read differently from how it parses ("Trojan Source", CVE-2021-42574), as rustc and
# GCC refuse them. A byte-order mark is allowed only as the file's first character.
_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]|\r(?!\n)"
)


_START = re.compile(r"(?:[ \t\f\r\n]|\\\r?\n|#[^\n]*)*")
_FIRST_WORDS = ("import", "let", "block", "network")


def _check_start(text: str, file: str) -> None:
    """Refuse, without quoting it, a file whose first statement is not import, let, block or network.

    Such a file is not a spec (`netspec check /etc/passwd`): its lines are never shown,
    neither in this error nor in any later one.
    """
    blank = _START.match(text)  # blanks and comments: matches the empty string at least
    pos = blank.end() if blank else 0
    if pos == len(text):
        return
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[pos:])
    if word is not None and word.group() in _FIRST_WORDS:
        return
    line = text.count("\n", 0, pos) + 1
    raise SpecError(
        f"{file} is not a netspec spec: line {line} does not start with import, let, block or network",
        hint="a spec file holds imports, lets, blocks and networks (docs/language.md)",
    )


def _check_characters(text: str, file: str) -> None:
    """Refuse a control or invisible character anywhere in the text, at its line and column."""
    m = _FORBIDDEN.search(text)
    if m is None:
        return
    import unicodedata

    ch = m.group()
    line = text.count("\n", 0, m.start()) + 1
    col = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    name = unicodedata.name(ch, "")
    code = f"U+{ord(ch):04X}" + (f" ({name})" if name else "")
    bidi = ch in "\u061c\u200e\u200f" or "\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069"
    what = "bidirectional control" if bidi else "invisible" if ord(ch) > 0x9F else "control"
    raise SpecError(
        f"{what} character {code} in the spec",
        A.Span(file, line, col, line, col + 1),
        hint=(
            "it can make the text read differently from how it parses"
            if what != "control"
            else "control characters can rewrite the terminal that shows them"
        )
        + "; delete it (strings and comments may not hold it either)",
    )


# Reserved words: the grammar's keyword terminals (docs/language.md lists them; a test compares).
KEYWORDS = {
    "IMPORT": "import", "BLOCK": "block", "NETWORK": "network", "LET": "let", "FOR": "for",
    "REPEAT": "repeat", "IF": "if", "IN": "in", "INPUT": "input", "OUTPUT": "output", "INIT": "init",
    "RESIDUAL": "residual", "DENSE": "dense", "NOT": "not", "TRAIN": "train",
}  # fmt: skip


def _else_hint(text: str, tok: Token) -> str:
    """Suggest brackets for a conditional value in an op argument: `s=2 if a else 1` -> `s=(2 if a else 1)`."""
    lines = source_lines(text)
    line = lines[(tok.line or 1) - 1] if 0 < (tok.line or 1) <= len(lines) else ""
    col = (tok.column or 1) - 1
    before = re.search(r"(\w+)\s*=\s*(\S+\s+if\s+.+?)\s*$", line[:col])
    after = re.match(r"\s*else\s+(.+?)(?=\s+\w+\s*=|\s*[;,\]}#]|\s*$)", line[col:])
    if before and after and len(before.group(0)) + len(after.group(1)) < 80:
        name, value = before.groups()
        return f"a conditional value needs brackets: {name}=({value} else {after.group(1)})"
    return "a conditional value needs brackets, s=(2 if first else 1); an if statement needs braces: if c { ... }"


def _literal(term: str) -> str:
    names = {
        "LPAR": "(",
        "RPAR": ")",
        "LSQB": "[",
        "RSQB": "]",
        "LBRACE": "{",
        "RBRACE": "}",
        "COMMA": ",",
        "COLON": ":",
        "SEMICOLON": ";",
        "EQUAL": "=",
        "DOT": ".",
        "MINUS": "-",
        "PLUS": "+",
        "STAR": "*",
        "SLASH": "/",
        "MORETHAN": ">",
        "LESSTHAN": "<",
    }
    return names.get(term, term.lower())


def _nesting_error(span: A.Span) -> SpecError:
    return SpecError(f"brackets nested deeper than {lex.MAX_NESTING}", span, hint="split the expression or the block")


def parse(text: str, file: str = "<string>") -> A.Module:
    """Parse one `.net` file into an ast.Module.

    >>> parse("network n() { input 3x8x8; relu }").networks[0].name
    'n'
    """
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark, as some editors write
        text = text[1:]
    if len(text) > MAX_FILE_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(f"{file} is larger than {MAX_FILE_BYTES >> 20} MiB")
    _check_start(text, file)
    SOURCES[file] = text
    _check_characters(text, file)
    try:
        items = _run(text, file, "start")
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except TooDeep as e:
        line, col = e.tok.line or 1, e.tok.column or 1
        raise _nesting_error(A.Span(file, line, col, line, col + 1)) from None
    imports = tuple(i for i in items if isinstance(i, A.Import))
    lets = tuple(i for i in items if isinstance(i, A.Let))
    blocks = tuple(i for i in items if isinstance(i, A.BlockDef))
    nets = tuple(i for i in items if isinstance(i, (A.NetworkDef, A.NetworkAlias)))
    return A.Module(file, text, imports, lets, blocks, nets)
