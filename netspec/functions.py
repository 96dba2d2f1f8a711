"""The language's functions: `min max abs round ceil floor sqrt exp log log2 int float len sum
range enumerate zip reversed list str make_divisible` and the init schemes (`kaiming_normal(...)`).

Each is Python's own function behind a guard that bounds its result before building it
(a range's length, a str()'s characters, a sum of lists' items) and charges the work to
the evaluation's Meter; Python's argument errors (a wrong count, a wrong type) pass
through and read as "min(): ...".

    call("range", [3], {}, meter, span)  ->  (0, 1, 2)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import chain
from typing import Any

from .ast import Span
from .errors import SpecError
from .fmt import fmt_value
from .limits import LimitError, Meter
from .ops import Init


def call(name: str, args: list[Any], kwargs: dict[str, Any], m: Meter, span: Span) -> Any:
    """Call the function `name` on evaluated arguments; every failure is a SpecError at `span`."""
    try:
        return m.number(FUNCTIONS[name](m, span, *args, **kwargs), span)
    except SpecError:
        raise
    except (TypeError, ValueError, OverflowError, ZeroDivisionError) as err:
        raise SpecError(f"{name}(): {_plain(err)}", span) from None
    except Exception as err:  # pydantic errors from init schemes
        raise SpecError(f"{name}(): {_plain(err)}", span) from None


def _plain(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text.replace("()", "")


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of divisor, never below 90% of v (MobileNet/EfficientNet)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _range(m: Meter, span: Span, *args: int) -> tuple[int, ...]:
    r = range(*args)
    m.need_list(len(r), span)
    m.spend(len(r), span)
    return tuple(r)


def _seq(xs: Any) -> bool:
    return isinstance(xs, (tuple, str))


def _enumerate(m: Meter, span: Span, xs: Any, *rest: Any) -> tuple[Any, ...]:
    if _seq(xs):
        m.need_list(m.items_of(xs, span, 2 * len(xs)), span)
    return tuple(enumerate(xs, *rest))


def _zip(m: Meter, span: Span, *xs: Any) -> tuple[Any, ...]:
    if all(_seq(x) for x in xs) and xs:
        n = min(len(x) for x in xs)
        m.need_list(n * (1 + len(xs)), span)
        m.need_list(sum(m.items_of(x[:n], span, n) for x in xs), span)
    return tuple(zip(*xs, strict=False))


def _copy(fn: Callable[[Any], Any]) -> Callable[..., tuple[Any, ...]]:
    def run(m: Meter, span: Span, xs: Any, *rest: Any) -> tuple[Any, ...]:
        if _seq(xs):
            m.spend(len(xs), span)
        return tuple(fn(xs, *rest))

    return run


def _sum(m: Meter, span: Span, xs: Any, start: Any = 0) -> Any:
    """sum() of numbers, or of lists when `start` is a list (linear time, bounded first)."""
    if not isinstance(xs, tuple):
        return sum(xs, start)  # Python's error
    m.spend(len(xs), span)
    if isinstance(start, tuple):
        if not all(isinstance(x, tuple) for x in xs):
            raise SpecError("sum(): a list start adds lists only", span)
        m.need_list(m.items_of(chain(start, *xs), span), span)
        return tuple(chain(start, *xs))
    return sum(xs, start)


def _minmax(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(m: Meter, span: Span, *args: Any, **kw: Any) -> Any:
        for a in args:
            m.items(a, span)  # comparing lists may walk all their items
        return fn(*args, **kw)

    return run


def _round(m: Meter, span: Span, x: Any, ndigits: Any = None) -> Any:
    # int.__round__ computes 10 ** -ndigits: for ints of at most max_int, any ndigits
    # below -20 rounds to 0 exactly as -20 does, and that one stays cheap.
    if type(ndigits) is int and type(x) is int and ndigits < -20:
        ndigits = -20
    return round(x, ndigits)


def _int(m: Meter, span: Span, x: Any = 0, *rest: Any) -> int:
    if isinstance(x, str):
        _ascii_number(x, "int", span)
        if len(x.strip().lstrip("+-").lstrip("0")) > len(str(m.limits.max_int)):
            raise LimitError("max_int", f"int({fmt_value(x)}) is larger than {m.limits.max_int:,}", span)
    return int(x, *rest)


def _float(m: Meter, span: Span, x: Any = 0.0) -> float:
    if isinstance(x, str):
        _ascii_number(x, "float", span)
    return float(x)


def _ascii_number(text: str, fn: str, span: Span) -> None:
    # Python's int() and float() read any script's digits ('٣' is 3); the language reads ASCII only.
    if not text.isascii():
        raise SpecError(f"{fn}(): {fmt_value(text)} is not written in ASCII digits", span)


def _str(m: Meter, span: Span, x: Any = "") -> str:
    if isinstance(x, str):
        return x
    m.need_str(_str_size(x, m, span), span)
    return str(x)


def _str_size(v: Any, m: Meter, span: Span) -> int:
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
    def make(m: Meter, span: Span, **kw: Any) -> Init:
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
    "exp": _plain_fn(math.exp),  # OverflowError past e**709; Meter.number bounds the rest
    "log": _plain_fn(math.log),  # log(x) or log(x, base); x <= 0 is "math domain error"
    "log2": _plain_fn(math.log2),
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
