"""Pooling: maxpool, avgpool, adaptive pools, global pool."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import GLOBAL, Reach, adaptive, transposed, windows
from .base import (
    Bool,
    Family,
    Op,
    PadPair,
    Pair,
    Part,
    Shape,
    ShapeError,
    fmt_shape,
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
    doc: ClassVar[str] = (
        "max pooling; stride defaults to the kernel; ceil_mode as in torch; indices=true adds a second "
        "output, the argmax indices for max_unpool (`pool1: maxpool 2 indices=true`, then `@pool1.1`)"
    )
    dilation: Pair = Field(1, alias="d")
    indices: Bool = Field(False, description="also output the indices of the maxima (`@name.1`), for max_unpool")

    def _dilation(self) -> tuple[int, int]:
        return pair(self.dilation)

    def several(self) -> bool:
        return self.indices

    def infer_outputs(self, ins: list[Shape]) -> list[Shape]:
        out = self.infer(ins)
        return [out, out] if self.indices else [out]

    def label(self) -> str:
        return super().label() + (" +indices" if self.indices else "")

    def _args(self) -> tuple[tuple[object, ...], tuple[tuple[str, object], ...]]:
        k, s, p = self._sizes()
        kw: tuple[tuple[str, object], ...] = (
            ("stride", _one(s)),
            ("padding", _one(p)),
            ("dilation", _one(pair(self.dilation))),
            ("ceil_mode", self.ceil_mode),
        )
        if self.indices:
            kw += (("return_indices", True),)
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


@register
class MaxUnpool(Op):
    """The partial inverse of a max pool (`nn.MaxUnpool2d`): each value back where its maximum was.

    Reads the pooled values and the indices of a `maxpool ... indices=true`; an optional third
    input gives the output size, as torch's `output_size=` (SegNet undoes odd sizes with it):

        pool1: maxpool 2 indices=true
        ...
        max_unpool 2 @pool1.1 @stage1      # the size of stage1, the input of pool1
    """

    kind: ClassVar[str] = "max_unpool"
    aliases: ClassVar[tuple[str, ...]] = ("maxunpool2d", "unpool", "max_unpool2d")
    family: ClassVar[Family] = Family.RESIZE
    positional: ClassVar[tuple[str, ...]] = ("kernel",)
    inputs: ClassVar[tuple[int, int | None]] = (2, 3)
    size_only_inputs: ClassVar[tuple[int, ...]] = (1, 2)
    doc: ClassVar[str] = (
        "max unpooling: values and `@pool.1`, the indices of a `maxpool ... indices=true`; "
        "a third input sets the output size (torch's output_size)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"kernel": 2}, [(3, 4, 5), (3, 4, 5)])
    kernel: Pair = Field(alias="k")
    stride: Pair | None = Field(None, alias="s", description="defaults to the kernel size")
    padding: PadPair = Field(0, alias="p")

    def _sizes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        k = pair(self.kernel)
        return k, pair(self.stride) if self.stride is not None else k, pair(self.padding)

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        if ins[1] != ins[0]:
            raise ShapeError(
                f"max_unpool: the indices {fmt_shape(ins[1])} must have the shape of the values {fmt_shape(ins[0])}",
                hint="pass the indices of the maxpool that made these values: '@pool1.1'",
            )
        k, s, p = self._sizes()
        default = [(n - 1) * s[i] - 2 * p[i] + k[i] for i, n in enumerate((h, w))]
        if len(ins) == 3:
            if len(ins[2]) < 2:
                raise ShapeError(f"max_unpool: the size input {fmt_shape(ins[2])} has no height and width")
            size = list(ins[2][-2:])
            for i in (0, 1):  # torch's _unpool_output_size: strictly within a stride of the default
                if not default[i] - s[i] < size[i] < default[i] + s[i]:
                    raise ShapeError(
                        f"max_unpool: output size {size[0]}x{size[1]} is not within a stride of "
                        f"{default[0]}x{default[1]}, the size it undoes {h}x{w} to",
                        hint=f"sizes from {default[i] - s[i] + 1} to {default[i] + s[i] - 1} work here",
                    )
            default = size
        if min(default) < 1:
            raise ShapeError(f"max_unpool {self.label()} of {h}x{w} gives {default[0]}x{default[1]}")
        return (c, default[0], default[1])

    def check_sources(self, sources: list[tuple[Op, list[Shape]]], out: Shape) -> None:
        made, pool_ins = sources[1]
        pool = made.source if isinstance(made, Part) and made.index == 1 else None
        if not isinstance(pool, MaxPool) or not pool.indices:
            raise ShapeError(
                "max_unpool needs the indices of a maxpool as its second input",
                hint="name the pool and pass its second output: 'pool1: maxpool 2 indices=true' ... "
                "'max_unpool 2 @pool1.1'",
            )
        # An index is a flat position in the pool's input; torch refuses one past the output's end.
        _, h, w = pool_ins[0]
        (k, s, p), d = pool._sizes(), pool._dilation()
        _, oh, ow = pool.infer(pool_ins)
        row = min(h - 1, (oh - 1) * s[0] + (k[0] - 1) * d[0] - p[0])
        col = min(w - 1, (ow - 1) * s[1] + (k[1] - 1) * d[1] - p[1])
        if row * w + col >= out[1] * out[2]:
            raise ShapeError(
                f"max_unpool to {out[1]}x{out[2]} is too small for the indices of '{pool.label()}' on a "
                f"{h}x{w} map (up to {row * w + col})",
                hint="unpool to the pool's input size: pass that map as the third input ('max_unpool 2 @p.1 @x')",
            )

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        k, s, p = self._sizes()
        return transposed(k, s, (1, 1), p)

    def label(self) -> str:
        k, s, _ = self._sizes()
        return f"max_unpool {k[0]}x{k[1]}" + (f"/{s[0]}" if s != (1, 1) else "")

    def _args(self) -> tuple[tuple[object, ...], tuple[tuple[str, object], ...]]:
        k, s, p = self._sizes()
        return (_one(k),), (("stride", _one(s)), ("padding", _one(p)))

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.MaxUnpool2d", *self._args())

    def call(self, ins: list[Shape]) -> Call:
        args, kw = self._args()
        size = (("output_size", In(2, ".shape[-2:]")),) if len(ins) == 3 else ()
        return Call("F.max_unpool2d", (In(0), In(1), *args), kw + size)


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
