"""Text -> AST. Every AST node carries the span it came from.

The grammar lives in grammar.lark (LALR). Newlines end statements except inside
`( )` and `[ ]` and after a trailing `->`, so long lists and chains can wrap. lark's
errors are turned into plain words ("missing '}'") before anyone sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

import lark
from lark import Lark, Token, Transformer, v_args

from . import ast as A
from .errors import SOURCES, SpecError

MAX_FILE_BYTES = 4 << 20
MAX_NESTING = 64


class _Newlines:
    """Drop newlines inside ( ) and [ ], and after a trailing `->`."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        stack: list[str] = []
        prev = ""
        for tok in stream:
            if tok.type == "_NL":
                if (stack and stack[-1] in "([") or prev == "->":
                    continue
            elif tok.type != "STRING":
                if tok.value in ("(", "[", "{"):
                    stack.append(tok.value)
                elif tok.value in (")", "]", "}") and stack:
                    stack.pop()
            prev = tok.value if tok.type != "STRING" else ""
            yield tok


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("netspec").joinpath("grammar.lark").read_text()
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_Newlines(),
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "test"],
        cache=_cache_path(grammar),
    )


def _cache_path(grammar: str) -> str | bool:
    """A per-user cache of the built LALR tables: startup drops from ~0.25 s to ~0.02 s."""
    import hashlib
    import os
    import tempfile

    digest = hashlib.sha256((grammar + lark.__version__).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "netspec")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        folder = tempfile.gettempdir()
    return os.path.join(folder, f"grammar-{digest}.lark")


def _tspan(file: str, tok: Token) -> A.Span:
    return A.Span(file, tok.line or 1, tok.column or 1, tok.end_line or 1, tok.end_column or 1)


def _unquote(s: str) -> str:
    return s[1:-1]


@v_args(meta=True)
class _ToAst(Transformer[Token, Any]):
    """lark tree -> ast dataclasses."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _span(self, meta: Any) -> A.Span:
        if getattr(meta, "empty", True):
            return A.Span(self.file, 1, 1, 1, 1)
        return A.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    # ------------------------------------------------------------ file level
    def start(self, meta: Any, items: list[Any]) -> list[Any]:
        return items

    def import_stmt(self, meta: Any, ch: list[Token]) -> A.Import:
        tok = ch[0]
        is_path = tok.type == "STRING"
        return A.Import(_unquote(tok) if is_path else str(tok), is_path, self._span(meta))

    def params(self, meta: Any, ch: list[Any]) -> tuple[A.Param, ...]:
        return tuple(c for c in ch if c is not None)

    def param(self, meta: Any, ch: list[Any]) -> A.Param:
        name, typ, default = ch
        return A.Param(str(name), str(typ) if typ else None, default, self._span(meta))

    def block_def(self, meta: Any, ch: list[Any]) -> A.BlockDef:
        name, params, body = ch
        return A.BlockDef(str(name), params or (), body, self._span(meta))

    def network_def(self, meta: Any, ch: list[Any]) -> A.NetworkDef:
        name, params, body = ch
        return A.NetworkDef(str(name), params or (), body, self._span(meta))

    def network_alias(self, meta: Any, ch: list[Any]) -> A.NetworkAlias:
        name, target, args = ch
        pos, kw = args or ((), ())
        return A.NetworkAlias(str(name), str(target), pos, kw, self._span(meta))

    def body(self, meta: Any, ch: list[Any]) -> tuple[A.Stmt, ...]:
        return tuple(c for c in ch if c is not None)

    # ------------------------------------------------------------ statements
    def label(self, meta: Any, ch: list[Token]) -> A.Expr:
        tok = ch[0]
        span = _tspan(self.file, tok)
        if tok.type == "STRING" and "{" not in tok:
            return A.Const(span, _unquote(tok))
        if tok.type == "STRING":
            return _template(_unquote(tok), span)
        if tok.type == "NAME_TEMPLATE":
            return _template(str(tok), span)
        return A.Const(span, str(tok))

    def layer_stmt(self, meta: Any, ch: list[Any]) -> A.LayerStmt:
        label, chain, cond = ch
        return A.LayerStmt(self._span(meta), label, chain, cond)

    def let_stmt(self, meta: Any, ch: list[Any]) -> A.Let:
        return A.Let(self._span(meta), str(ch[0]), ch[1])

    def targets(self, meta: Any, ch: list[Token]) -> tuple[str, ...]:
        return tuple(str(t) for t in ch)

    def for_stmt(self, meta: Any, ch: list[Any]) -> A.For:
        return A.For(self._span(meta), ch[0], ch[1], ch[2])

    def repeat_stmt(self, meta: Any, ch: list[Any]) -> A.Repeat:
        return A.Repeat(self._span(meta), ch[0], ch[1])

    def if_stmt(self, meta: Any, ch: list[Any]) -> A.If:
        cond, then, other = ch
        if isinstance(other, A.If):
            other = (other,)
        return A.If(self._span(meta), cond, then, other or ())

    def input_stmt(self, meta: Any, ch: list[Any]) -> A.Input:
        if isinstance(ch[0], Token) and ch[0].type == "DIMS":
            span = _tspan(self.file, ch[0])
            dims = tuple(A.Const(span, int(d)) for d in str(ch[0]).split("x"))
        else:
            dims = tuple(c for c in ch if c is not None)
        return A.Input(self._span(meta), dims)

    def output_stmt(self, meta: Any, ch: list[Any]) -> A.Output:
        train, layer = ch
        return A.Output(self._span(meta), train is not None, layer)

    def init_stmt(self, meta: Any, ch: list[Any]) -> A.Init:
        kind = ch[0]
        return A.Init(self._span(meta), str(kind), tuple(ch[1:]), _tspan(self.file, kind))

    # ------------------------------------------------------------ layers
    def chain(self, meta: Any, ch: list[A.Term]) -> A.Chain:
        return A.Chain(self._span(meta), tuple(ch))

    def arg(self, meta: Any, ch: list[Any]) -> Any:
        return ch[0]

    def kwarg(self, meta: Any, ch: list[Any]) -> A.Kwarg:
        return A.Kwarg(str(ch[0]), ch[1], self._span(meta))

    kwarg_t = kwarg

    def args(self, meta: Any, ch: list[Any]) -> tuple[tuple[A.Expr, ...], tuple[A.Kwarg, ...]]:
        return _split_args(c for c in ch if c is not None)

    def op_call(self, meta: Any, ch: list[Any]) -> A.OpCall:
        name, *rest = ch
        pos, kw = _split_args(rest)
        return A.OpCall(self._span(meta), str(name), pos, kw, _tspan(self.file, name))

    def block_call(self, meta: Any, ch: list[Any]) -> A.OpCall:
        name, args, *rest = ch
        pos, kw = args or ((), ())
        pos2, kw2 = _split_args(rest)
        return A.OpCall(self._span(meta), str(name), pos + pos2, kw + kw2, _tspan(self.file, name))

    def ref_term(self, meta: Any, ch: list[Token]) -> A.RefTerm:
        return A.RefTerm(self._span(meta), str(ch[0])[1:])

    def seq(self, meta: Any, ch: list[Any]) -> A.Seq:
        if len(ch) == 1 and isinstance(ch[0], tuple):
            return A.Seq(self._span(meta), ch[0])
        return A.Seq(self._span(meta), tuple(c for c in ch if c is not None))

    def parallel(self, meta: Any, ch: list[Any]) -> A.Parallel:
        name, body = ch
        return A.Parallel(self._span(meta), str(name), body, _tspan(self.file, name))

    def residual(self, meta: Any, ch: list[Any]) -> A.Residual:
        *opts, body = ch
        shortcut = next((v for k, v in opts if k == "shortcut"), None) if opts != [None] else None
        when = next((v for k, v in opts if k == "when"), None) if opts != [None] else None
        return A.Residual(self._span(meta), body, shortcut, when)

    def res_shortcut(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        return ("shortcut", ch[0])

    def res_when(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        return ("when", ch[0])

    def dense(self, meta: Any, ch: list[Any]) -> A.Dense:
        return A.Dense(self._span(meta), ch[0])

    # ------------------------------------------------------------ expressions
    def ternary(self, meta: Any, ch: list[Any]) -> A.Ternary:
        return A.Ternary(self._span(meta), ch[0], ch[1], ch[2])

    def or_(self, meta: Any, ch: list[Any]) -> A.BoolOp:
        return A.BoolOp(self._span(meta), "or", tuple(ch))

    def and_(self, meta: Any, ch: list[Any]) -> A.BoolOp:
        return A.BoolOp(self._span(meta), "and", tuple(ch))

    def not_(self, meta: Any, ch: list[Any]) -> A.Not:
        return A.Not(self._span(meta), ch[0])

    def compare(self, meta: Any, ch: list[Any]) -> A.Compare:
        rest = tuple((str(ch[i]), ch[i + 1]) for i in range(1, len(ch), 2))
        return A.Compare(self._span(meta), ch[0], rest)

    def binop(self, meta: Any, ch: list[Any]) -> A.Expr:
        left = ch[0]
        for i in range(1, len(ch), 2):
            right = ch[i + 1]
            span = A.Span(self.file, left.span.line, left.span.col, right.span.end_line, right.span.end_col)
            left = A.BinOp(span, str(ch[i]), left, right)
        expr: A.Expr = left
        return expr

    def neg(self, meta: Any, ch: list[Any]) -> A.Expr:
        return A.Neg(self._span(meta), ch[1]) if ch[0] == "-" else ch[1]

    def pow_(self, meta: Any, ch: list[Any]) -> A.BinOp:
        return A.BinOp(self._span(meta), "**", ch[0], ch[-1])

    def index(self, meta: Any, ch: list[Any]) -> A.Index:
        return A.Index(self._span(meta), ch[0], ch[1])

    def attr(self, meta: Any, ch: list[Any]) -> A.Attr:
        return A.Attr(self._span(meta), ch[0], str(ch[1]))

    def int_(self, meta: Any, ch: list[Token]) -> A.Const:
        return A.Const(self._span(meta), _number(ch[0], int, self._span(meta)))

    def float_(self, meta: Any, ch: list[Token]) -> A.Const:
        return A.Const(self._span(meta), _number(ch[0], float, self._span(meta)))

    def string(self, meta: Any, ch: list[Token]) -> A.Const:
        return A.Const(self._span(meta), _unquote(ch[0]))

    def name(self, meta: Any, ch: list[Token]) -> A.Expr:
        word = str(ch[0])
        consts = {"true": True, "false": False, "none": None}
        if word in consts:
            return A.Const(self._span(meta), consts[word])
        return A.Name(self._span(meta), word)

    def ref_expr(self, meta: Any, ch: list[Token]) -> A.Ref:
        return A.Ref(self._span(meta), str(ch[0])[1:])

    def in_(self, meta: Any, ch: list[Any]) -> A.InShape:
        return A.InShape(self._span(meta))

    def func_call(self, meta: Any, ch: list[Any]) -> A.Call:
        name, args = ch
        pos, kw = args or ((), ())
        return A.Call(self._span(meta), str(name), pos, kw)

    def list_(self, meta: Any, ch: list[Any]) -> A.ListExpr:
        return A.ListExpr(self._span(meta), tuple(c for c in ch if c is not None))

    def tuple_(self, meta: Any, ch: list[Any]) -> A.ListExpr:
        return A.ListExpr(self._span(meta), tuple(c for c in ch if c is not None), True)

    def listcomp(self, meta: Any, ch: list[Any]) -> A.ListComp:
        item, targets, source, cond = ch
        return A.ListComp(self._span(meta), item, targets, source, cond)


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
    try:
        tree = _parser().parse(text, start="test")
    except lark.exceptions.UnexpectedInput as e:
        raise SpecError(f"bad expression '{{{text}}}' in name", span) from e
    expr: A.Expr = _ToAst(span.file).transform(tree)
    respanned: A.Expr = _respan(expr, span)
    return respanned


def _respan(expr: Any, span: A.Span) -> Any:
    """Give every node of a sub-parsed expression the span of its host token."""
    import dataclasses

    if isinstance(expr, tuple):
        return tuple(_respan(e, span) for e in expr)
    if not dataclasses.is_dataclass(expr) or isinstance(expr, A.Span):
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
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
    span = A.Span(file, line, col, line, col + 1)
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else "?"
        hint = "strings use \"double\" or 'single' quotes" if ch in "\"'" else None
        return SpecError(f"unexpected character {ch!r}", span, hint=hint)
    tok: Token = getattr(e, "token", Token("$END", ""))
    expected = set(getattr(e, "expected", set()) or set())
    if tok.type not in ("$END", "_NL"):
        span = _tspan(file, tok)
    for closer, ch in _CLOSERS.items():
        if expected == {closer} or (tok.type in ("$END",) and closer in expected):
            return SpecError(f"missing '{ch}' before {_describe(tok)}", span)
    if tok.value == ":":
        return SpecError("unexpected ':'", span, hint="a name goes at the start of a statement: 'name: layer'")
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
    hint = f"expected {' or '.join(wanted[:5])}" if wanted else None
    return SpecError(f"unexpected {_describe(tok)}", span, hint=hint)


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


def _check_limits(text: str, file: str) -> None:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(f"file is larger than {MAX_FILE_BYTES >> 20} MiB", A.Span(file, 1, 1, 1, 2))
    depth, line, col = 0, 1, 0
    opens, closes = "([{", ")]}"
    for ch in text:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch in opens:
            depth += 1
            if depth > MAX_NESTING:
                raise SpecError(
                    f"brackets nested deeper than {MAX_NESTING}",
                    A.Span(file, line, col, line, col + 1),
                    hint="split the expression or the block",
                )
        elif ch in closes:
            depth = max(0, depth - 1)


def parse(text: str, file: str = "<string>") -> A.Module:
    """Parse one `.net` file into an ast.Module.

    >>> parse("network n() { input 3x8x8; relu }").networks[0].name
    'n'
    """
    SOURCES[file] = text
    _check_limits(text, file)
    try:
        tree = _parser().parse(text, start="start")
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, file, text) from None
    except lark.exceptions.VisitError as e:  # pragma: no cover - defensive
        raise SpecError(str(e.orig_exc), A.Span(file, 1, 1, 1, 2)) from None
    try:
        items = _ToAst(file).transform(tree)
    except lark.exceptions.VisitError as e:
        if isinstance(e.orig_exc, SpecError):
            raise e.orig_exc from None
        raise
    mod = A.Module(file, text)
    imports = tuple(i for i in items if isinstance(i, A.Import))
    lets = tuple(i for i in items if isinstance(i, A.Let))
    blocks = tuple(i for i in items if isinstance(i, A.BlockDef))
    nets = tuple(i for i in items if isinstance(i, (A.NetworkDef, A.NetworkAlias)))
    return A.Module(mod.path, text, imports, lets, blocks, nets)
