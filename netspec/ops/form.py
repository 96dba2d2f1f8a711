"""An op's torch form, as data: which module or call computes it, with which arguments.

The front end never imports torch. Each op describes its torch form with these
small frozen records; the back end turns the same record into the in-memory
module and into generated source, so the two cannot differ.

    Module("nn.Conv2d", (64, 128, 3), (("stride", 2), ("bias", False)))
        -> self.conv1 = nn.Conv2d(64, 128, 3, stride=2, bias=False)
    Call("F.relu", (In(0),), (("inplace", True),))
        -> y = F.relu(x, inplace=True)
    Infix("+")
        -> y = a + b        (in place: a += b)

Callables are named by dotted source text. `nn.X` is torch.nn, `F.x` is
torch.nn.functional, `torch.x` / `torchvision.x` are those packages, and a name
of the form `package.module:object` is a support object: its source is copied
into generated files (so they need only torch) and it is imported from that
module for in-memory models. Literal arguments are ints, floats, bools,
strings, None and tuples of them, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Literal_ = Any  # int | float | bool | str | None | tuple[Literal_, ...]


@dataclass(frozen=True)
class In:
    """An input tensor of the op, by position; `suffix` is appended source, e.g. `.shape[-2:]`."""

    index: int = 0
    suffix: str = ""


@dataclass(frozen=True)
class Ins:
    """All inputs of the op as a list literal: `[a, b, c]` (for torch.cat)."""


@dataclass(frozen=True)
class Module:
    """A submodule: `cls(*args, **kwargs)`; weights live here. `inplace` says it takes inplace=True."""

    cls: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    inplace: bool = False


@dataclass(frozen=True)
class Call:
    """A plain call in forward: `func(*args, **kwargs)` where args may hold In/Ins placeholders.

    A `func` starting with "." is a method of the first argument: `Call(".flatten", (In(0), 1))`
    is written `x.flatten(1)`. `training` appends the module's training flag as the named
    argument (`F.dropout(x, 0.5, training=self.training)`). `inplace` says it takes inplace=True.
    """

    func: str
    args: tuple[Any, ...] = (In(0),)
    kwargs: tuple[tuple[str, Any], ...] = ()
    inplace: bool = False
    training: str | None = None


@dataclass(frozen=True)
class Infix:
    """An arithmetic merge of all inputs: `a + b + c`, `a * b`; in place `a += b`."""

    op: str


@dataclass(frozen=True)
class Alias:
    """No computation: the output is the input (identity)."""


@dataclass(frozen=True)
class Parameter:
    """A learnable tensor, an attribute of the enclosing module: `nn.Parameter(torch.zeros(1, 1, 768))`.

    `fill` is how it starts: "zeros", "ones", ("full", value), or an init scheme applied to an
    empty tensor (`nn.init.normal_(torch.empty(1, 197, 768), std=0.02)`) with its arguments.
    """

    shape: tuple[int, ...]
    scheme: str = "zeros"
    args: tuple[tuple[str, Any], ...] = ()


Form = Module | Call | Infix | Alias


def support_ref(ref: str) -> tuple[str, str] | None:
    """`pkg.mod:Obj` -> ("pkg.mod", "Obj"); None for torch names such as `nn.Conv2d`."""
    if ":" not in ref:
        return None
    module, _, name = ref.partition(":")
    return module, name
