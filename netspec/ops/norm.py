"""Normalisation: bn, group_norm, instance_norm, layer_norm, lrn."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import Field

from ..receptive import POINT, POINTS, Reach, Whole
from .base import Bool, Family, Int, Op, ParamOp, Pos, Shape, ShapeError, fmt_shape, register
from .form import Call, In, Module

WHOLE: Reach = (Whole(), Whole())  # statistics over the whole map: every output reads every position


_BN_CLASS = {1: "nn.BatchNorm1d", 2: "nn.BatchNorm1d", 3: "nn.BatchNorm2d", 4: "nn.BatchNorm3d"}  # by non-batch rank


@register
class BatchNorm(ParamOp):
    """Batch normalisation over channels (dim 1): `nn.BatchNorm1d/2d/3d` by the input's rank, as torch picks."""

    kind: ClassVar[str] = "bn"
    aliases: ClassVar[tuple[str, ...]] = ("batchnorm", "batch_norm", "batchnorm2d")
    family: ClassVar[Family] = Family.NORM
    absorbs_bias: ClassVar[bool] = True
    doc: ClassVar[str] = "batch norm over channels; BatchNorm1d on (F,) and (C,L), 2d on (C,H,W), 3d on (C,D,H,W)"
    eps: float = Field(1e-5, gt=0)
    momentum: float | None = Field(0.1, ge=0, le=1)
    affine: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) not in _BN_CLASS:
            raise ShapeError(f"bn needs (N,F), (N,C,L), (N,C,H,W) or (N,C,D,H,W) but got {fmt_shape(ins[0])}")
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def module(self, ins: list[Shape]) -> Module:
        return Module(
            _BN_CLASS[len(ins[0])],
            (ins[0][0],),
            (("eps", self.eps), ("momentum", self.momentum), ("affine", self.affine)),
        )


@register
class LRN(Op):
    """Local response normalisation across channels, as in AlexNet."""

    kind: ClassVar[str] = "lrn"
    family: ClassVar[Family] = Family.NORM
    positional: ClassVar[tuple[str, ...]] = ("size",)
    doc: ClassVar[str] = "local response norm across `size` neighbouring channels (AlexNet: 5, 1e-4, 0.75, 2)"
    size: Int = Field(5, gt=0, le=1 << 16)
    alpha: float = Field(1e-4, ge=-1e6, le=1e6, allow_inf_nan=False)
    beta: float = Field(0.75, ge=-1e6, le=1e6, allow_inf_nan=False)
    k: float = Field(1.0, ge=-1e6, le=1e6, allow_inf_nan=False)

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) < 2:  # torch's local_response_norm: (N, C, *) with at least one position dim
            raise ShapeError(
                f"lrn needs channels and positions, (N,C,L), (N,C,H,W) or more, but got {fmt_shape(ins[0])}",
                hint="it normalises across neighbouring channels at each position; a flat vector has none",
            )
        return ins[0]

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.LocalResponseNorm", (self.size, self.alpha, self.beta, self.k))

    def call(self, ins: list[Shape]) -> Call:
        return Call("F.local_response_norm", (In(0), self.size, self.alpha, self.beta, self.k))


@register
class GroupNorm(ParamOp):
    """Group normalisation (Wu & He 2018, `nn.GroupNorm`): channels in `groups` groups, per sample."""

    kind: ClassVar[str] = "group_norm"
    aliases: ClassVar[tuple[str, ...]] = ("groupnorm", "gn")
    family: ClassVar[Family] = Family.NORM
    positional: ClassVar[tuple[str, ...]] = ("groups",)
    doc: ClassVar[str] = "normalise each sample over groups of channels (and all positions); groups must divide C"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"groups": 2}, [(4, 5, 5)])
    groups: Pos
    eps: float = Field(1e-5, gt=0)
    affine: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        if ins[0][0] % self.groups:
            raise ShapeError(
                f"group_norm groups={self.groups} does not divide the {ins[0][0]} channels of {fmt_shape(ins[0])}",
                hint="channels must be a multiple of groups (32 groups is the paper's default)",
            )
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return WHOLE

    def label(self) -> str:
        return f"group_norm g{self.groups}"

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.GroupNorm", (self.groups, ins[0][0]), (("eps", self.eps), ("affine", self.affine)))


@register
class InstanceNorm(ParamOp):
    """Instance normalisation (`nn.InstanceNorm1d/2d/3d` by the input's rank): each channel of each sample."""

    kind: ClassVar[str] = "instance_norm"
    aliases: ClassVar[tuple[str, ...]] = ("instancenorm", "instancenorm2d")
    family: ClassVar[Family] = Family.NORM
    absorbs_bias: ClassVar[bool] = True
    doc: ClassVar[str] = (
        "normalise each channel of each sample over its positions; InstanceNorm1d/2d/3d on (C,L), (C,H,W), (C,D,H,W)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"affine": True, "track_running_stats": True},
        [(4, 5, 5)],
    )
    eps: float = Field(1e-5, gt=0)
    momentum: float | None = Field(0.1, ge=0, le=1)
    affine: Bool = False
    track_running_stats: Bool = False

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) not in (2, 3, 4):
            raise ShapeError(
                f"instance_norm needs (N,C,L), (N,C,H,W) or (N,C,D,H,W) but got {fmt_shape(ins[0])}",
                hint="it normalises each channel over its positions; a flat vector has none",
            )
        if math.prod(ins[0][1:]) == 1:
            raise ShapeError(
                f"instance_norm of {fmt_shape(ins[0])} normalises over a single position",
                hint="torch refuses it in training: every output would be 0",
            )
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * ins[0][0] if self.affine else 0

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return POINTS if self.track_running_stats else WHOLE  # in eval, running statistics are constants

    def module(self, ins: list[Shape]) -> Module:
        kw = (
            ("eps", self.eps),
            ("momentum", self.momentum),
            ("affine", self.affine),
            ("track_running_stats", self.track_running_stats),
        )
        return Module(f"nn.InstanceNorm{len(ins[0]) - 1}d", (ins[0][0],), kw)


@register
class LayerNorm(ParamOp):
    """Layer norm over channels at each position (ConvNeXt's LayerNorm2d), or over the last `over` dims.

    Without `over`: the channels (dim 1) are normalised at every position, so (C,H,W)
    maps over C at each pixel and (F,) vectors over F. `over=k` is `nn.LayerNorm` over
    the last k dims: `layer_norm over=1` on a (L,E) sequence normalises each token, as
    in a transformer.
    """

    kind: ClassVar[str] = "layer_norm"
    aliases: ClassVar[tuple[str, ...]] = ("layernorm",)
    family: ClassVar[Family] = Family.NORM
    doc: ClassVar[str] = (
        "layer norm over the channels at every position, or with `over=k` over the last k dims (nn.LayerNorm)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"over": 2}, [(4, 5, 6)])
    eps: float = Field(1e-6, gt=0)
    affine: Bool = True
    over: Int | None = Field(None, gt=0, le=8, description="normalise over the last `over` dims (nn.LayerNorm)")

    def normalized(self, shape: Shape) -> Shape:
        """The dims normalised over: the channels, or the last `over` dims."""
        if self.over is None:
            return shape[:1]
        if self.over > len(shape):
            raise ShapeError(
                f"layer_norm over={self.over} but {fmt_shape(shape)} has only {len(shape)} non-batch dims",
                hint="over counts the last dims normalised together: over=1 normalises each token of a sequence",
            )
        return shape[len(shape) - self.over :]

    def infer(self, ins: list[Shape]) -> Shape:
        self.normalized(ins[0])
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 2 * math.prod(self.normalized(ins[0])) if self.affine else 0

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        if self.over is None or len(ins[0]) != 3:
            return POINTS
        return (POINT, Whole()) if self.over == 1 else WHOLE

    def label(self) -> str:
        return "layer_norm" if self.over is None else f"layer_norm over {self.over}"

    def module(self, ins: list[Shape]) -> Module:
        if self.over is None:
            return Module(
                "netspec.compiler.modules:ChannelLayerNorm", (ins[0][0],), (("eps", self.eps), ("affine", self.affine))
            )
        shape = self.normalized(ins[0])
        return Module(
            "nn.LayerNorm",
            (shape[0] if len(shape) == 1 else shape,),
            (("eps", self.eps), ("elementwise_affine", self.affine)),
        )
