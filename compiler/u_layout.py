"""Find the U of an encoder-decoder, so its diagram can be drawn like the paper's figure.

The U-Net paper draws the contracting path down the left, the expanding path up
the right, and each skip as a horizontal arrow from a down stage to the up stage
of the same resolution. FCN's skips (pool4, pool3), hypercolumns and FPNs have
the same shape. This module finds it in a `diagram_view.View`, from shapes
alone, at any depth, and says which boxes share a row; `to_graphviz` turns each
row into a `rank=same` subgraph (top to bottom layouts only).

The shape, found per merge box `t` (a concat, add or crop with two or more inputs):

- `s`, the latest box that both inputs descend from, has the spatial size of `t`
  (within a factor of 2: U-Net's unpadded convolutions and FCN's crops shave borders);
- one input comes through a *dip*: boxes whose spatial size falls to at most
  `s`'s / 1.5 and rises again through an upsampling step (a box at least 1.4x
  larger than the box feeding it);
- the dip stays above 1x1: a global pooling branch (squeeze-and-excitation,
  ASPP's image pooling) is a gate, not an encoder-decoder;
- the other input (the skip) does not dip.

Rows: the pairs (s, t) are grouped by the size of `s`, largest first (top row).
Along the longest path of the view (the spine), the boxes before its smallest
point are the contracting side and join the row whose `s` size is nearest to
their own; the boxes after it join the row whose `t` size is nearest (within
`ROW_TOLERANCE` octaves, else they stay free: the bottleneck, and stems or heads
at other resolutions). Boxes off the spine between an `s` and its `t` (crops,
FCN's score layers, hypercolumn upsamplers) join that row. Edges that climb to a
higher row do not rank (graphviz `constraint=false`): the rows are ranked by the
contracting path alone, so each up stage lands beside its down stage. So do the
edges that only give a resize op its target size (`crop @in`), unless they stay
within a row. A pooling layer that starts a contracting stage (it shrinks what
it reads) is left between its two rows, like the paper's down arrow; a closed
block that starts with one still joins its row. Invisible guide edges keep the
skip sources in one column and the merges in another, so the skips are parallel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import networkx as nx

from .diagram_view import View, drawn_inputs

DIP = 1.5  # the dip must fall below the fork's size by this factor
UPSAMPLE = 1.4  # a box this much larger than its input is an upsampling step
ROW_TOLERANCE = 0.6  # octaves (log2 of a size ratio) within which a box joins a row


@dataclass
class ULayout:
    """How to draw a view as a U: rows of box ids (top first) and what each edge does.

    `pairs[k]` are row k's (skip source, merge) pairs. `loose` edges do not rank
    (they climb to a higher row, or only give a resize op its size); `slack` edges
    join two rows going down and pull weakly; `guides` are invisible edges that keep
    the skip sources in one column and the merges in another, so the skips run
    straight across a gap between the two paths.
    """

    rows: list[list[str]]
    pairs: list[list[tuple[str, str]]]
    loose: set[tuple[str, str]] = field(default_factory=set)
    slack: set[tuple[str, str]] = field(default_factory=set)
    guides: list[tuple[str, str]] = field(default_factory=list)

    def row_of(self) -> dict[str, int]:
        return {b: i for i, row in enumerate(self.rows) for b in row}


def _size(view: View, box: str) -> float | None:
    shape = view.boxes[box].shape
    if len(shape) != 3 or shape[1] <= 0 or shape[2] <= 0:
        return None
    return math.sqrt(shape[1] * shape[2])


def _octaves(a: float, b: float) -> float:
    return abs(math.log2(a / b))


def value_edges(view: View) -> nx.DiGraph[str]:
    """The view's edges that carry values: not those that only give a resize op its target size.

    A resize op (`crop @ref`, `upsample @ref`) reads the values of its first input and
    only the height and width of a second one; FCN crops `score_pool4` to `upscore2`'s
    size, and that makes neither a skip nor a fork.
    """
    g = view.graph
    ins = drawn_inputs(g)
    out: nx.DiGraph[str] = nx.DiGraph()
    out.add_nodes_from(view.boxes)
    for nid, sources in ins.items():
        dst = view.box_of[nid]
        sizing = g.nodes[nid].op.family == "resize"
        for slot, src_id in enumerate(sources):
            src = view.box_of[src_id]
            if src != dst and not (sizing and slot > 0):
                out.add_edge(src, dst)
    for name, nid in g.outputs.items():
        box = next(b.id for b in view.boxes.values() if b.kind == "output" and b.path == name)
        out.add_edge(view.box_of[nid], box)
    return out


def find_pairs(view: View, g: nx.DiGraph[str] | None = None) -> list[tuple[str, str]]:
    """Every (fork s, merge t) of the view that closes a dip, in execution order of t (see module docstring)."""
    g = value_edges(view) if g is None else g
    ancestors = cache(lambda b: nx.ancestors(g, b) | {b})
    descendants = cache(lambda b: nx.descendants(g, b))
    order = {b: view.boxes[b].order for b in g}
    pairs: list[tuple[str, str]] = []
    for t in sorted(g, key=order.__getitem__):
        preds = sorted(g.predecessors(t), key=order.__getitem__)
        st = _size(view, t)
        if len(preds) < 2 or st is None:
            continue
        for i, p1 in enumerate(preds):
            for p2 in preds[i + 1 :]:
                common = ancestors(p1) & ancestors(p2)
                if not common:
                    continue
                s = max(common, key=order.__getitem__)
                if (s, t) in pairs:
                    continue
                ss = _size(view, s)
                if ss is None or _octaves(st, ss) >= 1:
                    continue
                branches = [descendants(s) & ancestors(p) for p in (p1, p2)]
                if (
                    _dips(view, g, branches[0], t, ss)
                    and not _dips_at_all(view, branches[1], ss)
                    or _dips(view, g, branches[1], t, ss)
                    and not _dips_at_all(view, branches[0], ss)
                ):
                    pairs.append((s, t))
    return pairs


def _dips_at_all(view: View, branch: set[str], size: float) -> bool:
    sizes = [_size(view, b) for b in branch]
    return any(x is None or x <= size / DIP for x in sizes)


def _dips(view: View, g: nx.DiGraph[str], branch: set[str], t: str, size: float) -> bool:
    """The branch falls to size / DIP or less, stays above 1x1, and rises again by upsampling."""
    if not branch:
        return False
    shapes = [view.boxes[b].shape for b in branch]
    if any(len(sh) != 3 for sh in shapes) or min(min(sh[1], sh[2]) for sh in shapes) <= 1:
        return False
    if min(math.sqrt(sh[1] * sh[2]) for sh in shapes) > size / DIP:
        return False
    for x, y in g.subgraph(branch | {t}).edges:
        sx, sy = _size(view, x), _size(view, y)
        if sx is not None and sy is not None and sy >= sx * UPSAMPLE:
            return True
    return False


def find_u(view: View) -> ULayout | None:
    """The rows of an encoder-decoder view, or None when the view has no U (see the module docstring)."""
    g = value_edges(view)
    pairs = find_pairs(view, g)
    if not pairs:
        return None
    order = {b: view.boxes[b].order for b in g}
    # Rows: pairs grouped by the size of their fork, largest first.
    levels: list[tuple[float, list[tuple[str, str]]]] = []
    for s, t in sorted(pairs, key=lambda p: -(_size(view, p[0]) or 0)):
        ss = _size(view, s) or 0
        if levels and _octaves(levels[-1][0], ss) < ROW_TOLERANCE:
            levels[-1][1].append((s, t))
        else:
            levels.append((ss, [(s, t)]))
    down_sizes = [lv[0] for lv in levels]
    up_sizes = [_size(view, lv[1][0][1]) or 0 for lv in levels]

    spine = nx.dag_longest_path(g, weight=None, default_weight=1, topo_order=sorted(g, key=order.__getitem__))
    where = {b: i for i, b in enumerate(spine)}
    ends = [where[b] for p in pairs for b in p if b in where]
    lo, hi = min(ends), max(ends)
    sized = [i for i in range(lo, hi + 1) if _size(view, spine[i]) is not None]
    bottom = min(sized, key=lambda i: _size(view, spine[i]) or 0) if sized else lo

    row: dict[str, int] = {}
    for i, b in enumerate(spine):
        size = _size(view, b)
        if size is None or i == bottom:
            continue
        before = _size(view, spine[i - 1]) if i else None
        if i < bottom and view.boxes[b].kind == "op" and before is not None and before >= size * UPSAMPLE:
            continue  # the pooling layer itself sits between its rows, as the paper's down arrow
        targets = down_sizes if i < bottom else up_sizes
        k = min(range(len(targets)), key=lambda j: _octaves(size, targets[j]))
        if _octaves(size, targets[k]) < ROW_TOLERANCE:
            row[b] = k
    on_spine = set(spine)
    for k in reversed(range(len(levels))):  # innermost first: a crop between down4 and up4 is row 4's
        for s, t in levels[k][1]:
            row[s], row[t] = k, k
            for b in nx.descendants(g, s) & nx.ancestors(g, t) - on_spine:
                row.setdefault(b, k)

    u = ULayout(
        [sorted((b for b, k in row.items() if k == i), key=order.__getitem__) for i in range(len(levels))],
        [lv[1] for lv in levels],
    )
    for e in view.edges:
        flat = e.src in row and e.dst in row and row[e.src] == row[e.dst]
        if not flat and not g.has_edge(e.src, e.dst) or _climbs(view, row, down_sizes, e.src, e.dst):
            u.loose.add((e.src, e.dst))
        elif e.src in row and e.dst in row and row[e.src] != row[e.dst]:
            u.slack.add((e.src, e.dst))
    for above, below in zip(levels, levels[1:], strict=False):
        (s0, t0), (s1, t1) = above[1][0], below[1][0]
        u.guides += [(s0, s1), (t0, t1)]
    return u


def _climbs(view: View, row: dict[str, int], down_sizes: list[float], src: str, dst: str) -> bool:
    """An edge into a row from a lower row, or from a free box of a smaller size (the bottleneck)."""
    if dst not in row:
        return False
    if src in row:
        return row[src] > row[dst]
    size = _size(view, src)
    return size is not None and size * UPSAMPLE <= down_sizes[row[dst]]
