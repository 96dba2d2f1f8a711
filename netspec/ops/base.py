"""The op declaration: one pydantic model holds everything netspec knows about an op.

An op is one class: its `kind` (the word used in specs) and `aliases` (other
frameworks' names, for "did you mean"), its parameters with types, defaults and
aliases, a pure shape rule (`infer`), params and MACs, its receptive-field rule,
its `family` (diagram colour), in-place safety, init targets, and its torch form
as data (`module` / `call`, see form.py). `@register` puts it in the registry
that the parser, checker, diagrams, docs, back ends and tests all read.

    @register
    class ReLU(Op):
        kind: ClassVar[str] = "relu"
        family: ClassVar[Family] = Family.ACTIVATION
        inplace: ClassVar[bool] = True
        saves_output: ClassVar[bool] = True
        def module(self, ins): return Module("nn.ReLU")
        def call(self, ins): return Call("F.relu", inplace=True)
"""

from __future__ import annotations

import functools
import math
import re
from enum import StrEnum
from importlib import resources
from typing import Annotated, Any, ClassVar, Literal, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from ..fmt import fmt_shape as fmt_shape
from ..receptive import POINTS, Reach
from .form import Form, Module

Shape = tuple[int, ...]
Int = Annotated[int, Strict()]
Pos = Annotated[int, Strict(), Field(gt=0, le=1 << 16)]
NonNeg = Annotated[int, Strict(), Field(ge=0, le=1 << 16)]
Bool = Annotated[bool, Strict()]
Pair = Pos | tuple[Pos, Pos]
PadPair = NonNeg | tuple[NonNeg, NonNeg]
# A torch dim, counted as torch counts it on the batched tensor: 0 is the batch, 1 the channels,
# -1 the last dim. Ops refuse the batch dim (see `axis`).
Dim = Annotated[int, Strict(), Field(ge=-9, le=8)]

_T = TypeVar("_T")


class Registry(dict[str, "type[Op]"]):
    """kind -> op class. Looking up a kind it does not hold loads the installed plugins first.

    Installed plugins are the entry points of group `netspec.ops` (see netspec.plugins).
    They load once, the first time a name is not found, so checking a spec made only of
    known ops never scans the installed distributions.
    """

    def _plugged(self, kind: object) -> bool:
        """Whether `kind` is registered once the installed plugins have been loaded."""
        if not isinstance(kind, str):
            return False
        from ..plugins import load_installed

        load_installed()
        return dict.__contains__(self, kind)

    def __contains__(self, kind: object) -> bool:
        return dict.__contains__(self, kind) or self._plugged(kind)

    def __missing__(self, kind: str) -> type[Op]:
        if self._plugged(kind):
            return dict.__getitem__(self, kind)
        raise KeyError(kind)

    @overload
    def get(self, kind: str, default: None = None, /) -> type[Op] | None: ...
    @overload
    def get(self, kind: str, default: type[Op], /) -> type[Op]: ...
    @overload
    def get(self, kind: str, default: _T, /) -> type[Op] | _T: ...
    def get(self, kind: str, default: Any = None, /) -> Any:
        return self[kind] if kind in self else default


OPS = Registry()


class ShapeError(Exception):
    """A shape rule's complaint; the evaluator adds the span and node path."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Family(StrEnum):
    """What kind of computation an op is; diagrams colour boxes by it."""

    CONV = "conv"
    LINEAR = "linear"
    NORM = "norm"
    ACTIVATION = "activation"
    POOL = "pool"
    MERGE = "merge"
    RESIZE = "resize"
    SHAPE = "shape"
    REGULARIZE = "regularize"
    ATTENTION = "attention"
    REGION = "region"
    OTHER = "other"


# Each init scheme and the keyword arguments it accepts, with their allowed values
# (those of the torch.nn.init function `<scheme>_`; `fan_uniform` is torch's default
# bias init, U(-1/sqrt(fan), 1/sqrt(fan))).
INIT_SCHEMES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "kaiming_normal": {
        "a": None,
        "mode": ("fan_in", "fan_out"),
        "nonlinearity": ("relu", "leaky_relu", "linear", "sigmoid", "tanh", "selu", "conv2d"),
    },
    "kaiming_uniform": {
        "a": None,
        "mode": ("fan_in", "fan_out"),
        "nonlinearity": ("relu", "leaky_relu", "linear", "sigmoid", "tanh", "selu", "conv2d"),
    },
    "xavier_normal": {"gain": None},
    "xavier_uniform": {"gain": None},
    "normal": {"mean": None, "std": None},
    "trunc_normal": {"mean": None, "std": None, "a": None, "b": None},
    "uniform": {"a": None, "b": None},
    "constant": {"val": None},
    "zeros": {},
    "ones": {},
    "fan_uniform": {"mode": ("fan_in", "fan_out")},
}
_INIT_BOUND = 1e6  # |argument| above this would draw inf or absurd weights


class Init(BaseModel):
    """A weight initialisation scheme, e.g. kaiming_normal(mode="fan_out"), checked on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scheme: Literal[
        "kaiming_normal",
        "kaiming_uniform",
        "xavier_normal",
        "xavier_uniform",
        "normal",
        "trunc_normal",
        "uniform",
        "constant",
        "zeros",
        "ones",
        "fan_uniform",
    ]
    args: tuple[tuple[str, float | str], ...] = ()

    @model_validator(mode="after")
    def _check_args(self) -> Init:
        allowed = INIT_SCHEMES[self.scheme]
        for key, value in self.args:
            if key not in allowed:
                usage = ", ".join(allowed) or "no arguments"
                raise ValueError(f"{self.scheme}() has no argument '{key}' (it takes {usage})")
            choices = allowed[key]
            if choices is not None and value not in choices:
                raise ValueError(f"{self.scheme}({key}=...) must be one of {', '.join(map(repr, choices))}")
            if choices is None and (
                isinstance(value, str)
                or isinstance(value, bool)
                or not math.isfinite(value)
                or abs(value) > _INIT_BOUND
            ):
                raise ValueError(f"{self.scheme}({key}=...) needs a finite number up to {_INIT_BOUND:g}")
        kw = dict(self.args)
        if self.scheme in ("normal", "trunc_normal") and kw.get("std", 1.0) < 0:  # type: ignore[operator]
            raise ValueError(f"{self.scheme}() needs std >= 0")
        if self.scheme == "trunc_normal" and kw.get("a", -2.0) >= kw.get("b", 2.0):  # type: ignore[operator]
            raise ValueError("trunc_normal() needs a < b")
        if self.scheme == "uniform" and kw.get("a", 0.0) > kw.get("b", 1.0):  # type: ignore[operator]
            raise ValueError("uniform() needs a <= b")
        return self

    def call(self, tensor: str) -> str:
        """The torch source that applies it: `nn.init.kaiming_normal_(m.weight, mode='fan_out')`."""
        inner = "".join(f", {k}={v!r}" for k, v in self.args)
        if self.scheme == "fan_uniform":
            return f"fan_uniform_({tensor}{inner})"
        return f"nn.init.{self.scheme}_({tensor}{inner})"

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args)
        return f"{self.scheme}({inner})"


class RegistryError(Exception):
    """An op that clashes with one already registered (built-ins cannot be replaced)."""


_OpT = TypeVar("_OpT", bound="Op")


def register(cls: type[_OpT]) -> type[_OpT]:
    """Add an op class to the registry under its `kind` (refusing to replace another op).

    The class is checked first: an Op subclass, a lowercase identifier for `kind` that is
    no keyword of the language, a `Family` member, `positional` naming its fields.
    Raises RegistryError for any of these, or when another class holds the kind.
    """
    if not (isinstance(cls, type) and issubclass(cls, Op)):
        raise RegistryError(f"{cls!r} is not an op class (a subclass of netspec.ops.Op)")
    where = f"{cls.__module__}.{cls.__qualname__}"
    kind = cls.kind
    if not kind or not kind.isidentifier() or not kind.isascii() or not kind.islower():
        raise RegistryError(f"{where}: op kind {kind!r} must be a lowercase ASCII identifier")
    if kind in _keywords():
        raise RegistryError(f"{where}: op kind '{kind}' is a keyword of the language")
    if not isinstance(cls.family, Family):
        families = ", ".join(f"Family.{f.name}" for f in Family)
        raise RegistryError(f"{where}: family {cls.family!r} must be one of {families}")
    unknown = [p for p in cls.positional if p not in cls.model_fields]
    if unknown:
        raise RegistryError(f"{where}: positional names {', '.join(unknown)}, which are not its parameters")
    old = dict.get(OPS, kind)
    if old is not None and old is not cls:
        raise RegistryError(f"op '{kind}' is already defined by {old.__module__}.{old.__qualname__}")
    OPS[kind] = cls
    return cls


def unregister(kind: str) -> type[Op]:
    """Remove a user-defined op from the registry and return it (built-in ops stay).

    For tests and notebooks that define an op, use it and clean up.
    """
    cls = dict.get(OPS, kind)
    if cls is None:
        raise RegistryError(f"no op '{kind}' is registered")
    if is_builtin(cls):
        raise RegistryError(f"op '{kind}' is built in and cannot be removed")
    del OPS[kind]
    return cls


def is_builtin(cls: type[Op]) -> bool:
    """Whether an op ships with netspec (defined in netspec.ops), as opposed to a plugin's."""
    return cls.__module__.startswith(__name__.rpartition(".")[0] + ".")


@functools.cache
def _keywords() -> frozenset[str]:
    """The language's keywords (`for`, `residual`, ...): the quoted words of the grammar."""
    grammar = resources.files("netspec").joinpath("grammar.lark").read_text(encoding="utf-8")
    return frozenset(re.findall(r'"([a-z]+)"', grammar))


def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class Op(BaseModel):
    """Base of every op: validated, immutable parameters plus rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    kind: ClassVar[str] = ""
    family: ClassVar[Family] = Family.OTHER
    aliases: ClassVar[tuple[str, ...]] = ()  # names from other frameworks, for "did you mean"
    positional: ClassVar[tuple[str, ...]] = ()
    inputs: ClassVar[tuple[int, int | None]] = (1, 1)  # min, max; None = any number
    doc: ClassVar[str] = ""
    # In-place safety, read by the compiler's in-place pass:
    inplace: ClassVar[bool] = False  # may overwrite its first input (torch's inplace=True / `a += b`)
    saves_output: ClassVar[bool] = False  # its backward reads its own output (relu, sigmoid, amax)
    returns_view: ClassVar[bool] = False  # may return its input or a view of it (flatten, identity)
    weights: ClassVar[tuple[str, ...]] = ()  # tensors `init` rules may target, e.g. ("weight", "bias")
    # Facts the lint rules and diagrams read (instead of tables keyed by op name):
    size_only_inputs: ClassVar[tuple[int, ...]] = ()  # inputs read only for their size (`crop @ref`)
    absorbs_bias: ClassVar[bool] = False  # subtracts a per-channel mean, so a bias just before is lost (bn)
    associative: ClassVar[bool] = False  # op(a, b, c) == op(op(a, b), c): concat, add, mul
    # Region ops (roi_align, ...): which inputs are boxes, a (K,5) tensor of rows
    # (batch_index, x1, y1, x2, y2) whose own shape is (5,); and the input whose batch dim the
    # output has (the boxes' K rather than the image batch N). Negative indices count from the last.
    box_inputs: ClassVar[tuple[int, ...]] = ()
    batch_input: ClassVar[int] = 0
    # Params and input shapes for the registry-driven tests.
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({}, [(4, 8, 8)])

    def infer(self, ins: list[Shape]) -> Shape:
        """Output shape (batch excluded) for these input shapes."""
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        return 0

    def receptive(self, ins: list[Shape], out: Shape) -> Reach:
        """How an output index reads input indices, per axis (see netspec.receptive); default pointwise."""
        return POINTS

    def label(self) -> str:
        """Short diagram label, e.g. `conv 3x3/2, 64`."""
        return self.kind

    def can_inplace(self) -> bool:
        """Whether this op, with these parameters, may overwrite its input (see `inplace`)."""
        return self.inplace

    def init_targets(self) -> tuple[str, ...]:
        """The init targets that exist with these parameters (no `bias` when bias=false)."""
        return self.weights

    def module(self, ins: list[Shape]) -> Module | None:
        """The submodule that computes this op (needed when it has weights), or None."""
        return None

    def call(self, ins: list[Shape]) -> Form | None:
        """A plain call in forward for a weightless op (`F.relu(x)`), or None to use `module`."""
        return None


class ParamOp(Op):
    """An op with weights: adds per-layer init overrides."""

    weights: ClassVar[tuple[str, ...]] = ("weight", "bias")
    init: Init | None = Field(default=None, description="weight init override")
    bias_init: Init | None = Field(default=None, description="bias init override")

    def init_targets(self) -> tuple[str, ...]:
        if getattr(self, "bias", True) is False or getattr(self, "affine", True) is False:
            return tuple(t for t in self.weights if t != "bias" and getattr(self, "affine", True))
        return self.weights


def spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    """Unpack a (C, H, W) shape or explain why this op needs one."""
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a (C,H,W) feature map but got {fmt_shape(shape)}",
            hint="a flattened vector has no height or width",
        )
    return shape[0], shape[1], shape[2]


def axis(dim: int, shape: Shape, what: str) -> int:
    """A torch dim of the batched tensor as an index into the non-batch `shape`, or a ShapeError.

    Dims count as in torch: 0 is the batch, 1 the first non-batch dim (channels), and
    negative dims count from the end (-1 is the last). Out-of-range dims are torch's
    IndexError; the batch dim is refused because a layer acts on each sample alone.

        axis(1, (64, 7, 7), "softmax") -> 0      axis(-1, (64, 7, 7), "softmax") -> 2
    """
    rank = len(shape) + 1
    if not -rank <= dim < rank:
        raise ShapeError(
            f"{what}: dim {dim} is out of range for {fmt_shape(shape)} (dims {-rank}..{rank - 1})",
            hint="dims count as in torch: 1 is the channels, -1 the last dim",
        )
    if dim % rank == 0:
        raise ShapeError(
            f"{what}: dim {dim} is the batch dim of {fmt_shape(shape)}",
            hint="a layer acts on each sample alone; dims start at 1 (the channels), or count back from -1",
        )
    return dim % rank - 1


def window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> int:
    """Output length of a sliding window, exactly as torch computes it."""
    span = size + 2 * p - d * (k - 1) - 1
    if ceil:
        out = -(-span // s) + 1
        if (out - 1) * s >= size + p:
            out -= 1
        return out
    return span // s + 1 if span >= 0 else 0 if span // s + 1 <= 0 else span // s + 1


def prod(xs: Shape) -> int:
    return math.prod(xs)
