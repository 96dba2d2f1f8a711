"""Receptive fields: which input pixels can influence one output position of each layer.

Definitions (docs/language.md, "Receptive field"):

- The receptive field of a layer is that of its central output position (row
  `(H-1)//2`, column `(W-1)//2`): the first and last input row, and the first and
  last input column, that can change its value along a spatial path. Its size is
  `last - first + 1` on each axis; it never exceeds the input, because it is
  counted in input pixels that exist (padding is not input).
- The jump is the distance, in input pixels, between neighbouring output
  positions: the product of the strides on the way (1/2 after a 2x upsampling).
- A global layer reduces the whole map to one position (a global pool, an
  adaptive pool to 1x1, a flatten, anything after them): every output depends on
  the whole input, and there is no spatial path. It is reported as "global".
- A layer that also reads a global layer (an SE gate `x * sigmoid(fc(pool(x)))`,
  DeepLab's image-pooling branch) keeps the receptive field of its spatial inputs
  and is marked as having global context.

Each op declares how one output index reads input indices along each axis, as
data (`Op.receptive(ins, out)` returns a pair of the maps below, or GLOBAL), and
`analyze` composes them over the graph. It keeps, per layer and axis, the first
and last input pixel reaching every output index, so upsampling, crops, padding
and merges of differently aligned paths come out exact: the same numbers a
gradient probe measures (tests/test_receptive.py).

    conv 64 k=3 s=2 p=1     ->  (Window(3, 2, 1), Window(3, 2, 1))
    upsample 2              ->  (Resize("nearest", 2.0), Resize("nearest", 2.0))
    global_pool             ->  GLOBAL
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .graph import Graph

Taps = Sequence[int]  # the input indices one output index reads, ascending

_NONE = 1 << 62  # `first` of an output index that reads no input pixel (a padded border)


# ---------------------------------------------------------------- what ops declare
@dataclass(frozen=True, slots=True)
class Window:
    """A sliding window: output o reads input `o*stride - padding + t*dilation`, t < kernel.

    Indices outside the input are padding and read nothing. A negative padding is
    an offset into the input (a crop).
    """

    kernel: int = 1
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        start, d = o * self.stride - self.padding, self.dilation
        first = start if start >= 0 else start - d * (start // d)  # the first tap inside the input
        last = min(start + d * (self.kernel - 1), n_in - 1)
        if d > 1 and last > start:
            last = start + d * ((last - start) // d)  # the last tap inside the input
        return range(first, last + 1, d)

    def step(self, n_in: int, n_out: int) -> float:
        return float(self.stride)


@dataclass(frozen=True, slots=True)
class Transposed:
    """A transposed convolution: input i writes output `i*stride - padding + t*dilation`."""

    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        out = []
        for t in range(self.kernel - 1, -1, -1):  # ascending input index
            v = o + self.padding - t * self.dilation
            if v >= 0 and v % self.stride == 0 and v // self.stride < n_in:
                out.append(v // self.stride)
        return out

    def step(self, n_in: int, n_out: int) -> float:
        return 1 / self.stride


@dataclass(frozen=True, slots=True)
class Resize:
    """torch's `F.interpolate`: nearest or bilinear, by a scale factor or to a size.

    `scale` is the factor as given (`upsample 2`), or None when the output size
    was given; torch then maps with `n_in / n_out`.
    """

    mode: Literal["nearest", "bilinear"]
    scale: float | None = None
    align_corners: bool = False

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        if self.mode == "nearest":  # torch's nearest_idx
            if n_out == n_in:
                return (o,)
            if n_out == 2 * n_in:
                return (o >> 1,)
            ratio = 1 / self.scale if self.scale else n_in / n_out
            return (min(math.floor(o * ratio), n_in - 1),)
        # torch's area_pixel_compute_source_index and guard_index_and_lambda, in double
        if self.align_corners:
            src = o * ((n_in - 1) / (n_out - 1)) if n_out > 1 else 0.0
        else:
            ratio = 1 / self.scale if self.scale else n_in / n_out
            src = max(ratio * (o + 0.5) - 0.5, 0.0)
        i0 = min(math.floor(src), n_in - 1)
        return (i0, i0 + 1) if src - i0 > 0 and i0 < n_in - 1 else (i0,)

    def step(self, n_in: int, n_out: int) -> float:
        return 1 / self.scale if self.scale else n_in / n_out


@dataclass(frozen=True, slots=True)
class Adaptive:
    """torch's adaptive pooling: output o reads `floor(o*n_in/n_out)` up to `ceil((o+1)*n_in/n_out)`."""

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        return range(o * n_in // n_out, -(-(o + 1) * n_in // n_out))

    def step(self, n_in: int, n_out: int) -> float:
        return n_in / n_out


@dataclass(frozen=True, slots=True)
class Whole:
    """Every output index reads the whole axis (softmax over a spatial dim)."""

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        return range(n_in)

    def step(self, n_in: int, n_out: int) -> float:
        return n_in / n_out


@dataclass(frozen=True, slots=True)
class Edge:
    """Padding by `before` pixels in front: constant padding reads nothing, reflect and replicate an edge."""

    before: int
    mode: Literal["constant", "reflect", "replicate"] = "constant"

    def taps(self, o: int, n_in: int, n_out: int) -> Taps:
        i = o - self.before
        if 0 <= i < n_in:
            return (i,)
        if self.mode == "constant":
            return ()
        if self.mode == "replicate":
            return (min(max(i, 0), n_in - 1),)
        i = -i if i < 0 else 2 * (n_in - 1) - i
        return (min(max(i, 0), n_in - 1),)

    def step(self, n_in: int, n_out: int) -> float:
        return 1.0


AxisMap = Window | Transposed | Resize | Adaptive | Whole | Edge
GLOBAL: Literal["global"] = "global"
Reach = tuple[AxisMap, AxisMap] | Literal["global"]
POINT = Window()
POINTS: tuple[AxisMap, AxisMap] = (POINT, POINT)

# Maps whose first and last taps never move back as the output index grows.
_MONOTONE = (Window, Transposed, Resize, Adaptive, Whole)


def windows(k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], p: tuple[int, int]) -> Reach:
    """The reach of a conv or pool with these kernel, stride, dilation and padding pairs."""
    return (Window(k[0], s[0], p[0], d[0]), Window(k[1], s[1], p[1], d[1]))


def transposed(k: tuple[int, int], s: tuple[int, int], d: tuple[int, int], p: tuple[int, int]) -> Reach:
    """The reach of a transposed convolution."""
    return (Transposed(k[0], s[0], p[0], d[0]), Transposed(k[1], s[1], p[1], d[1]))


def adaptive(inp: tuple[int, ...], out: tuple[int, ...]) -> Reach:
    """An adaptive pool: global when it pools a map to 1x1, an identity when sizes agree."""
    if len(inp) == 3 and out[1:] == (1, 1) and inp[1] * inp[2] > 1:
        return GLOBAL
    return (Adaptive(), Adaptive())


# ---------------------------------------------------------------- the analysis
@dataclass(frozen=True, slots=True)
class Receptive:
    """The receptive field of one layer's central output position.

    rows, cols: the first and last input row / column that can influence it
    (None when none can: a layer of constants); jump: input pixels between
    neighbouring outputs (None for a global layer); is_global: every output
    depends on the whole input; context: it also reads a global layer.
    """

    rows: tuple[int, int] | None
    cols: tuple[int, int] | None
    jump: tuple[float, float] | None
    center: tuple[int, int] | None
    is_global: bool = False
    context: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """Rows and columns of the receptive field (0 when no input pixel reaches it)."""
        rows, cols = self.rows or (0, -1), self.cols or (0, -1)
        return rows[1] - rows[0] + 1, cols[1] - cols[0] + 1

    def size_jump(self) -> tuple[str, str]:
        """The size and the jump as text: `35` or `35x27`, `8` or `8x4` (one figure when rows and columns agree)."""
        size, jump = self.size, self.jump or (1.0, 1.0)
        s = f"{size[0]}" if size[0] == size[1] else f"{size[0]}x{size[1]}"
        j = f"{jump[0]:.4g}" if jump[0] == jump[1] else f"{jump[0]:.4g}x{jump[1]:.4g}"
        return s, j

    def text(self) -> str:
        """`35/8` (size/jump, in input pixels), `35x27/8x4`, `global`; ` +g` marks global context."""
        if self.is_global:
            return "global"
        s, j = self.size_jump()
        return f"{s}/{j}" + (" +g" if self.context else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "jump": list(self.jump) if self.jump else None,
            "rows": list(self.rows) if self.rows else None,
            "cols": list(self.cols) if self.cols else None,
            "center": list(self.center) if self.center else None,
            "global": self.is_global,
            "context": self.context,
        }


@dataclass(slots=True)
class _Axis:
    """For every output index along one axis: the first and last input pixel reaching it."""

    first: list[int]
    last: list[int]
    monotone: bool  # first and last never decrease with the index (taps' ends suffice)
    jump: float


@dataclass(slots=True)
class _State:
    axes: tuple[_Axis, _Axis] | None  # None: global
    context: bool = False


def analyze(g: Graph) -> dict[str, Receptive]:
    """The receptive field of every node of a checked graph (empty without a (C,H,W) input)."""
    if len(g.input_shape) != 3:
        return {}
    _, h, w = g.input_shape
    rows = _Axis(list(range(h)), list(range(h)), True, 1.0)
    cols = rows if h == w else _Axis(list(range(w)), list(range(w)), True, 1.0)
    states: dict[str, _State] = {g.INPUT: _State((rows, cols))}
    whole = Receptive((0, h - 1), (0, w - 1), None, None, is_global=True)
    reports: dict[tuple[int, int, bool, int, int], Receptive] = {}
    out: dict[str, Receptive] = {}
    for n in g.nodes.values():
        if n.id != g.INPUT:
            shapes = [g.nodes[i].shape for i in n.inputs]
            skip = n.op.size_only_inputs
            ins = [(shapes[k], states[i]) for k, i in enumerate(n.inputs) if k not in skip]
            states[n.id] = _step(n.op.receptive(shapes, n.shape), ins, n.shape)
        st = states[n.id]
        if st.axes is None:
            out[n.id] = whole
            continue
        key = (id(st.axes[0]), id(st.axes[1]), st.context, n.shape[1], n.shape[2])
        rf = reports.get(key)
        if rf is None:
            rf = reports[key] = _report(st, n.shape)
        out[n.id] = rf
    return out


def _step(reach: Reach, ins: list[tuple[tuple[int, ...], _State]], shape: tuple[int, ...]) -> _State:
    """One node's state from its (value-carrying) inputs' states and its op's reach."""
    live = [(s, st.axes) for s, st in ins if st.axes is not None and len(s) == 3]
    context = any(st.context or st.axes is None for _, st in ins)
    if not live or len(shape) != 3:
        return _State(None)
    if isinstance(reach, str):  # GLOBAL
        if any(s[1] * s[2] > 1 for s, _ in live):
            return _State(None)
        reach = POINTS  # pooling one position is the identity
    mh, mw = reach
    rows = _merge([_apply(mh, s[1], shape[1], ax[0]) for s, ax in live])
    if shape[1] == shape[2] and mh == mw and all(s[1] == s[2] and ax[0] is ax[1] for s, ax in live):
        return _State((rows, rows), context)  # square maps through symmetric ops: the columns are the rows
    cols = _merge([_apply(mw, s[2], shape[2], ax[1]) for s, ax in live])
    return _State((rows, cols), context)


def _is_point(m: AxisMap) -> bool:
    return m is POINT or (type(m) is Window and m.kernel == 1 and m.stride == 1 and m.padding == 0)


def _apply(m: AxisMap, n_in: int, n_out: int, a: _Axis) -> _Axis:
    """Push one input axis through an op's map."""
    point = _is_point(m)
    if n_in == n_out and (point or type(m) is Adaptive):
        return a
    if point and n_in == 1:  # broadcasting
        return _Axis(a.first * n_out, a.last * n_out, a.monotone, a.jump)
    if point:  # a plugin op that resizes without declaring how: assume every output reads everything
        m = Whole()
    jump = a.jump * m.step(n_in, n_out)
    fa, la = a.first, a.last
    if type(m) is Window and m.dilation == 1 and a.monotone:
        # the common case, in two comprehensions: every window has a tap inside the input
        starts, e, top = range(-m.padding, n_out * m.stride - m.padding, m.stride), m.kernel - 1, n_in - 1
        if starts[0] + e >= 0 and starts[-1] <= top:
            first = [fa[x] if x > 0 else fa[0] for x in starts]
            last = [la[x + e] if x + e < top else la[top] for x in starts]
            return _Axis(first, last, True, jump)
    first, last = [0] * n_out, [0] * n_out
    monotone = a.monotone and isinstance(m, _MONOTONE)
    for o in range(n_out):
        t = m.taps(o, n_in, n_out)
        if not t:
            first[o], last[o], monotone = _NONE, -1, False
        elif a.monotone:
            first[o], last[o] = fa[t[0]], la[t[-1]]
        elif type(t) is range:
            first[o], last[o] = min(fa[t.start : t.stop : t.step]), max(la[t.start : t.stop : t.step])
        else:
            first[o], last[o] = min([fa[i] for i in t]), max([la[i] for i in t])
    return _Axis(first, last, monotone, jump)


def _merge(axes: list[_Axis]) -> _Axis:
    """Several inputs read at the same index: the union of what reaches each."""
    unique = list({id(a): a for a in axes}.values())
    if len(unique) == 1:
        return unique[0]
    return _Axis(
        list(map(min, *(a.first for a in unique))),
        list(map(max, *(a.last for a in unique))),
        all(a.monotone for a in unique),
        axes[0].jump,  # the first input sets the grid (a skip path, a residual body)
    )


def _report(st: _State, shape: tuple[int, ...]) -> Receptive:
    assert st.axes is not None
    c = ((shape[1] - 1) // 2, (shape[2] - 1) // 2)
    spans = []
    for ax, i in zip(st.axes, c, strict=True):
        lo, hi = ax.first[i], ax.last[i]
        spans.append((lo, hi) if lo <= hi else None)
    jump = (st.axes[0].jump, st.axes[1].jump)
    return Receptive(spans[0], spans[1], jump, c, context=st.context)
