"""The syntax tree: frozen dataclasses, each carrying the span it came from.

Nodes compare by identity (eq=False): nothing compares trees, and skipping the
generated __eq__/__hash__ (and sharing one __repr__) keeps import time down.

The parser builds these during the LALR parse; the evaluator walks them. Nothing here
knows about ops, shapes or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import NamedTuple


class Span(NamedTuple):
    """Where a construct sits in its source: 1-based line and column, end exclusive.

    A named tuple rather than a dataclass: the parser makes one for nearly every
    token, and a tuple is built in a third of the time of a frozen dataclass.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int


class _Node:
    """Base of every syntax node: one repr for all (a dataclass repr is generated per class).

    >>> Name(Span("a.net", 1, 5, 1, 6), "c")
    Name(span=Span(file='a.net', line=1, col=5, end_line=1, end_col=6), id='c')
    """

    __slots__ = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))  # type: ignore[arg-type]
        return f"{type(self).__qualname__}({inner})"


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, eq=False, repr=False)
class Expr(_Node):
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class Const(Expr):
    value: object


@dataclass(frozen=True, eq=False, repr=False)
class Name(Expr):
    id: str


@dataclass(frozen=True, eq=False, repr=False)
class Ref(Expr):
    """`@name` or `@scope.name`: a tensor value (a layer's output)."""

    path: str


@dataclass(frozen=True, eq=False, repr=False)
class InShape(Expr):
    """`in`: the enclosing block's input tensor."""


@dataclass(frozen=True, eq=False, repr=False)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Compare(Expr):
    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, eq=False, repr=False)
class BoolOp(Expr):
    op: str  # "and" | "or"
    values: tuple[Expr, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Not(Expr):
    value: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Neg(Expr):
    value: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Ternary(Expr):
    then: Expr
    cond: Expr
    other: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Index(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True, eq=False, repr=False)
class Attr(Expr):
    value: Expr
    name: str


@dataclass(frozen=True, eq=False, repr=False)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]


@dataclass(frozen=True, eq=False, repr=False)
class ListExpr(Expr):
    items: tuple[Expr, ...]
    is_tuple: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class ListComp(Expr):
    item: Expr
    targets: tuple[str, ...]
    source: Expr
    cond: Expr | None


@dataclass(frozen=True, eq=False, repr=False)
class Kwarg(_Node):
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class Template(Expr):
    """A computed name such as `denselayer{i+1}`: literal parts and expressions."""

    parts: tuple[str | Expr, ...]


# ---------------------------------------------------------------- layers


@dataclass(frozen=True, eq=False, repr=False)
class Term(_Node):
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class OpCall(Term):
    """`conv 64 k=3`, or `basic(64, stride=2)`: an op or a block, by name."""

    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    name_span: Span


@dataclass(frozen=True, eq=False, repr=False)
class RefTerm(Term):
    path: str


@dataclass(frozen=True, eq=False, repr=False)
class Seq(Term):
    """`[a, b]` or `{ a; b }`: a nested sequence with its own scope."""

    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Parallel(Term):
    """`concat { b1; b2 }`: branches on the same input, merged by an op."""

    merge: str
    branches: tuple[Stmt, ...]
    merge_span: Span


@dataclass(frozen=True, eq=False, repr=False)
class Residual(Term):
    """`residual(shortcut = ..., when = cond) { body }`: body and shortcut added."""

    body: tuple[Stmt, ...]
    shortcut: LayerStmt | None
    when: Expr | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Dense(Term):
    """`dense { layers }`: each layer reads the concat of all earlier features."""

    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Chain(Term):
    terms: tuple[Term, ...]
    labels: tuple[Expr | None, ...] = ()  # per term, when some layer after a '->' is named: `@x -> xb: conv 8`


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, eq=False, repr=False)
class Stmt(_Node):
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class LayerStmt(Stmt):
    label: Expr | None  # Const(str) or Template
    chain: Chain
    cond: Expr | None


@dataclass(frozen=True, eq=False, repr=False)
class Let(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True, eq=False, repr=False)
class For(Stmt):
    targets: tuple[str, ...]
    source: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Repeat(Stmt):
    count: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False, repr=False)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    other: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Input(Stmt):
    dims: tuple[Expr, ...]


@dataclass(frozen=True, eq=False, repr=False)
class Output(Stmt):
    train_only: bool
    layer: LayerStmt


@dataclass(frozen=True, eq=False, repr=False)
class Init(Stmt):
    kind: str
    kwargs: tuple[Kwarg, ...]
    kind_span: Span


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True, eq=False, repr=False)
class Param(_Node):
    name: str
    type: str | None
    default: Expr | None
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class BlockDef(_Node):
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class NetworkDef(_Node):
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class NetworkAlias(_Node):
    """`network resnet18 = resnet(layers=[2, 2, 2, 2], block="basic")`."""

    name: str
    target: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class Import(_Node):
    target: str
    is_path: bool
    span: Span


@dataclass(frozen=True, eq=False, repr=False)
class Module(_Node):
    """One parsed `.net` file."""

    path: str
    source: str
    imports: tuple[Import, ...] = ()
    lets: tuple[Let, ...] = ()
    blocks: tuple[BlockDef, ...] = ()
    networks: tuple[NetworkDef | NetworkAlias, ...] = field(default=())
