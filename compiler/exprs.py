"""Constructor expressions of generated code (`nn.Conv2d(64, 128, 3, stride=2)`) and their source text.

The code generator turns each op's torch form (netspec.ops.form) into these
small trees, replaces the literals that differ between instances of one class by
references to its constructor parameters, and renders them. Only literals and
validated identifiers are ever written: nothing is rendered through `repr` of
an arbitrary object.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

from netspec.ops.form import Module, support_ref


class CompileError(Exception):
    """A form the code generator cannot write as literal source (a bug, not a user error)."""


@dataclass(frozen=True)
class Lit:
    """A literal: int, float, bool, str, None, or a tuple of those."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """A parameter of the enclosing generated class."""

    name: str


@dataclass
class Ctor:
    """`func(args..., key=value...)`; `names` gives a label for each positional arg (for parameter names)."""

    func: str
    args: list[Any] = field(default_factory=list)
    kwargs: list[tuple[str, Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    optional: Ref | None = None  # `<ctor> if <flag> else None`
    ref: str = ""  # the form's callable reference, for its signature's defaults


@dataclass
class Named:
    """`OrderedDict([("name", expr), ...])` for an nn.Sequential with named children."""

    items: list[tuple[str, Any]]


def literal(value: Any, where: str) -> Any:
    """Check that a value can be written as a Python literal; lists become tuples."""
    if value is None or isinstance(value, (bool, int, str, float)):
        return value
    if isinstance(value, (tuple, list)):
        return tuple(literal(v, where) for v in value)
    raise CompileError(f"{where} is {type(value).__name__}, not a literal")


def source_name(ref: str) -> str:
    """The name generated code uses for a callable: `nn.Conv2d` as is, `pkg.mod:Obj` as `Obj`."""
    found = support_ref(ref)
    return found[1] if found else ref


def ctor(form: Module, where: str) -> Ctor:
    """The constructor expression of a module form; positional args labelled by the signature's names."""
    args = [Lit(literal(a, where)) for a in form.args]
    kwargs = [(k, Lit(literal(v, where))) for k, v in form.kwargs]
    names = list(signature_defaults(form.cls))
    labels = [names[i] if i < len(names) else f"arg{i}" for i in range(len(args))]
    return Ctor(source_name(form.cls), args, kwargs, labels, ref=form.cls)


_NO_DEFAULT = object()


@functools.cache
def signature_defaults(ref: str) -> dict[str, Any]:
    """The parameters of a callable named in a torch form, with defaults (`_NO_DEFAULT` for none).

    Reads the callable's signature (torch.nn, torch.nn.functional, torch, or a support
    object), so generated code can leave out arguments equal to their defaults.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    if ref.startswith("."):  # a tensor method (`.chunk`): builtins have no signature to read
        return {}
    found = support_ref(ref)
    try:
        if found is not None:
            obj: Any = getattr(importlib.import_module(found[0]), found[1])
        else:
            head, _, rest = ref.lstrip(".").partition(".")
            obj = {"nn": nn, "F": F, "torch": torch}.get(head) or importlib.import_module(head)
            for part in rest.split(".") if rest else []:
                obj = getattr(obj, part)
        sig = inspect.signature(obj)
    except (ValueError, TypeError, AttributeError, ImportError):
        return {}
    params = [
        p for p in sig.parameters.values() if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return {p.name: _NO_DEFAULT if p.default is p.empty else p.default for p in params}


def is_default(ref: str, name: str, value: Any) -> bool:
    """Whether passing name=value is the same as leaving it out."""
    default = signature_defaults(ref).get(name, _NO_DEFAULT)
    if default is _NO_DEFAULT:
        return False
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and not isinstance(default, tuple):
        value = value[0]
    return same(value, default) or (isinstance(default, float) and isinstance(value, float) and value == default)


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type (True is not 1, 1.0 is not 1), element by element for tuples."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


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
    if isinstance(expr, Ctor) and expr.optional is not None:
        inner = Ctor(expr.func, expr.args, expr.kwargs, expr.names)
        flat = f"{_render_flat(inner)} if {expr.optional.name} else None"
        if len(flat) + indent <= width:
            return flat
        return f"{render(inner, indent, width)} if {expr.optional.name} else None"
    flat = _render_flat(expr)
    if len(flat) + indent <= width or not isinstance(expr, (Ctor, Named)):
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
    if isinstance(expr, Ctor):
        parts = [_render_flat(a) for a in expr.args] + [f"{k}={_render_flat(v)}" for k, v in expr.kwargs]
        text = f"{expr.func}({', '.join(parts)})"
        return f"{text} if {expr.optional.name} else None" if expr.optional is not None else text
    raise CompileError(f"cannot render {expr!r}")
