"""The module tree of a checked graph: containers at scope paths, layers at node paths.

Node `layer2.0.conv1` becomes the child `conv1` of container `layer2.0`, a child
of `layer2`, a child of the network. For every container the tree records the
values that flow in (read from outside it) and out (read after it, or network
outputs), which is everything the code generator needs to call it as a unit.

    layer2.0   inputs ['layer1.1.6']   outputs ['layer2.0.7']
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field

from netspec.errors import SpecError
from netspec.graph import Graph, Node, Scope
from netspec.names import check_part


@dataclass
class Leaf:
    """One layer: a module at its node path."""

    name: str
    node: Node

    @property
    def inputs(self) -> list[str]:
        return list(self.node.inputs)

    @property
    def outputs(self) -> list[str]:
        return [self.node.id]

    @property
    def train_only(self) -> bool:
        return self.node.train_only


@dataclass
class Container:
    """A scope: its children in registration order and the values crossing its boundary."""

    name: str
    path: str
    scope: Scope | None
    children: list[Leaf | Container] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    train_only: bool = False

    @property
    def kind(self) -> str:
        return self.scope.kind if self.scope is not None else "seq"

    def containers(self) -> list[Container]:
        """Every container below this one and itself, children first (post-order)."""
        out: list[Container] = []
        for c in self.children:
            if isinstance(c, Container):
                out.extend(c.containers())
        out.append(self)
        return out


def attr_ok(name: str) -> bool:
    """Whether `self.<name>` is valid Python (else the code uses getattr(self, "name"))."""
    return name.isidentifier() and not keyword.iskeyword(name)


def build_tree(graph: Graph) -> Container:
    """Group the graph's layers into containers by their dotted ids."""
    root = Container("", "", graph.scopes.get(""))
    index: dict[str, Container] = {"": root}
    for node in graph.layers():
        parts = node.id.split(".")
        parent = root
        for depth, part in enumerate(parts):
            _check_name(part, node, graph)
            path = ".".join(parts[: depth + 1])
            if depth == len(parts) - 1:
                if path in index:
                    raise SpecError(f"'{path}' names both a layer and a scope", node.span, path=path)
                parent.children.append(Leaf(part, node))
                break
            child = index.get(path)
            if child is None:
                child = Container(part, path, graph.scopes.get(path))
                index[path] = child
                parent.children.append(child)
            elif child is not parent.children[-1]:
                raise SpecError(f"the layers of '{path}' are not contiguous", node.span, path=node.id)
            parent = child
    _boundaries(graph, root)
    return root


def _check_name(part: str, node: Node, graph: Graph) -> None:
    """The check `netspec check` makes already (netspec.names), again for graphs built by hand."""
    why = check_part(part)
    if why is not None and why.startswith("names"):
        raise SpecError(f"{part!r} cannot name a torch submodule", node.span, path=node.id, hint=why)
    if why is not None:
        raise SpecError(why, node.span, path=node.id, hint=f"rename the layer, e.g. '{part}_'")


def _boundaries(graph: Graph, root: Container) -> None:
    """Fill in each container's node list, inputs, outputs and train-only flag."""
    consumers = graph.consumers()
    returned = set(graph.outputs.values())
    for c in root.containers():
        c.nodes = [n for ch in c.children for n in (ch.nodes if isinstance(ch, Container) else [ch.node.id])]
        inside = set(c.nodes)
        reads: list[str] = []
        for nid in c.nodes:
            for src in graph.nodes[nid].inputs:
                if src not in inside and src not in reads:
                    reads.append(src)
        if c is root:
            reads = [Graph.INPUT]
        c.inputs = _first(reads, c.scope.input if c.scope else None)
        if c is root:
            outs = list(dict.fromkeys(graph.outputs.values()))
        else:
            outs = [n for n in c.nodes if n in returned or any(u not in inside for u in consumers.get(n, ()))]
        # The root returns the network's outputs in their declared order (codegen pairs them by position).
        c.outputs = outs if c is root else _first(outs, c.scope.output if c.scope else None)
        c.train_only = c is not root and all(graph.nodes[n].train_only for n in c.nodes)


def _first(values: list[str], head: str | None) -> list[str]:
    """`values` with `head` moved to the front when present."""
    if head is not None and head in values:
        return [head, *[v for v in values if v != head]]
    return values
