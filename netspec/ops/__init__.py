"""The op registry: one small file per op family, each op one declaration."""

from . import activation, attention, conv, merge, misc, norm, param, pointwise, pool, region, resize, split, tensor  # noqa: F401  (register ops)
from .base import OPS, Family, Init, Op, ParamOp, RegistryError, Shape, ShapeError, fmt_shape, register

__all__ = ["OPS", "Family", "Init", "Op", "ParamOp", "RegistryError", "Shape", "ShapeError", "fmt_shape", "register"]
