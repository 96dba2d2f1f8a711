"""Shape and regularisation ops: flatten, reshape, identity, dropout, stochastic_depth."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import GLOBAL, POINTS, Reach
from .base import Family, Int, Op, Shape, ShapeError, fmt_shape, register
from .form import Alias, Call, In, Module


@register
class Flatten(Op):
    kind: ClassVar[str] = "flatten"
    family: ClassVar[Family] = Family.SHAPE
    doc: ClassVar[str] = "(N,C,H,W) -> (N,C*H*W)"
    returns_view: ClassVar[bool] = True

    def infer(self, ins: list[Shape]) -> Shape:
        return (math.prod(ins[0]),)

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.Flatten", (1,))

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.flatten", (In(0), 1))


@register
class Reshape(Op):
    """Reshape the non-batch dims: `reshape [7, 7, 30]`; one -1 is inferred."""

    kind: ClassVar[str] = "reshape"
    family: ClassVar[Family] = Family.SHAPE
    positional: ClassVar[tuple[str, ...]] = ("shape",)
    doc: ClassVar[str] = "reshape the non-batch dims to any rank (the batch stays); one -1 is inferred"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"shape": [3, -1, 2]}, [(24,)])
    returns_view: ClassVar[bool] = True
    shape: tuple[Int, ...] = Field(min_length=1, max_length=8)

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

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return POINTS if out == ins[0] else GLOBAL  # a new arrangement mixes positions

    def call(self, ins: list[Shape]) -> Call:
        return Call(".reshape", (In(0), In(0, ".shape[0]"), *self.infer(ins)))


@register
class Identity(Op):
    kind: ClassVar[str] = "identity"
    family: ClassVar[Family] = Family.SHAPE
    doc: ClassVar[str] = "pass the input through unchanged"
    returns_view: ClassVar[bool] = True

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.Identity")

    def call(self, ins: list[Shape]) -> Alias:
        return Alias()


@register
class Dropout(Op):
    kind: ClassVar[str] = "dropout"
    family: ClassVar[Family] = Family.REGULARIZE
    positional: ClassVar[tuple[str, ...]] = ("p",)
    doc: ClassVar[str] = "zero elements with probability p in training"
    returns_view: ClassVar[bool] = True  # in eval it hands back its input
    p: float = Field(0.5, ge=0, le=1)

    def label(self) -> str:
        return f"dropout {self.p:g}"

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.Dropout", (self.p,))

    def call(self, ins: list[Shape]) -> Call:
        return Call("F.dropout", (In(0), self.p), training="training")


@register
class StochasticDepth(Op):
    """Drop a residual branch per sample ("row") or per batch, as torchvision.ops.StochasticDepth."""

    kind: ClassVar[str] = "stochastic_depth"
    family: ClassVar[Family] = Family.REGULARIZE
    positional: ClassVar[tuple[str, ...]] = ("p",)
    doc: ClassVar[str] = "drop the whole input per sample (row) or batch in training, rescaling the rest"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"p": 0.2}, [(4, 8, 8)])
    returns_view: ClassVar[bool] = True  # in eval it hands back its input
    p: float = Field(ge=0, le=1)
    mode: Literal["row", "batch"] = "row"

    def module(self, ins: list[Shape]) -> Module:
        return Module("netspec.compiler.modules:StochasticDepth", (self.p, self.mode))

    def call(self, ins: list[Shape]) -> Call:
        return Call("netspec.compiler.modules:stochastic_depth", (In(0), self.p, self.mode), training="training")
