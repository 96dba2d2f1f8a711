"""Convolutions: conv, conv_transpose, deform_conv (and linear, a 1x1 conv on vectors)."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import POINT, POINTS, Reach, Whole, transposed, windows
from .base import (
    Bool,
    Family,
    Int,
    PadPair,
    Pair,
    ParamOp,
    Shape,
    ShapeError,
    pair,
    register,
    spatial,
)
from .form import Module


def _one(v: tuple[int, int]) -> int | tuple[int, int]:
    """(3, 3) -> 3: torch accepts either, people write the int."""
    return v[0] if v[0] == v[1] else v


def _kw(**items: tuple[object, object]) -> tuple[tuple[str, object], ...]:
    """Keyword arguments, name=(value, torch's default); the code generator leaves out defaults."""
    return tuple((k, v) for k, (v, _) in items.items())


def _check_groups(c_in: int, c_out: int, groups: int) -> None:
    if c_in % groups:
        raise ShapeError(
            f"groups={groups} does not divide the {c_in} input channels",
            hint=f"input channels must be a multiple of groups; try groups={_divisor(c_in, groups)}",
        )
    if c_out % groups:
        raise ShapeError(
            f"groups={groups} does not divide the {c_out} output channels",
            hint="output channels must be a multiple of groups",
        )


def _divisor(n: int, near: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: abs(d - near))


def _too_small(what: str, size: tuple[int, int], got: tuple[int, int]) -> ShapeError:
    return ShapeError(
        f"{what} shrinks the {size[0]}x{size[1]} input to {got[0]}x{got[1]}",
        hint="use a larger input (--input), more padding, or a smaller kernel/stride",
    )


def _kernel_label(k: tuple[int, int], s: tuple[int, int], d: tuple[int, int]) -> str:
    text = f"{k[0]}x{k[1]}" if k[0] != k[1] else f"{k[0]}x{k[0]}"
    if s != (1, 1):
        text += f"/{s[0]}" if s[0] == s[1] else f"/{s[0]}x{s[1]}"
    if d != (1, 1):
        text += f" d{d[0]}"
    return text


class _ConvBase(ParamOp):
    family: ClassVar[Family] = Family.CONV
    positional: ClassVar[tuple[str, ...]] = ("out",)

    out: Int = Field(gt=0, le=1 << 20, description="output channels")
    kernel: Pair = Field(1, alias="k", description="kernel size")
    stride: Pair = Field(1, alias="s")
    dilation: Pair = Field(1, alias="d")
    groups: Int = Field(1, gt=0, le=1 << 20)
    bias: Bool = True

    def _sizes(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
        return pair(self.kernel), pair(self.stride), pair(self.dilation)

    def label(self) -> str:
        k, s, d = self._sizes()
        g = f" g{self.groups}" if self.groups != 1 else ""
        return f"{self.kind} {_kernel_label(k, s, d)}, {self.out}{g}"


@register
class Conv(_ConvBase):
    """2-D convolution (`nn.Conv2d`); input channels are inferred."""

    kind: ClassVar[str] = "conv"
    aliases: ClassVar[tuple[str, ...]] = ("conv2d", "convolution")
    doc: ClassVar[str] = "2-D convolution; `padding` may be an int, a pair, 'same' or 'valid'"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"out": 6, "kernel": 3, "stride": 2, "padding": 1},
        [(4, 9, 9)],
    )
    padding: PadPair | Literal["same", "valid"] = Field(0, alias="p")

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return windows(*self._sizes(), self._pad())

    def _pad(self) -> tuple[int, int]:
        if self.padding == "valid":
            return (0, 0)
        if self.padding == "same":
            k, _, d = self._sizes()
            return (d[0] * (k[0] - 1) // 2, d[1] * (k[1] - 1) // 2)
        return pair(self.padding)

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        _check_groups(c, self.out, self.groups)
        k, s, d = self._sizes()
        if self.padding == "same":
            if s != (1, 1):
                raise ShapeError("padding='same' needs stride 1 (as in torch)", hint="give padding explicitly")
            return (self.out, h, w)
        p = self._pad()
        ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
        wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
        if ho <= 0 or wo <= 0 or h + 2 * p[0] < d[0] * (k[0] - 1) + 1 or w + 2 * p[1] < d[1] * (k[1] - 1) + 1:
            raise _too_small(f"{self.kind} {_kernel_label(k, s, d)}", (h, w), (ho, wo))
        return (self.out, ho, wo)

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        return self.out * (ins[0][0] // self.groups) * k[0] * k[1] + (self.out if self.bias else 0)

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        return out[0] * out[1] * out[2] * (ins[0][0] // self.groups) * k[0] * k[1]

    def module(self, ins: list[Shape]) -> Module:
        padding: Any = self.padding if isinstance(self.padding, str) else _one(pair(self.padding))
        k, s, d = self._sizes()
        return Module(
            "nn.Conv2d",
            (ins[0][0], self.out, _one(k)),
            _kw(
                stride=(_one(s), 1),
                padding=(padding, 0),
                dilation=(_one(d), 1),
                groups=(self.groups, 1),
                bias=(self.bias, True),
            ),
        )


@register
class ConvTranspose(_ConvBase):
    """Transposed 2-D convolution (`nn.ConvTranspose2d`), for learned upsampling."""

    kind: ClassVar[str] = "conv_transpose"
    aliases: ClassVar[tuple[str, ...]] = ("deconv", "convtranspose2d")
    doc: ClassVar[str] = "transposed convolution: out = (in-1)*s - 2p + d(k-1) + output_padding + 1"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"out": 6, "kernel": 4, "stride": 2, "padding": 1, "output_padding": 1},
        [(4, 5, 5)],
    )
    padding: PadPair = Field(0, alias="p")
    output_padding: PadPair = Field(0, alias="op")

    def infer(self, ins: list[Shape]) -> Shape:
        c, h, w = spatial(ins[0], self.kind)
        _check_groups(c, self.out, self.groups)
        k, s, d = self._sizes()
        p, op = pair(self.padding), pair(self.output_padding)
        if op[0] >= max(s[0], d[0]) or op[1] >= max(s[1], d[1]):
            raise ShapeError(
                f"output_padding {op} must be smaller than stride or dilation",
                hint="torch requires output_padding < max(stride, dilation)",
            )
        ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (k[0] - 1) + op[0] + 1
        wo = (w - 1) * s[1] - 2 * p[1] + d[1] * (k[1] - 1) + op[1] + 1
        if ho <= 0 or wo <= 0:
            raise _too_small(self.kind, (h, w), (ho, wo))
        return (self.out, ho, wo)

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        return ins[0][0] * (self.out // self.groups) * k[0] * k[1] + (self.out if self.bias else 0)

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        c, h, w = ins[0]
        return c * h * w * (self.out // self.groups) * k[0] * k[1]

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return transposed(*self._sizes(), pair(self.padding))

    def module(self, ins: list[Shape]) -> Module:
        k, s, d = self._sizes()
        return Module(
            "nn.ConvTranspose2d",
            (ins[0][0], self.out, _one(k)),
            _kw(
                stride=(_one(s), 1),
                padding=(_one(pair(self.padding)), 0),
                output_padding=(_one(pair(self.output_padding)), 0),
                groups=(self.groups, 1),
                bias=(self.bias, True),
                dilation=(_one(d), 1),
            ),
        )


@register
class DeformConv(Conv):
    """Deformable convolution (Dai et al. 2017): a conv branch predicts the sampling offsets.

    The module holds `weight`/`bias` like a conv plus `offset` (a conv giving
    2*k*k*offset_groups channels, zero-initialised) and, if `modulated`, `mask`
    (DCNv2's k*k*offset_groups sigmoid-scaled mask).
    """

    kind: ClassVar[str] = "deform_conv"
    aliases: ClassVar[tuple[str, ...]] = ()  # not conv's
    doc: ClassVar[str] = "deformable convolution; offsets (and optional mask) predicted by a conv on the input"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = (
        {"out": 6, "kernel": 3, "padding": 1, "modulated": True},
        [(4, 7, 7)],
    )
    offset_groups: Int = Field(1, gt=0, le=1 << 20)
    modulated: Bool = False

    def infer(self, ins: list[Shape]) -> Shape:
        if ins and len(ins[0]) == 3 and ins[0][0] % self.offset_groups:
            raise ShapeError(f"offset_groups={self.offset_groups} does not divide {ins[0][0]} channels")
        self.infer_padding()
        return super().infer(ins)

    def _aux_channels(self) -> int:
        k, _, _ = self._sizes()
        return (3 if self.modulated else 2) * self.offset_groups * k[0] * k[1]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        aux = self._aux_channels() * (ins[0][0] * k[0] * k[1] + 1)
        return super().count_params(ins, out) + aux

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        k, _, _ = self._sizes()
        return super().count_macs(ins, out) + out[1] * out[2] * self._aux_channels() * ins[0][0] * k[0] * k[1]

    def infer_padding(self) -> None:
        k, _, d = self._sizes()
        if self.padding == "same" and any(d[i] * (k[i] - 1) % 2 for i in (0, 1)):
            raise ShapeError(
                "deform_conv padding='same' needs an odd dilated kernel",
                hint="give padding explicitly; an even kernel cannot be centred",
            )

    def module(self, ins: list[Shape]) -> Module:
        k, s, d = self._sizes()
        return Module(
            "netspec.compiler.deform:DeformConv2d",
            (ins[0][0], self.out, _one(k)),
            _kw(
                stride=(_one(s), 1),
                padding=(_one(self._pad()), 0),
                dilation=(_one(d), 1),
                groups=(self.groups, 1),
                offset_groups=(self.offset_groups, 1),
                bias=(self.bias, True),
                modulated=(self.modulated, False),
            ),
        )


@register
class Linear(ParamOp):
    """Fully connected layer over the last dim (`nn.Linear`): (N, *, F) -> (N, *, out)."""

    kind: ClassVar[str] = "linear"
    family: ClassVar[Family] = Family.LINEAR
    aliases: ClassVar[tuple[str, ...]] = ("dense", "fc", "fully_connected")
    positional: ClassVar[tuple[str, ...]] = ("out",)
    doc: ClassVar[str] = "fully connected layer over the last dim: (N,F) -> (N,out), (N,*,F) -> (N,*,out)"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"out": 5}, [(12,)])
    out: Int = Field(gt=0, le=1 << 24)
    bias: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        return (*ins[0][:-1], self.out)

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][-1] * self.out + (self.out if self.bias else 0)

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        return math.prod(ins[0][:-1]) * ins[0][-1] * self.out

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        return (POINT, Whole()) if len(ins[0]) == 3 else POINTS  # on a map: every column reads the whole row

    def label(self) -> str:
        return f"linear {self.out}"

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.Linear", (ins[0][-1], self.out), _kw(bias=(self.bias, True)))
