"""Ops with several outputs: split and chunk (ShuffleNetV2's channel split).

A label names the pieces: `halves: chunk 2` gives `@halves.0` and `@halves.1` (graph nodes
`halves.0`, `halves.1`, see base.Part), and the generated code unpacks them as torchvision
does: `x1, x2 = x.chunk(2, dim=1)`. The pieces follow torch exactly: `split 3` on 8
channels gives 3, 3 and 2; `chunk 4` on 5 channels gives 2, 2 and 1 (three pieces).

    halves: chunk 2
    @halves.1 -> branch2: [conv 58 k=1, bn, relu]
    @halves.0 -> concat @branch2 -> channel_shuffle 2
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from ..receptive import Reach
from .base import Dim, Family, Op, Pos, Shape, ShapeError, axis, fmt_shape, register
from .form import Call, In
from .tensor import Slice


class _Split(Op):
    family: ClassVar[Family] = Family.SHAPE
    returns_view: ClassVar[bool] = True
    dim: Dim = Field(1, description="the torch dim to split: 1 = channels, -1 = last")

    def sizes(self, n: int) -> list[int]:
        """The pieces' sizes along a dim of size n."""
        raise NotImplementedError

    def ranges(self, shape: Shape) -> list[tuple[int, int]]:
        """Each piece as (start, stop) along the split dim."""
        i = axis(self.dim, shape, self.kind)
        out, start = [], 0
        for size in self.sizes(shape[i]):
            out.append((start, start + size))
            start += size
        return out

    def several(self) -> bool:
        return True

    def main_output(self) -> int | None:
        return None

    def infer(self, ins: list[Shape]) -> Shape:
        return self.infer_outputs(ins)[0]

    def infer_outputs(self, ins: list[Shape]) -> list[Shape]:
        i = axis(self.dim, ins[0], self.kind)
        return [(*ins[0][:i], stop - start, *ins[0][i + 1 :]) for start, stop in self.ranges(ins[0])]

    def receptive_output(self, ins: list[Shape], out: Shape, index: int) -> Reach:
        start, stop = self.ranges(ins[0])[index]
        return Slice(dim=self.dim, start=start, stop=stop).receptive(ins, out)


@register
class Split(_Split):
    """torch.split: pieces of `size` along a dim (the last one smaller), or of the listed sizes."""

    kind: ClassVar[str] = "split"
    positional: ClassVar[tuple[str, ...]] = ("size",)
    doc: ClassVar[str] = (
        "several outputs (`@name.0`, ...): pieces of `size` along `dim`, the last smaller (torch.split), "
        "or a list of sizes that add up to the dim"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"size": [2, 4]}, [(6, 3, 3)])
    size: Pos | tuple[Pos, ...] = Field(description="a piece size, or the list of sizes")

    def sizes(self, n: int) -> list[int]:
        if isinstance(self.size, int):
            return [self.size] * (n // self.size) + ([n % self.size] if n % self.size else [])
        if sum(self.size) != n:
            raise ShapeError(
                f"split {list(self.size)} adds up to {sum(self.size)}, but dim {self.dim} has {n}",
                hint="the sizes must add up to the size of the dim (torch.split)",
            )
        return list(self.size)

    def infer_outputs(self, ins: list[Shape]) -> list[Shape]:
        if isinstance(self.size, tuple) and len(self.size) > 1 << 12:
            raise ShapeError(f"split into {len(self.size)} pieces", hint="at most 4096 pieces")
        i = axis(self.dim, ins[0], self.kind)
        if isinstance(self.size, int) and ins[0][i] > self.size << 12:
            raise ShapeError(f"split {self.size} of {fmt_shape(ins[0])} makes more than 4096 pieces")
        return super().infer_outputs(ins)

    def label(self) -> str:
        size = self.size if isinstance(self.size, int) else ",".join(map(str, self.size))
        return f"split {size}" + ("" if self.dim == 1 else f" dim {self.dim}")

    def call(self, ins: list[Shape]) -> Call:
        size = self.size if isinstance(self.size, int) else list(self.size)
        return Call(".split", (In(0), size), (("dim", self.dim),))


@register
class Chunk(_Split):
    """torch.chunk: `chunks` pieces of equal size (rounded up) along a dim; fewer when they run out."""

    kind: ClassVar[str] = "chunk"
    positional: ClassVar[tuple[str, ...]] = ("chunks",)
    doc: ClassVar[str] = (
        "several outputs (`@name.0`, ...): `chunks` pieces of ceil(size/chunks) along `dim` (torch.chunk; "
        "fewer pieces when they run out)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"chunks": 2}, [(6, 3, 3)])
    chunks: Pos = Field(description="how many pieces (at most)")

    def sizes(self, n: int) -> list[int]:
        size = -(-n // self.chunks)
        return [size] * (n // size) + ([n % size] if n % size else [])

    def label(self) -> str:
        return f"chunk {self.chunks}" + ("" if self.dim == 1 else f" dim {self.dim}")

    def call(self, ins: list[Shape]) -> Call:
        return Call(".chunk", (In(0), self.chunks), (("dim", self.dim),))
