"""Constructor expressions: a built module read back as literal Python (`nn.Conv2d(64, 128, 3, stride=2)`).

An op's `build()` is the single source of truth for which torch module computes
it. To write that module into generated source, `describe` reads the instance
back: for each parameter of the class's `__init__` it takes the attribute of
the same name (torch.nn classes and ours in compiler.modules all keep them),
keeps literals only (ints, floats, bools, strings, None and tuples of them),
and leaves out arguments equal to their defaults. Anything else is a
CompileError: no object is ever written out by `repr` alone.
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import deform, modules

# Our classes that generated code may use; their sources are copied into model.py.
SUPPORT: dict[str, type[nn.Module]] = {
    "ChannelLayerNorm": modules.ChannelLayerNorm,
    "GlobalPool": modules.GlobalPool,
    "Elementwise": modules.Elementwise,
    "Concat": modules.Concat,
    "Upsample": modules.Upsample,
    "Crop": modules.Crop,
    "Pad": modules.Pad,
    "StochasticDepth": modules.StochasticDepth,
    "DeformConv2d": deform.DeformConv2d,
}

# Pair-valued arguments written as one int when both sides agree: kernel_size=(3, 3) -> 3.
_PAIRS = {"kernel_size", "stride", "padding", "dilation", "output_padding", "output_size"}


class CompileError(Exception):
    """A module the code generator cannot write as literal source (a bug, not a user error)."""


@dataclass(frozen=True)
class Lit:
    """A literal: int, float, bool, str, None, or a tuple of those."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """A parameter of the enclosing generated class."""

    name: str


@dataclass
class Call:
    """`func(args..., key=value...)`; `names` gives the __init__ parameter of each positional arg."""

    func: str
    args: list[Any] = field(default_factory=list)
    kwargs: list[tuple[str, Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


@dataclass
class Named:
    """`OrderedDict([("name", expr), ...])` for an nn.Sequential with named children."""

    items: list[tuple[str, Any]]


def func_name(cls: type) -> str:
    if getattr(nn, cls.__name__, None) is cls:
        return f"nn.{cls.__name__}"
    if SUPPORT.get(cls.__name__) is cls:
        return cls.__name__
    raise CompileError(f"no source form for module class {cls.__module__}.{cls.__qualname__}")


def literal(value: Any, where: str) -> Any:
    """Check that a value can be written as a Python literal; lists become tuples."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(literal(v, where) for v in value)
    if isinstance(value, torch.Size):
        return tuple(int(v) for v in value)
    raise CompileError(f"{where} is {type(value).__name__}, not a literal")


def describe(module: nn.Module) -> Call:
    """The constructor call that rebuilds `module` (same class, same arguments)."""
    cls = type(module)
    if cls is nn.Sequential:
        children = list(module.named_children())
        if [n for n, _ in children] == [str(i) for i in range(len(children))]:
            return Call("nn.Sequential", [describe(m) for _, m in children], names=["" for _ in children])
        return Call("nn.Sequential", [Named([(n, describe(m)) for n, m in children])], names=["modules"])
    call = Call(func_name(cls))
    for p in _init_params(cls):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("device", "dtype"):
            continue
        if not hasattr(module, p.name):
            raise CompileError(f"{cls.__name__} keeps no attribute for its argument '{p.name}'")
        value = getattr(module, p.name)
        if p.name == "bias" and (value is None or isinstance(value, torch.Tensor)):
            value = value is not None  # the parameter itself stands for bias=True
        value = literal(value, f"{cls.__name__}.{p.name}")
        if p.name in _PAIRS and isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if p.default is p.empty:
            call.args.append(Lit(value))
            call.names.append(p.name)
        elif not _same(value, p.default):
            call.kwargs.append((p.name, Lit(value)))
    return call


@functools.cache
def _init_params(cls: type) -> list[inspect.Parameter]:
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same type (True is not 1, 1.0 is not 1), element by element for tuples."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def same(a: Any, b: Any) -> bool:
    """Type-strict equality of literal values."""
    return _same(a, b)


def render_literal(v: Any) -> str:
    """Python source for a literal value; non-finite floats as float('inf') / float('nan')."""
    if isinstance(v, float) and not math.isfinite(v):
        return f"float({str(v)!r})"
    if isinstance(v, tuple):
        inner = ", ".join(render_literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def render(expr: Any, indent: int = 0, width: int = 100) -> str:
    """Source text for an expression, broken over lines when it is long."""
    flat = _render_flat(expr)
    if len(flat) + indent <= width or not isinstance(expr, (Call, Named)):
        return flat
    pad = " " * (indent + 4)
    if isinstance(expr, Named):
        rows = [f'{pad}("{n}", {render(e, indent + 4, width)}),' for n, e in expr.items]
        return "OrderedDict([\n" + "\n".join(rows) + "\n" + " " * indent + "])"
    parts = [render(a, indent + 4, width) for a in expr.args]
    parts += [f"{k}={render(v, indent + 4, width)}" for k, v in expr.kwargs]
    return f"{expr.func}(\n" + "".join(f"{pad}{p},\n" for p in parts) + " " * indent + ")"


def _render_flat(expr: Any) -> str:
    if isinstance(expr, Lit):
        return render_literal(expr.value)
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Named):
        return "OrderedDict([" + ", ".join(f'("{n}", {_render_flat(e)})' for n, e in expr.items) + "])"
    if isinstance(expr, Call):
        parts = [_render_flat(a) for a in expr.args] + [f"{k}={_render_flat(v)}" for k, v in expr.kwargs]
        return f"{expr.func}({', '.join(parts)})"
    raise CompileError(f"cannot render {expr!r}")
