"""The op registry: one small file per op family, each op one declaration."""

from . import activation, attention, conv, merge, misc, norm, pointwise, pool, region, resize, tensor  # noqa: F401  (register ops)
from .base import OPS, Family, Init, Op, ParamOp, RegistryError, Shape, ShapeError, fmt_shape, register

__all__ = ["OPS", "Family", "Init", "Op", "ParamOp", "RegistryError", "Shape", "ShapeError", "fmt_shape", "register"]
