"""Layout ops: slice, permute, transpose, channel_shuffle, pixel_shuffle, pixel_unshuffle.

Dims count as torch counts them on the batched tensor (1 is the channels, -1 the
last dim); the batch dim itself is never touched (see `base.axis`).

    slice 1 stop=64             # x[:, :64]
    permute [2, 3, 1]           # (N,C,H,W) -> (N,H,W,C), torch's x.permute(0, 2, 3, 1)
    pixel_shuffle 2             # (N,4C,H,W) -> (N,C,2H,2W)
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, Strict

from ..receptive import GLOBAL, POINT, POINTS, AxisMap, Edge, Reach, Window, transposed, windows
from .base import Dim, Family, Int, Op, Pos, Shape, ShapeError, axis, fmt_shape, register
from .form import Call, In, Module

Index = Annotated[int, Strict(), Field(ge=-(1 << 30), le=1 << 30)]  # a slice end; negative counts from the end


@register
class Slice(Op):
    """Keep `start:stop:step` of one dim, with Python's (and torch's) rules for negative and out-of-range ends."""

    kind: ClassVar[str] = "slice"
    aliases: ClassVar[tuple[str, ...]] = ("strided_slice",)
    family: ClassVar[Family] = Family.SHAPE
    positional: ClassVar[tuple[str, ...]] = ("dim",)
    doc: ClassVar[str] = (
        "x[..., start:stop:step] on torch dim `dim` (1 = channels, -1 = last); negative ends count from the end"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"dim": -1, "start": 1, "step": 2}, [(4, 6, 7)])
    returns_view: ClassVar[bool] = True
    dim: Dim = Field(1, description="the torch dim to slice: 1 = channels, -1 = last")
    start: Index | None = None
    stop: Index | None = None
    step: Int = Field(1, gt=0, le=1 << 30)

    def infer(self, ins: list[Shape]) -> Shape:
        i = axis(self.dim, ins[0], self.kind)
        size = len(range(*slice(self.start, self.stop, self.step).indices(ins[0][i])))
        if size == 0:
            raise ShapeError(
                f"{self.label()} selects nothing of the {ins[0][i]} entries of dim {self.dim} of {fmt_shape(ins[0])}",
                hint="start and stop count from 0, or back from the end when negative",
            )
        return (*ins[0][:i], size, *ins[0][i + 1 :])

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        i = axis(self.dim, ins[0], self.kind)
        if len(ins[0]) != 3 or i == 0:
            return POINTS
        start = slice(self.start, self.stop, self.step).indices(ins[0][i])[0]
        kept: AxisMap = Window(stride=self.step, padding=-start)  # output o is input start + o*step
        if start == 0 and self.step == 1:
            kept = Edge(0)  # the same map; a bare 1x1 window that shrinks would read as an undeclared resize
        return (kept, POINT) if i == 1 else (POINT, kept)

    def label(self) -> str:
        ends = f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"
        return f"slice {self.dim} [{ends}{'' if self.step == 1 else f':{self.step}'}]"

    def call(self, ins: list[Shape]) -> Call:
        kw = tuple((k, v) for k, v in (("start", self.start), ("stop", self.stop)) if v is not None)
        if self.step != 1:
            kw += (("step", self.step),)
        return Call("netspec.compiler.modules:slice_along", (In(0), self.dim), kw)


@register
class Permute(Op):
    """Reorder the non-batch dims: `permute [2, 3, 1]` is torch's `x.permute(0, 2, 3, 1)`.

    Write a permutation of the torch dims 1..rank (the batch, dim 0, stays first), or
    torch's full list with the leading 0 (`permute [0, 2, 3, 1]`); negative dims count
    from the end, as in torch.
    """

    kind: ClassVar[str] = "permute"
    family: ClassVar[Family] = Family.SHAPE
    positional: ClassVar[tuple[str, ...]] = ("dims",)
    doc: ClassVar[str] = (
        "reorder dims: a permutation of 1..rank (`permute [2, 3, 1]`: NCHW -> NHWC), or torch's list with the leading 0"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"dims": [2, 3, 1]}, [(4, 5, 6)])
    returns_view: ClassVar[bool] = True
    dims: tuple[Dim, ...] = Field(min_length=1, max_length=9)

    def order(self, shape: Shape) -> tuple[int, ...]:
        """The torch permutation of the batched tensor, batch first: (0, 2, 3, 1)."""
        rank = len(shape)
        dims = self.dims
        if len(dims) == rank + 1:
            if dims[0] not in (0, -rank - 1):
                axis(dims[0], shape, self.kind)  # out of range: torch's IndexError
                raise ShapeError(
                    f"permute {list(dims)} moves the batch dim of {fmt_shape(shape)}",
                    hint="the batch (dim 0) stays first; or write only the non-batch dims, 1..rank",
                )
            dims = dims[1:]
        elif len(dims) != rank:
            raise ShapeError(
                f"permute {list(dims)} has {len(dims)} dims but {fmt_shape(shape)} has {rank} non-batch dims",
                hint=f"write a permutation of 1..{rank} (or torch's full list starting with 0)",
            )
        order = tuple(axis(d, shape, self.kind) + 1 for d in dims)
        if sorted(order) != list(range(1, rank + 1)):
            raise ShapeError(
                f"permute {list(self.dims)} is not a permutation of the dims of {fmt_shape(shape)}",
                hint=f"each of 1..{rank} exactly once (dim -1 is dim {rank})",
            )
        return (0, *order)

    def infer(self, ins: list[Shape]) -> Shape:
        return tuple(ins[0][d - 1] for d in self.order(ins[0])[1:])

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        moved = self.order(ins[0]) != tuple(range(len(ins[0]) + 1))
        return GLOBAL if moved else POINTS  # as reshape: rows and columns take other meanings

    def label(self) -> str:
        return f"permute {','.join(map(str, self.dims))}"

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.permute", (In(0), self.order(ins[0])))


@register
class Transpose(Op):
    """Swap two non-batch dims (`transpose 1 2`), as torch.transpose; negative dims count from the end."""

    kind: ClassVar[str] = "transpose"
    family: ClassVar[Family] = Family.SHAPE
    positional: ClassVar[tuple[str, ...]] = ("dim0", "dim1")
    doc: ClassVar[str] = (
        "swap two dims (`transpose 1 2`: (N,L,E) -> (N,E,L)); torch dims, `dim0=-2 dim1=-1` from the end"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"dim0": 1, "dim1": -1}, [(4, 5, 6)])
    returns_view: ClassVar[bool] = True
    dim0: Dim
    dim1: Dim

    def infer(self, ins: list[Shape]) -> Shape:
        a, b = axis(self.dim0, ins[0], self.kind), axis(self.dim1, ins[0], self.kind)
        out = list(ins[0])
        out[a], out[b] = out[b], out[a]
        return tuple(out)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        same = axis(self.dim0, ins[0], self.kind) == axis(self.dim1, ins[0], self.kind)
        return POINTS if same else GLOBAL  # as reshape: rows and columns take other meanings

    def label(self) -> str:
        return f"transpose {self.dim0},{self.dim1}"

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.transpose", (In(0), self.dim0, self.dim1))


@register
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: split the channels into `groups` and interleave them."""

    kind: ClassVar[str] = "channel_shuffle"
    family: ClassVar[Family] = Family.SHAPE
    positional: ClassVar[tuple[str, ...]] = ("groups",)
    doc: ClassVar[str] = "interleave `groups` groups of channels (ShuffleNet); groups must divide the channels"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"groups": 3}, [(6, 4, 4)])
    returns_view: ClassVar[bool] = True  # on CUDA, groups 1 or C hands back a view of the input
    groups: Pos

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) < 2:
            raise ShapeError(
                f"channel_shuffle needs channels and at least one more dim but got {fmt_shape(ins[0])}",
                hint="torch's channel_shuffle takes (N,C,*) with at least one dim after C",
            )
        if ins[0][0] % self.groups:
            raise ShapeError(f"channel_shuffle groups={self.groups} does not divide the {ins[0][0]} channels")
        return ins[0]

    def label(self) -> str:
        return f"channel_shuffle g{self.groups}"

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.ChannelShuffle", (self.groups,))

    def call(self, ins: list[Shape]) -> Call:
        return Call("F.channel_shuffle", (In(0), self.groups))


class _PixelShuffle(Op):
    family: ClassVar[Family] = Family.RESIZE
    positional: ClassVar[tuple[str, ...]] = ("factor",)
    torch_name: ClassVar[str] = ""
    function: ClassVar[str] = ""
    factor: Pos

    def _maps(self, shape: Shape) -> tuple[int, int, int]:
        if len(shape) < 3:
            raise ShapeError(
                f"{self.kind} needs a (C,H,W) feature map but got {fmt_shape(shape)}",
                hint="it moves values between the channels and the last two dims",
            )
        return shape[-3], shape[-2], shape[-1]

    def label(self) -> str:
        return f"{self.kind} {self.factor}"

    def module(self, ins: list[Shape]) -> Module:
        return Module(f"nn.{self.torch_name}", (self.factor,))

    def call(self, ins: list[Shape]) -> Call:
        return Call(self.function, (In(0), self.factor))


@register
class PixelShuffle(_PixelShuffle):
    """Sub-pixel upsampling (Shi et al. 2016): (C*r*r, H, W) -> (C, H*r, W*r)."""

    kind: ClassVar[str] = "pixel_shuffle"
    aliases: ClassVar[tuple[str, ...]] = ("depth_to_space",)
    torch_name: ClassVar[str] = "PixelShuffle"
    function: ClassVar[str] = "F.pixel_shuffle"
    doc: ClassVar[str] = "(C*r*r, H, W) -> (C, H*r, W*r), sub-pixel upsampling by `factor` r"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"factor": 2}, [(8, 3, 4)])

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = self._maps(ins[0])
        r2 = self.factor * self.factor
        if c % r2:
            raise ShapeError(
                f"pixel_shuffle {self.factor} needs channels divisible by {r2} but got {c}",
                hint=f"the conv before it should give a multiple of factor*factor = {r2} channels",
            )
        return (*ins[0][:-3], c // r2, h * self.factor, w * self.factor)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        r = (self.factor, self.factor)  # output o reads input o // r: a stride-r transposed 1-tap window
        return transposed(r, r, (1, 1), (0, 0))


@register
class PixelUnshuffle(_PixelShuffle):
    """The inverse of pixel_shuffle: (C, H*r, W*r) -> (C*r*r, H, W)."""

    kind: ClassVar[str] = "pixel_unshuffle"
    aliases: ClassVar[tuple[str, ...]] = ("space_to_depth",)
    torch_name: ClassVar[str] = "PixelUnshuffle"
    function: ClassVar[str] = "F.pixel_unshuffle"
    doc: ClassVar[str] = "(C, H*r, W*r) -> (C*r*r, H, W), the inverse of pixel_shuffle"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"factor": 2}, [(2, 4, 6)])

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = self._maps(ins[0])
        if h % self.factor or w % self.factor:
            raise ShapeError(
                f"pixel_unshuffle {self.factor} needs height and width divisible by {self.factor} but got {h}x{w}",
                hint="pad or crop the input to a multiple of the factor",
            )
        return (*ins[0][:-3], c * self.factor * self.factor, h // self.factor, w // self.factor)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        r = (self.factor, self.factor)  # output o reads inputs o*r .. o*r + r-1
        return windows(r, r, (1, 1), (0, 0))
