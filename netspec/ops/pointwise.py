"""Fixed arithmetic: scale, shift, and a fixed per-channel affine (no weights, nothing learned).

scale 0.5                                   # x * 0.5
shift -1                                    # x + (-1.0)
affine scale=[4.37, 4.46, 4.44] shift=[-2.12, -2.04, -1.80]   # ImageNet normalisation
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from .base import Op, Shape, ShapeError, fmt_shape, register
from .form import Call, In

_LIMIT = 1e6  # constants beyond this only make overflow likely
Const = Annotated[float, Field(ge=-_LIMIT, le=_LIMIT, allow_inf_nan=False)]


@register
class Scale(Op):
    """Multiply by a constant: `scale 0.5`."""

    kind: ClassVar[str] = "scale"
    positional: ClassVar[tuple[str, ...]] = ("factor",)
    doc: ClassVar[str] = "multiply by a constant: `scale 0.5` is x * 0.5"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"factor": 0.5}, [(4, 3, 3)])
    factor: Const

    def label(self) -> str:
        return f"scale {self.factor:g}"

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.mul", (In(0), self.factor))


@register
class Shift(Op):
    """Add a constant: `shift -1`."""

    kind: ClassVar[str] = "shift"
    positional: ClassVar[tuple[str, ...]] = ("offset",)
    doc: ClassVar[str] = "add a constant: `shift -1` is x + (-1)"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"offset": -1.5}, [(4, 3, 3)])
    offset: Const

    def label(self) -> str:
        return f"shift {self.offset:g}"

    def call(self, ins: list[Shape]) -> Call:
        return Call("torch.add", (In(0), self.offset))


@register
class Affine(Op):
    """x * scale + shift per channel (dim 1), with fixed constants: `affine scale=[...] shift=[...]`.

    Each is one value per channel or a single value for all (a one-channel input takes
    the constants' length, as torch broadcasts); the constants are written into the
    generated code (no parameters, no buffers).
    """

    kind: ClassVar[str] = "affine"
    doc: ClassVar[str] = "fixed x * scale + shift per channel (dim 1): one value per channel, or one for all"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"scale": [2.0, 0.5, -1.0], "shift": [0.1]},
        [(3, 4, 4)],
    )
    scale: tuple[Const, ...] | None = Field(None, min_length=1, max_length=1 << 12)
    shift: tuple[Const, ...] | None = Field(None, min_length=1, max_length=1 << 12)

    @model_validator(mode="after")
    def _something(self) -> Affine:
        if self.scale is None and self.shift is None:
            raise ValueError("affine needs scale=[...], shift=[...] or both")
        return self

    def infer(self, ins: list[Shape]) -> Shape:
        channels = ins[0][0]  # torch broadcasting: a single channel takes the constants' length
        for name, values in (("scale", self.scale), ("shift", self.shift)):
            if values is None or len(values) in (1, channels):
                continue
            if channels != 1:
                raise ShapeError(
                    f"affine {name} has {len(values)} values but {fmt_shape(ins[0])} has {channels} channels",
                    hint="give one value per channel (dim 1), or a single value for all",
                )
            channels = len(values)
        return (channels, *ins[0][1:])

    def call(self, ins: list[Shape]) -> Call:
        kw = tuple((k, v) for k, v in (("scale", self.scale), ("shift", self.shift)) if v is not None)
        return Call("netspec.compiler.modules:channel_affine", (In(0),), kw)
