"""The forward method of a generated class: one line per child, wired by variables.

Values get readable names: a value read only by the next line rides in `x`
(or `y`, `z`, `h` when `x` is still needed later, as a block input is by its
shortcut); any other value is named after the layer that made it.

    def forward(self, x):
        y = self.conv1(x)
        y = self.bn1(y)
        y = getattr(self, "2")(y)  # relu
        bn2 = self.bn2(y)
        x = self.downsample(x)
        x = getattr(self, "5")(bn2, x)  # add
        return x

Layers that only feed training outputs run under `if self.training:`.
"""

from __future__ import annotations

import builtins
import keyword
import re
import textwrap

from netspec.graph import Graph

from .tree import Container, Leaf, attr_ok

CHAIN_VARS = ("x", "y", "z", "h")
RESERVED_VARS = {"self", "torch", "nn", "F", "math", "OrderedDict", "outputs", *CHAIN_VARS} | set(dir(builtins))


def var_ok(name: str) -> bool:
    """A usable local variable or parameter name."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in RESERVED_VARS


def forward_lines(graph: Graph, c: Container, is_root: bool) -> list[str]:
    """The forward method of a container (its inputs in order as parameters; its outputs returned)."""
    return _Forward(graph, c, is_root).lines()


class _Forward:
    """Names the values flowing through one container and writes its forward."""

    def __init__(self, graph: Graph, c: Container, is_root: bool) -> None:
        self.graph, self.c, self.is_root = graph, c, is_root
        self.uses: dict[str, set[int]] = {}  # value -> lines reading it (len(children) = the return)
        for i, ch in enumerate(c.children):
            for v in ch.inputs:
                self.uses.setdefault(v, set()).add(i)
        for v in c.outputs:
            self.uses.setdefault(v, set()).add(len(c.children))
        self.names: dict[str, str] = {}
        self.holds: dict[str, str] = {}  # chain variable -> the value in it
        self.taken: set[str] = set()

    def fresh(self, label: str) -> str:
        """A new variable named after a layer label: `bn2`, `x5` for layer '5'."""
        base = label if var_ok(label) else f"x{label}" if label[:1].isdigit() else f"{label}_"
        base = re.sub(r"\W", "_", base)
        name, n = base, 1
        while name in self.taken or not var_ok(name):
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def guarded(self, k: int) -> bool:
        """Line k runs under `if self.training:` (when the container itself runs in both modes)."""
        return k < len(self.c.children) and self.c.children[k].train_only and not self.c.train_only

    def target(self, v: str, i: int, ch: Leaf | Container) -> str:
        """The variable that line i writes value v to."""
        if len(ch.outputs) == 1 and self.uses.get(v) == {i + 1} and self.guarded(i) == self.guarded(i + 1):
            for cv in CHAIN_VARS:
                if cv not in self.holds or max(self.uses.get(self.holds[cv], {-1})) <= i:
                    self.holds[cv] = v
                    return cv
        if v == ch.outputs[0]:
            return self.fresh(ch.name)
        return self.fresh((v[len(self.c.path) + 1:] if self.c.path else v).replace(".", "_"))

    def lines(self) -> list[str]:
        params = []
        for k, v in enumerate(self.c.inputs):
            name = "x" if k == 0 else f"x{k}"
            self.names[v] = name
            self.taken.add(name)
            if name in CHAIN_VARS:
                self.holds[name] = v
            params.append(name)
        body: list[str] = []
        training = False
        for i, ch in enumerate(self.c.children):
            targets = []
            for v in ch.outputs:
                self.names[v] = self.target(v, i, ch)
                targets.append(self.names[v])
            comment = f"  # {ch.node.kind}" if isinstance(ch, Leaf) and not attr_ok(ch.name) else ""
            if self.guarded(i) != training:
                training = self.guarded(i)
                if training:
                    body.append("        if self.training:")
            indent = "            " if training else "        "
            args = ", ".join(self.names[v] for v in ch.inputs)
            line = f"{indent}{', '.join(targets)} = {_self_attr(ch.name)}({args}){comment}"
            if len(line) > 110:  # densenet's long concats: one argument list over several lines
                wrapped = textwrap.wrap(args, 100 - len(indent), break_long_words=False)
                line = f"{indent}{', '.join(targets)} = {_self_attr(ch.name)}(" + "".join(
                    f"\n{indent}    {w}" for w in wrapped) + f"\n{indent}){comment}"
            body.append(line)
        pre = [f"        {self.names[v]} = None  # computed in training only" for v in self.c.outputs
               if not self.is_root and not self.c.train_only and self.graph.nodes[v].train_only]
        lines = [f"    def forward(self, {', '.join(params)}):", *pre, *body]
        if self.is_root:
            return lines + _root_return(self.graph, self.names)
        return [*lines, f"        return {', '.join(self.names[v] for v in self.c.outputs)}"]


def _root_return(graph: Graph, names: dict[str, str]) -> list[str]:
    """A plain tensor for the implicit output (a dict in training when aux outputs exist), else a dict."""
    always = [(k, v) for k, v in graph.outputs.items() if k not in graph.train_outputs]
    train = [(k, v) for k, v in graph.outputs.items() if k in graph.train_outputs]

    def pairs(items: list[tuple[str, str]]) -> str:
        return ", ".join(f"{k!r}: {names[v]}" for k, v in items)

    if graph.implicit_output:
        (_, out), = always
        if not train:
            return [f"        return {names[out]}"]
        return ["        if self.training:", f"            return {{{pairs(always + train)}}}",
                f"        return {names[out]}"]
    if not train:
        return [f"        return {{{pairs(always)}}}"]
    lines = [f"        outputs = {{{pairs(always)}}}", "        if self.training:"]
    lines += [f"            outputs[{k!r}] = {names[v]}" for k, v in train]
    return [*lines, "        return outputs"]


def _self_attr(name: str) -> str:
    return f"self.{name}" if attr_ok(name) else f'getattr(self, "{name}")'
