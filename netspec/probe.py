"""Trying input shapes on a spec: does it run, where does it fail, which layer drops pixels.

    p = Prober("unet")
    p.fast((1, 577, 572))     # Outcome: runs, first pixel loss per dim ('down2.pool', 573 -> 286)
    p.full((1, 570, 572))     # the same verdict from evaluating the whole spec again

`fast` re-runs the ops' shape rules (`Op.infer`) over the checked graph instead of
the evaluator: layers that each read the one before form a chain, and a chain's
answer for a given input shape is kept, so a try costs a few microseconds a chain.
That is exact whenever the graph's structure and op parameters do not depend on the
input size; `verify` checks it against `full` at chosen shapes and turns replay off
when any answer differs (as it would for a spec that reads `in.height`).

A layer loses pixels when it is a sliding window (any op with `kernel` and `stride`
parameters, transposed convolutions aside) and the floor in its output size leaves
input rows that no window reads but a further window would have (`window_loss`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .graph import Graph
from .ops import Op, Shape, ShapeError

MAX_PERIOD = 1024


@dataclass(frozen=True)
class Loss:
    """A layer that drops the last rows (dim H) or columns (dim W) of its input."""

    layer: str
    label: str
    size_in: int
    size_out: int
    lost: int


@dataclass(frozen=True)
class Outcome:
    """What happens at one input shape: runs or fails where, and the first pixel loss per dim."""

    shape: Shape
    runs: bool
    layer: str | None = None  # the failing layer
    message: str | None = None
    losses: tuple[Loss | None, ...] = ()  # per spatial dim (H, W)

    def loss(self, dim: int) -> Loss | None:
        return self.losses[dim - 1] if self.runs and len(self.losses) >= dim else None

    def status(self, dim: int) -> str:
        if not self.runs:
            return "fail"
        return "loss" if self.loss(dim) else "exact"


# ---------------------------------------------------------------- window ops
Window = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]  # kernel, stride, padding, dilation


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def window_of(op: Op, cache: dict[Op, Window | None] | None = None) -> Window | None:
    """Kernel, stride, padding and dilation of a sliding-window op (conv, pools), else None.

    Read from the op's parameters by name, so any op with `kernel` and `stride` is
    covered; transposed convolutions (`output_padding`) only grow their input.
    """
    if cache is not None and op in cache:
        return cache[op]
    d = op.model_dump()
    win: Window | None = None
    if "kernel" in d and "stride" in d and "output_padding" not in d:
        k = _pair(d["kernel"])
        s = _pair(d["stride"]) if d["stride"] is not None else k
        p = d.get("padding", 0)
        if isinstance(p, str):
            p = 0 if p == "valid" else None  # 'same' keeps the size (stride 1)
        if p is not None:
            win = (k, s, _pair(p), _pair(d.get("dilation", 1) or 1))
    if cache is not None:
        cache[op] = win
    return win


def window_loss(win: Window, i: int, size_in: int, size_out: int) -> int:
    """Input rows along pair index `i` that the windows skip but a further window would read.

    Window j reads rows j*s - p + d*t (t < k). Rows a stride or a dilation skips by
    design are read by no window at all; the floor's loss is the rows that only
    windows from `size_out` on would read. Those start at size_out*s - p, so only
    the last few rows need looking at.
    """
    (k, s, p, d) = (x[i] for x in win)
    lost = 0
    for r in range(max(0, size_out * s - p), size_in):
        starts = [r + p - d * t for t in range(k) if (r + p - d * t) % s == 0 and r + p - d * t >= 0]
        if starts and all(x // s >= size_out for x in starts):
            lost += 1
    return lost


def period(g: Graph, cache: dict[Op, Window | None] | None = None) -> tuple[int, int]:
    """Per spatial dim, the lcm over layers of the product of strides from the input to it."""
    cum: dict[str, tuple[int, int]] = {}
    total = [1, 1]
    for n in g.nodes.values():
        ch, cw = 1, 1
        for src in n.inputs:
            h, w = cum.get(src, (1, 1))
            ch, cw = math.lcm(ch, h), math.lcm(cw, w)
        win = window_of(n.op, cache)
        if win is not None:
            ch, cw = ch * win[1][0], cw * win[1][1]
        ch, cw = min(ch, MAX_PERIOD), min(cw, MAX_PERIOD)
        cum[n.id] = (ch, cw)
        total = [min(math.lcm(total[0], ch), MAX_PERIOD), min(math.lcm(total[1], cw), MAX_PERIOD)]
    return total[0], total[1]


# ---------------------------------------------------------------- trying sizes
Step = tuple[str, Op, tuple[str, ...], "Window | None"]  # node id, op, inputs, window
Run = tuple[list[Shape], tuple[str, str] | None, list[Loss | None]]  # shapes, (failing layer, message), losses


class Prober:
    """Tries input shapes on one spec (parsed once): fast replay, or full evaluation.

    Args:
        spec: a library name, a file, or `file.net:network`.
        params: network parameters (`--set`).
        input: the shape to start from (`--input`); None for the declared one.
        graph: the spec's graph at `input` when the caller has it already.
    """

    def __init__(
        self, spec: str, params: dict[str, Any] | None = None, input: Shape | None = None, graph: Graph | None = None
    ) -> None:
        from .library import Loader, resolve

        path, self.name = resolve(spec)
        self.loaded = Loader().load(path)
        self.params = dict(params or {})
        self.windows: dict[Op, Window | None] = {}
        self.error: SpecError | None = None
        self.graph = graph
        if graph is None:
            try:
                self.graph = self._build(tuple(input) if input is not None else None)
            except SpecError as err:
                self.error = err
        base = self.graph
        if base is None and input is not None:  # the given size fails: replay the declared graph
            try:
                base = self._build(None)
            except SpecError:
                base = None
        self.base = base
        self.shape: Shape = tuple(input) if input is not None else base.input_shape if base else ()
        self.replay = base is not None
        self._segments = _segments(self._steps(base)) if base else []
        self._cache: dict[Shape, Outcome] = {}
        self._memo: dict[tuple[int, tuple[Shape, ...]], Run] = {}

    def _build(self, shape: Shape | None) -> Graph:
        from .library import build

        return build(self.loaded, self.name, self.params, shape)

    def _steps(self, g: Graph) -> list[Step]:
        return [(n.id, n.op, n.inputs, window_of(n.op, self.windows)) for n in g.layers()]

    def full(self, shape: Shape) -> tuple[Outcome, Graph | None]:
        """Evaluate the spec at `shape` from scratch (the ground truth)."""
        try:
            g = self._build(shape)
        except SpecError as err:
            return Outcome(shape, False, err.path, err.message), None
        except Exception as err:  # a shape rule that crashes instead of raising ShapeError
            return Outcome(shape, False, None, f"internal error: {type(err).__name__}: {err}"), None
        found: list[Loss | None] = [None, None]
        for nid, op, ins, win in self._steps(g):
            if win is not None and ins:
                _note_loss(found, nid, op, win, g.nodes[ins[0]].shape, g.nodes[nid].shape)
        return Outcome(shape, True, losses=tuple(found)), g

    def fast(self, shape: Shape) -> Outcome:
        """`full(shape)`'s verdict by re-running the ops' shape rules over the checked graph."""
        hit = self._cache.get(shape)
        if hit is None:
            hit = self._cache[shape] = self._replay(shape) if self.replay else self.full(shape)[0]
        return hit

    def _replay(self, shape: Shape) -> Outcome:
        # A segment is a chain of layers each reading the one before. Equal segments on
        # equal input shapes give equal answers, and deep layers see the same few shapes
        # for many input sizes, so each segment's answer is kept.
        shapes: dict[str, Shape] = {Graph.INPUT: shape}
        found: list[Loss | None] = [None, None]
        for index, (ids, steps) in enumerate(self._segments):
            key = (index, tuple(shapes[i] for i in steps[0][2]))
            hit = self._memo.get(key)
            if hit is None:
                try:
                    hit = self._memo[key] = _run(steps, list(key[1]))
                except Exception:  # a shape rule that is not pure or not there: evaluate in full from now on
                    self.replay = False
                    return self.full(shape)[0]
            outs, fail, losses = hit
            if fail is not None:
                return Outcome(shape, False, fail[0], fail[1])
            shapes.update(zip(ids, outs, strict=False))
            if losses[0] and not found[0]:
                found[0] = losses[0]
            if losses[1] and not found[1]:
                found[1] = losses[1]
        return Outcome(shape, True, losses=tuple(found))

    def verify(self, shapes: Iterable[Shape]) -> bool:
        """Check the replay against full evaluation at `shapes`; turn replay off if any differs."""
        if not self.replay or self.base is None:
            return True
        base = [(n.id, n.op, n.inputs) for n in self.base.layers()]
        for shape in dict.fromkeys(shapes):
            want, g = self.full(shape)
            got = self.fast(shape)
            same = want.runs == got.runs and (want.runs or want.layer == got.layer) and want.losses == got.losses
            if same and g is not None:
                same = [(n.id, n.op, n.inputs) for n in g.layers()] == base
            if not same:
                self.replay = False
                self._cache.clear()
                return False
            self._cache[shape] = want  # the evaluator's own message
        return True


def _segments(steps: list[Step]) -> list[tuple[tuple[str, ...], list[Step]]]:
    """Split the layers into chains: a layer joins the chain when it reads only the layer before."""
    out: list[tuple[tuple[str, ...], list[Step]]] = []
    for step in steps:
        if out and step[2] == (out[-1][1][-1][0],):
            out[-1][1].append(step)
        else:
            out.append(((), [step]))
    return [(tuple(s[0] for s in chain), chain) for _, chain in out]


def _run(steps: list[Step], ins: list[Shape]) -> Run:
    """Shapes of a chain's layers from its first layer's input shapes; the failing layer; losses."""
    outs: list[Shape] = []
    found: list[Loss | None] = [None, None]
    for nid, op, _, win in steps:
        try:
            out = op.infer(ins)
        except ShapeError as err:
            msg = err.message if err.message.startswith(op.kind) else f"{op.kind}: {err.message}"
            return outs, (nid, msg), found
        if win is not None:
            _note_loss(found, nid, op, win, ins[0], out)
        outs.append(out)
        ins = [out]
    return outs, None, found


def _note_loss(found: list[Loss | None], nid: str, op: Op, win: Window, a: Shape, b: Shape) -> None:
    if len(a) != 3 or len(b) != 3:
        return
    for dim in (1, 2):
        if found[dim - 1] is None:
            lost = window_loss(win, dim - 1, a[dim], b[dim])
            if lost:
                found[dim - 1] = Loss(nid, op.label(), a[dim], b[dim], lost)
