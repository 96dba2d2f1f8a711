"""The syntax tree: frozen dataclasses, each carrying the span it came from.

Nodes compare by identity (eq=False): nothing compares trees, and skipping the
generated __eq__/__hash__ keeps import time down.

The parser builds these during the LALR parse; the evaluator walks them. Nothing here
knows about ops, shapes or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, eq=False)
class Expr:
    span: Span


@dataclass(frozen=True, eq=False)
class Const(Expr):
    value: object


@dataclass(frozen=True, eq=False)
class Name(Expr):
    id: str


@dataclass(frozen=True, eq=False)
class Ref(Expr):
    """`@name` or `@scope.name`: a tensor value (a layer's output)."""

    path: str


@dataclass(frozen=True, eq=False)
class InShape(Expr):
    """`in`: the enclosing block's input tensor."""


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, eq=False)
class Compare(Expr):
    first: Expr
    rest: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, eq=False)
class BoolOp(Expr):
    op: str  # "and" | "or"
    values: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Not(Expr):
    value: Expr


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    value: Expr


@dataclass(frozen=True, eq=False)
class Ternary(Expr):
    then: Expr
    cond: Expr
    other: Expr


@dataclass(frozen=True, eq=False)
class Index(Expr):
    value: Expr
    index: Expr


@dataclass(frozen=True, eq=False)
class Attr(Expr):
    value: Expr
    name: str


@dataclass(frozen=True, eq=False)
class Call(Expr):
    func: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]


@dataclass(frozen=True, eq=False)
class ListExpr(Expr):
    items: tuple[Expr, ...]
    is_tuple: bool = False


@dataclass(frozen=True, eq=False)
class ListComp(Expr):
    item: Expr
    targets: tuple[str, ...]
    source: Expr
    cond: Expr | None


@dataclass(frozen=True, eq=False)
class Kwarg:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True, eq=False)
class Template(Expr):
    """A computed name such as `denselayer{i+1}`: literal parts and expressions."""

    parts: tuple[str | Expr, ...]


# ---------------------------------------------------------------- layers


@dataclass(frozen=True, eq=False)
class Term:
    span: Span


@dataclass(frozen=True, eq=False)
class OpCall(Term):
    """`conv 64 k=3`, or `basic(64, stride=2)`: an op or a block, by name."""

    name: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    name_span: Span


@dataclass(frozen=True, eq=False)
class RefTerm(Term):
    path: str


@dataclass(frozen=True, eq=False)
class Seq(Term):
    """`[a, b]` or `{ a; b }`: a nested sequence with its own scope."""

    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Parallel(Term):
    """`concat { b1; b2 }`: branches on the same input, merged by an op."""

    merge: str
    branches: tuple[Stmt, ...]
    merge_span: Span


@dataclass(frozen=True, eq=False)
class Residual(Term):
    """`residual(shortcut = ..., when = cond) { body }`: body and shortcut added."""

    body: tuple[Stmt, ...]
    shortcut: LayerStmt | None
    when: Expr | None = None


@dataclass(frozen=True, eq=False)
class Dense(Term):
    """`dense { layers }`: each layer reads the concat of all earlier features."""

    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Chain(Term):
    terms: tuple[Term, ...]


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, eq=False)
class Stmt:
    span: Span


@dataclass(frozen=True, eq=False)
class LayerStmt(Stmt):
    label: Expr | None  # Const(str) or Template
    chain: Chain
    cond: Expr | None


@dataclass(frozen=True, eq=False)
class Let(Stmt):
    name: str
    value: Expr


@dataclass(frozen=True, eq=False)
class For(Stmt):
    targets: tuple[str, ...]
    source: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Repeat(Stmt):
    count: Expr
    body: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class If(Stmt):
    cond: Expr
    then: tuple[Stmt, ...]
    other: tuple[Stmt, ...]


@dataclass(frozen=True, eq=False)
class Input(Stmt):
    dims: tuple[Expr, ...]


@dataclass(frozen=True, eq=False)
class Output(Stmt):
    train_only: bool
    layer: LayerStmt


@dataclass(frozen=True, eq=False)
class Init(Stmt):
    kind: str
    kwargs: tuple[Kwarg, ...]
    kind_span: Span


# ---------------------------------------------------------------- definitions


@dataclass(frozen=True, eq=False)
class Param:
    name: str
    type: str | None
    default: Expr | None
    span: Span


@dataclass(frozen=True, eq=False)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, eq=False)
class NetworkDef:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, eq=False)
class NetworkAlias:
    """`network resnet18 = resnet(layers=[2, 2, 2, 2], block="basic")`."""

    name: str
    target: str
    args: tuple[Expr, ...]
    kwargs: tuple[Kwarg, ...]
    span: Span


@dataclass(frozen=True, eq=False)
class Import:
    target: str
    is_path: bool
    span: Span


@dataclass(frozen=True, eq=False)
class Module:
    """One parsed `.net` file."""

    path: str
    source: str
    imports: tuple[Import, ...] = ()
    lets: tuple[Let, ...] = ()
    blocks: tuple[BlockDef, ...] = ()
    networks: tuple[NetworkDef | NetworkAlias, ...] = field(default=())
