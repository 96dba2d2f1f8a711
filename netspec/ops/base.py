"""The op declaration: a pydantic model with a shape rule, costs and a torch builder.

An op is one class: its `kind` (the word used in specs), its parameters with
types and defaults, a pure shape rule (`infer`), and a lazy torch builder
(`build`). `@register` puts it in the registry that the parser, checker,
diagrams, docs and tests all read.

    @register
    class ReLU(Op):
        kind: ClassVar[str] = "relu"
        family: ClassVar[str] = "activation"
        def build(self, ins): return nn.ReLU(inplace=False)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
Int = Annotated[int, Strict()]
Pos = Annotated[int, Strict(), Field(gt=0, le=1 << 16)]
NonNeg = Annotated[int, Strict(), Field(ge=0, le=1 << 16)]
Bool = Annotated[bool, Strict()]
Pair = Pos | tuple[Pos, Pos]
PadPair = NonNeg | tuple[NonNeg, NonNeg]

OPS: dict[str, type[Op]] = {}


class ShapeError(Exception):
    """A shape rule's complaint; the evaluator adds the span and node path."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Init(BaseModel):
    """A weight initialisation scheme, e.g. kaiming_normal(mode="fan_out")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: Literal[
        "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
        "normal", "trunc_normal", "uniform", "constant", "zeros", "ones", "fan_uniform",
    ]
    args: tuple[tuple[str, float | str], ...] = ()

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"{self.scheme}({inner})"


def register(cls: type[Op]) -> type[Op]:
    """Add an op class to the registry under its `kind`."""
    OPS[cls.kind] = cls
    return cls


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def fmt_shape(shape: Shape) -> str:
    return "(N," + ",".join(str(d) for d in shape) + ")"


class Op(BaseModel):
    """Base of every op: validated, immutable parameters plus rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    kind: ClassVar[str] = ""
    family: ClassVar[str] = "other"
    positional: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # min, max; None = any number
    doc: ClassVar[str] = ""
    # Params and input shapes for the registry-driven tests.
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 8, 8)])

    def infer(self, ins: list[Shape]) -> Shape:
        """Output shape (batch excluded) for these input shapes."""
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def receptive(self, r: float, j: float, ins: list[Shape]) -> tuple[float, float]:
        """Receptive field size and jump after this op, from those of its input."""
        return r, j

    def label(self) -> str:
        """Short diagram label, e.g. `conv 3x3/2, 64`."""
        return self.kind

    def build(self, ins: list[Shape]) -> nn.Module:
        """The torch module computing this op (torch imported lazily)."""
        raise NotImplementedError(self.kind)


class ParamOp(Op):
    """An op with weights: adds per-layer init overrides."""

    init: Init | None = Field(default=None, description="weight init override")
    bias_init: Init | None = Field(default=None, description="bias init override")


def spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    """Unpack a (C, H, W) shape or explain why this op needs one."""
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a (C,H,W) feature map but got {fmt_shape(shape)}",
            hint="a flattened vector has no height or width",
        )
    return shape[0], shape[1], shape[2]


def window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> int:
    """Output length of a sliding window, exactly as torch computes it."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return span // s + 1 if span >= 0 else 0 if span // s + 1 <= 0 else span // s + 1


def rf_window(r: float, j: float, k: int, s: int, d: int = 1) -> tuple[float, float]:
    return r + (d * (k - 1)) * j, j * s


def rf_global(r: float, j: float, ins: list[Shape]) -> tuple[float, float]:
    if len(ins[0]) == 3:
        return r + (max(ins[0][1], ins[0][2]) - 1) * j, j * max(ins[0][1], ins[0][2])
    return r, j


def prod(xs: Shape) -> int:
    return math.prod(xs)
