"""Graph -> readable Python source: one class per block structure, straight-line forwards.

Every container of the module tree (compiler.tree) becomes either an
`nn.Sequential` written inline (a plain chain: `features`, `downsample`) or a
generated class (the network, every block instance, other scopes). Block
instances with the same structure share one class; the literals that differ
between them become the class's parameters, named after the block's arguments
where the values say so:

    class Basic(nn.Module):
        \"\"\"block basic: layer1.0, layer1.1, layer2.1, layer3.1, layer4.1\"\"\"

        def __init__(self, planes):
            super().__init__()
            self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            ...

The source holds only validated identifiers and literals; it is the only
Python that a spec ever turns into.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

import torch

from netspec.graph import Graph
from netspec.ops import Shape

from .exprs import SUPPORT, Call, CompileError, Lit, Named, Ref, describe, render, same
from .forward import RESERVED_VARS, forward_lines, var_ok
from .init import init_plan, tensor_exists
from .inplace import inplace_nodes
from .tree import Container, Leaf, attr_ok, build_tree

# Module-level names of the generated file besides its classes.
_RESERVED_CLASSES = {*SUPPORT, "apply_init", "init_tensor", "deform_conv2d", "INIT_SCHEMES", "INIT_PLAN", "Model"}


@dataclass
class Inst:
    """A child that is an instance of a generated class (resolved to a Call once the class is final)."""

    container: Container


@dataclass
class ClassDef:
    """One generated class and the containers that instantiate it."""

    name: str
    key: tuple[Any, ...]
    first: Container
    items: list[tuple[str, Any]]  # (child name, constructor expr) of the first instance
    forward: list[str]
    instances: list[Container] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    args: dict[str, list[Any]] = field(default_factory=dict)  # instance path -> argument values
    body: list[tuple[str, Any]] = field(default_factory=list)  # items with Refs for the parameters


@dataclass
class Source:
    """Generated code: `body` (classes, init plan, root) and what it needs from the support code."""

    body: str
    class_name: str
    support: list[str]
    uses_init: bool
    uses_ordered_dict: bool


class Generator:
    """Builds the source for one graph."""

    def __init__(self, graph: Graph, class_name: str | None = None) -> None:
        self.graph = graph
        self.tree = build_tree(graph)
        self.root_name = _unreserved(class_name or camel(graph.name) or "Network")
        self.calls: dict[Any, tuple[Call, torch.nn.Module]] = {}
        self.has_tensor: dict[tuple[str, str], bool] = {}
        self.classes: dict[tuple[Any, ...], ClassDef] = {}
        self.of: dict[str, ClassDef] = {}  # container path -> its class
        self.names: set[str] = {self.root_name}
        self.inplace = inplace_nodes(graph)

    # ------------------------------------------------------------ leaves
    def leaf_call(self, leaf: Leaf) -> Call:
        """The constructor of a layer, from its op's build() (on the meta device, cached)."""
        node = leaf.node
        shapes: list[Shape] = [self.graph.nodes[i].shape for i in node.inputs]
        key = (node.op, tuple(shapes))
        hit = self.calls.get(key)
        if hit is None:
            with torch.device("meta"):
                module = node.op.build(shapes)
            hit = (describe(module), module)
            self.calls[key] = hit
        if (node.id, "weight") not in self.has_tensor:
            for target in ("weight", "bias"):
                self.has_tensor[(node.id, target)] = tensor_exists(hit[1], target)
        call = hit[0]
        if node.id in self.inplace:
            call = Call(call.func, list(call.args), [*call.kwargs, ("inplace", Lit(True))], list(call.names))
        return call

    # ------------------------------------------------------------ containers
    def is_sequential(self, c: Container) -> bool:
        """A plain chain (each child reads only the previous one) becomes an inline nn.Sequential."""
        if c is self.tree or c.kind == "block" or not c.children:
            return False
        if len(c.inputs) != 1 or len(c.outputs) != 1:
            return False
        prev = c.inputs[0]
        for ch in c.children:
            if ch.inputs != [prev] or len(ch.outputs) != 1 or ch.train_only != c.children[0].train_only:
                return False
            prev = ch.outputs[0]
        return c.outputs[0] == prev

    def expr(self, child: Leaf | Container) -> Any:
        if isinstance(child, Leaf):
            return self.leaf_call(child)
        if self.is_sequential(child):
            kids = [self.expr(ch) for ch in child.children]
            names = [ch.name for ch in child.children]
            if names == [str(i) for i in range(len(names))]:
                return Call("nn.Sequential", kids, names=["" for _ in kids])
            return Call("nn.Sequential", [Named(list(zip(names, kids, strict=True)))], names=[""])
        return Inst(child)

    def run(self) -> Source:
        for c in self.tree.containers():  # children first
            if c is self.tree or not self.is_sequential(c):
                self.add_class(c)
        ordered = list(self.classes.values())  # creation order: every class after the classes it uses
        for cd in ordered:
            self.finalize(cd)
        return self.emit(ordered)

    def add_class(self, c: Container) -> None:
        items = [(ch.name, self.expr(ch)) for ch in c.children]
        fwd = forward_lines(self.graph, c, c is self.tree)
        base = self.root_name if c is self.tree else base_name(c)
        key = (c is self.tree, base, tuple((n, self.skeleton(e)) for n, e in items), tuple(fwd))
        cd = self.classes.get(key)
        if cd is None:
            name = base if c is self.tree else self.fresh_class(base)
            cd = ClassDef(name, key, c, items, fwd)
            self.classes[key] = cd
        cd.instances.append(c)
        self.of[c.path] = cd

    def fresh_class(self, base: str) -> str:
        name, n = base, 1
        while name in self.names or name in RESERVED_VARS or name in _RESERVED_CLASSES:
            n += 1
            name = f"{base}{n}"
        self.names.add(name)
        return name

    def skeleton(self, e: Any) -> str:
        """The expression with literals blanked and class instances named by their class key."""
        if isinstance(e, Lit):
            return "?"
        if isinstance(e, Inst):
            return f"@{id(self.of[e.container.path])}"
        if isinstance(e, Named):
            return "{" + ",".join(f"{n}:{self.skeleton(x)}" for n, x in e.items) + "}"
        assert isinstance(e, Call)
        return f"{e.func}(" + ",".join(self.skeleton(a) for a in e.args) + "|" + ",".join(
            f"{k}={self.skeleton(v)}" for k, v in e.kwargs) + ")"

    # ------------------------------------------------------------ parameters
    def resolve(self, e: Any) -> Any:
        """Replace class instances by their constructor calls (their classes are final by now)."""
        if isinstance(e, Inst):
            cd = self.of[e.container.path]
            return Call(cd.name, [Lit(v) for v in cd.args[e.container.path]], names=list(cd.params))
        if isinstance(e, Named):
            return Named([(n, self.resolve(x)) for n, x in e.items])
        if isinstance(e, Call):
            return Call(e.func, [self.resolve(a) for a in e.args], [(k, self.resolve(v)) for k, v in e.kwargs],
                        list(e.names))
        return e

    def finalize(self, cd: ClassDef) -> None:
        """Choose the class's parameters: the literal positions that differ between its instances."""
        per_instance = [[(ch.name, self.resolve(self.expr(ch))) for ch in c.children] for c in cd.instances]
        hints, vectors = _literal_table(per_instance)
        pos_name: dict[int, str] = {}
        seen: list[tuple[list[Any], str]] = []
        for p, hint in enumerate(hints):
            column = [v[p] for v in vectors]
            if all(same(x, column[0]) for x in column):
                continue  # the same everywhere: stays a literal
            name = next((nm for col, nm in seen if all(same(a, b) for a, b in zip(col, column, strict=True))), None)
            if name is None:
                name = self.param_name(cd, column, hint, set(cd.params))
                seen.append((column, name))
                cd.params.append(name)
            pos_name[p] = name
        first = {name: p for p, name in sorted(pos_name.items(), reverse=True)}
        for c, vec in zip(cd.instances, vectors, strict=True):
            cd.args[c.path] = [vec[first[name]] for name in cd.params]
        counter = iter(range(len(hints)))
        cd.body = [(name, _substitute(e, pos_name, counter)) for name, e in per_instance[0]]

    def param_name(self, cd: ClassDef, column: list[Any], hint: tuple[str, ...], taken: set[str]) -> str:
        """A block argument whose values match the column, else a name from where the literal sits."""
        scopes = [c.scope for c in cd.instances]
        if all(s is not None for s in scopes):
            for arg in scopes[0].args if scopes[0] is not None else {}:
                values = [s.args.get(arg) for s in scopes if s is not None]
                if all(same(a, b) for a, b in zip(values, column, strict=True)) and var_ok(arg) and arg not in taken:
                    return arg
        if all(same(v, self.in_channels(c)) for v, c in zip(column, cd.instances, strict=True)):
            if "in_channels" not in taken:
                return "in_channels"
        for name in (hint[-1], "_".join(hint)):
            if name and name[0].isalpha() and var_ok(name) and name not in taken:
                return name
        name = "arg"
        while name in taken:
            name += "_"
        return name

    def in_channels(self, c: Container) -> int | None:
        shape = self.graph.nodes[c.inputs[0]].shape if c.inputs else ()
        return shape[0] if shape else None

    # ------------------------------------------------------------ output
    def emit(self, classes: list[ClassDef]) -> Source:
        """Classes in creation order (each after those it uses; the network last), the init plan before it."""
        *blocks, root = classes
        lines: list[str] = []
        for cd in blocks:
            lines += [*self.class_lines(cd), "", ""]
        schemes, steps = init_plan(self.graph, self.has_tensor)
        if steps:
            lines.append("# Weight init after torch's defaults: (module path, tensor, scheme), in this order.")
            lines += ["INIT_SCHEMES = [", *(f"    ({s!r}, {_dict_literal(kw)})," for s, kw in schemes), "]"]
            lines += ["INIT_PLAN = [", *(f"    ({p!r}, {t!r}, {i})," for p, t, i in steps), "]", "", ""]
        lines += self.class_lines(root, init=bool(steps))
        support: set[str] = set()
        ordered_dict = False
        for cd in classes:
            for _, e in cd.body:
                support |= _support(e)
                ordered_dict |= "OrderedDict(" in render(e)
        return Source("\n".join(lines) + "\n", root.name, sorted(support), bool(steps), ordered_dict)

    def class_lines(self, cd: ClassDef, init: bool = False) -> list[str]:
        out = [f"class {cd.name}(nn.Module):", f'    """{self.doc(cd)}"""', ""]
        params = "".join(f", {p}" for p in cd.params)
        out.append(f"    def __init__(self{params}):")
        out.append("        super().__init__()")
        for name, e in cd.body:
            text = render(e, indent=8)
            if attr_ok(name):
                out.append(f"        self.{name} = {text}")
            else:
                out.append(f'        self.add_module("{name}", {text})')
        if init:
            out.append("        apply_init(self, INIT_SCHEMES, INIT_PLAN)")
        out.append("")
        out += cd.forward
        return out

    def doc(self, cd: ClassDef) -> str:
        """The class docstring: what the network computes, or which block instances use the class."""
        c = cd.first
        if c is self.tree:
            g = self.graph
            outs = ", ".join(f"{safe_text(k)} {fmt(g.nodes[v].shape)}" for k, v in g.outputs.items())
            train = [safe_text(k) for k in g.outputs if k in g.train_outputs]
            text = (f"network {safe_text(g.name)} ({safe_text(g.file)}): input {fmt(g.input_shape)} -> {outs}"
                    + (f" ({', '.join(train)} in training only)" if train else "") + f"; {g.params:,} parameters.")
        else:
            paths = [i.path for i in cd.instances]
            shown = ", ".join(paths[:4]) + (f", ... ({len(paths)} in all)" if len(paths) > 4 else "")
            what = f"block {c.scope.name}" if c.kind == "block" and c.scope is not None else "sequence"
            text = f"{what}: {shown}"
        return "\n    ".join(textwrap.wrap(text, 100)) + ("\n    " if len(text) > 100 else "")


def _literal_table(per_instance: list[list[tuple[str, Any]]]) -> tuple[list[tuple[str, ...]], list[list[Any]]]:
    """Where each literal sits (from the first instance) and every instance's literal values, in order."""
    hints: list[tuple[str, ...]] = []
    vectors: list[list[Any]] = []
    for i, items in enumerate(per_instance):
        found: list[tuple[tuple[str, ...], Any]] = []
        for name, e in items:
            _lits(e, (name,), found)
        vectors.append([v for _, v in found])
        if i == 0:
            hints = [h for h, _ in found]
    if any(len(v) != len(hints) for v in vectors):
        raise CompileError("instances of one generated class differ in structure")
    return hints, vectors


def _lits(e: Any, where: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    """Collect (where it sits: child names then argument name, value) of every literal in render order."""
    if isinstance(e, Lit):
        out.append((where, e.value))
    elif isinstance(e, Named):
        for n, x in e.items:
            _lits(x, (*where, n), out)
    elif isinstance(e, Call):
        for i, a in enumerate(e.args):
            label = e.names[i] if i < len(e.names) and e.names[i] else str(i)
            _lits(a, (*where, label), out)
        for k, v in e.kwargs:
            _lits(v, (*where, k), out)


def _substitute(e: Any, pos_name: dict[int, str], counter: Any) -> Any:
    """The expression with the literals at parameter positions replaced by Refs (same order as _lits)."""
    if isinstance(e, Lit):
        p = next(counter)
        return Ref(pos_name[p]) if p in pos_name else e
    if isinstance(e, Named):
        return Named([(n, _substitute(x, pos_name, counter)) for n, x in e.items])
    if isinstance(e, Call):
        args = [_substitute(a, pos_name, counter) for a in e.args]
        kwargs = [(k, _substitute(v, pos_name, counter)) for k, v in e.kwargs]
        return Call(e.func, args, kwargs, list(e.names))
    return e


def _support(e: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(e, Call):
        if e.func in SUPPORT:
            found.add(e.func)
        for a in [*e.args, *(v for _, v in e.kwargs)]:
            found |= _support(a)
    elif isinstance(e, Named):
        for _, x in e.items:
            found |= _support(x)
    return found


def _dict_literal(kw: dict[str, Any]) -> str:
    from .exprs import render_literal

    return "{" + ", ".join(f"{k!r}: {render_literal(v)}" for k, v in kw.items()) + "}"


# ---------------------------------------------------------------- names


def camel(name: str) -> str:
    """`dense_layer` -> `DenseLayer`; anything but letters and digits is dropped."""
    text = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)
    if text and not text[0].isalpha():
        text = "Net" + text
    return text


def base_name(c: Container) -> str:
    if c.kind == "block" and c.scope is not None:
        return camel(c.scope.name) or "Block"
    return camel(c.name.rstrip("0123456789")) or "Sequence"


def _unreserved(name: str) -> str:
    return name + "Net" if name in _RESERVED_CLASSES or name in RESERVED_VARS else name


def safe_text(text: str) -> str:
    """Text from a spec made safe for a docstring."""
    return re.sub(r"[^\w./:+\- ]", "?", str(text))


def fmt(shape: Shape) -> str:
    return "(N, " + ", ".join(str(d) for d in shape) + ")"
