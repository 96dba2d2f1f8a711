"""What a caller passes besides the spec: `--input`, and the names of network parameters.

    check_input((3, 224, 224))          -> (3, 224, 224)
    check_input((3, 8.5, 8))            -> SpecError: input expects (C, H, W) ...
    network_args({"num_classes": 10}, {"width": 2})  -> {"num_classes": 10, "width": 2}

The values of network parameters and the API's `input=` are checked where the
evaluator binds them, with the network's location (netspec.evaluate, netspec.values).

Network parameters and loader options never share a namespace: the loader's own
options (`input`, `limits`, `import_roots`, `params`) are keyword-only arguments,
and a network parameter of the same name is passed in the `params` dict
(`load(spec, params={"input": 3})`, `--set input=3` on the command line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import SpecError, escape_controls

MAX_DIM = 1 << 16  # one input dimension (the command line's bound since the beginning)
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


def network_args(params: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Network parameters from a `params` dict and keyword arguments, each name given once.

    The values themselves are checked by the evaluator when it binds them, at the
    network's location and within its Limits (integers, lists, nesting, types), exactly
    as a `--set` value is.
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
            out[name] = value
    return out
