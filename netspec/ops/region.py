"""Region ops: pool a feature map inside boxes (R-CNN family), as torchvision.ops does.

Each takes a feature map (N,C,H,W) and boxes (K,5), rows (batch_index, x1, y1, x2, y2) in
image coordinates (`spatial_scale` maps them onto the feature map), and gives one pooled map
per box: the output's batch dim is the boxes' K, not the image batch N.

    roi_align @boxes 7 spatial_scale=1/16 sampling_ratio=2     # (N,256,H,W), (K,5) -> (K,256,7,7)
    multiscale_roi_align @p3 @p4 @p5 @boxes 7 sampling_ratio=2 scales=[1/4, 1/8, 1/16, 1/32]

A boxes input's shape is written without its batch dim, like every shape: `(5,)`. None of
these ops has weights, and like the other pools they count no MACs. Their torch forms are
the support functions of netspec.compiler.regions, which call torchvision.ops (and say to
install torchvision where it is missing).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field, Strict, field_validator

from ..receptive import GLOBAL, Reach
from .base import Bool, Family, Op, Pair, Pos, Shape, ShapeError, fmt_shape, pair, register, spatial
from .form import Call, In, Module

Scale = Annotated[float, Field(gt=0, le=1 << 16)]
SamplingRatio = Annotated[int, Strict(), Field(ge=-1, le=64)]
_BOX = "boxes (K,5): rows (batch_index, x1, y1, x2, y2)"


def _one(v: tuple[int, int]) -> int | tuple[int, int]:
    return v[0] if v[0] == v[1] else v


def check_boxes(shape: Shape, what: str) -> None:
    """A boxes input must be (K,5): its batch dim is K, so its own shape is (5,)."""
    if shape != (5,):
        raise ShapeError(
            f"{what} needs {_BOX}, but its last input is {fmt_shape(shape).replace('(N', '(K')}",
            hint="pass the boxes as the last input (`@boxes`), a (K,5) tensor as torchvision.ops.roi_align takes",
        )


class _Region(Op):
    """One feature map and boxes in, one pooled map per box out."""

    family: ClassVar[Family] = Family.REGION
    inputs: ClassVar[tuple[int, int | None]] = (2, 2)
    box_inputs: ClassVar[tuple[int, ...]] = (-1,)
    batch_input: ClassVar[int] = -1
    spatial_scale: Scale = Field(1.0, alias="scale", description="box coordinates -> feature map (1/stride)")

    def map_shape(self, ins: list[Shape]) -> tuple[int, int, int]:
        """The feature map's (C,H,W), after checking the boxes."""
        check_boxes(ins[-1], self.kind)
        return spatial(ins[0], self.kind)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return GLOBAL  # where a box falls is known only at run time

    def call_args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        raise NotImplementedError

    def call(self, ins: list[Shape]) -> Call:
        args, kwargs = self.call_args()
        return Call(f"netspec.compiler.regions:{self.kind}", args, kwargs)


class _Binned(_Region):
    """A region op that pools each box into output_size bins."""

    positional: ClassVar[tuple[str, ...]] = ("output_size",)
    output_size: Pair = Field(alias="size", description="pooled height and width")

    def infer(self, ins: list[Shape]) -> Shape:
        c, _, _ = self.map_shape(ins)
        return (c, *pair(self.output_size))

    def label(self) -> str:
        h, w = pair(self.output_size)
        return f"{self.kind} {h}x{w}"

    def call_args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        return (In(0), In(1), _one(pair(self.output_size))), (("spatial_scale", self.spatial_scale),)


@register
class RoIPool(_Binned):
    """Max-pool each box into output_size bins (Fast R-CNN), as torchvision.ops.roi_pool."""

    kind: ClassVar[str] = "roi_pool"
    aliases: ClassVar[tuple[str, ...]] = ("roipool", "roi_pooling")
    doc: ClassVar[str] = (
        "Fast R-CNN RoI max pooling of each box (last input, (K,5)) into output_size bins "
        "(torchvision.ops.roi_pool); output (K,C,h,w)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"output_size": 3, "spatial_scale": 0.5},
        [(4, 8, 8), (5,)],
    )


@register
class RoIAlign(_Binned):
    """Bilinear RoI pooling without rounding (Mask R-CNN), as torchvision.ops.roi_align."""

    kind: ClassVar[str] = "roi_align"
    aliases: ClassVar[tuple[str, ...]] = ("roialign",)
    doc: ClassVar[str] = (
        "Mask R-CNN RoIAlign of each box (last input, (K,5)): bilinear samples, sampling_ratio per bin "
        "(<= 0: adaptive), aligned=true shifts by half a pixel (torchvision.ops.roi_align); output (K,C,h,w)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"output_size": [3, 2], "spatial_scale": 0.5, "sampling_ratio": 2, "aligned": True},
        [(4, 8, 8), (5,)],
    )
    sampling_ratio: SamplingRatio = Field(-1, description="samples per bin side; <= 0 adapts to the box")
    aligned: Bool = False

    def call_args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        args, kwargs = super().call_args()
        return args, (*kwargs, ("sampling_ratio", self.sampling_ratio), ("aligned", self.aligned))


@register
class PSRoIAlign(_Binned):
    """Position-sensitive RoIAlign (R-FCN): bin (i, j) reads its own group of C/(h*w) channels."""

    kind: ClassVar[str] = "ps_roi_align"
    doc: ClassVar[str] = (
        "position-sensitive RoIAlign (R-FCN): bin (i, j) of each box pools its own group of channels "
        "(torchvision.ops.ps_roi_align); C must divide by h*w; output (K,C/(h*w),h,w)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"output_size": [2, 3], "spatial_scale": 0.5, "sampling_ratio": 2},
        [(12, 8, 8), (5,)],
    )
    sampling_ratio: SamplingRatio = Field(-1, description="samples per bin side; <= 0 adapts to the box")

    def infer(self, ins: list[Shape]) -> Shape:
        c, _, _ = self.map_shape(ins)
        h, w = pair(self.output_size)
        if c % (h * w):
            raise ShapeError(
                f"ps_roi_align {h}x{w} needs channels divisible by {h * w} (one group per bin), got {c}",
                hint=f"give the map k*{h * w} channels for k output channels (R-FCN: classes*{h * w})",
            )
        return (c // (h * w), h, w)

    def call_args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        args, kwargs = super().call_args()
        return args, (*kwargs, ("sampling_ratio", self.sampling_ratio))


@register
class RoISPP(_Region):
    """Spatial pyramid pooling of each box (SPP-net): roi max pools per level, flattened, concatenated."""

    kind: ClassVar[str] = "roi_spp"
    aliases: ClassVar[tuple[str, ...]] = ("spp_roi_pool", "roi_pyramid_pool")
    positional: ClassVar[tuple[str, ...]] = ("levels",)
    doc: ClassVar[str] = (
        "SPP-net spatial pyramid pooling of each box (last input, (K,5)): an n x n RoI max pool for each n in "
        "levels, flattened and concatenated; output (K, C * sum(n*n))"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"levels": [3, 2, 1], "spatial_scale": 0.5},
        [(4, 8, 8), (5,)],
    )
    levels: tuple[Annotated[int, Strict(), Field(gt=0, le=64)], ...] = Field((6, 3, 2, 1), min_length=1, max_length=8)

    def infer(self, ins: list[Shape]) -> Shape:
        c, _, _ = self.map_shape(ins)
        return (c * sum(n * n for n in self.levels),)

    def label(self) -> str:
        return "roi_spp " + ",".join(map(str, self.levels))

    def call_args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        return (In(0), In(1), self.levels), (("spatial_scale", self.spatial_scale),)


@register
class MultiScaleRoIAlign(Op):
    """RoIAlign on a feature pyramid, each box on its FPN level, as torchvision.ops.MultiScaleRoIAlign.

    A box of area w*h goes to level floor(canonical_level + log2(sqrt(w*h) / canonical_scale) + eps),
    clamped to the pyramid's levels -log2(scales[0]) .. -log2(scales[-1]) (the FPN paper's eq. 1).
    torchvision infers the scales from the image size; here they are given, finest first.
    """

    kind: ClassVar[str] = "multiscale_roi_align"
    aliases: ClassVar[tuple[str, ...]] = ("multi_scale_roi_align", "roi_pooler")
    family: ClassVar[Family] = Family.REGION
    inputs: ClassVar[tuple[int, int | None]] = (2, 9)
    box_inputs: ClassVar[tuple[int, ...]] = (-1,)
    batch_input: ClassVar[int] = -1
    positional: ClassVar[tuple[str, ...]] = ("output_size",)
    doc: ClassVar[str] = (
        "FPN RoIAlign (torchvision.ops.MultiScaleRoIAlign): feature maps finest first, then boxes (K,5); each box "
        "pools from the level floor(canonical_level + log2(sqrt(area)/canonical_scale) + eps); output (K,C,h,w)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"output_size": 3, "sampling_ratio": 2, "scales": [0.5, 0.25]},
        [(4, 8, 8), (4, 4, 4), (5,)],
    )
    output_size: Pair = Field(alias="size", description="pooled height and width")
    sampling_ratio: SamplingRatio = Field(description="samples per bin side; <= 0 adapts to the box")
    scales: tuple[Scale, ...] = Field(min_length=1, max_length=8, description="each map's scale, 2**-level")
    canonical_scale: Pos = 224
    canonical_level: Pos = 4
    eps: float = Field(1e-6, ge=0, le=1)

    @field_validator("scales")
    @classmethod
    def _pyramid(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        levels = [-math.log2(s) for s in v]
        if any(lv != round(lv) for lv in levels):
            raise ValueError(f"scales must be powers of two (1/4, 1/8, ...), got {list(v)}")
        if any(b != a + 1 for a, b in zip(levels, levels[1:], strict=False)):
            raise ValueError(f"scales must halve from one map to the next, finest first, got {list(v)}")
        return v

    def levels(self) -> tuple[int, int]:
        """The pyramid's first and last level, k_min and k_max (2**-k is a map's scale)."""
        return round(-math.log2(self.scales[0])), round(-math.log2(self.scales[-1]))

    def infer(self, ins: list[Shape]) -> Shape:
        check_boxes(ins[-1], self.kind)
        maps = ins[:-1]
        if len(maps) != len(self.scales):
            raise ShapeError(
                f"multiscale_roi_align has {len(self.scales)} scales but {len(maps)} feature maps",
                hint="give one scale per map, finest first: scales=[1/4, 1/8, 1/16, 1/32] for P2-P5",
            )
        shapes = [spatial(m, self.kind) for m in maps]
        if len({c for c, _, _ in shapes}) > 1:
            raise ShapeError(
                "multiscale_roi_align needs the same channels on every map, got "
                + ", ".join(fmt_shape(m) for m in maps),
                hint="an FPN gives every level the same channels",
            )
        return (shapes[0][0], *pair(self.output_size))

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return GLOBAL

    def label(self) -> str:
        h, w = pair(self.output_size)
        k_min, k_max = self.levels()
        return f"multiscale_roi_align {h}x{w} P{k_min}-P{k_max}"

    def _args(self) -> tuple[tuple[Any, ...], tuple[tuple[str, Any], ...]]:
        kw = (
            ("canonical_scale", self.canonical_scale),
            ("canonical_level", self.canonical_level),
            ("eps", self.eps),
        )
        return (_one(pair(self.output_size)), self.sampling_ratio, self.scales), kw

    def module(self, ins: list[Shape]) -> Module:
        args, kwargs = self._args()
        return Module("netspec.compiler.regions:MultiScaleRoIAlign", args, kwargs)

    def call(self, ins: list[Shape]) -> Call:
        args, kwargs = self._args()
        names = ("output_size", "sampling_ratio", "scales")
        inputs = tuple(In(i) for i in range(len(ins)))
        return Call("netspec.compiler.regions:multiscale_roi_align", inputs, (*zip(names, args, strict=True), *kwargs))
