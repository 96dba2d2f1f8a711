"""Activations: one small declaration each.

Each is a plain call in generated forwards (`F.relu(x, inplace=True)`), or its
nn module when the spec names the layer (`relu: relu` -> `self.relu = nn.ReLU()`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..receptive import POINT, Reach, Whole
from .base import Bool, Dim, Family, Op, ParamOp, Shape, axis, register
from .form import Call, In, Module


class _Act(Op):
    family: ClassVar[Family] = Family.ACTIVATION
    torch_name: ClassVar[str] = ""  # the nn class, e.g. "ReLU"
    function: ClassVar[str] = ""  # the functional form, e.g. "F.relu"

    def _kwargs(self) -> tuple[tuple[str, Any], ...]:
        return tuple(self.model_dump().items())

    def module(self, ins: list[Shape]) -> Module:
        return Module(f"nn.{self.torch_name}", (), self._kwargs(), inplace=self.inplace)

    def call(self, ins: list[Shape]) -> Call:
        return Call(self.function, (In(0),), self._kwargs(), inplace=self.inplace)


def _act(
    kind: str,
    torch_name: str,
    function: str,
    doc: str,
    *,
    inplace: bool,
    saves_output: bool,
    aliases: tuple[str, ...] = (),
) -> type[Op]:
    cls = type(
        kind.title().replace("_", ""),
        (_Act,),
        {
            "__annotations__": {
                "kind": ClassVar[str],
                "torch_name": ClassVar[str],
                "function": ClassVar[str],
                "doc": ClassVar[str],
                "inplace": ClassVar[bool],
                "saves_output": ClassVar[bool],
                "aliases": ClassVar[tuple[str, ...]],
            },
            "kind": kind,
            "torch_name": torch_name,
            "function": function,
            "doc": doc,
            "inplace": inplace,
            "saves_output": saves_output,
            "aliases": aliases,
            "__module__": __name__,
        },
    )
    return register(cls)


# saves_output: torch's backward of relu, relu6, sigmoid, tanh and hardtanh-like ops reads the result.
ReLU = _act("relu", "ReLU", "F.relu", "max(x, 0)", inplace=True, saves_output=True)
ReLU6 = _act("relu6", "ReLU6", "F.relu6", "min(max(x, 0), 6)", inplace=True, saves_output=False)
SiLU = _act("silu", "SiLU", "F.silu", "x * sigmoid(x) (swish)", inplace=True, saves_output=False, aliases=("swish",))
Sigmoid = _act("sigmoid", "Sigmoid", "torch.sigmoid", "1 / (1 + exp(-x))", inplace=False, saves_output=True)
HardSigmoid = _act(
    "hardsigmoid",
    "Hardsigmoid",
    "F.hardsigmoid",
    "relu6(x + 3) / 6",
    inplace=True,
    saves_output=False,
    aliases=("hard_sigmoid",),
)
HardSwish = _act(
    "hardswish",
    "Hardswish",
    "F.hardswish",
    "x * relu6(x + 3) / 6",
    inplace=True,
    saves_output=False,
    aliases=("hard_swish",),
)
Tanh = _act("tanh", "Tanh", "torch.tanh", "hyperbolic tangent", inplace=False, saves_output=True)
# Run in place, selu's backward reads its result; mish's never does.
SELU = _act("selu", "SELU", "F.selu", "scaled elu of self-normalising nets", inplace=True, saves_output=True)
Mish = _act("mish", "Mish", "F.mish", "x * tanh(softplus(x))", inplace=True, saves_output=False)


@register
class LeakyReLU(_Act):
    kind: ClassVar[str] = "leaky_relu"
    aliases: ClassVar[tuple[str, ...]] = ("leakyrelu",)
    torch_name: ClassVar[str] = "LeakyReLU"
    function: ClassVar[str] = "F.leaky_relu"
    positional: ClassVar[tuple[str, ...]] = ("negative_slope",)
    doc: ClassVar[str] = "x if x > 0 else negative_slope * x (YOLO: 0.1)"
    inplace: ClassVar[bool] = True
    saves_output: ClassVar[bool] = True
    negative_slope: float = Field(0.01, ge=-1e6, le=1e6, allow_inf_nan=False)

    def can_inplace(self) -> bool:
        # torch refuses the in-place backward for a negative slope (the sign of x is lost).
        return self.negative_slope >= 0


@register
class ELU(_Act):
    kind: ClassVar[str] = "elu"
    torch_name: ClassVar[str] = "ELU"
    function: ClassVar[str] = "F.elu"
    positional: ClassVar[tuple[str, ...]] = ("alpha",)
    doc: ClassVar[str] = "x if x > 0 else alpha * (exp(x) - 1)"
    inplace: ClassVar[bool] = True
    saves_output: ClassVar[bool] = True  # in place, its backward reads the result
    alpha: float = Field(1.0, ge=-1e6, le=1e6, allow_inf_nan=False)

    def can_inplace(self) -> bool:
        # torch refuses the in-place backward for a negative alpha.
        return self.alpha >= 0


@register
class PReLU(ParamOp):
    """Leaky ReLU with a learned slope: one for all channels, or one per channel (`nn.PReLU`)."""

    kind: ClassVar[str] = "prelu"
    family: ClassVar[Family] = Family.ACTIVATION
    doc: ClassVar[str] = "x if x > 0 else a * x with a learned slope a: one, or one per channel (per_channel=true)"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"per_channel": True}, [(4, 5, 5)])
    weights: ClassVar[tuple[str, ...]] = ("weight",)
    per_channel: Bool = Field(False, description="one slope per channel (dim 1) instead of one for all")
    slope: float = Field(0.25, ge=-1e6, le=1e6, allow_inf_nan=False, description="initial slope (torch's init)")

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return ins[0][0] if self.per_channel else 1

    def label(self) -> str:
        return "prelu per channel" if self.per_channel else "prelu"

    def module(self, ins: list[Shape]) -> Module:
        return Module("nn.PReLU", (self.count_params(ins, ins[0]),), (("init", self.slope),))


@register
class GELU(_Act):
    kind: ClassVar[str] = "gelu"
    torch_name: ClassVar[str] = "GELU"
    function: ClassVar[str] = "F.gelu"
    doc: ClassVar[str] = "Gaussian error linear unit"
    approximate: Literal["none", "tanh"] = "none"


@register
class Softmax(_Act):
    kind: ClassVar[str] = "softmax"
    torch_name: ClassVar[str] = "Softmax"
    function: ClassVar[str] = "F.softmax"
    doc: ClassVar[str] = "softmax over torch dim `dim` (1 = channels, -1 = last)"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"dim": -1}, [(4, 5, 6)])
    saves_output: ClassVar[bool] = True
    dim: Dim = 1

    def infer(self, ins: list[Shape]) -> Shape:
        axis(self.dim, ins[0], self.kind)
        return ins[0]

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        a = axis(self.dim, ins[0], self.kind)  # 1, 2: over the rows or columns of a (C,H,W) map
        return (Whole() if a == 1 else POINT, Whole() if a == 2 else POINT)

    def _kwargs(self) -> tuple[tuple[str, Any], ...]:
        return (("dim", self.dim),)


@register
class LogSoftmax(Softmax):
    kind: ClassVar[str] = "log_softmax"
    aliases: ClassVar[tuple[str, ...]] = ("logsoftmax",)
    torch_name: ClassVar[str] = "LogSoftmax"
    function: ClassVar[str] = "F.log_softmax"
    doc: ClassVar[str] = "log of softmax over torch dim `dim` (1 = channels, -1 = last), computed stably"
