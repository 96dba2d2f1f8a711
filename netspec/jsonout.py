"""Strict JSON for everything netspec prints or serves: never NaN or Infinity.

json.dumps writes a non-finite float as `NaN` or `Infinity`, which JSON does not
allow (RFC 8259) and strict parsers reject. Every JSON output goes through `dumps`,
which writes such a float as the string "nan", "inf" or "-inf" and then serializes
with allow_nan=False, so nothing non-standard can slip through.

    dumps({"alpha": float("inf")})  -> '{"alpha": "inf"}'
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float (in dicts, lists and tuples) replaced by its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """json.dumps(finite(value), allow_nan=False, **kwargs)."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
