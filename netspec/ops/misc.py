"""Shape and regularisation ops: flatten, reshape, identity, dropout, stochastic_depth."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from .base import Int, Op, Shape, ShapeError, fmt_shape, register


@register
class Flatten(Op):
    kind: ClassVar[str] = "flatten"
    family: ClassVar[str] = "shape"
    doc: ClassVar[str] = "(N,C,H,W) -> (N,C*H*W)"

    def infer(self, ins: list[Shape]) -> Shape:
        return (math.prod(ins[0]),)

    def build(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.Flatten(1)


@register
class Reshape(Op):
    """Reshape the non-batch dims: `reshape [7, 7, 30]`; one -1 is inferred."""

    kind: ClassVar[str] = "reshape"
    family: ClassVar[str] = "shape"
    positional: ClassVar[tuple[str, ...]] = ("shape",)
    doc: ClassVar[str] = "reshape the non-batch dims; one -1 is inferred"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"shape": [3, -1, 2]}, [(24,)])
    shape: tuple[Int, ...] = Field(min_length=1, max_length=6)

    def infer(self, ins: list[Shape]) -> Shape:
        total = math.prod(ins[0])
        unknown = [i for i, d in enumerate(self.shape) if d == -1]
        if len(unknown) > 1 or any(d == 0 or d < -1 for d in self.shape):
            raise ShapeError(f"bad reshape target {list(self.shape)}", hint="dims are positive, with at most one -1")
        known = math.prod(d for d in self.shape if d != -1)
        if unknown:
            if total % known:
                raise ShapeError(f"cannot reshape {fmt_shape(ins[0])} ({total} values) to {list(self.shape)}")
            return tuple(total // known if d == -1 else d for d in self.shape)
        if known != total:
            raise ShapeError(
                f"cannot reshape {fmt_shape(ins[0])} ({total} values) to {list(self.shape)} ({known} values)",
            )
        return tuple(self.shape)

    def build(self, ins: list[Shape]) -> Any:
        from torch import nn

        out = self.infer(ins)
        return nn.Unflatten(1, out) if len(ins[0]) == 1 else nn.Sequential(nn.Flatten(1), nn.Unflatten(1, out))


@register
class Identity(Op):
    kind: ClassVar[str] = "identity"
    family: ClassVar[str] = "shape"
    doc: ClassVar[str] = "pass the input through unchanged"

    def build(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.Identity()


@register
class Dropout(Op):
    kind: ClassVar[str] = "dropout"
    family: ClassVar[str] = "regularize"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    doc: ClassVar[str] = "zero elements with probability p in training"
    p: float = Field(0.5, ge=0, le=1)

    def label(self) -> str:
        return f"dropout {self.p:g}"

    def build(self, ins: list[Shape]) -> Any:
        from torch import nn

        return nn.Dropout(self.p)


@register
class StochasticDepth(Op):
    """Drop a residual branch per sample ("row") or per batch, as torchvision.ops.StochasticDepth."""

    kind: ClassVar[str] = "stochastic_depth"
    family: ClassVar[str] = "regularize"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    doc: ClassVar[str] = "drop the whole input per sample (row) or batch in training, rescaling the rest"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"p": 0.2}, [(4, 8, 8)])
    p: float = Field(ge=0, le=1)
    mode: Literal["row", "batch"] = "row"

    def build(self, ins: list[Shape]) -> Any:
        from netspec.compiler.modules import StochasticDepth as Module

        return Module(self.p, self.mode)


