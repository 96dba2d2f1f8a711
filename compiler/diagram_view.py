"""Choose what a diagram shows: which layers are boxes, which blocks are opened, which repeat.

A checked Graph has one node per layer; a readable diagram has far fewer. This
module turns the graph plus a level of detail into a `View`: a tree of clusters
and boxes, and the edges between boxes. It knows nothing about graphviz.

Levels of detail (`depth`) count nested *block instances*; sequences
(`layer1: {...}`, `features: [...]`) never count, they are drawn as clusters:

- depth 0: every block instance that is not inside another block is one box;
  plain layers outside blocks are their own boxes.
- depth d: block instances nested d or fewer deep are opened into clusters,
  deeper ones are boxes.
- depth None ("full"): every layer is a box and nothing is collapsed.

Repeats. Among the boxes that one scope holds, a run of consecutive block
instances collapses into one box `layer1.1-2 x2` when

1. they are instances of the same block definition,
2. they hold the same layers (same relative names, same op parameters) and
   give the same output shape; dropout / stochastic-depth rates are compared
   only by op kind, so rates that grow along a stage do not break a run, and
   input channels not at all, so DenseNet's growing inputs do not either, and
3. they form a chain: each instance reads the previous one's output, directly
   or through merge layers (DenseNet's concats) that sit between them and are
   folded into the run.

The first block of a ResNet stage downsamples (a stride, a projection shortcut),
so it differs from the rest and stays its own box: resnet50's `layer1` draws as
`layer1.0` then `layer1.1-2 x2`. Parallel branches never chain, so inception
branches are never folded. A run needs at least two instances.

The default depth is the deepest level whose view has at most `MAX_DEFAULT_BOXES`
boxes (never below 0), so a small network is drawn in full and densenet201 or
efficientnet_b7 as blocks.

Edges. All graph edges between the same two boxes are drawn as one edge that
lists the shapes it carries. A concat whose first inputs are exactly an earlier
concat's inputs is drawn as reading that concat (the same tensor), so DenseNet's
all-to-all wiring draws as a ladder of O(n) edges instead of O(n^2), which dot
could not lay out in minutes. An edge is a skip when its source also feeds
something nearer and it jumps more than one rank of the longest path
(residual identity shortcuts, U-Net and dense concats); parallel branches are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from netspec.graph import Graph, Scope
from netspec.ops import Family, Shape

MAX_DEFAULT_BOXES = 60
_TAIL_NUMBER = re.compile(r"^(.*?)(\d+)$")


@dataclass
class Box:
    """One drawn node: a layer, a closed block instance, a run of blocks, the input or an output."""

    id: str  # dot identifier: n0, n1, ... (never a user name, so any name is safe)
    kind: str  # "op" | "block" | "run" | "input" | "output"
    path: str  # what the label shows: a node id, a scope path, or `layer1.1-2`
    members: list[str]  # graph node ids drawn by this box
    scope: Scope | None = None  # first block instance, for blocks and runs
    count: int = 1  # instances in a run
    instances: list[Scope] = field(default_factory=list)  # every block instance folded in
    params: int = 0
    macs: int = 0
    shape: Shape = ()
    train_only: bool = False
    order: int = 0  # execution index of its first layer


@dataclass
class Cluster:
    """An opened scope: its label and what it holds, in execution order."""

    id: str  # dot subgraph name: cluster_0, ...
    scope: Scope
    items: list[Box | Cluster] = field(default_factory=list)


@dataclass
class Edge:
    """Every graph edge between two boxes, folded into one drawn edge."""

    src: str
    dst: str
    shapes: list[Shape]  # one per distinct graph node feeding it
    sources: list[str] = field(default_factory=list)
    skip: bool = False  # leaves a value that is also used much later (residual, U-Net, dense)
    span: int = 1  # rank distance along the longest path
    train_only: bool = False


@dataclass
class View:
    """What to draw: the item tree, all boxes by id, and the edges."""

    graph: Graph
    depth: int | None
    items: list[Box | Cluster]
    boxes: dict[str, Box]
    edges: list[Edge]
    box_of: dict[str, str]  # graph node id -> box id

    def clusters(self) -> list[Cluster]:
        out: list[Cluster] = []
        stack = list(self.items)
        while stack:
            it = stack.pop()
            if isinstance(it, Cluster):
                out.append(it)
                stack.extend(it.items)
        return out


# ---------------------------------------------------------------- scope tree
@dataclass
class _Tree:
    """Children of each scope (node ids and scope paths, in execution order) and block nesting."""

    children: dict[str, list[str]]
    block_depth: dict[str, int]  # scope path -> block instances on its path, itself included
    under: dict[str, list[str]]  # scope path -> every node id inside it


def _scope_tree(g: Graph) -> _Tree:
    children: dict[str, list[str]] = {"": []}
    under: dict[str, list[str]] = {"": []}
    for nid in g.nodes:
        parts = nid.split(".")
        parent = ""
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in g.scopes:
                continue  # a dotted quoted name, not a scope
            if prefix not in children:
                children[prefix] = []
                under[prefix] = []
                children[parent].append(prefix)
            under[prefix].append(nid)
            parent = prefix
        children[parent].append(nid)
        under[""].append(nid)
    block_depth: dict[str, int] = {}
    for path in children:
        if path == "":
            block_depth[path] = 0
            continue
        parts = path.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        block_depth[path] = sum(1 for p in prefixes if p in g.scopes and g.scopes[p].kind == "block")
    return _Tree(children, block_depth, under)


def max_depth(g: Graph) -> int:
    """The deepest block nesting: at this depth every block is opened."""
    tree = _scope_tree(g)
    return max((d for p, d in tree.block_depth.items() if p and g.scopes[p].kind == "block"), default=0)


# ---------------------------------------------------------------- building
class _Builder:
    def __init__(self, g: Graph, depth: int | None) -> None:
        self.g = g
        self.depth = depth
        self.tree = _scope_tree(g)
        self.boxes: dict[str, Box] = {}
        self.box_of: dict[str, str] = {}
        self.n_clusters = 0
        self.n_boxes = 0
        self.index = {nid: i for i, nid in enumerate(g.nodes)}

    def box(self, kind: str, path: str, members: list[str], scope: Scope | None = None, count: int = 1) -> Box:
        nodes = [self.g.nodes[m] for m in members]
        last = self.g.nodes[scope.output] if scope and scope.output in self.g.nodes else nodes[-1]
        self.n_boxes += 1
        b = Box(
            f"n{self.n_boxes - 1}",
            kind,
            path,
            members,
            scope,
            count,
            params=sum(n.params for n in nodes),
            macs=sum(n.macs for n in nodes),
            shape=last.shape,
            train_only=all(n.train_only for n in nodes),
            order=min(self.index[m] for m in members),
            instances=[scope] if scope is not None else [],
        )
        self.boxes[b.id] = b
        for m in members:
            self.box_of[m] = b.id
        return b

    def expand(self, path: str) -> list[Box | Cluster]:
        items: list[Box | Cluster] = []
        for child in self.tree.children[path]:
            scope = self.g.scopes.get(child) if child not in self.g.nodes else None
            if scope is None:
                items.append(self.box("input" if child == Graph.INPUT else "op", child, [child]))
            elif scope.kind == "block" and self.depth is not None and self.tree.block_depth[child] > self.depth:
                items.append(self.box("block", child, self.tree.under[child], scope))
            else:
                inner = self.expand(child)
                if len(inner) == 1 and scope.kind != "block":
                    items.extend(inner)  # a one-item sequence needs no frame
                else:
                    items.append(Cluster(f"cluster_{self.n_clusters}", scope, inner))
                    self.n_clusters += 1
        if self.depth is not None:
            items = self.fold_runs(items)
        return items

    # ------------------------------------------------------------ runs
    def fold_runs(self, items: list[Box | Cluster]) -> list[Box | Cluster]:
        out: list[Box | Cluster] = []
        i = 0
        while i < len(items):
            run, glue, end = self.run_from(items, i)
            if len(run) < 2:
                out.append(items[i])
                i += 1
                continue
            members = [m for b in run + glue for m in b.members]
            members.sort(key=self.index.__getitem__)
            for b in run + glue:
                del self.boxes[b.id]
            last = run[-1].scope
            assert last is not None
            folded = self.box("run", _run_name(run[0].path, run[-1].path), members, run[0].scope, len(run))
            folded.shape = self.g.nodes[last.output].shape if last.output else folded.shape
            folded.instances = [b.scope for b in run if b.scope is not None]
            out.append(folded)
            i = end
        return out

    def run_from(self, items: list[Box | Cluster], i: int) -> tuple[list[Box], list[Box], int]:
        """The longest run of equal, chained block boxes starting at items[i], the glue between, and the end."""
        first = items[i]
        if not isinstance(first, Box) or first.kind != "block":
            return [], [], i + 1
        sig = self.signature(first)
        run: list[Box] = [first]
        glue: list[Box] = []
        j = i + 1
        while True:
            k = j
            between: list[Box] = []
            while k < len(items) and _is_glue(item := items[k], self.g):
                between.append(item)
                k += 1
            nxt = items[k] if k < len(items) else None
            if not (
                isinstance(nxt, Box)
                and nxt.kind == "block"
                and self.signature(nxt) == sig
                and self.chained(run[-1], between, nxt)
            ):
                return run, glue, j
            run.append(nxt)
            glue.extend(between)
            j = k + 1

    def chained(self, prev: Box, between: list[Box], nxt: Box) -> bool:
        assert prev.scope is not None and nxt.scope is not None
        src = nxt.scope.input
        if src == prev.scope.output:
            return not between
        glue_ids = {b.members[0] for b in between}
        return src in glue_ids and prev.scope.output in self.g.nodes[src].inputs

    def signature(self, b: Box) -> tuple[Any, ...]:
        assert b.scope is not None
        prefix = b.scope.path + "."
        layers = []
        for m in b.members:
            n = self.g.nodes[m]
            params = n.op.kind if n.op.family is Family.REGULARIZE else repr(n.op)
            layers.append((m[len(prefix) :], params))
        return (b.scope.name, tuple(layers), b.shape)


def _is_glue(item: Box | Cluster, g: Graph) -> TypeGuard[Box]:
    """A merge op's box (a dense block's concat) may sit between the blocks of a run."""
    return isinstance(item, Box) and item.kind == "op" and g.nodes[item.members[0]].op.family is Family.MERGE


def _run_name(first: str, last: str) -> str:
    """`layer1.1` .. `layer1.2` -> `layer1.1-2`; `x.denselayer2` .. `x.denselayer6` -> `x.denselayer2-6`."""
    head, _, a = first.rpartition(".")
    head_b, _, b = last.rpartition(".")
    ma, mb = _TAIL_NUMBER.match(a), _TAIL_NUMBER.match(b)
    if head == head_b and ma and mb and ma.group(1) == mb.group(1):
        return f"{first}-{mb.group(2)}"
    return f"{first}..{b if head == head_b else last}"


# ---------------------------------------------------------------- edges
def drawn_inputs(g: Graph) -> dict[str, tuple[str, ...]]:
    """Each node's inputs as drawn: a concat that repeats an earlier concat's inputs reads that concat.

    concat(x, o1, ..., ok) equals concat(concat(x, o1, ..., oj), o(j+1), ..., ok), so
    DenseNet's all-to-all wiring (O(n^2) edges, too many for dot to lay out) draws
    as a ladder of concats, each reading the one before and one new output. The same
    holds for every op that declares itself `associative` (add and mul too).
    """
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for n in g.nodes.values():
        ins = n.inputs
        if n.op.associative and len(ins) > 2:
            for cut in range(len(ins) - 1, 1, -1):
                prev = seen.get((n.op.kind, ins[:cut]))
                if prev is not None:
                    ins = (prev, *ins[cut:])
                    break
        if n.op.associative:
            seen.setdefault((n.op.kind, n.inputs), n.id)
        out[n.id] = ins
    return out


def _edges(g: Graph, boxes: dict[str, Box], box_of: dict[str, str]) -> list[Edge]:
    folded: dict[tuple[str, str], Edge] = {}
    inputs = drawn_inputs(g)
    for n in g.nodes.values():
        dst = box_of[n.id]
        for src_id in inputs[n.id]:
            src = box_of[src_id]
            if src == dst:
                continue
            e = folded.get((src, dst))
            if e is None:
                e = folded[(src, dst)] = Edge(src, dst, [], train_only=boxes[src].train_only or boxes[dst].train_only)
            if src_id not in e.sources:
                e.sources.append(src_id)
                e.shapes.append(g.nodes[src_id].shape)
    edges = list(folded.values())
    # Longest-path ranks in box order (boxes are numbered in execution order of their first layer).
    order = sorted(boxes, key=lambda b: boxes[b].order)
    rank = dict.fromkeys(order, 0)
    incoming: dict[str, list[Edge]] = {}
    out_degree: dict[str, int] = {}
    for e in edges:
        incoming.setdefault(e.dst, []).append(e)
        out_degree[e.src] = out_degree.get(e.src, 0) + 1
    for b in order:
        rank[b] = max((rank[e.src] + 1 for e in incoming.get(b, [])), default=0)
    for e in edges:
        e.span = rank[e.dst] - rank[e.src]
        e.skip = e.span > 1 and out_degree[e.src] > 1
    return edges


# ---------------------------------------------------------------- entry points
def build_view(g: Graph, depth: int | None) -> View:
    """Boxes, clusters and edges for `g` at `depth` (None = every layer, nothing folded)."""
    b = _Builder(g, depth)
    items = b.expand("")
    for name, nid in g.outputs.items():
        b.n_boxes += 1
        out = Box(
            f"n{b.n_boxes - 1}",
            "output",
            name,
            [],
            shape=g.nodes[nid].shape,
            train_only=name in g.train_outputs,
            order=len(g.nodes),
        )
        b.boxes[out.id] = out
        items.append(out)
    edges = _edges(g, {k: v for k, v in b.boxes.items() if v.kind != "output"}, b.box_of)
    for name, nid in g.outputs.items():
        out = next(x for x in b.boxes.values() if x.kind == "output" and x.path == name)
        edges.append(Edge(b.box_of[nid], out.id, [g.nodes[nid].shape], train_only=out.train_only))
    return View(g, depth, items, b.boxes, edges, b.box_of)


def default_depth(g: Graph, limit: int = MAX_DEFAULT_BOXES) -> int:
    """The deepest level whose view has at most `limit` boxes (0 when even depth 0 has more)."""
    best = 0
    for d in range(1, max_depth(g) + 1):
        if len(build_view(g, d).boxes) > limit:
            break
        best = d
    return best
