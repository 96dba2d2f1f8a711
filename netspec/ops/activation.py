"""Activations: one small declaration each."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from .base import Int, Op, register


class _Act(Op):
    family: ClassVar[str] = "activation"
    torch_name: ClassVar[str] = ""

    def build(self, ins: list[Any]) -> Any:
        from torch import nn

        return getattr(nn, self.torch_name)(**self.model_dump(exclude_none=True))


def _act(kind: str, torch_name: str, doc: str) -> type[Op]:
    cls = type(kind.title().replace("_", ""), (_Act,), {
        "__annotations__": {"kind": ClassVar[str], "torch_name": ClassVar[str], "doc": ClassVar[str]},
        "kind": kind, "torch_name": torch_name, "doc": doc, "__module__": __name__,
    })
    return register(cls)


ReLU = _act("relu", "ReLU", "max(x, 0)")
ReLU6 = _act("relu6", "ReLU6", "min(max(x, 0), 6)")
SiLU = _act("silu", "SiLU", "x * sigmoid(x) (swish)")
Sigmoid = _act("sigmoid", "Sigmoid", "1 / (1 + exp(-x))")
HardSigmoid = _act("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6")
HardSwish = _act("hardswish", "Hardswish", "x * relu6(x + 3) / 6")
Tanh = _act("tanh", "Tanh", "hyperbolic tangent")


@register
class LeakyReLU(_Act):
    kind: ClassVar[str] = "leaky_relu"
    torch_name: ClassVar[str] = "LeakyReLU"
    positional: ClassVar[tuple[str, ...]] = ("negative_slope",)
    doc: ClassVar[str] = "x if x > 0 else negative_slope * x (YOLO: 0.1)"
    negative_slope: float = 0.01


@register
class GELU(_Act):
    kind: ClassVar[str] = "gelu"
    torch_name: ClassVar[str] = "GELU"
    doc: ClassVar[str] = "Gaussian error linear unit"
    approximate: Literal["none", "tanh"] = "none"


@register
class Softmax(_Act):
    kind: ClassVar[str] = "softmax"
    torch_name: ClassVar[str] = "Softmax"
    doc: ClassVar[str] = "softmax over `dim` (1 = channels)"
    dim: Int = Field(1, ge=1)

    def infer(self, ins: list[Any]) -> Any:
        from .base import ShapeError

        if self.dim > len(ins[0]):
            raise ShapeError(f"softmax dim={self.dim} but the input has only {len(ins[0])} non-batch dims")
        return ins[0]
