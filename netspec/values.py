"""Expression evaluation: our own small evaluator, never Python's eval.

Values are ints, floats, bools, strings, None, lists (tuples), tensor
references (`@name`, `in`) and init schemes. Every step is counted against the
env's Meter (netspec/limits.py) and every value is bounded *before* it is built,
so a hostile spec cannot make huge numbers, lists or strings, or spin forever.
The functions a spec may call (`range`, `str`, `make_divisible` ...) are in functions.py.

    evaluate(parse_expr("[3, 4, 6, 3][i] * 2"), env)  ->  8  (with i = 1)
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from . import ast as A
from .errors import SpecError, did_you_mean
from .fmt import fmt_value
from .functions import FUNCTIONS, call
from .limits import LimitError, Meter
from .ops import Init


@dataclass(frozen=True)
class Tensor:
    """A tensor value in an expression: a node id and its shape."""

    node: str
    shape: tuple[int, ...]

    def __repr__(self) -> str:
        return f"@{self.node}"  # as written in a spec

    def attr(self, name: str) -> Any:
        dims = {"channels": 0, "height": 1, "width": 2}
        if name == "shape":
            return self.shape
        if name == "rank":
            return len(self.shape)
        if name in dims and len(self.shape) == 3:
            return self.shape[dims[name]]
        if name == "features" and len(self.shape) == 1:
            return self.shape[0]
        if name == "channels" and len(self.shape) == 1:
            return self.shape[0]
        return _MISSING


_MISSING = object()


class Env:
    """Variables visible to an expression: a chain of dicts, innermost first.

    An Env also carries the `tensor` resolver (for `@name` and `in`) and the Meter
    that counts the evaluation's steps; children inherit both.
    """

    __slots__ = ("vars", "parent", "tensor", "meter")

    def __init__(
        self,
        vars: dict[str, Any] | None = None,
        parent: Env | None = None,
        tensor: Callable[[str, A.Span], Tensor] | None = None,
        meter: Meter | None = None,
    ) -> None:
        self.vars = vars if vars is not None else {}
        self.parent = parent
        # Resolves `@name` and `in` (the "in" key); set by the evaluator per scope.
        self.tensor: Callable[[str, A.Span], Tensor] | None = (
            tensor if tensor is not None else (parent.tensor if parent else None)
        )
        self.meter: Meter = meter if meter is not None else parent.meter if parent is not None else Meter()

    def child(self, vars: dict[str, Any] | None = None) -> Env:
        return Env(vars or {}, self)

    def lookup(self, name: str, span: A.Span) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        hint = did_you_mean(name, near(name, self.names()))
        if hint is None and name in FUNCTIONS:
            hint = f"'{name}' is a function: call it as {name}(...)"
        raise SpecError(f"undefined name '{name}'", span, hint=hint)

    def has(self, name: str) -> bool:
        """Whether a name is defined (dict lookups along the chain; no set of all names is built)."""
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return True
            env = env.parent
        return False

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out


def near(word: str, names: Iterable[str], keep: int = 1000) -> list[str]:
    """The names worth comparing with `word` for a "did you mean" hint, at most `keep` of them.

    difflib compares every candidate (~35 us each), so a spec with 100,000 names would
    take seconds to report one typo. A name more than 7/3 times longer or shorter than
    the word cannot reach did_you_mean's similarity cutoff of 0.6, so it is skipped.
    """
    n = len(word)
    out = []
    for name in names:
        if 3 * len(name) <= 7 * n and 3 * n <= 7 * len(name):
            out.append(name)
            if len(out) >= keep:
                break
    return out


def type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if v is None:
        return "none"
    return {int: "int", float: "float", str: "string", tuple: "list", list: "list", Tensor: "tensor", Init: "init"}.get(
        type(v), type(v).__name__
    )


def admit(v: Any, meter: Meter, span: A.Span | None) -> Any:
    """Check a value from outside the language (`--set`, Python keyword arguments).

    Lists become tuples; ints, strings and lists are bounded like computed values;
    anything that is not a spec value is refused.
    """
    if isinstance(v, bool) or v is None or isinstance(v, (str, Init)):
        if isinstance(v, str):
            meter.need_str(len(v), span)
        return v
    if isinstance(v, numbers.Integral):
        return meter.need_int(int(v), span)
    if isinstance(v, numbers.Real):
        return meter.number(float(v), span)
    if isinstance(v, (list, tuple)):
        meter.need_list(_outside_items(v, meter, span), span)
        return tuple(admit(x, meter, span) for x in v)
    raise SpecError(
        f"a value of type {type(v).__name__} is not a spec value",
        span,
        hint="pass ints, floats, bools, strings, none or lists of them",
    )


def _outside_items(v: list[Any] | tuple[Any, ...], meter: Meter, span: A.Span | None) -> int:
    """Items of a Python list or tuple, nested ones included, counting no further than max_list + 1."""
    cap, deepest = meter.limits.max_list, meter.limits.max_expr_depth
    total = 0
    stack = [(v, 1)]
    while stack:
        t, depth = stack.pop()
        if depth > deepest:
            raise LimitError("max_expr_depth", f"lists nested deeper than {deepest}", span)
        total += len(t)
        if total > cap:
            return cap + 1
        stack.extend((x, depth + 1) for x in t if isinstance(x, (list, tuple)))
    return total


def _num(v: Any, span: A.Span, what: str) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(f"{what} needs a number, got {type_name(v)} {fmt_value(v)}", span)
    return v


def _arith(op: str, a: Any, b: Any, span: A.Span, m: Meter) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        m.need_str(len(a) + len(b), span)
        m.spend(len(a) + len(b), span)
        return a + b
    if op == "+" and isinstance(a, tuple) and isinstance(b, tuple):
        m.need_list(m.items(a, span) + m.items(b, span), span)
        return a + b
    if op == "*" and isinstance(a, tuple) and isinstance(b, int) and not isinstance(b, bool):
        n = max(b, 0)
        if a and n:
            m.need_list(m.items(a, span) * n, span)
            m.spend(len(a) * n, span)
        return a * n
    x, y = _num(a, span, f"'{op}'"), _num(b, span, f"'{op}'")
    try:
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x / y
        if op == "//":
            return x // y
        if op == "%":
            return x % y
        if op == "**":
            if abs(y) > 64 and abs(x) > 1:
                raise LimitError("max_int", f"exponent {fmt_value(y)} is too large", span)
            result = x**y
            if isinstance(result, complex):
                raise SpecError("negative number to a fractional power", span)
            return result
    except ZeroDivisionError:
        raise SpecError("division by zero", span) from None
    except OverflowError:
        raise SpecError("number is out of range", span) from None
    raise SpecError(f"unknown operator '{op}'", span)  # pragma: no cover


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def evaluate(e: A.Expr, env: Env) -> Any:
    """Evaluate an expression in an environment, counting each node against the env's Meter."""
    m = env.meter
    m.work += 1
    if m.work > m.max_work:
        m.spend(0, e.span)
    if type(e) is A.Const:
        v = e.value
        return v if type(v) is not int else m.need_int(v, e.span)
    m.expr_depth += 1
    try:
        if m.expr_depth > m.max_expr_depth:
            raise LimitError("max_expr_depth", f"the expression is nested deeper than {m.max_expr_depth}", e.span)
        return _EVAL[type(e)](e, env)
    finally:
        m.expr_depth -= 1


def _name(e: A.Name, env: Env) -> Any:
    return env.lookup(e.id, e.span)


def _binop(e: A.BinOp, env: Env) -> Any:
    m = env.meter
    return m.number(_arith(e.op, evaluate(e.left, env), evaluate(e.right, env), e.span, m), e.span)


def _neg(e: A.Neg, env: Env) -> Any:
    return env.meter.number(-_num(evaluate(e.value, env), e.span, "'-'"), e.span)


def _not(e: A.Not, env: Env) -> bool:
    return not truth(evaluate(e.value, env), e.value.span)


def _boolop(e: A.BoolOp, env: Env) -> Any:
    result: Any = None
    for part in e.values:
        result = truth(evaluate(part, env), part.span)
        if result == (e.op == "or"):
            return result
    return result


def _compare(e: A.Compare, env: Env) -> bool:
    m = env.meter
    left = evaluate(e.first, env)
    for op, right_e in e.rest:
        right = evaluate(right_e, env)
        _charge_walk(left, right, m, e.span)
        try:
            ok = _COMPARE[op](left, right)
        except TypeError:
            raise SpecError(f"cannot compare {type_name(left)} {op} {type_name(right)}", e.span) from None
        if not ok:
            return False
        left = right
    return True


def _charge_walk(a: Any, b: Any, m: Meter, span: A.Span) -> None:
    """Charge a comparison of lists or strings as work: it may walk every item."""
    for v in (a, b):
        if type(v) is tuple:
            m.items(v, span)
        elif type(v) is str:
            m.spend(len(v), span)


def _ternary(e: A.Ternary, env: Env) -> Any:
    return evaluate(e.then, env) if truth(evaluate(e.cond, env), e.cond.span) else evaluate(e.other, env)


def _index_expr(e: A.Index, env: Env) -> Any:
    return _index(evaluate(e.value, env), evaluate(e.index, env), e.span)


def _attr_expr(e: A.Attr, env: Env) -> Any:
    return _attr(evaluate(e.value, env), e.name, e.span)


def _list(e: A.ListExpr, env: Env) -> tuple[Any, ...]:
    m = env.meter
    m.need_list(len(e.items), e.span)
    values = tuple(evaluate(i, env) for i in e.items)
    m.need_list(m.items_of(values, e.span), e.span)
    return values


def _listcomp(e: A.ListComp, env: Env) -> tuple[Any, ...]:
    m = env.meter
    out: list[Any] = []
    total = 0
    for item in iterate(evaluate(e.source, env), e.source.span):
        m.iteration(e.span)
        inner = env.child(bind_targets(e.targets, item, e.span))
        if e.cond is None or truth(evaluate(e.cond, inner), e.cond.span):
            v = evaluate(e.item, inner)
            total = m.items_of((v,), e.span, total)
            m.need_list(total, e.span)
            out.append(v)
    return tuple(out)


def _ref(e: A.Ref, env: Env) -> Tensor:
    if env.tensor is None:
        raise SpecError(
            f"'@{e.path}' is not available here", e.span, hint="tensor references work inside networks and blocks"
        )
    return env.tensor(e.path, e.span)


def _in(e: A.InShape, env: Env) -> Tensor:
    if env.tensor is None:
        raise SpecError("'in' is not available here", e.span, hint="'in' is the input of a block or network")
    return env.tensor("in", e.span)


def _template(e: A.Template, env: Env) -> str:
    parts = [p if isinstance(p, str) else _name_part(evaluate(p, env), p.span) for p in e.parts]
    n = sum(len(p) for p in parts)
    env.meter.need_str(n, e.span)
    env.meter.spend(n, e.span)
    return "".join(parts)


_EVAL: dict[type, Callable[[Any, Env], Any]] = {
    A.Name: _name,
    A.BinOp: _binop,
    A.Neg: _neg,
    A.Not: _not,
    A.BoolOp: _boolop,
    A.Compare: _compare,
    A.Ternary: _ternary,
    A.Index: _index_expr,
    A.Attr: _attr_expr,
    A.ListExpr: _list,
    A.ListComp: _listcomp,
    A.Call: lambda e, env: _call(e, env),
    A.Ref: _ref,
    A.InShape: _in,
    A.Template: _template,
}


def _name_part(v: Any, span: A.Span) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, str)):
        raise SpecError(f"a computed name part must be an int or string, got {type_name(v)}", span)
    return str(v)


def truth(v: Any, span: A.Span) -> bool:
    if isinstance(v, bool):
        return v
    if v is None or isinstance(v, (int, float, str, tuple)):
        return bool(v)
    raise SpecError(f"a {type_name(v)} is not true or false", span)


def _index(v: Any, i: Any, span: A.Span) -> Any:
    if not isinstance(v, (tuple, str)):
        raise SpecError(f"cannot index a {type_name(v)}", span)
    if isinstance(i, bool) or not isinstance(i, int):
        raise SpecError(f"an index must be an int, got {type_name(i)}", span)
    if not -len(v) <= i < len(v):
        raise SpecError(f"index {fmt_value(i)} is out of range for a list of {len(v)}", span)
    return v[i]


def _attr(v: Any, name: str, span: A.Span) -> Any:
    if isinstance(v, Tensor):
        got = v.attr(name)
        if got is _MISSING:
            choices = ["channels", "height", "width", "shape", "rank"]
            raise SpecError(f"a tensor of shape {v.shape} has no '{name}'", span, hint=did_you_mean(name, choices))
        return got
    raise SpecError(f"a {type_name(v)} has no attribute '{name}'", span)


def iterate(v: Any, span: A.Span) -> Iterable[Any]:
    if isinstance(v, (tuple, str)):
        return v
    raise SpecError(f"cannot loop over {type_name(v)} {fmt_value(v)}", span, hint="loop over range(n) or a list")


def bind_targets(targets: tuple[str, ...], item: Any, span: A.Span) -> dict[str, Any]:
    if len(targets) == 1:
        return {targets[0]: item}
    if not isinstance(item, tuple) or len(item) != len(targets):
        raise SpecError(f"cannot unpack {fmt_value(item)} into {len(targets)} names", span)
    return dict(zip(targets, item, strict=True))


def _call(e: A.Call, env: Env) -> Any:
    if e.func not in FUNCTIONS:
        raise SpecError(f"unknown function '{e.func}'", e.span, hint=did_you_mean(e.func, FUNCTIONS))
    args = [evaluate(a, env) for a in e.args]
    kwargs = {k.name: evaluate(k.value, env) for k in e.kwargs}
    if any(isinstance(a, Tensor) for a in [*args, *kwargs.values()]) and e.func not in ("len",):
        raise SpecError(f"{e.func}() takes numbers, not tensors", e.span, hint="use @x.channels for a size")
    return call(e.func, args, kwargs, env.meter, e.span)


def typed_key(v: Any) -> Any:
    """A cache key that keeps values apart when they are equal but of different types.

    `3 == 3.0 == True` in Python, so a cache keyed by values would hand a later
    `k=3.0` the op validated for `k=3`. Keys pair every value with its type:

        typed_key((3, 3.0)) == (tuple, ((int, 3), (float, 3.0)))
    """
    t = type(v)
    if t is tuple or t is list:
        return (t, tuple([typed_key(x) for x in v]))
    if isinstance(v, BaseModel):
        return (t, tuple((k, typed_key(x)) for k, x in v.__dict__.items()))
    return (t, v)
