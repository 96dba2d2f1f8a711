"""Expression evaluation: our own small evaluator, never Python's eval.

Values are ints, floats, bools, strings, None, lists (tuples), tensor
references (`@name`, `in`) and init schemes. Every step is counted against the
env's Meter (netspec/limits.py) and every value is bounded *before* it is built,
so a hostile spec cannot make huge numbers, lists or strings, or spin forever.

    evaluate(parse_expr("[3, 4, 6, 3][i] * 2"), env)  ->  8  (with i = 1)
"""

from __future__ import annotations

import math
import numbers
import operator
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from pydantic import BaseModel

from . import ast as A
from .errors import SpecError, did_you_mean
from .limits import LimitError, Meter
from .ops import Init

MAX_FLOAT = 1e300  # floats stay finite with room for one more multiplication


@dataclass(frozen=True)
class Tensor:
    """A tensor value in an expression: a node id and its shape."""

    node: str
    shape: tuple[int, ...]

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


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 3, 8, 8, 30, 30


def show(v: Any) -> str:
    """A short text for a value in a message; never walks or prints a huge value whole."""
    if isinstance(v, Tensor):
        return f"@{v.node}"
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<an integer of about {v.bit_length() * 0.30103:,.0f} digits>"
    return _REPR.repr(v)


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
        return _finite(float(v), span)
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


def _finite(v: float, span: A.Span | None) -> float:
    if not math.isfinite(v) or abs(v) > MAX_FLOAT:
        raise SpecError("number is out of range (inf or nan)", span)
    return v


def _number(v: Any, m: Meter, span: A.Span) -> Any:
    """Bound a computed number (its operands were bounded, so computing it was cheap)."""
    if type(v) is int:
        return m.need_int(v, span)
    if type(v) is float:
        return _finite(v, span)
    return v


def _num(v: Any, span: A.Span, what: str) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(f"{what} needs a number, got {type_name(v)} {show(v)}", span)
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
                raise LimitError("max_int", f"exponent {show(y)} is too large", span)
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
    return _number(_arith(e.op, evaluate(e.left, env), evaluate(e.right, env), e.span, m), m, e.span)


def _neg(e: A.Neg, env: Env) -> Any:
    return _number(-_num(evaluate(e.value, env), e.span, "'-'"), env.meter, e.span)


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
    m.need_list(_items_of(values, m, e.span), e.span)
    return values


def _items_of(values: Iterable[Any], m: Meter, span: A.Span, total: int = 0) -> int:
    """Items of a list made of `values` (nested included), walking at most max_list of them."""
    cap = m.limits.max_list
    for v in values:
        total += 1
        if type(v) is tuple:
            total += m.items(v, span, cap - total, depth=2)
        if total > cap:
            break
    return total


def _listcomp(e: A.ListComp, env: Env) -> tuple[Any, ...]:
    m = env.meter
    out: list[Any] = []
    total = 0
    for item in iterate(evaluate(e.source, env), e.source.span):
        m.iteration(e.span)
        inner = env.child(bind_targets(e.targets, item, e.span))
        if e.cond is None or truth(evaluate(e.cond, inner), e.cond.span):
            v = evaluate(e.item, inner)
            total = _items_of((v,), m, e.span, total)
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
        raise SpecError(f"index {show(i)} is out of range for a list of {len(v)}", span)
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
    raise SpecError(f"cannot loop over {type_name(v)} {show(v)}", span, hint="loop over range(n) or a list")


def bind_targets(targets: tuple[str, ...], item: Any, span: A.Span) -> dict[str, Any]:
    if len(targets) == 1:
        return {targets[0]: item}
    if not isinstance(item, tuple) or len(item) != len(targets):
        raise SpecError(f"cannot unpack {show(item)} into {len(targets)} names", span)
    return dict(zip(targets, item, strict=True))


# ---------------------------------------------------------------- functions
#
# Each function gets the Meter and the call's span first, then the spec's arguments,
# and bounds its result before building it. Python's own argument errors (a wrong
# count, a wrong type) pass through and read as "min(): ...".


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of divisor, never below 90% of v (MobileNet/EfficientNet)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _range(m: Meter, span: A.Span, *args: int) -> tuple[int, ...]:
    r = range(*args)
    m.need_list(len(r), span)
    m.spend(len(r), span)
    return tuple(r)


def _seq(xs: Any) -> bool:
    return isinstance(xs, (tuple, str))


def _enumerate(m: Meter, span: A.Span, xs: Any, *rest: Any) -> tuple[Any, ...]:
    if _seq(xs):
        m.need_list(_items_of(xs, m, span, 2 * len(xs)), span)
    return tuple(enumerate(xs, *rest))


def _zip(m: Meter, span: A.Span, *xs: Any) -> tuple[Any, ...]:
    if all(_seq(x) for x in xs) and xs:
        n = min(len(x) for x in xs)
        m.need_list(n * (1 + len(xs)), span)
        m.need_list(sum(_items_of(x[:n], m, span, n) for x in xs), span)
    return tuple(zip(*xs, strict=False))


def _copy(fn: Callable[[Any], Any]) -> Callable[..., tuple[Any, ...]]:
    def run(m: Meter, span: A.Span, xs: Any, *rest: Any) -> tuple[Any, ...]:
        if _seq(xs):
            m.spend(len(xs), span)
        return tuple(fn(xs, *rest))

    return run


def _sum(m: Meter, span: A.Span, xs: Any, start: Any = 0) -> Any:
    """sum() of numbers, or of lists when `start` is a list (linear time, bounded first)."""
    if not isinstance(xs, tuple):
        return sum(xs, start)  # Python's error
    m.spend(len(xs), span)
    if isinstance(start, tuple):
        if not all(isinstance(x, tuple) for x in xs):
            raise SpecError("sum(): a list start adds lists only", span)
        m.need_list(_items_of(chain(start, *xs), m, span), span)
        return tuple(chain(start, *xs))
    return sum(xs, start)


def _minmax(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(m: Meter, span: A.Span, *args: Any, **kw: Any) -> Any:
        for a in args:
            m.items(a, span)  # comparing lists may walk all their items
        return fn(*args, **kw)

    return run


def _round(m: Meter, span: A.Span, x: Any, ndigits: Any = None) -> Any:
    # int.__round__ computes 10 ** -ndigits: for ints of at most max_int, any ndigits
    # below -20 rounds to 0 exactly as -20 does, and that one stays cheap.
    if type(ndigits) is int and type(x) is int and ndigits < -20:
        ndigits = -20
    return round(x, ndigits)


def _int(m: Meter, span: A.Span, x: Any = 0, *rest: Any) -> int:
    if isinstance(x, str):
        _ascii_number(x, "int", span)
        if len(x.strip().lstrip("+-").lstrip("0")) > len(str(m.limits.max_int)):
            raise LimitError("max_int", f"int({show(x)}) is larger than {m.limits.max_int:,}", span)
    return int(x, *rest)


def _float(m: Meter, span: A.Span, x: Any = 0.0) -> float:
    if isinstance(x, str):
        _ascii_number(x, "float", span)
    return float(x)


def _ascii_number(text: str, fn: str, span: A.Span) -> None:
    # Python's int() and float() read any script's digits ('٣' is 3); the language reads ASCII only.
    if not text.isascii():
        raise SpecError(f"{fn}(): {show(text)} is not written in ASCII digits", span)


def _str(m: Meter, span: A.Span, x: Any = "") -> str:
    if isinstance(x, str):
        return x
    m.need_str(_str_size(x, m, span), span)
    return str(x)


def _str_size(v: Any, m: Meter, span: A.Span) -> int:
    """An upper bound of len(str(v)), found by walking at most max_str characters' worth."""
    cap = m.limits.max_str
    total = 0
    stack = [v]
    while stack and total <= cap:
        x = stack.pop()
        m.spend(1, span)
        if type(x) is tuple:
            total += 2 + 2 * len(x)  # brackets, ", " separators, a trailing comma
            stack.extend(x)
        else:
            n = len(repr(x))  # items print as their repr; a string's is its length plus quotes
            m.spend(n, span)
            total += n
    return total


def _plain_fn(fn: Callable[..., Any]) -> Callable[..., Any]:
    return lambda m, span, *args, **kw: fn(*args, **kw)


def _init(scheme: str) -> Callable[..., Init]:
    def make(m: Meter, span: A.Span, **kw: Any) -> Init:
        from pydantic import ValidationError

        try:
            return Init(scheme=scheme, args=tuple(sorted(kw.items())))
        except ValidationError as err:  # the scheme's own check: unknown argument, bad value
            raise ValueError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    return make


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": _minmax(min),
    "max": _minmax(max),
    "abs": _plain_fn(abs),
    "round": _round,
    "len": _plain_fn(len),
    "sum": _sum,
    "ceil": _plain_fn(math.ceil),
    "floor": _plain_fn(math.floor),
    "sqrt": _plain_fn(math.sqrt),
    "int": _int,
    "float": _float,
    "range": _range,
    "enumerate": _enumerate,
    "zip": _zip,
    "make_divisible": _plain_fn(make_divisible),
    "str": _str,
    "list": _copy(tuple),
    "reversed": _copy(reversed),
    **{name: _init(name) for name in Init.model_fields["scheme"].annotation.__args__},  # type: ignore[union-attr]
}


def _call(e: A.Call, env: Env) -> Any:
    fn = FUNCTIONS.get(e.func)
    if fn is None:
        raise SpecError(f"unknown function '{e.func}'", e.span, hint=did_you_mean(e.func, FUNCTIONS))
    args = [evaluate(a, env) for a in e.args]
    kwargs = {k.name: evaluate(k.value, env) for k in e.kwargs}
    if any(isinstance(a, Tensor) for a in [*args, *kwargs.values()]) and e.func not in ("len",):
        raise SpecError(f"{e.func}() takes numbers, not tensors", e.span, hint="use @x.channels for a size")
    m = env.meter
    try:
        return _result(fn(m, e.span, *args, **kwargs), m, e.span)
    except SpecError:
        raise
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as err:
        raise SpecError(f"{e.func}(): {_plain(err)}", e.span) from None
    except Exception as err:  # pydantic errors from init schemes
        raise SpecError(f"{e.func}(): {_plain(err)}", e.span) from None


def _result(v: Any, m: Meter, span: A.Span) -> Any:
    """A function's result: numbers bounded; lists and strings were bounded before they were built."""
    if type(v) is int or type(v) is float:
        return _number(v, m, span)
    return v


def _plain(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text.replace("()", "")


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
