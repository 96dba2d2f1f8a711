"""The op registry: one small file per op family, each op one declaration."""

from . import activation, conv, merge, misc, norm, pool, resize  # noqa: F401  (register ops)
from .base import OPS, Init, Op, ParamOp, Shape, ShapeError, fmt_shape

__all__ = ["OPS", "Init", "Op", "ParamOp", "Shape", "ShapeError", "fmt_shape"]
