"""Per-layer tables and JSON summaries of a checked graph (like torchinfo / Keras).

    s = Summary(netspec.load("resnet50"), depth=1, columns=("in", "out", "params", "act_mb"), batch=8)
    print(s)             # a fixed-width table with totals
    s.as_json()          # the same as strict-JSON-able data (schema_version 1)

Columns (`--columns`, any of COLUMNS, in the order given; `all` for every one):

    op        the op and its main parameters (`conv 3x3/2, 64`), or the block's name
    in        input shape(s), batch first       out     output shape, batch first
    kernel    kernel height x width (ops with a `kernel` parameter)
    params    parameters                        trainable  the trainable ones (all of them:
              netspec has no frozen weights; torch keeps batch-norm statistics as buffers)
    macs      multiply-accumulates per sample (conv and linear, eval mode)
    rf        receptive field / jump in input pixels (netspec.receptive; docs/language.md)
    param_mb  parameter memory: params x dtype bytes
    act_mb    forward/backward activation memory: 2 x (batch x output elements x dtype bytes),
              the output kept for the backward pass and its gradient, for every layer

Memory is in MB of 10^6 bytes, as torchinfo counts.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .arguments import brief
from .errors import SpecError
from .graph import Graph, Node, Scope
from .ops import Shape
from .receptive import Receptive

SCHEMA_VERSION = 1

COLUMNS = {
    "op": "op",
    "in": "input",
    "out": "output",
    "kernel": "kernel",
    "params": "params",
    "trainable": "trainable",
    "macs": "MACs",
    "rf": "RF/jump",
    "param_mb": "param MB",
    "act_mb": "act MB",
}
DEFAULT_COLUMNS = ("op", "out", "params", "macs", "rf")
_LEFT = {"op", "in", "out", "kernel"}  # text columns, left-aligned; numbers go right

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp64": "float64"}


def parse_columns(spec: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """`"in,out,params"` (or a sequence, or `"all"`) -> column keys, checked."""
    if spec is None:
        return DEFAULT_COLUMNS
    names = [c.strip() for c in spec.split(",")] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return tuple(COLUMNS)
    from .errors import did_you_mean

    for name in names:
        if name not in COLUMNS:
            raise SpecError(
                f"unknown summary column '{name}'",
                hint=did_you_mean(name, COLUMNS) or f"the columns are {', '.join(COLUMNS)} (or all)",
            )
    if not names:
        raise SpecError("--columns needs at least one column", hint=f"choose from {', '.join(COLUMNS)}")
    return tuple(dict.fromkeys(names))


def parse_dtype(name: str) -> str:
    """`float32`, `float16`, `bfloat16`, `float64` (or fp32, fp16, half, bf16, fp64)."""
    dtype = _DTYPE_ALIASES.get(name, name)
    if dtype not in DTYPES:
        raise SpecError(f"unknown dtype '{name}'", hint=f"use one of {', '.join(DTYPES)}")
    return dtype


def parse_depth(depth: int | str | None) -> int | None:
    """An int >= 0, `"full"` or None (both: one row per layer)."""
    if depth is None or depth == "full":
        return None
    if isinstance(depth, str) and re.fullmatch(r"[0-9]{1,4}", depth.strip()):  # ASCII: int() reads other digits
        return int(depth)
    if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0:
        return min(depth, 9999)
    raise SpecError(
        f"depth must be a number >= 0 or 'full', got {brief(depth)}", hint="0 groups rows by top-level block"
    )


@dataclass
class Row:
    """One row: a layer, or (with a depth) a block or sequence with its layers' sums."""

    path: str
    op: str
    kind: str
    inputs: list[Shape]
    shape: Shape
    kernel: tuple[int, int] | None
    params: int
    macs: int
    elements: int  # output elements per sample, summed over the layers in the row
    rf: Receptive | None
    train_only: bool
    line: int
    layers: int = 1
    batched: bool = True  # False for a parameter: its shape is its torch shape, with no batch dim


def _kernel(n: Node) -> tuple[int, int] | None:
    k = getattr(n.op, "kernel", None)
    if isinstance(k, int) and not isinstance(k, bool):
        return (k, k)
    if isinstance(k, tuple) and len(k) == 2:
        return (int(k[0]), int(k[1]))
    return None


def build_rows(g: Graph, depth: int | None = None) -> list[Row]:
    """One row per layer, or per scope at `depth` (params, MACs and memory summed inside)."""
    rf = g.receptive()
    rows: list[Row] = []
    seen: dict[str, Row] = {}
    for n in g.layers():
        key = n.id if depth is None else ".".join(n.id.split(".")[: depth + 1])
        row = seen.get(key)
        if row is None:
            scope = g.scopes.get(key) if key != n.id else None
            row = seen[key] = _row(g, n, key, scope, rf)
            rows.append(row)
            continue
        row.params += n.params
        row.macs += n.macs
        row.elements += _elements(n)
        row.train_only = row.train_only and n.train_only
        row.layers += 1
    return rows


def _row(g: Graph, n: Node, key: str, scope: Scope | None, rf: dict[str, Receptive]) -> Row:
    if scope is None:  # a layer (or, rarely, a grouping that is no scope: named after its first layer)
        ins = [g.nodes[i].shape for i in n.inputs]
        return Row(
            key, n.op.label(), n.kind, ins, n.shape, _kernel(n), n.params, n.macs, _elements(n),
            rf.get(n.id), n.train_only, n.span.line, batched=n.op.batched,
        )  # fmt: skip
    out = scope.output or n.id
    ins = [g.nodes[scope.input].shape] if scope.input else [g.nodes[i].shape for i in n.inputs]
    return Row(
        key, scope.name or "sequence", "block", ins, g.nodes[out].shape, None, n.params, n.macs, _elements(n),
        rf.get(out), n.train_only, scope.span.line or n.span.line, batched=g.nodes[out].op.batched,
    )  # fmt: skip


def _elements(n: Node) -> int:
    """Activation elements per sample: a parameter's values are weights, counted with the params."""
    return math.prod(n.shape) if n.op.batched else 0


@dataclass
class Summary:
    """A network's per-layer table: print it, `as_json()` it, or show it in Jupyter.

    batch and dtype only change the memory columns and the shapes' batch dimension
    (MACs stay per sample).
    """

    graph: Graph
    depth: int | None = None
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    batch: int | None = None  # None: shapes show N, memory counts one sample
    dtype: str = "float32"
    rows: list[Row] = field(init=False)

    def __post_init__(self) -> None:  # arguments from Python are checked like the command line's
        self.depth = parse_depth(self.depth)
        self.columns = parse_columns(self.columns)
        self.dtype = parse_dtype(self.dtype)
        if self.batch is not None and (isinstance(self.batch, bool) or not 0 < self.batch <= 1 << 20):
            raise SpecError(f"batch must be a positive integer, got {self.batch!r}")
        self.rows = build_rows(self.graph, self.depth)

    # ------------------------------------------------------------ numbers
    @property
    def n(self) -> int:
        return self.batch or 1

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype]

    def param_bytes(self, params: int) -> int:
        return params * self.itemsize

    def activation_bytes(self, elements: int) -> int:
        """2 x the output: the tensor kept for backward, and its gradient."""
        return 2 * self.n * elements * self.itemsize

    def totals(self) -> dict[str, int]:
        g = self.graph
        act = sum(self.activation_bytes(_elements(n)) for n in g.layers())
        inp = self.n * math.prod(g.input_shape) * self.itemsize
        params = self.param_bytes(g.params)
        return {
            "params": g.params,
            "trainable_params": g.params,
            "non_trainable_params": 0,
            "macs": g.macs,
            "layers": len(g.layers()),
            "input_bytes": inp,
            "param_bytes": params,
            "activation_bytes": act,
            "total_bytes": inp + params + act,
        }

    # ------------------------------------------------------------ text
    def shape_text(self, shape: Shape, batched: bool = True) -> str:
        if not batched:
            return "[" + ",".join(map(str, shape)) + "]"  # a parameter's torch shape, as `param [...]` writes it
        return "(" + ",".join([str(self.batch) if self.batch else "N", *map(str, shape)]) + ")"

    def _inputs_text(self, shapes: list[Shape]) -> str:
        if not shapes:
            return "-"
        first = self.shape_text(shapes[0])
        if len(shapes) == 1:
            return first
        same = all(s == shapes[0] for s in shapes)
        return f"{first} x{len(shapes)}" if same else f"{first} +{len(shapes) - 1}"

    def cell(self, r: Row, col: str) -> str:
        if col == "op":
            return r.op
        if col == "in":
            return self._inputs_text(r.inputs)
        if col == "out":
            return self.shape_text(r.shape, r.batched)
        if col == "kernel":
            return f"{r.kernel[0]}x{r.kernel[1]}" if r.kernel else "-"
        if col in ("params", "trainable"):
            return f"{r.params:,}"
        if col == "macs":
            return fmt_macs(r.macs)
        if col == "rf":
            return r.rf.text() if r.rf else "-"
        if col == "param_mb":
            return _mb(self.param_bytes(r.params))
        return _mb(self.activation_bytes(r.elements))

    def header(self) -> str:
        g = self.graph
        outs = ", ".join(
            f"{k} {self.shape_text(v)}" + (" (train)" if k in g.train_outputs else "")
            for k, v in g.output_shapes().items()
        )
        return f"{g.name}  input {self.shape_text(g.input_shape)}  ->  {outs}"

    def footer(self) -> list[str]:
        t = self.totals()
        batch = f"batch {self.n}, {self.dtype}"
        lines = [
            f"params:       {t['params']:,} (trainable {t['trainable_params']:,}, non-trainable 0)",
            f"MACs:         {fmt_macs(t['macs'])} ({t['macs']:,} per sample; conv/linear multiply-accumulates)",
            f"layers:       {t['layers']}",
            f"memory (MB):  input {_mb(t['input_bytes'])}, params {_mb(t['param_bytes'])}, "
            f"forward/backward {_mb(t['activation_bytes'])}, total {_mb(t['total_bytes'])} ({batch})",
        ]
        if "rf" in self.columns:
            lines.append(
                "RF/jump:      input pixels that can reach the central output / between outputs "
                "(global: the whole input; +g: global context too)"
            )
        return lines

    def text(self) -> str:
        """A fixed-width text table with totals."""
        head = ("layer", *(COLUMNS[c] for c in self.columns))
        body = [
            (r.path + (" [train]" if r.train_only else ""), *(self.cell(r, c) for c in self.columns)) for r in self.rows
        ]
        widths = [min(max(len(h), *(len(b[i]) for b in body)) if body else len(h), 48) for i, h in enumerate(head)]
        left = [True, *(c in _LEFT for c in self.columns)]

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(cells, widths, left, strict=True)
            ).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        return "\n".join([self.header(), rule, line(head), rule, *map(line, body), rule, *self.footer()])

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        """An HTML table for Jupyter: the same rows and totals."""
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in ("layer", *(COLUMNS[c] for c in self.columns)))
        body = []
        for r in self.rows:
            cells = [f"<td style='text-align:left'><code>{esc(r.path)}</code></td>"]
            for c in self.columns:
                align = "left" if c in _LEFT else "right"
                cells.append(f"<td style='text-align:{align}'>{esc(self.cell(r, c))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        foot = "".join(f"<div>{esc(x)}</div>" for x in self.footer())
        return (
            f"<div><b>{esc(self.header())}</b><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{foot}</div>"
        )

    # ------------------------------------------------------------ JSON
    def as_json(self) -> dict[str, Any]:
        """Strict-JSON-able data: numbers as numbers, shapes with the batch dimension first."""
        g, n = self.graph, self.n

        def shape(s: Shape) -> list[int]:
            return [n, *s]

        return {
            "schema_version": SCHEMA_VERSION,
            "network": g.name,
            "file": g.file,
            "args": {k: jsonable(v) for k, v in g.args.items()},
            "batch": n,
            "dtype": self.dtype,
            "depth": self.depth,
            "input": shape(g.input_shape),
            "outputs": {
                k: {"shape": shape(v), "train_only": k in g.train_outputs} for k, v in g.output_shapes().items()
            },
            **self.totals(),
            "nodes": [
                {
                    "path": r.path,
                    "op": r.op,
                    "kind": r.kind,
                    "inputs": [shape(s) for s in r.inputs],
                    "shape": shape(r.shape) if r.batched else list(r.shape),
                    "kernel": list(r.kernel) if r.kernel else None,
                    "params": r.params,
                    "trainable_params": r.params,
                    "macs": r.macs,
                    "param_bytes": self.param_bytes(r.params),
                    "activation_bytes": self.activation_bytes(r.elements),
                    "rf": r.rf.as_json() if r.rf else None,
                    "train_only": r.train_only,
                    "layers": r.layers,
                    "line": r.line,
                }
                for r in self.rows
            ],
        }


def jsonable(v: Any) -> Any:
    """A network argument as JSON: numbers, strings, booleans, null and lists stay; anything else is text."""
    if isinstance(v, (tuple, list)):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def fmt_macs(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.2f}"


def table(g: Graph, depth: int | None = None) -> str:
    """A fixed-width text table with totals (the default columns)."""
    return Summary(g, depth).text()
