"""Resizing ops: upsample, crop, pad."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import Edge, Reach, Resize, Window
from .base import Bool, Family, Int, NonNeg, Op, Pair, Shape, ShapeError, pair, register, spatial
from .form import Call, In


@register
class Upsample(Op):
    """Resize by a scale factor, to a fixed size, or to the size of a second input.

    `upsample 2`, `upsample size=[56, 56]`, `upsample @x mode=bilinear`.
    """

    kind: ClassVar[str] = "upsample"
    aliases: ClassVar[tuple[str, ...]] = ("interpolate", "resize")
    family: ClassVar[Family] = Family.RESIZE
    positional: ClassVar[tuple[str, ...]] = ("scale",)
    inputs: ClassVar[tuple[int, int | None]] = (1, 2)
    size_only_inputs: ClassVar[tuple[int, ...]] = (1,)
    doc: ClassVar[str] = "nearest/bilinear resize by `scale`, to `size`, or to a second input's size"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"scale": 2, "mode": "bilinear"}, [(4, 5, 5)])
    scale: float | None = Field(None, gt=0)
    size: Pair | None = None
    mode: Literal["nearest", "bilinear"] = "nearest"
    align_corners: Bool | None = None

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        given = sum(x is not None for x in (self.scale, self.size)) + (len(ins) > 1)
        if given != 1:
            raise ShapeError(
                "upsample needs exactly one of: a scale, size=[h, w], or a tensor to match (@name)",
                hint="e.g. 'upsample 2' or 'upsample @skip mode=bilinear'",
            )
        if self.align_corners is not None and self.mode == "nearest":
            raise ShapeError("align_corners only applies to mode=bilinear")
        if len(ins) > 1:
            _, ho, wo = spatial(ins[1], "upsample's size input")
            return (c, ho, wo)
        if self.size is not None:
            return (c, *pair(self.size))
        assert self.scale is not None
        ho, wo = math.floor(h * self.scale), math.floor(w * self.scale)
        if ho < 1 or wo < 1:
            raise ShapeError(
                f"upsample x{self.scale:g} turns {h}x{w} into {ho}x{wo}", hint="the output needs at least one pixel"
            )
        return (c, ho, wo)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return (Resize(self.mode, self.scale, bool(self.align_corners)),) * 2

    def label(self) -> str:
        how = f"x{self.scale:g}" if self.scale else "to size"
        return f"upsample {how} {self.mode}"

    def call(self, ins: list[Shape]) -> Call:
        kw: tuple[tuple[str, object], ...]
        if len(ins) > 1:
            kw = (("size", In(1, ".shape[-2:]")),)
        elif self.size is not None:
            kw = (("size", pair(self.size)),)
        else:
            kw = (("scale_factor", self.scale),)
        kw += (("mode", self.mode),)
        if self.align_corners is not None:
            kw += (("align_corners", self.align_corners),)
        return Call("F.interpolate", (In(0),), kw)


@register
class Crop(Op):
    """Crop to the height and width of a second input: centred, or at `offset` (FCN)."""

    kind: ClassVar[str] = "crop"
    family: ClassVar[Family] = Family.RESIZE
    inputs: ClassVar[tuple[int, int | None]] = (2, 2)
    size_only_inputs: ClassVar[tuple[int, ...]] = (1,)
    doc: ClassVar[str] = "crop to a second input's size (`crop @ref`); centred unless `offset` is given"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 9, 9), (2, 5, 6)])
    offset: NonNeg | tuple[NonNeg, NonNeg] | None = None

    def corner(self, ins: list[Shape]) -> tuple[int, int]:
        (_, h, w), (_, th, tw) = ins[0], ins[1]
        if self.offset is None:
            return (h - th) // 2, (w - tw) // 2
        return pair(self.offset)

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        _, th, tw = spatial(ins[1], "crop's target")
        top, left = self.corner(ins)
        if th > h or tw > w or top < 0 or left < 0 or top + th > h or left + tw > w:
            raise ShapeError(
                f"cannot crop {h}x{w} to {th}x{tw}" + (f" at offset {self.offset}" if self.offset else ""),
                hint="the crop target must fit inside the input; check the input size (--input)",
            )
        return (c, th, tw)

    returns_view: ClassVar[bool] = True

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        top, left = self.corner(ins)
        return (Window(padding=-top), Window(padding=-left))

    def call(self, ins: list[Shape]) -> Call:
        offset = () if self.offset is None else (pair(self.offset),)
        return Call("netspec.compiler.modules:crop", (In(0), In(1), *offset))


@register
class Pad(Op):
    """Pad height and width: `pad 1` or `pad [left, right, top, bottom]`."""

    kind: ClassVar[str] = "pad"
    family: ClassVar[Family] = Family.RESIZE
    positional: ClassVar[tuple[str, ...]] = ("padding",)
    doc: ClassVar[str] = "pad the borders (constant, reflect or replicate)"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"padding": [1, 2, 0, 3]}, [(4, 5, 5)])
    padding: Int | tuple[Int, Int, Int, Int] = Field(alias="p")
    mode: Literal["constant", "reflect", "replicate"] = "constant"
    value: float = Field(0.0, ge=-1e6, le=1e6, allow_inf_nan=False, description="fill of mode=constant")

    def amounts(self) -> tuple[int, int, int, int]:
        p = self.padding
        return (p, p, p, p) if isinstance(p, int) else p

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        left, right, top, bottom = self.amounts()
        ho, wo = h + top + bottom, w + left + right
        if ho <= 0 or wo <= 0:
            raise ShapeError(f"pad shrinks {h}x{w} to {ho}x{wo}")
        if self.mode == "reflect" and max(left, right) >= w or self.mode == "reflect" and max(top, bottom) >= h:
            raise ShapeError("reflect padding must be smaller than the input size")
        if self.mode == "constant" and (h + min(top, 0) + min(bottom, 0) < 0 or w + min(left, 0) + min(right, 0) < 0):
            # torch crops the negative sides first (narrow), then pads: the crop alone must fit
            raise ShapeError(
                f"pad {list(self.amounts())} crops more than the {h}x{w} input before padding it",
                hint="torch applies negative padding first: together they must not exceed the input size",
            )
        if self.mode != "constant" and self.value != 0:
            raise ShapeError(
                f"pad mode={self.mode} takes no value (got value={self.value:g})",
                hint="value= is the fill of mode=constant; torch refuses it for reflect and replicate",
            )
        return (c, ho, wo)

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        left, _, top, _ = self.amounts()
        return (Edge(top, self.mode), Edge(left, self.mode))

    def call(self, ins: list[Shape]) -> Call:
        kw = (("mode", self.mode), ("value", None if self.mode != "constant" else self.value))
        return Call("F.pad", (In(0), self.amounts()), kw)
