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
import weakref
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
    rank: int = 0  # length of the longest path from the input (edges between boxes)


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
    """The scope tree of a graph, computed once per graph (every depth and the page share it).

    children: scope path -> its children (node ids and scope paths) in execution order.
    block_depth: scope path -> block instances on its path, itself included.
    under: scope path -> every node id inside it, in execution order.
    params, macs, live: scope path -> params and MACs summed inside, and the number of
        layers inside that are not training-only.
    node_depth: node id -> block depth of its innermost scope (the node is its own box
        at every depth >= this).
    sigs: box signatures already computed (see _Builder.signature), by scope path.
    """

    children: dict[str, list[str]]
    block_depth: dict[str, int]
    under: dict[str, list[str]]
    params: dict[str, int]
    macs: dict[str, int]
    live: dict[str, int]
    node_depth: dict[str, int]
    index: dict[str, int]  # node id -> execution index
    sigs: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    op_text: dict[str, str] = field(default_factory=dict)  # node id -> what its op contributes to signatures


_TREE: tuple[weakref.ref[Graph], _Tree] | None = None


def _scope_tree(g: Graph) -> _Tree:
    """The scope tree of `g`, from a one-graph cache (a graph is not changed once checked)."""
    global _TREE
    if _TREE is not None and _TREE[0]() is g:
        return _TREE[1]
    tree = _make_tree(g)
    _TREE = (weakref.ref(g), tree)
    return tree


def _make_tree(g: Graph) -> _Tree:
    children: dict[str, list[str]] = {"": []}
    under: dict[str, list[str]] = {"": []}
    block_depth: dict[str, int] = {"": 0}
    params: dict[str, int] = {"": 0}
    macs: dict[str, int] = {"": 0}
    live: dict[str, int] = {"": 0}
    node_depth: dict[str, int] = {}
    scopes = g.scopes
    for nid, node in g.nodes.items():
        chain = [""]
        pos = nid.find(".")
        while pos != -1:  # every dotted prefix, in one scan of the id
            prefix = nid[:pos]
            pos = nid.find(".", pos + 1)
            scope = scopes.get(prefix)
            if scope is None:
                continue  # a dotted quoted name, not a scope
            if prefix not in children:
                children[prefix], under[prefix] = [], []
                params[prefix] = macs[prefix] = live[prefix] = 0
                block_depth[prefix] = block_depth[chain[-1]] + (scope.kind == "block")
                children[chain[-1]].append(prefix)
            chain.append(prefix)
        children[chain[-1]].append(nid)
        node_depth[nid] = block_depth[chain[-1]]
        for p in chain:
            under[p].append(nid)
            params[p] += node.params
            macs[p] += node.macs
            live[p] += not node.train_only
    index = {nid: i for i, nid in enumerate(g.nodes)}
    return _Tree(children, block_depth, under, params, macs, live, node_depth, index)


def scope_sums(g: Graph, path: str) -> tuple[int, int, int]:
    """Params and MACs summed inside a scope, and how many of its layers are not training-only."""
    tree = _scope_tree(g)
    return tree.params[path], tree.macs[path], tree.live[path]


def scope_block_depth(g: Graph, path: str) -> int:
    """Block instances on a scope's path, itself included."""
    return _scope_tree(g).block_depth.get(path, 0)


def scope_members(g: Graph, path: str) -> list[str]:
    """Every node id inside scope `path`, in execution order (from the shared scope tree)."""
    return _scope_tree(g).under.get(path, [])


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
        self.index = self.tree.index

    def box(self, kind: str, path: str, members: list[str], scope: Scope | None = None, count: int = 1) -> Box:
        last = self.g.nodes[scope.output] if scope and scope.output in self.g.nodes else self.g.nodes[members[-1]]
        self.n_boxes += 1
        if kind == "block" and scope is not None:  # a whole scope: its sums are in the tree
            params, macs = self.tree.params[path], self.tree.macs[path]
            train_only, order = self.tree.live[path] == 0, self.index[members[0]]
        else:
            nodes = [self.g.nodes[m] for m in members]
            params, macs = sum(n.params for n in nodes), sum(n.macs for n in nodes)
            train_only, order = all(n.train_only for n in nodes), min(self.index[m] for m in members)
        b = Box(
            f"n{self.n_boxes - 1}",
            kind,
            path,
            members,
            scope,
            count,
            params=params,
            macs=macs,
            shape=last.shape,
            train_only=train_only,
            order=order,
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
        """What two block boxes must share to fold into a run (computed once per scope, for every depth)."""
        assert b.scope is not None
        key = b.scope.path
        sig = self.tree.sigs.get(key)
        if sig is None:
            prefix = len(key) + 1
            layers = []
            texts = self.tree.op_text
            for m in b.members:
                text = texts.get(m)
                if text is None:
                    op = self.g.nodes[m].op
                    text = texts[m] = op.kind if op.family is Family.REGULARIZE else repr(op)
                layers.append((m[prefix:], text))
            sig = self.tree.sigs[key] = (b.scope.name, tuple(layers), b.shape)
        return sig


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
        rank[b] = boxes[b].rank = max((rank[e.src] + 1 for e in incoming.get(b, [])), default=0)
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
    """The deepest level whose view has at most `limit` boxes (0 when even depth 0 has more).

    Computed without building a view per depth: one pass over the scope tree counts, for
    every depth, the boxes before repeats fold (an upper bound) and the layers that can
    never fold (a lower bound); only a depth where the two disagree about `limit` has its
    boxes counted, without edges, on the shared scope tree.
    """
    upper, lower = box_bounds(g)
    best = 0
    for d in range(1, len(upper)):
        if upper[d] > limit and (lower[d] > limit or count_boxes(g, d) > limit):
            break
        best = d
    return best


def box_bounds(g: Graph) -> tuple[list[int], list[int]]:
    """For every depth 0..max_depth: at most how many boxes a view has, and at least how many.

    At depth d a layer is its own box when every block around it is opened (its block
    depth <= d), and each block instance of depth d + 1 is one box; folding repeats only
    merges those block boxes and the merge layers between them.
    """
    tree = _scope_tree(g)
    top = max_depth(g)
    layers = [0] * (top + 2)  # layers whose innermost block depth is k
    fixed = [0] * (top + 2)  # ... that are not merges (never folded into a run)
    for nid, k in tree.node_depth.items():
        layers[k] += 1
        fixed[k] += g.nodes[nid].op.family is not Family.MERGE or nid == Graph.INPUT
    blocks = [0] * (top + 2)
    for path, k in tree.block_depth.items():
        if path and g.scopes[path].kind == "block":
            blocks[k] += 1
    upper, lower = [], []
    own = own_fixed = 0
    for d in range(top + 1):
        own, own_fixed = own + layers[d], own_fixed + fixed[d]
        upper.append(own + blocks[d + 1] + len(g.outputs))
        lower.append(own_fixed + len(g.outputs))
    return upper, lower


def runs(g: Graph, depth: int) -> list[Box]:
    """The runs of repeated blocks the view at `depth` folds (built without edges; none when
    fewer than two block instances sit at depth + 1)."""
    tree = _scope_tree(g)
    closed = sum(1 for p, k in tree.block_depth.items() if k == depth + 1 and p and g.scopes[p].kind == "block")
    if closed < 2:
        return []
    b = _Builder(g, depth)
    b.expand("")
    return [box for box in b.boxes.values() if box.kind == "run"]


def count_boxes(g: Graph, depth: int | None) -> int:
    """The number of boxes of the view at `depth`, without its edges."""
    b = _Builder(g, depth)
    b.expand("")
    return len(b.boxes) + len(g.outputs)


def deepest_within(g: Graph, limit: int) -> int | None:
    """The deepest depth whose view has at most `limit` boxes, or None when even depth 0 has more."""
    upper, lower = box_bounds(g)
    if upper[0] > limit and count_boxes(g, 0) > limit:
        return None
    return default_depth(g, limit)
