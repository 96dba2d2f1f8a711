"""Ops with several inputs: add, mul, concat."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Dim, Family, Op, Shape, ShapeError, axis, fmt_shape, register
from .form import Call, Infix, Ins
from .param import over_batch


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
    reads_unbatched: ClassVar[bool] = True  # `mul @layer_scale`: torch broadcasts a parameter
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 6, 6), (4, 1, 1)])

    def infer(self, ins: list[Shape]) -> Shape:
        out = ins[0]
        for i, other in enumerate(ins[1:], 1):
            merged = broadcast(out, other)
            if merged is None:
                raise MergeMismatch(self.kind, 0, i, ins)
            out = merged
        return out

    def infer_mixed(self, ins: list[Shape], batched: list[bool]) -> Shape:
        ranks = {len(s) for s, b in zip(ins, batched, strict=True) if b}
        if not ranks:
            raise ShapeError(
                f"{self.kind} of parameters only has no batch",
                hint="add or multiply a parameter with a tensor of the network",
            )
        rank = max(ranks)
        return self.infer([s if b else over_batch(s, rank) for s, b in zip(ins, batched, strict=True)])

    def call(self, ins: list[Shape]) -> Infix:
        return Infix(self.symbol)


class MergeMismatch(ShapeError):
    """Two inputs of a merge don't fit; the evaluator names where each came from."""

    def __init__(self, kind: str, i: int, j: int, ins: list[Shape], hint: str | None = None) -> None:
        a, b = ins[i], ins[j]
        what = "channels" if len(a) == len(b) == 3 and a[1:] == b[1:] else "shapes"
        super().__init__(
            f"{kind}: {what} differ, {fmt_shape(a)} vs {fmt_shape(b)}",
            hint=hint or _merge_hint(kind, a, b),
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
    """Concatenate along one dim (channels by default): every other dim must match."""

    kind: ClassVar[str] = "concat"
    family: ClassVar[Family] = Family.MERGE
    aliases: ClassVar[tuple[str, ...]] = ("cat",)
    inputs: ClassVar[tuple[int, int | None]] = (1, None)
    associative: ClassVar[bool] = True
    doc: ClassVar[str] = "concatenate on torch dim `dim` (1 = channels, -1 = last); all other dims must match"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 6, 6), (3, 6, 6)])
    dim: Dim = 1

    def infer(self, ins: list[Shape]) -> Shape:
        first = ins[0]
        d = axis(self.dim, first, self.kind)
        for i, other in enumerate(ins[1:], 1):
            if len(other) != len(first) or other[:d] + other[d + 1 :] != first[:d] + first[d + 1 :]:
                hint = None if d == 0 else f"concat on dim {self.dim} needs all other dims equal"
                raise MergeMismatch("concat", 0, i, ins, hint)
        return (*first[:d], sum(s[d] for s in ins), *first[d + 1 :])

    def label(self) -> str:
        return "concat" if self.dim == 1 else f"concat dim {self.dim}"

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.cat", (Ins(), self.dim))
