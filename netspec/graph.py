"""The checked graph: a networkx DiGraph plus typed node data.

Node ids are dotted scope paths (`layer2.0.conv1`), the same string that names
the torch submodule, the `state_dict` prefix, the diagram label and errors.
Edges carry the tensor shape and the input slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .ast import Span
from .ops import Init, Op, Shape

if TYPE_CHECKING:
    import networkx as nx

    from .receptive import Receptive


_T = TypeVar("_T")


@dataclass
class Node:
    """One layer: its op, where it came from, and what it computes and costs."""

    id: str
    op: Op
    inputs: tuple[str, ...]
    shape: Shape
    span: Span
    params: int = 0
    macs: int = 0
    train_only: bool = False

    @property
    def kind(self) -> str:
        return self.op.kind


@dataclass
class Scope:
    """A named grouping of nodes: a block instance, a sequence, or a branch merge."""

    path: str
    kind: str  # "block" | "seq" | "network" | "op" (the outputs of one op, see ops.base.Part)
    name: str  # block definition name, or "" for sequences
    span: Span
    args: dict[str, Any] = field(default_factory=dict)
    output: str | None = None  # node id of the scope's result
    input: str | None = None
    op: Op | None = None  # kind "op": the op with several outputs whose nodes (`s.0`, `s.1`) the scope holds


@dataclass
class InitRule:
    """`init conv weight=kaiming_normal(mode="fan_out")`, applying under `prefix`."""

    prefix: str
    kind: str
    weight: Init | None
    bias: Init | None
    span: Span


@dataclass
class Graph:
    """A checked network: nodes in topological (creation) order, outputs, scopes."""

    name: str
    file: str
    args: dict[str, Any]
    input_shape: Shape
    nodes: dict[str, Node] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    train_outputs: set[str] = field(default_factory=set)
    implicit_output: bool = False  # True when the network declares no `output`
    inits: list[InitRule] = field(default_factory=list)
    warnings: list[Any] = field(default_factory=list)
    # Set by the loader: the network's free parameters (those `--set` may change), and a way
    # to check the same network again with some of them changed (code generation uses it to
    # find which literals follow a parameter, so it can become a constructor argument).
    free_params: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # every spec file read to build it (outputs may never overwrite one)
    rebuild: Callable[[dict[str, Any]], Graph] | None = None
    _nx: nx.DiGraph[str] | None = None
    _cache: dict[str, tuple[int, Any]] = field(default_factory=dict, repr=False, compare=False)
    _receptive: dict[str, Receptive] | None = field(default=None, repr=False)

    INPUT = "input"

    # ------------------------------------------------------------ views
    @property
    def nx(self) -> nx.DiGraph[str]:
        """The networkx DiGraph: node attribute `node` holds the Node; edges `shape`, `slot`."""
        if self._nx is None:
            import networkx  # imported here: checking alone never pays for it

            g: nx.DiGraph[str] = networkx.DiGraph(name=self.name)
            for n in self.nodes.values():
                g.add_node(n.id, node=n)
                for slot, src in enumerate(n.inputs):
                    g.add_edge(src, n.id, shape=self.nodes[src].shape, slot=slot)
            self._nx = g
        return self._nx

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes.values())

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes.values() if not n.train_only)

    def receptive(self) -> dict[str, Receptive]:
        """Each node's receptive field (netspec.receptive), worked out on first use."""
        if self._receptive is None:
            from .receptive import analyze

            self._receptive = analyze(self)
        return self._receptive

    def layers(self) -> list[Node]:
        """Every node but the input, in execution order."""
        return [n for n in self.nodes.values() if n.id != self.INPUT]

    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Who reads each node: node id -> the nodes taking it as an input, one entry per edge.

        Every node has an entry, in graph order; the network's results have `()`. A node
        reading the same input twice (`add @x` right after x) is listed twice, so the
        length is the number of edges out of the node. Cached until nodes are added.

            g.consumers()["layer1.0.conv1"]  ->  ("layer1.0.bn1",)
        """
        return self._cached("consumers", self._consumers)

    def _consumers(self) -> dict[str, tuple[str, ...]]:
        users: dict[str, list[str]] = {nid: [] for nid in self.nodes}
        for n in self.nodes.values():
            for src in n.inputs:
                users[src].append(n.id)
        return {nid: tuple(u) for nid, u in users.items()}

    def scope_of(self, nid: str) -> str:
        """The innermost scope holding a node or scope: `layer1.0.conv1` -> `layer1.0`; top level -> ``."""
        head = nid
        while "." in head:
            head = head.rpartition(".")[0]
            if head in self.scopes:
                return head
        return ""

    def enclosing_scopes(self, path: str) -> list[str]:
        """The scopes around a node or scope, innermost first, ending with the network (``).

        g.enclosing_scopes("layer1.0.conv1")  ->  ["layer1.0", "layer1", ""]
        """
        out = []
        head = path
        while head:
            head = self.scope_of(head)
            out.append(head)
        return out

    def by_scope(self) -> dict[str, list[str]]:
        """Scope path -> every layer inside it (nested scopes included), in graph order.

        The network scope `` holds every layer; a scope with no layers maps to [].

            g.by_scope()["layer1.0"]  ->  ["layer1.0.conv1", "layer1.0.bn1", ..., "layer1.0.4"]
        """
        return self._cached("by_scope", self._by_scope)

    def _by_scope(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {path: [] for path in self.scopes}
        groups.setdefault("", [])
        for n in self.layers():
            groups[""].append(n.id)
            for path in self.enclosing_scopes(n.id)[:-1]:
                groups[path].append(n.id)
        return groups

    def _cached(self, name: str, compute: Callable[[], _T]) -> _T:
        # Nodes and scopes only ever grow, so their counts tell whether a cached answer is stale.
        version = len(self.nodes) + len(self.scopes)
        hit = self._cache.get(name)
        if hit is None or hit[0] != version:
            hit = self._cache[name] = (version, compute())
        return cast(_T, hit[1])

    def output_shapes(self) -> dict[str, Shape]:
        return {name: self.nodes[nid].shape for name, nid in self.outputs.items()}

    def active_outputs(self, training: bool) -> list[str]:
        return [o for o in self.outputs if training or o not in self.train_outputs]

    def __repr__(self) -> str:
        return (
            f"<Graph {self.name} input={self.input_shape} nodes={len(self.nodes)} "
            f"params={self.params:,} outputs={self.output_shapes()}>"
        )

    # Jupyter: the interactive page, or the static diagram. Both come from the public
    # `netspec.render`, imported when first shown, so loading a graph never pulls in the back end.
    def _repr_html_(self) -> str:
        import netspec

        html: str = netspec.render(self)._repr_html_()
        return html

    def _repr_svg_(self) -> str | None:
        import netspec

        svg: str | None = netspec.render(self)._repr_svg_()
        return svg
