"""Normalisation: bn, lrn, layer_norm."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .base import Bool, Family, Int, Op, ParamOp, Shape, ShapeError, fmt_shape, register
from .form import Call, In, Module


@register
class BatchNorm(ParamOp):
    """Batch normalisation over channels (`nn.BatchNorm2d`, or 1d on vectors)."""

    kind: ClassVar[str] = "bn"
    aliases: ClassVar[tuple[str, ...]] = ("batchnorm", "batch_norm", "batchnorm2d")
    family: ClassVar[Family] = Family.NORM
    absorbs_bias: ClassVar[bool] = True
    doc: ClassVar[str] = "batch norm over channels; BatchNorm2d on maps, BatchNorm1d on vectors"
    eps: float = Field(1e-5, gt=0)
    momentum: float | None = Field(0.1, ge=0, le=1)
    affine: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) not in (1, 3):
            raise ShapeError(f"bn needs (N,C,H,W) or (N,F) but got {fmt_shape(ins[0])}")
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def module(self, ins: list[Shape]) -> Module:
        cls = "nn.BatchNorm2d" if len(ins[0]) == 3 else "nn.BatchNorm1d"
        return Module(cls, (ins[0][0],), (("eps", self.eps), ("momentum", self.momentum), ("affine", self.affine)))


@register
class LRN(Op):
    """Local response normalisation across channels, as in AlexNet."""

    kind: ClassVar[str] = "lrn"
    family: ClassVar[Family] = Family.NORM
    positional: ClassVar[tuple[str, ...]] = ("size",)
    doc: ClassVar[str] = "local response norm across `size` neighbouring channels (AlexNet: 5, 1e-4, 0.75, 2)"
    size: Int = Field(5, gt=0)
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) != 3:
            raise ShapeError(f"lrn needs a (C,H,W) feature map but got {fmt_shape(ins[0])}")
        return ins[0]

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.LocalResponseNorm", (self.size, self.alpha, self.beta, self.k))

    def call(self, ins: list[Shape]) -> Call:
        return Call("F.local_response_norm", (In(0), self.size, self.alpha, self.beta, self.k))


@register
class LayerNorm(ParamOp):
    """Layer norm over channels at each position (ConvNeXt's LayerNorm2d), or over features."""

    kind: ClassVar[str] = "layer_norm"
    aliases: ClassVar[tuple[str, ...]] = ("layernorm",)
    family: ClassVar[Family] = Family.NORM
    doc: ClassVar[str] = "layer norm over the channel dimension at every position"
    eps: float = Field(1e-6, gt=0)
    affine: Bool = True

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def module(self, ins: list[Shape]) -> Module:
        return Module(
            "netspec.compiler.modules:ChannelLayerNorm", (ins[0][0],), (("eps", self.eps), ("affine", self.affine))
        )
