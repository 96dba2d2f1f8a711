"""Per-layer tables and JSON summaries of a checked graph (like torchinfo / Keras)."""

from __future__ import annotations

import math
from typing import Any

from .fmt import fmt_count, fmt_int, fmt_shape
from .graph import Graph


def rows(g: Graph, depth: int | None = None) -> list[dict[str, Any]]:
    """One row per node, or per scope at `depth` (params and MACs summed inside)."""
    out: list[dict[str, Any]] = []
    if depth is None:
        for n in g.layers():
            out.append(
                {
                    "path": n.id,
                    "op": n.op.label(),
                    "kind": n.kind,
                    "shape": list(n.shape),
                    "params": n.params,
                    "macs": n.macs,
                    "rf": list(n.rf),
                    "train_only": n.train_only,
                    "line": n.span.line,
                }
            )
        return out
    seen: dict[str, dict[str, Any]] = {}
    for n in g.layers():
        parts = n.id.split(".")
        key = ".".join(parts[: depth + 1])
        scope = g.scopes.get(key)
        row = seen.get(key)
        if row is None:
            label = n.op.label() if key == n.id else (scope.name or "sequence") if scope else n.op.label()
            row = seen[key] = {
                "path": key,
                "op": label,
                "kind": n.kind if key == n.id else "block",
                "shape": list(n.shape),
                "params": 0,
                "macs": 0,
                "rf": list(n.rf),
                "train_only": n.train_only,
                "line": n.span.line,
            }
            out.append(row)
        row["params"] += n.params
        row["macs"] += n.macs
        row["shape"] = list(g.nodes[scope.output].shape) if scope and scope.output else list(n.shape)
        row["rf"] = list(n.rf)
        row["train_only"] = row["train_only"] and n.train_only
    return out


def as_json(g: Graph, depth: int | None = None) -> dict[str, Any]:
    """The summary as JSON-ready data; every float is finite (an overflowed one becomes None)."""
    nodes = rows(g, depth)
    for row in nodes:
        row["rf"] = [_finite(x) for x in row["rf"]]
    return {
        "network": g.name,
        "file": g.file,
        "args": {k: _jsonable(v) for k, v in g.args.items()},
        "input": list(g.input_shape),
        "outputs": {k: {"shape": list(v), "train_only": k in g.train_outputs} for k, v in g.output_shapes().items()},
        "params": g.params,
        "macs": g.macs,
        "nodes": nodes,
    }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float):
        return _finite(v)
    if isinstance(v, (int, str, bool)) or v is None:
        return v
    return str(v)


def table(g: Graph, depth: int | None = None) -> str:
    """A fixed-width text table with totals."""
    data = rows(g, depth)
    head = ("layer", "op", "output", "params", "MACs", "RF/jump")
    body = [
        (
            r["path"] + (" [train]" if r["train_only"] else ""),
            r["op"],
            fmt_shape(tuple(r["shape"])),
            fmt_int(r["params"]),
            fmt_count(r["macs"]),
            f"{r['rf'][0]:g}/{r['rf'][1]:g}",
        )
        for r in data
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    widths = [min(w, 48) for w in widths]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    outs = ", ".join(
        f"{k} {fmt_shape(v)}" + (" (train)" if k in g.train_outputs else "") for k, v in g.output_shapes().items()
    )
    lines = [f"{g.name}  input {fmt_shape(g.input_shape)}  ->  {outs}", rule, line(head), rule]
    lines += [line(b) for b in body]
    lines += [
        rule,
        f"total params: {fmt_int(g.params)}",
        f"total MACs:   {fmt_count(g.macs)} ({fmt_int(g.macs)}; conv/linear multiply-accumulates, eval mode)",
        f"layers:       {len(g.layers())}",
    ]
    return "\n".join(lines)
