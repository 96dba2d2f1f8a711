"""Pooling: maxpool, avgpool, adaptive pools, global pool."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import GLOBAL, Reach, adaptive, windows
from .base import (
    Bool,
    Family,
    Op,
    PadPair,
    Pair,
    Shape,
    ShapeError,
    pair,
    register,
    spatial,
)
from .form import Call, In, Module


def _one(v: tuple[int, int]) -> int | tuple[int, int]:
    return v[0] if v[0] == v[1] else v


class _Pool(Op):
    family: ClassVar[Family] = Family.POOL
    positional: ClassVar[tuple[str, ...]] = ("kernel",)
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"kernel": 3, "stride": 2, "padding": 1, "ceil_mode": True},
        [(4, 10, 10)],
    )
    kernel: Pair = Field(alias="k")
    stride: Pair | None = Field(None, alias="s", description="defaults to the kernel size")
    padding: PadPair = Field(0, alias="p")
    ceil_mode: Bool = Field(False, alias="ceil")

    def _dilation(self) -> tuple[int, int]:
        return (1, 1)

    def _sizes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        k = pair(self.kernel)
        return k, pair(self.stride) if self.stride is not None else k, pair(self.padding)

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        (k, s, p), d = self._sizes(), self._dilation()
        for i in (0, 1):
            if p[i] * 2 > k[i]:  # torch: pad should be at most half of the (undilated) kernel
                raise ShapeError(
                    f"{self.kind} padding {p[i]} is more than half the kernel {k[i]}",
                    hint="torch requires padding <= kernel // 2",
                )
        out = []
        for size, i in ((h, 0), (w, 1)):
            # torch's pooling_output_shape: floor division, ceil mode adds stride-1 and
            # drops a last window that would start in the padding.
            span = size + 2 * p[i] - d[i] * (k[i] - 1) - 1 + (s[i] - 1 if self.ceil_mode else 0)
            o = span // s[i] + 1
            if self.ceil_mode and (o - 1) * s[i] >= size + p[i]:
                o -= 1
            if o < 1:
                raise ShapeError(
                    f"{self.label()} needs at least {d[i] * (k[i] - 1) + 1 - 2 * p[i]} pixels but the input is {h}x{w}",
                    hint="use a larger input (--input) or a smaller kernel",
                )
            out.append(o)
        return (c, out[0], out[1])

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        k, s, p = self._sizes()
        return windows(k, s, self._dilation(), p)

    def label(self) -> str:
        k, s, _ = self._sizes()
        return f"{self.kind} {k[0]}x{k[1]}" + (f"/{s[0]}" if s != (1, 1) else "")


@register
class MaxPool(_Pool):
    """Max pooling (`nn.MaxPool2d`); stride defaults to the kernel."""

    kind: ClassVar[str] = "maxpool"
    aliases: ClassVar[tuple[str, ...]] = ("maxpool2d", "max_pool")
    doc: ClassVar[str] = "max pooling; stride defaults to the kernel; ceil_mode as in torch"
    dilation: Pair = Field(1, alias="d")

    def _dilation(self) -> tuple[int, int]:
        return pair(self.dilation)

    def _args(self) -> tuple[tuple[object, ...], tuple[tuple[str, object], ...]]:
        k, s, p = self._sizes()
        kw = (
            ("stride", _one(s)),
            ("padding", _one(p)),
            ("dilation", _one(pair(self.dilation))),
            ("ceil_mode", self.ceil_mode),
        )
        return (_one(k),), kw

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.MaxPool2d", *self._args())

    def call(self, ins: list[Shape]) -> Call:
        args, kw = self._args()
        return Call("F.max_pool2d", (In(0), *args), kw)


@register
class AvgPool(_Pool):
    """Average pooling (`nn.AvgPool2d`)."""

    kind: ClassVar[str] = "avgpool"
    aliases: ClassVar[tuple[str, ...]] = ("avgpool2d", "avg_pool")
    doc: ClassVar[str] = "average pooling; count_include_pad as in torch"
    count_include_pad: Bool = True

    def _args(self) -> tuple[tuple[object, ...], tuple[tuple[str, object], ...]]:
        k, s, p = self._sizes()
        kw = (
            ("stride", _one(s)),
            ("padding", _one(p)),
            ("ceil_mode", self.ceil_mode),
            ("count_include_pad", self.count_include_pad),
        )
        return (_one(k),), kw

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.AvgPool2d", *self._args())

    def call(self, ins: list[Shape]) -> Call:
        args, kw = self._args()
        return Call("F.avg_pool2d", (In(0), *args), kw)


class _Adaptive(Op):
    family: ClassVar[Family] = Family.POOL
    positional: ClassVar[tuple[str, ...]] = ("size",)
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"size": [3, 2]}, [(4, 7, 7)])
    size: Pair = 1
    torch_name: ClassVar[str] = ""
    function: ClassVar[str] = ""

    def infer(self, ins: list[Shape]) -> Shape:
        c, _, _ = spatial(ins[0], self.kind)
        h, w = pair(self.size)
        if h <= 0 or w <= 0:
            raise ShapeError(f"{self.kind} size must be positive, got {self.size}")
        return (c, h, w)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return adaptive(ins[0], out)

    def label(self) -> str:
        h, w = pair(self.size)
        return f"{self.kind} {h}x{w}"

    def module(self, ins: list[Shape]) -> Module:
        return Module(f"nn.{self.torch_name}", (_one(pair(self.size)),))

    def call(self, ins: list[Shape]) -> Call:
        return Call(self.function, (In(0), _one(pair(self.size))))


@register
class AdaptiveAvgPool(_Adaptive):
    kind: ClassVar[str] = "adaptive_avgpool"
    torch_name: ClassVar[str] = "AdaptiveAvgPool2d"
    function: ClassVar[str] = "F.adaptive_avg_pool2d"
    doc: ClassVar[str] = "average pool to a fixed output size"


@register
class AdaptiveMaxPool(_Adaptive):
    kind: ClassVar[str] = "adaptive_maxpool"
    torch_name: ClassVar[str] = "AdaptiveMaxPool2d"
    function: ClassVar[str] = "F.adaptive_max_pool2d"
    doc: ClassVar[str] = "max pool to a fixed output size"


@register
class GlobalPool(Op):
    """Pool each channel to one value: (C,H,W) -> (C,1,1), or (C,) with keepdim=false."""

    kind: ClassVar[str] = "global_pool"
    saves_output: ClassVar[bool] = True  # mode=max: amax's backward compares its input with its output
    aliases: ClassVar[tuple[str, ...]] = ("gap",)
    family: ClassVar[Family] = Family.POOL
    positional: ClassVar[tuple[str, ...]] = ("mode",)
    doc: ClassVar[str] = "global average or max pool; keepdim=false also flattens"
    mode: Literal["avg", "max"] = "avg"
    keepdim: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        c, _, _ = spatial(ins[0], self.kind)
        return (c, 1, 1) if self.keepdim else (c,)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return GLOBAL

    def label(self) -> str:
        return f"global {self.mode}pool"

    def module(self, ins: list[Shape]) -> Module:
        return Module("netspec.compiler.modules:GlobalPool", (self.mode, self.keepdim))

    def call(self, ins: list[Shape]) -> Call:
        keep = (("keepdim", True),) if self.keepdim else ()
        return Call(".amax" if self.mode == "max" else ".mean", (In(0), (2, 3)), keep)
