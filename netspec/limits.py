"""The resource model: what checking a spec may cost, counted before the work is done.

A spec is untrusted input. Every step the front end takes on its behalf is either
counted against a limit or bounded by one *before* the step runs, so any spec is
checked (or refused with a located error naming the limit) in seconds and a few
hundred MiB:

    the whole check's time, in steps of about a microsecond (COST) -> max_work
    loop iterations, comprehension items and block calls           -> max_iterations (one counter)
    layers / scopes and init rules / layer inputs (edges)          -> max_nodes / max_scopes / max_edges
    nested bodies (blocks, sequences, branches)                    -> max_depth
    nested expressions, and lists nested in a value                -> max_expr_depth
    one value: list items (nested included), characters,
      integer magnitude (and every layer's output sizes)           -> max_list, max_str, max_int
    the import chain                                               -> max_import_depth

max_work bounds the time; the others bound memory and nesting, and name what ran away.
The expression evaluator (values.py) and the graph builder (evaluate.py) share one
Meter per evaluation. Raise a limit from Python:

    netspec.load("big.net", limits=Limits(max_nodes=10**6, max_work=20_000_000))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any

from .ast import Span
from .errors import SpecError


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile specs from exhausting time or memory (docs/language.md, "Limits")."""

    max_iterations: int = 500_000
    max_work: int = 2_000_000
    max_nodes: int = 100_000
    max_scopes: int = 50_000
    max_edges: int = 1_000_000
    max_depth: int = 48
    max_expr_depth: int = 100
    max_list: int = 100_000
    max_str: int = 10_000
    max_int: int = 10**15
    max_import_depth: int = 32

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Limits.{f.name} must be a positive int, got {v!r}")


MAX_FLOAT = 1e300  # floats stay finite, with room for one more multiplication

# What each limit bounds, in words; docs/language.md's "Limits" table says the same.
WHAT = {
    "max_iterations": "loop iterations (for, repeat), list-comprehension items and block calls, on one counter",
    "max_work": "the whole check's time, in steps of about a microsecond (limits.COST)",
    "max_nodes": "layers (graph nodes but the input)",
    "max_scopes": "scopes (block calls, named sequences) and init rules",
    "max_edges": "layer inputs, summed over all layers (a dense block's concats grow quadratically)",
    "max_depth": "nested bodies: block calls, sequences, branches, residual and dense bodies",
    "max_expr_depth": "nested sub-expressions in one expression, and lists nested in a list value",
    "max_list": "items in one list value, the items of nested lists included",
    "max_str": "characters in one string",
    "max_int": "magnitude of an integer, and of every layer's output sizes",
    "max_import_depth": "files importing files importing ...",
}


# What one step costs in units of max_work: about a microsecond of CPU each, so that
# max_work bounds the time of the whole check. Statements, expression nodes, loop
# iterations and list items or characters built or walked cost 1.
COST = {
    "layer": 12,  # a graph node: parameters validated (cached), shape inferred (cached), node made
    "scope": 8,  # a scope (a block call's, a named sequence's) or an init rule
    "call": 8,  # a block call besides its scope: arguments bound, defaults, a new environment
    "edge": 1,  # one input of a layer (a dense block's concats have many)
}


class LimitError(SpecError):
    """A spec asked for more than a limit allows; `limit` names the Limits field."""

    def __init__(self, limit: str, message: str, span: Span | None, *, path: str | None = None) -> None:
        super().__init__(
            f"{message} (limit {limit})",
            span,
            path=path,
            hint=f"limits guard against runaway specs; raise one from Python: "
            f"netspec.load(..., limits=Limits({limit}=...))",
        )
        self.limit = limit


class Meter:
    """Counts one evaluation's steps against Limits and refuses a step before it runs.

    An Env carries the Meter to every expression; the Evaluator holds the same one.
    """

    __slots__ = ("limits", "iterations", "work", "expr_depth", "max_work", "max_expr_depth")

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.iterations = 0
        self.work = 0
        self.expr_depth = 0
        self.max_work = self.limits.max_work  # read on every expression node: kept flat
        self.max_expr_depth = self.limits.max_expr_depth

    def iteration(self, span: Span | None) -> None:
        """Count one loop iteration, comprehension item or block call (and its unit of work)."""
        self.iterations += 1
        if self.iterations > self.limits.max_iterations:
            raise LimitError(
                "max_iterations",
                f"loops, comprehensions and block calls ran more than {self.limits.max_iterations:,} times",
                span,
            )
        self.spend(1, span)

    def spend(self, n: int, span: Span | None) -> None:
        """Count n units of work (COST says what a step costs)."""
        self.work += n
        if self.work > self.max_work:
            raise LimitError("max_work", f"checking this spec takes more than {self.max_work:,} steps", span)

    def need_list(self, n: int, span: Span | None) -> None:
        """Refuse a list of n items (nested included) before it is built."""
        cap = self.limits.max_list
        if n > cap:
            size = f"{n:,}" if n > cap + 1 else f"more than {cap:,}"  # items() stops counting at cap + 1
            raise LimitError("max_list", f"a list of {size} items is longer than {cap:,}", span)

    def need_str(self, n: int, span: Span | None) -> None:
        """Refuse a string of n characters before it is built."""
        if n > self.limits.max_str:
            raise LimitError("max_str", f"a string of {n:,} characters is longer than {self.limits.max_str:,}", span)

    def need_int(self, v: int, span: Span | None) -> int:
        """Refuse an integer larger in magnitude than max_int (cheap even for huge ints)."""
        if -self.limits.max_int <= v <= self.limits.max_int:
            return v
        digits = max(1.0, v.bit_length() * 0.30103)  # log10(2); str() of a huge int is itself slow
        raise LimitError(
            "max_int", f"an integer of about {digits:,.0f} digits is larger than {self.limits.max_int:,}", span
        )

    def number(self, v: Any, span: Span | None) -> Any:
        """Bound a computed number (its operands were bounded, so computing it was cheap); pass others."""
        if type(v) is int:
            return self.need_int(v, span)
        if type(v) is float and not (math.isfinite(v) and abs(v) <= MAX_FLOAT):
            raise SpecError("number is out of range (inf or nan)", span)
        return v

    def items_of(self, values: Iterable[Any], span: Span | None, total: int = 0) -> int:
        """Items of a list made of `values`, nested included, counting on from `total` (at most max_list + 1)."""
        cap = self.limits.max_list
        for v in values:
            total += 1
            if type(v) is tuple:
                total += self.items(v, span, cap - total, depth=2)
            if total > cap:
                break
        return total

    def items(self, v: Any, span: Span | None, cap: int | None = None, depth: int = 1) -> int:
        """Items in a list value, nested lists' items included: `[[1, 2], [3]]` has 5.

        Walks at most `cap` (default max_list) items, charging the walk as work, and
        returns cap + 1 as soon as the count passes cap, so a shared structure such as
        `[[0] * 1000] * 1000` costs no more than the cap to measure. `depth` is how deep
        v sits in the list being built; lists nested deeper than max_expr_depth are
        refused (comparing, hashing or printing them would recurse that deep).
        """
        if type(v) is not tuple:
            return 0
        cap = self.limits.max_list if cap is None else cap
        total = 0
        stack = [(v, depth)]
        while stack:
            t, d = stack.pop()
            if d > self.max_expr_depth:
                raise LimitError("max_expr_depth", f"lists nested deeper than {self.max_expr_depth}", span)
            total += len(t)
            if total > cap:
                self.spend(cap, span)
                return cap + 1
            stack.extend((x, d + 1) for x in t if type(x) is tuple)
        self.spend(total, span)
        return total


def recursion_room(limits: Limits) -> int:
    """Python frames an evaluation within these limits may need (evaluate.py raises to this)."""
    return 400 + 16 * limits.max_depth + 4 * limits.max_expr_depth
