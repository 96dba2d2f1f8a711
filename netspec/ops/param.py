"""Learnable tensors that are not layers: `param`, and `expand` to put one on the batch.

A `param` is an `nn.Parameter` attribute of the enclosing module, named by its label, so its
state_dict key is the bare path (`features.1.0.layer_scale`, `class_token`), as torchvision's
ConvNeXt and ViT name theirs. It has no batch dim: its shape is its torch shape, and `add` /
`mul` broadcast it against a batched tensor exactly as torch does (right-aligned; a leading
dim beyond the tensor's non-batch dims must be 1, the batch).

    layer_scale: param [dim, 1, 1] init=constant(val=1e-6)
    mul @block                                  # self.layer_scale * block
    class_token: param [1, 1, 768]
    @class_token -> expand @x -> concat @x dim=1
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

from pydantic import Field, Strict, model_validator

from .base import Family, Init, Op, Shape, ShapeError, register
from .form import Call, In, Parameter

Size = Annotated[int, Strict(), Field(gt=0, le=1 << 24)]


def unbatched(shape: Shape) -> str:
    """An unbatched shape as torch prints it: `[1, 1, 768]`."""
    return f"[{', '.join(map(str, shape))}]"


def over_batch(param: Shape, rank: int) -> Shape:
    """A parameter's shape as the non-batch shape it broadcasts as against a rank-`rank` sample.

    torch aligns shapes on the right: (C,1,1) against (N,C,H,W) acts as (1,C,1,1); (1,L,E)
    against (N,L,E) keeps its leading 1 for the batch. A dim beyond the batch, or a first
    dim other than 1 where the batch is, would need the batch size to match: refused.

        over_batch((64, 1, 1), 3) -> (64, 1, 1)     over_batch((1, 197, 768), 2) -> (197, 768)
        over_batch((768,), 2) -> (1, 768)
    """
    if len(param) <= rank:
        return (1,) * (rank - len(param)) + param
    if len(param) == rank + 1 and param[0] == 1:
        return param[1:]
    raise ShapeError(
        f"parameter {unbatched(param)} does not broadcast over a batch of {rank}-dim samples",
        hint="a parameter has at most one dim more than the samples, and that first dim is 1 (the batch)",
    )


@register
class Param(Op):
    """A learnable tensor of a fixed shape (an nn.Parameter), with no input and no batch dim."""

    kind: ClassVar[str] = "param"
    aliases: ClassVar[tuple[str, ...]] = ("parameter", "variable")
    family: ClassVar[Family] = Family.OTHER
    positional: ClassVar[tuple[str, ...]] = ("shape",)
    inputs: ClassVar[tuple[int, int | None]] = (0, 0)
    batched: ClassVar[bool] = False
    doc: ClassVar[str] = (
        "a learnable tensor of torch shape `shape` (an nn.Parameter named by its label, no batch dim), "
        "for add, mul or expand; init= zeros() by default"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"shape": [4, 1, 1]}, [])
    shape: tuple[Size, ...] = Field(min_length=1, max_length=8)
    init: Init | None = Field(default=None, description="how it starts (zeros() when none)")

    @model_validator(mode="after")
    def _check_init(self) -> Param:
        scheme = self.init.scheme if self.init is not None else "zeros"
        if scheme == "fan_uniform":
            raise ValueError("init=fan_uniform() needs a layer's weight; a param has none")
        if scheme.startswith(("kaiming", "xavier")) and len(self.shape) < 2:
            raise ValueError(f"init={scheme}() needs a shape of at least 2 dims (torch computes fans from them)")
        return self

    def infer(self, ins: list[Shape]) -> Shape:
        return tuple(self.shape)

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return math.prod(self.shape)

    def label(self) -> str:
        return f"param {'x'.join(map(str, self.shape))}"

    def parameter(self) -> Parameter:
        init = self.init or Init(scheme="zeros")
        if init.scheme == "constant":
            return Parameter(tuple(self.shape), "full", init.args)
        return Parameter(tuple(self.shape), init.scheme, init.args)


@register
class Expand(Op):
    """Repeat a parameter over the batch of a second input: ViT's `class_token.expand(n, -1, -1)`."""

    kind: ClassVar[str] = "expand"
    aliases: ClassVar[tuple[str, ...]] = ("broadcast_to", "tile")
    family: ClassVar[Family] = Family.SHAPE
    inputs: ClassVar[tuple[int, int | None]] = (2, 2)
    reads_unbatched: ClassVar[bool] = True
    returns_view: ClassVar[bool] = True
    size_only_inputs: ClassVar[tuple[int, ...]] = (1,)
    doc: ClassVar[str] = (
        "a parameter of torch shape (1, *S) repeated over the batch of `@x`: (N, *S) (ViT's class token)"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(1, 1, 6), (5, 6)])
    example_batched: ClassVar[tuple[bool, ...]] = (False, True)

    def infer(self, ins: list[Shape]) -> Shape:
        raise ShapeError(
            "expand repeats a parameter over the batch, but its input already has one",
            hint="start the chain from a 'param': '@class_token -> expand @x'",
        )

    def infer_mixed(self, ins: list[Shape], batched: list[bool]) -> Shape:
        if batched[0] or not batched[1]:
            return self.infer(ins)
        param = ins[0]
        if len(param) < 2 or param[0] != 1:
            raise ShapeError(
                f"expand needs a parameter whose first dim is 1 (the batch), got {unbatched(param)}",
                hint="declare it with a leading 1: 'param [1, 1, 768]'",
            )
        return param[1:]

    def label(self) -> str:
        return "expand"

    def call(self, ins: list[Shape]) -> Call:
        return Call(".expand", (In(0), In(1, ".shape[0]"), *([-1] * (len(ins[0]) - 1))))
