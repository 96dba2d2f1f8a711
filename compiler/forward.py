"""The forward method of a generated class: one line per child, wired by variables.

Values get readable names: a value read only by the next line rides in `x`
(or `y`, `z`, `h` when `x` is still needed later, as a block input is by its
shortcut); any other value is named after the layer that made it. Weightless
layers are plain calls; an optional submodule runs under `if ... is not None`
and leaves its input unchanged when absent:

    def forward(self, x):
        y = self.conv1(x)
        y = self.bn1(y)
        y = F.relu(y, inplace=True)
        bn2 = self.bn2(y)
        if self.downsample is not None:
            x = self.downsample(x)
        bn2 += x
        return F.relu(bn2, inplace=True)

Layers that only feed training outputs run under `if self.training:`.
"""

from __future__ import annotations

import builtins
import keyword
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .exprs import Lit, Ref, render_literal, source_name

CHAIN_VARS = ("x", "y", "z", "h")
RESERVED_VARS = {"self", "torch", "nn", "F", "math", "OrderedDict", "outputs", *CHAIN_VARS} | set(dir(builtins))

Value = tuple[Any, ...]  # ("in", k) or ("out", slot index, output index)


def var_ok(name: str) -> bool:
    """A usable local variable or parameter name."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in RESERVED_VARS


def attr_ok(name: str) -> bool:
    """Whether `self.<name>` is valid Python (else the code uses getattr(self, "name"))."""
    return name.isidentifier() and not keyword.iskeyword(name)


def self_attr(name: str) -> str:
    return f"self.{name}" if attr_ok(name) else f'getattr(self, "{name}")'


@dataclass(frozen=True)
class Arg:
    """An input placeholder inside a call expression: input `index` (or all inputs as a list)."""

    index: int | None
    suffix: str = ""


@dataclass
class CallExpr:
    """A weightless layer written as a call: `F.relu(x, inplace=True)`, `a + b`, or nothing (identity)."""

    func: str  # "F.relu", ".reshape" (method of the first arg), "+" / "*" (infix), "" (alias)
    args: list[Any] = field(default_factory=list)
    kwargs: list[tuple[str, Any]] = field(default_factory=list)
    inplace: bool = False
    training: str | None = None


@dataclass
class Line:
    """One child of a generated class as forward sees it."""

    name: str
    inputs: list[Value]
    n_out: int
    call: CallExpr | None = None  # None: a submodule, called as self.<name>(...)
    optional: str | None = None  # guard: "self.<name> is not None" or a flag attribute
    train_only: bool = False
    label: str = ""  # used to name the output variable
    attribute: bool = False  # a parameter: read as `self.<name>` where used, no line of its own


def forward_lines(
    lines: list[Line],
    n_inputs: int,
    outputs: list[Value],
    root_return: Callable[[dict[Value, str]], list[str]] | None = None,
    guard_all: bool = False,
    reserved: set[str] | None = None,
) -> list[str]:
    """The forward method of a class: parameters for its inputs, its outputs returned.

    `reserved` holds module-level names the body calls (support functions, classes),
    which no local variable may shadow.
    """
    return _Forward(lines, n_inputs, outputs, guard_all, reserved or set()).lines(root_return)


class _Forward:
    def __init__(
        self, lines: list[Line], n_inputs: int, outputs: list[Value], guard_all: bool, reserved: set[str]
    ) -> None:
        self.body_lines, self.n_inputs, self.outputs, self.guard_all = lines, n_inputs, outputs, guard_all
        self.uses: dict[Value, set[int]] = {}
        for i, ln in enumerate(lines):
            for v in _reads(ln):
                self.uses.setdefault(v, set()).add(i)
        for v in outputs:
            self.uses.setdefault(v, set()).add(len(lines))
        self.names: dict[Value, str] = {}
        self.holds: dict[str, Value] = {}
        self.taken: set[str] = set(reserved)

    def fresh(self, label: str) -> str:
        base = label if var_ok(label) else f"x{label}" if label[:1].isdigit() else f"{label}_"
        base = re.sub(r"\W", "_", base)
        name, n = base, 1
        while name in self.taken or not var_ok(name):
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def later(self, v: Value, i: int) -> bool:
        """Whether value v is read after line i."""
        return max(self.uses.get(v, {-1})) > i

    def guarded(self, k: int) -> bool:
        return k < len(self.body_lines) and self.body_lines[k].train_only and not self.guard_all

    def target(self, v: Value, i: int, ln: Line) -> str:
        """The variable line i writes value v to."""
        first = ln.inputs[0] if ln.inputs else None
        if (
            (ln.optional is not None or (ln.call is not None and (ln.call.inplace or not ln.call.func)))
            and first is not None
            and not self.later(first, i)
            and first in self.names
        ):
            name = self.names[first]  # overwrite the input: in place, identity, or an optional layer
            self.holds = {k: val for k, val in self.holds.items() if k != name}
            if name in CHAIN_VARS:
                self.holds[name] = v
            return name
        if ln.n_out == 1 and self.uses.get(v) == {i + 1} and self.guarded(i) == self.guarded(i + 1):
            for cv in CHAIN_VARS:
                if cv not in self.holds or not self.later(self.holds[cv], i):
                    self.holds[cv] = v
                    self.taken.add(cv)
                    return cv
        return self.fresh(ln.label if v[2] == 0 else f"{ln.label}_{v[2]}")

    def expr(self, ln: Line) -> str:
        args = [self.names[v] for v in ln.inputs]
        if ln.call is None:
            return f"{self_attr(ln.name)}({', '.join(args)})"
        c = ln.call
        if c.func in ("+", "*"):
            return f" {c.func} ".join(args)
        if not c.func:
            return args[0]
        parts = [self.arg(a, args) for a in c.args]
        parts += [f"{k}={self.arg(v, args)}" for k, v in c.kwargs]
        if c.inplace:
            parts.append("inplace=True")
        if c.training:
            parts.append(f"{c.training}=self.training")
        if c.func.startswith("."):
            return f"{parts[0]}{c.func}({', '.join(parts[1:])})"
        return f"{source_name(c.func)}({', '.join(parts)})"

    def arg(self, a: Any, args: list[str]) -> str:
        if isinstance(a, Arg):
            return f"[{', '.join(args)}]" if a.index is None else args[a.index] + a.suffix
        if isinstance(a, Lit):
            return render_literal(a.value)
        if isinstance(a, Ref):
            return f"self.{a.name}"
        return render_literal(a)

    def lines(self, root_return: Callable[[dict[Value, str]], list[str]] | None) -> list[str]:
        params = []
        for k in range(self.n_inputs):
            name = "x" if k == 0 else f"x{k}"
            self.names[("in", k)] = name
            self.taken.add(name)
            if name in CHAIN_VARS:
                self.holds[name] = ("in", k)
            params.append(name)
        body: list[str] = []
        training = False
        for i, ln in enumerate(self.body_lines):
            if ln.attribute:
                self.names[("out", i, 0)] = self_attr(ln.name)
                continue
            text = self.expr(ln)
            outs = [("out", i, m) for m in range(ln.n_out)]
            targets = [self.target(v, i, ln) for v in outs]
            for v, t in zip(outs, targets, strict=True):
                self.names[v] = t
            if self.guarded(i) != training:
                training = self.guarded(i)
                if training:
                    body.append("        if self.training:")
            indent = "            " if training else "        "
            if ln.optional is not None:
                if ln.inputs and targets[0] != self.names[ln.inputs[0]]:
                    body.append(f"{indent}{targets[0]} = {self.names[ln.inputs[0]]}")  # when absent
                body.append(f"{indent}if {ln.optional}:")
                indent += "    "
            c = ln.call
            if c is not None and c.func == "+" and c.inplace and targets[0] == self.names.get(ln.inputs[0]):
                line = f"{indent}{targets[0]} += {' + '.join(self.names[v] for v in ln.inputs[1:])}"
            elif c is not None and not c.func and targets[0] == text:
                continue  # identity into the same variable
            else:
                line = f"{indent}{', '.join(targets)} = {text}"
            if len(line) > 110 and "(" in text:
                head, _, rest = line.partition("(")
                wrapped = textwrap.wrap(rest[:-1], 100 - len(indent), break_long_words=False)
                line = head + "(" + "".join(f"\n{indent}    {w}" for w in wrapped) + f"\n{indent})"
            body.append(line)
        lines = [f"    def forward(self, {', '.join(params)}):", *body]
        if root_return is not None:
            return lines + root_return(self.names)
        if not body:
            return [*lines, f"        return {', '.join(self.names[v] for v in self.outputs)}"]
        last = body[-1].strip()
        single = self.outputs[0] if len(self.outputs) == 1 else None
        if (
            single is not None
            and last.startswith(f"{self.names[single]} = ")
            and "\n" not in last
            and not self.body_lines[-1].optional
            and not training
            and body[-1].startswith("        " + last)
            and self.names[single] in CHAIN_VARS
        ):
            lines[-1] = f"        return {last.split(' = ', 1)[1]}"  # `return F.relu(x)` instead of a temp
            return lines
        return [*lines, f"        return {', '.join(self.names[v] for v in self.outputs)}"]


def _reads(ln: Line) -> list[Value]:
    return list(ln.inputs)
