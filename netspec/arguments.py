"""What a caller passes besides the spec: the input shape and network parameters, checked once.

The command line and the Python API accept exactly the same things, checked here:

    check_input((3, 224, 224))          -> (3, 224, 224)
    check_input((3, 8.5, 8))            -> SpecError: input expects (C, H, W) ...
    network_args({"num_classes": 10}, {"width": 2})  -> {"num_classes": 10, "width": 2}

Network parameters and loader options never share a namespace: the loader's own
options (`input`, `limits`, `import_roots`, `params`) are keyword-only arguments,
and a network parameter of the same name is passed in the `params` dict
(`load(spec, params={"input": 3})`, `--set input=3` on the command line).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import SpecError, escape_controls, unsafe_character

MAX_DIM = 1 << 16  # one input dimension (the command line's bound since the beginning)
# Defaults of the evaluator's Limits (max_int, max_str, max_list, max_expr_depth), used
# when the Limits object in use does not name them.
MAX_INT = 10**15
MAX_STR = 10_000
MAX_LIST = 100_000
MAX_NESTING = 100
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def brief(value: Any, limit: int = 60) -> str:
    """A value as an error message shows it: short, escaped, and never str() of a huge int."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"an integer of {value.bit_length():,} bits"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__, or a structure too deep to print
        text = f"<{type(value).__name__}>"
    text = escape_controls(text, newlines=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_input(value: Any, what: str = "input") -> tuple[int, ...] | None:
    """An input shape override: None, or 1 or 3 ints (C or C, H, W), each in 1..65536."""
    if value is None:
        return None
    dims: tuple[Any, ...] = ()
    if isinstance(value, (tuple, list)) and len(value) in (1, 3):
        dims = tuple(value)
    ok = dims and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_DIM for d in dims)
    if not ok:
        raise SpecError(
            f"{what} expects (C, H, W) or (C,): positive ints up to {MAX_DIM:,}, got {brief(value)}",
            hint="e.g. input=(3, 224, 224); on the command line --input 3x224x224",
        )
    return tuple(int(d) for d in dims)


def network_args(params: Mapping[str, Any] | None, kwargs: Mapping[str, Any], limits: Any = None) -> dict[str, Any]:
    """Network parameters from a `params` dict and keyword arguments, each name given once, values checked.

    Values are what a `--set` expression can produce: bool, int, float, str, None, lists
    (tuples) of these and init schemes, within the evaluator's limits on integers,
    strings and lists. Lists become tuples, as the evaluator represents them.
    """
    if params is not None and not isinstance(params, Mapping):
        raise SpecError(f"params must be a dict of network parameters, got {type(params).__name__}")
    out: dict[str, Any] = {}
    for source in (params or {}, kwargs):
        for name, value in source.items():
            if not isinstance(name, str) or not NAME.fullmatch(name):
                raise SpecError(f"{brief(name)} is not a network parameter name", hint="names are like num_classes")
            if name in out:
                raise SpecError(f"network parameter '{name}' is given twice (in params and as a keyword)")
            out[name] = _value(value, name, limits)
    return out


def _value(value: Any, name: str, limits: Any) -> Any:
    max_int = getattr(limits, "max_int", MAX_INT)
    max_str = getattr(limits, "max_str", MAX_STR)
    max_list = getattr(limits, "max_list", MAX_LIST)
    max_depth = getattr(limits, "max_expr_depth", MAX_NESTING)
    count = 0

    def check(v: Any, depth: int) -> Any:
        nonlocal count
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            if not -max_int <= v <= max_int:
                raise SpecError(f"network parameter '{name}': {brief(v)} is larger than {max_int:,}")
            return int(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise SpecError(f"network parameter '{name}': {v} is not a finite number")
            return float(v)
        if isinstance(v, str):
            if len(v) > max_str:
                raise SpecError(f"network parameter '{name}': a string of {len(v):,} characters (at most {max_str:,})")
            bad = unsafe_character(v)
            if bad is not None:
                raise SpecError(f"network parameter '{name}': the string holds the control character U+{ord(bad):04X}")
            return str(v)
        if isinstance(v, (list, tuple)):
            if depth >= max_depth:
                raise SpecError(f"network parameter '{name}': lists nested deeper than {max_depth}")
            count += len(v)
            if count > max_list:
                raise SpecError(f"network parameter '{name}': more than {max_list:,} list items")
            return tuple(check(x, depth + 1) for x in v)
        from .ops import Init

        if isinstance(v, Init):
            return v
        raise SpecError(
            f"network parameter '{name}': a {type(v).__name__} is not a spec value",
            hint="values are bool, int, float, str, None, lists of them, or init schemes",
        )

    return check(value, 0)
