"""How shapes, counts and values read everywhere: errors, tables, diagrams, generated code.

fmt_shape((64, 56, 56))                    -> '(N,64,56,56)'     errors, summary tables
fmt_shape((64, 56, 56), sep=", ")          -> '(N, 64, 56, 56)'  generated code comments
fmt_shape((64, 56, 56), batch=False)       -> '64x56x56'         diagram labels
fmt_count(25_557_032)                      -> '25.56M'           params, MACs
fmt_int(25_557_032)                        -> '25,557,032'
fmt_value(tuple(range(100)))               -> '(0, 1, 2, 3, 4, 5, 6, 7, ...)'   a value in a message
"""

from __future__ import annotations

import reprlib
from collections.abc import Sequence
from typing import Any


def fmt_shape(shape: Sequence[int], *, batch: bool = True, sep: str = ",") -> str:
    """A tensor shape without its batch dimension, as text.

    With `batch` the batch dimension shows as N in parentheses: `(N,64,56,56)`;
    without it the dims are joined by `x` (`64x56x56`) and an empty shape reads `scalar`.
    """
    if batch:
        return "(N" + "".join(f"{sep}{d}" for d in shape) + ")"
    return "x".join(str(d) for d in shape) if shape else "scalar"


def fmt_count(n: float) -> str:
    """A parameter or MAC count with a unit: 4_100_000_000 -> '4.10G', 999 -> '999', -2_500 -> '-2.50K'."""
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def fmt_int(n: int) -> str:
    """An exact count with thousands separators: 25557032 -> '25,557,032'."""
    return f"{n:,}"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = 3, 8, 8, 30, 30


def fmt_value(v: Any) -> str:
    """A spec value, short, for a message: never prints (or even builds) a huge value whole."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 64:
        return f"<an integer of about {v.bit_length() * 0.30103:,.0f} digits>"  # str() of it would be slow
    return _REPR.repr(v)
