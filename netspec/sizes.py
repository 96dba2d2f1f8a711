"""Which input sizes a network accepts, and which it runs on without dropping pixels.

    netspec check unet_padded --sizes
    H: a multiple of 16, from 16
       minimum 16: at 15 'bottom.pool' fails: maxpool 2x2/2 needs at least 2 pixels ...
       other sizes fail: at 513 'up1.1' fails: concat: (N,64,513,512) from ...

Every shape is an exact integer function of the input size, so the rule is found
by trying sizes: each spatial dim is scanned from 1 to a little past its declared
size (the other dim kept at its declared value) and every size is classified as

- fails: shape inference stops at some layer (its path and message are kept);
- loses pixels: it runs, but a strided window op floors its input and leaves rows
  or columns at the end that the next window would have read (the U-Net paper's
  warning about max-pooling odd sizes); the first such layer is kept;
- exact: it runs and every input pixel reaches the output.

Strides make the pattern periodic: its period divides the product of the strides
on the way down (`period`), so the last period scanned states the rule and a window
far above checks that it holds there too.

Trying a size re-runs the ops' shape rules over the checked graph (see probe.py),
not the whole evaluator; the sizes the report quotes are checked again by full
evaluation, and if any answer differs the whole scan is redone that way.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import SpecError
from .graph import Graph
from .ops import Shape
from .probe import Loss, Outcome, Prober, period, window_loss, window_of

__all__ = [
    "DimRule",
    "Loss",
    "Outcome",
    "Prober",
    "SizeReport",
    "analyze",
    "period",
    "residue_text",
    "scan",
    "suggest",
    "window_loss",
    "window_of",
]

DIMS = {1: "H", 2: "W"}


# ---------------------------------------------------------------- the rule for one dim
@dataclass
class DimRule:
    """The sizes one spatial dim accepts, with the other dim at its declared size.

    `outcomes` holds every size tried: 1 up to where the pattern has settled, a few
    samples of the stretch above (`gap`, assumed to follow the pattern), sizes
    around the declared one, and a window far above (`top`).
    """

    dim: int  # 1 = H, 2 = W
    declared: int
    period: int
    hi: int  # the largest contiguous size tried
    outcomes: dict[int, Outcome]
    pattern: dict[int, str]  # residue mod period -> fail / loss / exact, from the period ending at hi
    gap: tuple[int, int] | None = None  # sizes only sampled: they followed the pattern
    top: tuple[int, int] = (0, 0)  # the far window
    truncated: bool = False  # the time limit stopped the scan before the pattern settled

    @property
    def name(self) -> str:
        return DIMS[self.dim]

    def status(self, h: int) -> str:
        """fail, loss or exact, as seen for sizes tried, by the pattern for the others."""
        if h < 1:
            return "fail"
        o = self.outcomes.get(h)
        if o is not None:
            return o.status(self.dim)
        if self.truncated and h < self.declared:
            return "unknown"
        return self.pattern[h % self.period]

    def works(self, h: int) -> bool:
        return self.status(h) in ("loss", "exact")

    @property
    def minimum(self) -> int | None:
        return next((h for h in sorted(self.outcomes) if h <= self.hi and self.outcomes[h].runs), None)

    @property
    def settle(self) -> int:
        """The smallest size from which every size tried up to hi follows the pattern."""
        tried = sorted(h for h in self.outcomes if h <= self.hi)
        settle = self.hi + 1
        for h in reversed(tried):
            if self.status(h) != self.pattern[h % self.period]:
                break
            settle = h
        return settle

    @property
    def periodic_above(self) -> bool:
        return all(self.status(h) == self.pattern[h % self.period] for h in range(*self.top))

    def runs_residues(self) -> set[int]:
        return {r for r, s in self.pattern.items() if s != "fail"}

    def exact_residues(self) -> set[int]:
        return {r for r, s in self.pattern.items() if s == "exact"}

    def nearest(self, h: int, exact: bool = False) -> tuple[int | None, int | None]:
        """The closest sizes below and above `h` that run (`exact`: that also lose no pixels)."""
        ok = {"exact"} if exact else {"loss", "exact"}
        reach = 4 * self.period + 8
        below = next((x for x in range(h - 1, max(0, h - reach), -1) if self.status(x) in ok), None)
        above = next((x for x in range(h + 1, h + reach) if self.status(x) in ok), None)
        return below, above

    def example(self, status: Iterable[str], residue: int | None = None) -> int | None:
        """The size tried nearest the declared one (past `settle`) with one of these statuses."""
        want, settle = set(status), self.settle
        cands = [
            h
            for h in self.outcomes
            if settle <= h <= self.hi and self.status(h) in want and (residue is None or h % self.period == residue)
        ]
        return min(cands, key=lambda h: (abs(h - self.declared), h)) if cands else None


def scan(prober: Prober, dim: int, deadline: float | None = None) -> DimRule:
    """Try sizes along `dim` and find the periodic pattern they settle into.

    Sizes from declared - 2 periods to declared + 2 periods give the pattern (the
    last period); sizes from 1 upwards are then tried until two whole periods in a
    row follow it. The stretch between is sampled (one size a period, walking
    through the residues) and tried in full if a sample breaks the pattern.
    """
    shape, declared = prober.shape, prober.shape[dim]
    base = prober.base or prober.graph
    per = period(base, prober.windows)[dim - 1] if base is not None else 1
    out: dict[int, Outcome] = {}

    def tried(h: int) -> str:
        if h not in out:
            out[h] = prober.fast(_with(shape, dim, h))
        return out[h].status(dim)

    hi = declared + 2 * per - 1
    near_lo = max(1, declared - 2 * per)
    for h in range(near_lo, hi + 1):
        tried(h)
    pattern = {h % per: tried(h) for h in range(hi - per + 1, hi + 1)}
    run, h, truncated = 0, 1, False
    while h < near_lo and run < 2 * per:
        run = run + 1 if tried(h) == pattern[h % per] else 0
        if deadline is not None and time.perf_counter() > deadline:
            truncated = True
            break
        h += 1
    gap = (h, near_lo - 1) if h < near_lo and not truncated else None
    if gap is not None:
        samples = range(gap[0], gap[1] + 1, per + 1)
        if any(tried(x) != pattern[x % per] for x in samples):
            for x in range(gap[0], gap[1] + 1):
                tried(x)
            gap = None
    far = max(2 * declared, declared + 8 * per)
    far -= far % per
    for x in range(far, far + per):
        tried(x)
    return DimRule(dim, declared, per, hi, out, pattern, gap, (far, far + per), truncated)


def _with(shape: Shape, dim: int, value: int) -> Shape:
    return tuple(value if i == dim else d for i, d in enumerate(shape))


def _symmetric(g: Graph) -> bool:
    """H and W behave alike: a square input and no op parameter that differs between them."""
    if len(g.input_shape) != 3 or g.input_shape[1] != g.input_shape[2]:
        return False
    for op in {id(n.op): n.op for n in g.layers()}.values():
        for v in op.model_dump().values():
            if isinstance(v, (tuple, list)) and len(v) == 2 and v[0] != v[1]:
                return False
            if isinstance(v, (tuple, list)) and len(v) == 4 and (v[0], v[1]) != (v[2], v[3]):
                return False
    return True


# ---------------------------------------------------------------- the report
@dataclass
class SizeReport:
    """The rule for H and W (W is H's rule when the network is symmetric)."""

    network: str
    shape: Shape
    rules: dict[int, DimRule]
    same_wh: bool
    seconds: float
    tried: int
    replayed: bool
    error: str | None = None

    def text(self) -> str:
        return format_report(self)

    def short(self) -> str:
        return format_short(self)

    def as_json(self) -> dict[str, Any]:
        return report_json(self)


def analyze(
    spec: str,
    params: dict[str, Any] | None = None,
    input: Shape | None = None,
    time_limit: float = 10.0,
    prober: Prober | None = None,
) -> SizeReport:
    """Find the input sizes `spec` accepts along H and W; see the module docstring."""
    from .library import _no_gc

    start = time.perf_counter()
    p = prober or Prober(spec, params, input)
    name = p.base.name if p.base else spec
    if len(p.shape) != 3:
        return SizeReport(
            name,
            p.shape,
            {},
            False,
            0.0,
            0,
            p.replay,
            error=p.error.message if p.error else "the input has no height and width",
        )
    with _no_gc():
        for _attempt in range(2):
            deadline = start + time_limit
            same = p.base is not None and _symmetric(p.base)
            rules = {1: scan(p, 1, deadline)}
            rules[2] = rules[1] if same else scan(p, 2, deadline)
            if same:  # spot-check W against H's rule
                r = rules[1]
                for x in range(max(1, r.declared - r.period), r.declared + r.period):
                    if p.fast(_with(p.shape, 2, x)).status(2) != r.status(x):
                        same, rules[2] = False, scan(p, 2, deadline)
                        break
            if p.verify(_evidence(p, rules)):
                break
    for r in {id(r): r for r in rules.values()}.values():  # verify() kept the evaluator's own messages
        r.outcomes = {h: p.fast(_with(p.shape, r.dim, h)) for h in r.outcomes}
    tried = sum(len(r.outcomes) for r in {id(r): r for r in rules.values()}.values())
    return SizeReport(name, p.shape, rules, same, time.perf_counter() - start, tried, p.replay)


def _evidence(p: Prober, rules: dict[int, DimRule]) -> list[Shape]:
    """The shapes the report quotes (minimum, the size below it, each failing or lossy layer's example)."""
    out = []
    for r in {id(r): r for r in rules.values()}.values():  # W's rule may be H's
        dim, m = r.dim, r.minimum
        quoted: list[int | None] = [m, _below(r, m)] if m is not None and m > 1 else []
        quoted += [*_fail_examples(r).values(), *(h for h, _ in _loss_examples(r).values())]
        quoted += [r.example(("exact",))]
        out += [_with(p.shape, dim, h) for h in quoted if h is not None and h >= 1]
    return out


def _below(r: DimRule, m: int) -> int:
    """The largest failing size below the minimum that the divisibility rule alone would allow."""
    return max((h for h in r.outcomes if h < m and h % r.period in r.runs_residues()), default=m - 1)


def _fail_examples(r: DimRule, limit: int = 3) -> dict[str | None, int]:
    """Failing layer -> a size it fails at, for the sizes the divisibility rule excludes."""
    fails: dict[str | None, int] = {}
    for res in sorted(set(range(r.period)) - r.runs_residues()):
        h = r.example(("fail",), res)
        if h is not None and len(fails) < limit:
            fails.setdefault(r.outcomes[h].layer, h)
    return fails


def _loss_examples(r: DimRule, limit: int = 3) -> dict[str, tuple[int, Loss]]:
    """Lossy layer -> (a size, its loss), for the sizes that run but lose pixels."""
    losses: dict[str, tuple[int, Loss]] = {}
    for res in sorted(r.runs_residues() - r.exact_residues()):
        h = r.example(("loss",), res)
        loss = r.outcomes[h].loss(r.dim) if h is not None else None
        if h is not None and loss is not None and len(losses) < limit:
            losses.setdefault(loss.layer, (h, loss))
    return losses


# ---------------------------------------------------------------- words
def residue_text(var: str, residues: set[int], per: int) -> str:
    """Residues mod `per` in words: {0} -> `a multiple of 16`, {12} -> `16k + 12`,
    {29, 30, 31, 0} -> `32k - 3 to 32k`, all -> `any size`."""
    if len(residues) == per:
        return "any size"
    if not residues:
        return "no size"
    q = min(d for d in range(1, per + 1) if per % d == 0 and {(r + d) % per for r in residues} == residues)
    rs = sorted({r % q for r in residues})
    if rs == [0]:
        return f"a multiple of {q}"
    # cyclic runs of consecutive residues, a run through 0 written with negative offsets
    runs: list[list[int]] = []
    for r in rs:
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == q - 1:
        runs[0] = [r - q for r in runs.pop()] + runs[0]

    def term(r: int) -> str:
        return f"{q}k" if r == 0 else f"{q}k + {r}" if r > 0 else f"{q}k - {-r}"

    parts = [term(run[0]) if len(run) == 1 else f"{term(run[0])} to {term(run[-1])}" for run in runs]
    return f"{var} = " + " or ".join(parts)


def _ranges(xs: list[int], limit: int = 6) -> str:
    parts: list[str] = []
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        parts.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ", ".join(parts[:limit]) + (", ..." if len(parts) > limit else "")


def _fail_text(o: Outcome) -> str:
    where = f"'{o.layer}' fails" if o.layer else "fails"
    return f"{where}: {o.message}" if o.message else where


def _loss_text(h: int, loss: Loss, rows: str) -> str:
    n = f"1 {rows[:-1]}" if loss.lost == 1 else f"{loss.lost} {rows}"
    return f"at {h} '{loss.layer}': {loss.label} floors {loss.size_in} to {loss.size_out}, {n} lost"


def _listed(lead: str, items: list[str]) -> list[str]:
    """`lead` then the first item, the others aligned under it."""
    if not items:
        return []
    return [f"   {lead}{items[0]}", *(f"   {' ' * len(lead)}{x}" for x in items[1:])]


def dim_lines(r: DimRule) -> list[str]:
    """The rule for one dim: the sizes that run, then each constraint with the layer that imposes it.

    H: a multiple of 16, from 16
       minimum 16: at 15 'bottom.pool' fails: maxpool 2x2/2 needs at least 2 pixels ...
       other sizes fail: at 513 'up1.1' fails: concat: (N,64,513,512) from 'down1.convs.3' ...
       no size loses pixels
    """
    var, rows = r.name, ("rows" if r.dim == 1 else "columns")
    m = r.minimum
    if m is None:
        return [f"{var}: no size from 1 to {r.hi} runs; at {r.declared} {_fail_text(r.outcomes[r.declared])}"]
    per, settle = r.period, r.settle
    runs, exact = r.runs_residues(), r.exact_residues()
    first = next(h for h in range(settle, r.hi + 1) if r.status(h) != "fail")
    rule = residue_text(var, runs, per)
    head = f"{var}: {rule} >= {first}" if rule == "any size" else f"{var}: {rule}, from {first}"
    extra = [h for h in sorted(r.outcomes) if m <= h < settle and r.status(h) != "fail"]
    lines = [head + (f" (and {_ranges(extra)})" if extra else "")]
    if m > 1:
        below = _below(r, m)
        lines.append(f"   minimum {m}: at {below} {_fail_text(r.outcomes[below])}")
    fails = _fail_examples(r)
    if fails:
        lines += _listed("other sizes fail: ", [f"at {h} {_fail_text(r.outcomes[h])}" for h in fails.values()])
    losses = _loss_examples(r)
    where = [_loss_text(h, loss, rows) for h, loss in losses.values()]
    if runs and exact == runs:
        lines.append("   no size loses pixels")
    elif exact:
        near = sorted(
            sorted(
                (h for h in range(first, r.hi + per) if r.status(h) == "exact"), key=lambda h: (abs(h - r.declared), h)
            )[:3]
        )
        lines.append(f"   no pixels lost only for {residue_text(var, exact, per)}: {', '.join(map(str, near))}")
        lines += _listed(f"other sizes drop {rows}: ", where)
    elif where:
        lines += _listed(f"every size drops {rows}: ", where)
    if not r.periodic_above:
        h = next(h for h in range(*r.top) if r.status(h) != r.pattern[h % per])
        o = r.outcomes[h]
        lines.append(f"   tried up to {r.hi}; at {h} it differs: {'runs' if o.runs else _fail_text(o)}")
    if r.truncated:
        lines.append(f"   (time limit: sizes below {min(r.outcomes)} and some between were not tried)")
    return lines


def format_report(rep: SizeReport) -> str:
    if rep.error:
        return f"sizes: {rep.network}: {rep.error}"
    c, h, w = rep.shape
    how = "replayed shape inference" if rep.replayed else "full evaluations"
    lines = [
        f"sizes: {rep.network}, input {c}xHxW, declared {h}x{w}; each dim tried with the other at its "
        f"declared size ({rep.tried} sizes, {how}, {rep.seconds:.2f} s)"
    ]
    lines += ["  " + x for x in dim_lines(rep.rules[1])]
    if rep.same_wh:
        lines.append("  W: the same as H")
    else:
        lines += ["  " + x for x in dim_lines(rep.rules[2])]
    return "\n".join(lines)


def format_short(rep: SizeReport) -> str:
    """One line for `summary`: `input sizes: H, W: any size >= 188, no pixels lost for H, W = 16k + 12`."""
    if rep.error:
        return f"input sizes: {rep.error}"
    parts: list[str] = []
    for dim in (1,) if rep.same_wh else (1, 2):
        r = rep.rules[dim]
        var = "H, W" if rep.same_wh else r.name
        text = var + dim_lines(r)[0][1:]
        exact = r.exact_residues()
        if r.minimum is not None and exact and exact != r.runs_residues():
            text += f", no pixels lost for {residue_text(var, exact, r.period)}"
        parts.append(text)
    return "input sizes: " + "; ".join(parts) + " (netspec check --sizes)"


def report_json(rep: SizeReport) -> dict[str, Any]:
    """`summary --json`'s "input_sizes": per dim the rule as residues mod the period, and who imposes it."""
    out: dict[str, Any] = {
        "network": rep.network,
        "input": list(rep.shape),
        "same_wh": rep.same_wh,
        "error": rep.error,
        "dims": {},
    }
    for dim, r in rep.rules.items():
        m = r.minimum
        out["dims"][DIMS[dim]] = {
            "declared": rep.shape[dim],
            "period": r.period,
            "minimum": m,
            "minimum_layer": r.outcomes[_below(r, m)].layer if m is not None and m > 1 else None,
            "settle": r.settle if m is not None else None,
            "runs_mod_period": sorted(r.runs_residues()),
            "exact_mod_period": sorted(r.exact_residues()),
            "fail_layers": {layer: h for layer, h in _fail_examples(r).items() if layer},
            "loss_layers": {layer: h for layer, (h, _) in _loss_examples(r).items()},
            "text": [line.strip() for line in dim_lines(r)],
            "same_as": "H" if dim == 2 and rep.same_wh else None,  # then the examples vary H
        }
    return out


def suggest(spec: str, params: dict[str, Any], shape: Shape) -> str | None:
    """For an input shape that fails: the nearest shapes that run, as a hint (or None)."""
    try:
        p = Prober(spec, params, None)
    except SpecError:
        return None
    if p.base is None or len(shape) != 3 or len(p.shape) != 3 or shape[0] != p.shape[0]:
        return None
    from .library import _no_gc

    picks: list[tuple[int | None, int | None]] = []
    with _no_gc():
        for dim in (1, 2):
            rule = scan(p, dim, deadline=time.perf_counter() + 2.0)
            given = shape[dim]
            picks.append((given, given) if rule.works(given) else rule.nearest(given))
        cands: list[Shape] = []
        for i in (0, 1):
            ch, cw = picks[0][i], picks[1][i]
            if ch is not None and cw is not None:
                cand = (shape[0], ch, cw)
                if cand != tuple(shape) and cand not in cands and p.full(cand)[0].runs:
                    cands.append(cand)
    if not cands:
        return None
    text = " or ".join("x".join(map(str, c)) for c in cands)
    return f"the nearest input sizes that work are {text} (netspec check --sizes shows the rule)"
