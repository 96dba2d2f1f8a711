"""Expression evaluation: our own small evaluator, never Python's eval.

Values are ints, floats, bools, strings, None, lists (tuples), tensor
references (`@name`, `in`) and init schemes. Every result is range-checked so a
hostile spec cannot build huge numbers or lists.

    evaluate(parse_expr("[3, 4, 6, 3][i] * 2"), env)  ->  8  (with i = 1)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import ast as A
from .errors import SpecError, did_you_mean
from .ops import Init

MAX_INT = 10**15
MAX_LIST = 100_000
MAX_STR = 10_000


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
    """Variables visible to an expression: a chain of dicts, innermost first."""

    __slots__ = ("vars", "parent", "tensor")

    def __init__(
        self,
        vars: dict[str, Any] | None = None,
        parent: Env | None = None,
        tensor: Callable[[str, A.Span], Tensor] | None = None,
    ) -> None:
        self.vars = vars if vars is not None else {}
        self.parent = parent
        # Resolves `@name` and `in` (the "in" key); set by the evaluator per scope.
        self.tensor: Callable[[str, A.Span], Tensor] | None = (
            tensor if tensor is not None else (parent.tensor if parent else None)
        )

    def child(self, vars: dict[str, Any] | None = None) -> Env:
        return Env(vars or {}, self)

    def lookup(self, name: str, span: A.Span) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        hint = did_you_mean(name, self.names())
        if hint is None and name in FUNCTIONS:
            hint = f"'{name}' is a function: call it as {name}(...)"
        raise SpecError(f"undefined name '{name}'", span, hint=hint)

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out.update(env.vars)
            env = env.parent
        return out


def type_name(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if v is None:
        return "none"
    return {int: "int", float: "float", str: "string", tuple: "list", list: "list", Tensor: "tensor", Init: "init"}.get(
        type(v), type(v).__name__
    )


def check(v: Any, span: A.Span) -> Any:
    """Range-check a value so numbers and lists stay small."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise SpecError(
                f"number {str(v)[:20]}{'...' if len(str(v)) > 20 else ''} is too large",
                span,
                hint=f"values are limited to +-{MAX_INT:.0e}",
            )
        return v
    if isinstance(v, float):
        if not math.isfinite(v) or abs(v) > 1e300:
            raise SpecError("number is out of range (inf or nan)", span)
        return v
    if isinstance(v, (tuple, list)):
        if len(v) > MAX_LIST:
            raise SpecError(f"list of {len(v)} items is too long", span, hint=f"at most {MAX_LIST} items")
        return tuple(v)
    if isinstance(v, str) and len(v) > MAX_STR:
        raise SpecError("string is too long", span)
    return v


def _num(v: Any, span: A.Span, what: str) -> int | float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(f"{what} needs a number, got {type_name(v)} {_show(v)}", span)
    return v


def _show(v: Any) -> str:
    text = repr(v) if not isinstance(v, Tensor) else f"@{v.node}"
    return text if len(text) < 40 else text[:37] + "..."


def _arith(op: str, a: Any, b: Any, span: A.Span) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, tuple) and isinstance(b, tuple):
        return a + b
    if op == "*" and isinstance(a, tuple) and isinstance(b, int) and not isinstance(b, bool):
        if b * len(a) > MAX_LIST:
            raise SpecError("list is too long", span)
        return a * max(b, 0)
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
                raise SpecError("exponent is too large", span)
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
    """Evaluate an expression in an environment."""
    if isinstance(e, A.Const):
        return e.value
    if isinstance(e, A.Name):
        return env.lookup(e.id, e.span)
    if isinstance(e, A.BinOp):
        return check(_arith(e.op, evaluate(e.left, env), evaluate(e.right, env), e.span), e.span)
    if isinstance(e, A.Neg):
        return check(-_num(evaluate(e.value, env), e.span, "'-'"), e.span)
    if isinstance(e, A.Not):
        return not truth(evaluate(e.value, env), e.value.span)
    if isinstance(e, A.BoolOp):
        result: Any = None
        for part in e.values:
            result = truth(evaluate(part, env), part.span)
            if result == (e.op == "or"):
                return result
        return result
    if isinstance(e, A.Compare):
        left = evaluate(e.first, env)
        for op, right_e in e.rest:
            right = evaluate(right_e, env)
            try:
                ok = _COMPARE[op](left, right)
            except TypeError:
                raise SpecError(f"cannot compare {type_name(left)} {op} {type_name(right)}", e.span) from None
            if not ok:
                return False
            left = right
        return True
    if isinstance(e, A.Ternary):
        return evaluate(e.then, env) if truth(evaluate(e.cond, env), e.cond.span) else evaluate(e.other, env)
    if isinstance(e, A.Index):
        return _index(evaluate(e.value, env), evaluate(e.index, env), e.span)
    if isinstance(e, A.Attr):
        return _attr(evaluate(e.value, env), e.name, e.span)
    if isinstance(e, A.ListExpr):
        return check(tuple(evaluate(i, env) for i in e.items), e.span)
    if isinstance(e, A.ListComp):
        out = []
        for item in iterate(evaluate(e.source, env), e.source.span):
            inner = env.child(bind_targets(e.targets, item, e.span))
            if e.cond is None or truth(evaluate(e.cond, inner), e.cond.span):
                out.append(evaluate(e.item, inner))
        return check(tuple(out), e.span)
    if isinstance(e, A.Call):
        return _call(e, env)
    if isinstance(e, A.Ref):
        if env.tensor is None:
            raise SpecError(
                f"'@{e.path}' is not available here", e.span, hint="tensor references work inside networks and blocks"
            )
        return env.tensor(e.path, e.span)
    if isinstance(e, A.InShape):
        if env.tensor is None:
            raise SpecError("'in' is not available here", e.span, hint="'in' is the input of a block or network")
        return env.tensor("in", e.span)
    if isinstance(e, A.Template):
        return "".join(p if isinstance(p, str) else _name_part(evaluate(p, env), p.span) for p in e.parts)
    raise SpecError("unsupported expression", e.span)  # pragma: no cover


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
        raise SpecError(f"index {i} is out of range for a list of {len(v)}", span)
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
    raise SpecError(f"cannot loop over {type_name(v)} {_show(v)}", span, hint="loop over range(n) or a list")


def bind_targets(targets: tuple[str, ...], item: Any, span: A.Span) -> dict[str, Any]:
    if len(targets) == 1:
        return {targets[0]: item}
    if not isinstance(item, tuple) or len(item) != len(targets):
        raise SpecError(f"cannot unpack {_show(item)} into {len(targets)} names", span)
    return dict(zip(targets, item, strict=True))


# ---------------------------------------------------------------- functions


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of divisor, never below 90% of v (MobileNet/EfficientNet)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _range(*args: int) -> tuple[int, ...]:
    r = range(*args)
    if len(r) > MAX_LIST:
        raise ValueError(f"range of {len(r)} items is too long (at most {MAX_LIST})")
    return tuple(r)


def _init(scheme: str) -> Callable[..., Init]:
    def make(**kw: Any) -> Init:
        from pydantic import ValidationError

        try:
            return Init(scheme=scheme, args=tuple(sorted(kw.items())))
        except ValidationError as err:  # the scheme's own check: unknown argument, bad value
            raise ValueError(str(err.errors()[0]["msg"]).removeprefix("Value error, ")) from None

    return make


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "len": len,
    "sum": sum,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "int": int,
    "float": float,
    "range": _range,
    "enumerate": lambda xs: tuple(enumerate(xs)),
    "zip": lambda *xs: tuple(zip(*xs, strict=False)),
    "make_divisible": make_divisible,
    "str": str,
    "list": tuple,
    "reversed": lambda xs: tuple(reversed(xs)),
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
    try:
        return check(fn(*args, **kwargs), e.span)
    except SpecError:
        raise
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as err:
        raise SpecError(f"{e.func}(): {_plain(err)}", e.span) from None
    except Exception as err:  # pydantic errors from init schemes
        raise SpecError(f"{e.func}(): {_plain(err)}", e.span) from None


def _plain(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text.replace("()", "")
