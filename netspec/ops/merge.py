"""Ops with several inputs: add, mul, concat."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Family, Op, Shape, ShapeError, fmt_shape, register
from .form import Call, Infix, Ins


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """torch's broadcasting of two non-batch shapes, or None if they don't broadcast."""
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b, strict=True):
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(out)


class _Elementwise(Op):
    family: ClassVar[Family] = Family.MERGE
    symbol: ClassVar[str] = "+"
    inputs: ClassVar[tuple[int, int | None]] = (2, None)
    associative: ClassVar[bool] = True
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 6, 6), (4, 1, 1)])

    def infer(self, ins: list[Shape]) -> Shape:
        out = ins[0]
        for i, other in enumerate(ins[1:], 1):
            merged = broadcast(out, other)
            if merged is None:
                raise MergeMismatch(self.kind, 0, i, ins)
            out = merged
        return out

    def call(self, ins: list[Shape]) -> Infix:
        return Infix(self.symbol)


class MergeMismatch(ShapeError):
    """Two inputs of a merge don't fit; the evaluator names where each came from."""

    def __init__(self, kind: str, i: int, j: int, ins: list[Shape]) -> None:
        a, b = ins[i], ins[j]
        what = "channels" if len(a) == len(b) == 3 and a[1:] == b[1:] else "shapes"
        super().__init__(
            f"{kind}: {what} differ, {fmt_shape(a)} vs {fmt_shape(b)}",
            hint=_merge_hint(kind, a, b),
        )
        self.kind, self.i, self.j = kind, i, j


def _merge_hint(kind: str, a: Shape, b: Shape) -> str:
    if kind == "concat":
        return "concat needs equal height and width; crop, pad or resize one input"
    if len(a) == len(b) == 3 and a[0] != b[0]:
        return "a projection shortcut (1x1 conv) is missing, or the channel counts differ"
    return "inputs must have equal shapes (or broadcast)"


@register
class Add(_Elementwise):
    kind: ClassVar[str] = "add"
    inplace: ClassVar[bool] = True  # `out += identity`, as torchvision writes residuals
    doc: ClassVar[str] = "element-wise sum (residuals); shapes must match or broadcast"


@register
class Mul(_Elementwise):
    kind: ClassVar[str] = "mul"
    symbol: ClassVar[str] = "*"
    doc: ClassVar[str] = "element-wise product (SE scaling); shapes must match or broadcast"


@register
class Concat(Op):
    """Concatenate on channels: heights and widths must match."""

    kind: ClassVar[str] = "concat"
    family: ClassVar[Family] = Family.MERGE
    aliases: ClassVar[tuple[str, ...]] = ("cat",)
    inputs: ClassVar[tuple[int, int | None]] = (1, None)
    associative: ClassVar[bool] = True
    doc: ClassVar[str] = "concatenate on channels; spatial sizes must match"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 6, 6), (3, 6, 6)])

    def infer(self, ins: list[Shape]) -> Shape:
        first = ins[0]
        for i, other in enumerate(ins[1:], 1):
            if len(other) != len(first) or other[1:] != first[1:]:
                raise MergeMismatch("concat", 0, i, ins)
        return (sum(s[0] for s in ins), *first[1:])

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.cat", (Ins(), 1))
