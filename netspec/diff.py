"""Compare two checked graphs layer by layer: what was added, removed or changed.

    netspec diff resnet18 seresnet18
    @@ layer1.0 (basic)  +1,096 params  +4,160 MACs
    + layer1.0.se.fc1         conv 1x1, 8   (N,8,1,1)    +520 params
    ...

Layers are matched by path. Unnamed layers take their position in their scope
(`layer1.0.5`), so inserting one layer renumbers the unnamed ones after it; within
each pair of matching scopes the children are therefore aligned as sequences
(difflib, with named children as anchors) and an unnamed layer that only moved
is reported as renumbered, not as removed and added. A matched pair differs when
its op, op parameters, output shape, parameter count or inputs differ.

Each entry belongs to the outermost block instance around it (`layer1.0`), or to
its top-level sequence (`features`), or to the network; per-group deltas are
sums over all layers of the group, so they add up to the totals.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from .graph import Graph, Node
from .jsonout import finite
from .ops import fmt_shape

SCHEMA_VERSION = 1


@dataclass
class Entry:
    """One layer of A, of B, or of both."""

    status: str  # "added" | "removed" | "changed" | "renamed" | "same"
    a: Node | None
    b: Node | None
    group: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # what -> (in A, in B)

    @property
    def path(self) -> str:
        node = self.b or self.a
        assert node is not None
        return node.id

    def delta(self, what: str) -> int:
        def value(n: Node | None) -> int:
            if n is None:
                return 0
            return n.params if what == "params" else 0 if n.train_only else n.macs

        return value(self.b) - value(self.a)


@dataclass
class Diff:
    """The comparison of graph A (old) with graph B (new)."""

    a: Graph
    b: Graph
    entries: list[Entry]
    a_spec: str = ""
    b_spec: str = ""

    @property
    def identical(self) -> bool:
        return (
            self.a.input_shape == self.b.input_shape
            and self.a.output_shapes() == self.b.output_shapes()
            and all(e.status == "same" for e in self.entries)
        )

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("added", "removed", "changed", "renamed", "same"), 0)
        for e in self.entries:
            out[e.status] += 1
        return out

    def groups(self) -> dict[str, list[Entry]]:
        """Entries by group, in B's order (removed layers after the group's others)."""
        out: dict[str, list[Entry]] = {}
        for e in self.entries:
            out.setdefault(e.group, []).append(e)
        return out


# ---------------------------------------------------------------- matching
def _tree(g: Graph) -> dict[str, list[str]]:
    """Scope path -> its direct children (node ids and scope paths) in execution order."""
    children: dict[str, list[str]] = {"": []}
    for nid in g.nodes:
        parts = nid.split(".")
        parent = ""
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if prefix not in g.scopes or prefix == nid:
                continue  # a dotted quoted name, not a scope
            if prefix not in children:
                children[prefix] = []
                children[parent].append(prefix)
            parent = prefix
        children[parent].append(nid)
    return children


def _local(path: str, parent: str) -> str:
    return path[len(parent) + 1 :] if parent else path


class _Matcher:
    def __init__(self, a: Graph, b: Graph) -> None:
        self.a, self.b = a, b
        self.ta, self.tb = _tree(a), _tree(b)
        self.pairs: dict[str, str] = {}  # A node id -> B node id
        self.scopes: dict[str, str] = {"": ""}  # A scope path -> B scope path

    def is_scope(self, g: Graph, tree: dict[str, list[str]], path: str) -> bool:
        return path in tree and path not in g.nodes

    def token(self, g: Graph, tree: dict[str, list[str]], path: str, parent: str) -> tuple[str, ...]:
        name, scope = _local(path, parent), self.is_scope(g, tree, path)
        if not name.isdigit():
            return ("name", name, str(scope))
        if scope:
            s = g.scopes[path]
            return ("pos", "scope", s.kind, s.name)
        return ("pos", "node", g.nodes[path].op.kind)

    def match(self, pa: str, pb: str) -> None:
        ca, cb = self.ta.get(pa, []), self.tb.get(pb, [])
        toks_a = [self.token(self.a, self.ta, c, pa) for c in ca]
        toks_b = [self.token(self.b, self.tb, c, pb) for c in cb]
        named_b = {t: c for t, c in zip(toks_b, cb, strict=True) if t[0] == "name"}
        for t, c in zip(toks_a, ca, strict=True):
            if t[0] == "name" and t in named_b:
                self.pair(c, named_b[t])
        sm = difflib.SequenceMatcher(None, toks_a, toks_b, autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op not in ("equal", "replace"):
                continue
            left = [i for i in range(i1, i2) if toks_a[i][0] == "pos"]
            right = [j for j in range(j1, j2) if toks_b[j][0] == "pos"]
            if op == "replace":  # pair unnamed layers of the same sort (node with node), in order
                right_by = {t: [j for j in right if toks_b[j][1] == t] for t in ("node", "scope")}
                for i in left:
                    queue = right_by[toks_a[i][1]]
                    if queue and (toks_a[i][1] == "node" or toks_a[i] == toks_b[queue[0]]):
                        self.pair(ca[i], cb[queue.pop(0)])
            else:
                for i, j in zip(left, right, strict=True):
                    self.pair(ca[i], cb[j])

    def pair(self, a: str, b: str) -> None:
        sa, sb = self.is_scope(self.a, self.ta, a), self.is_scope(self.b, self.tb, b)
        if sa and sb:
            self.scopes[a] = b
            self.match(a, b)
        elif not sa and not sb:
            self.pairs[a] = b


def group_of(g: Graph, path: str) -> str:
    """The outermost block instance holding `path`, else its top-level scope, else '' (the network)."""
    parts = path.split(".")
    prefixes = [".".join(parts[:i]) for i in range(1, len(parts))]
    for p in prefixes:
        s = g.scopes.get(p)
        if s is not None and s.kind == "block":
            return p
    return prefixes[0] if prefixes and prefixes[0] in g.scopes else ""


def _op_changes(a: Node, b: Node) -> dict[str, tuple[Any, Any]]:
    if a.op.kind != b.op.kind:
        return {"op": (a.op.kind, b.op.kind)}
    da, db = a.op.model_dump(mode="json"), b.op.model_dump(mode="json")
    return {k: (da.get(k), db.get(k)) for k in dict.fromkeys([*da, *db]) if da.get(k) != db.get(k)}


def diff(a: Graph, b: Graph, a_spec: str = "", b_spec: str = "") -> Diff:
    """Compare A (old) and B (new); see the module docstring."""
    m = _Matcher(a, b)
    m.match("", "")
    to_b = m.pairs
    back = {v: k for k, v in to_b.items()}
    entries: list[Entry] = []
    for nb in b.nodes.values():
        if nb.id == Graph.INPUT:  # its shape is the header's
            entries.append(Entry("same", a.nodes.get(Graph.INPUT), nb, ""))
            continue
        aid = back.get(nb.id)
        if aid is None:
            entries.append(Entry("added", None, nb, group_of(b, nb.id)))
            continue
        na = a.nodes[aid]
        changes: dict[str, tuple[Any, Any]] = {}
        for k, v in _op_changes(na, nb).items():
            changes[k if k == "op" else f"op.{k}"] = v
        if na.shape != nb.shape:
            changes["shape"] = (list(na.shape), list(nb.shape))
        if na.params != nb.params:
            changes["params"] = (na.params, nb.params)
        mapped = [to_b.get(i, f"{i} (removed)") for i in na.inputs]
        if mapped != list(nb.inputs):
            changes["inputs"] = (mapped, list(nb.inputs))  # A's inputs by their names in B
        status = "changed" if changes else "renamed" if aid != nb.id else "same"
        entries.append(Entry(status, na, nb, group_of(b, nb.id), changes))
    for na in a.nodes.values():
        if na.id not in to_b:
            ga = group_of(a, na.id)
            entries.append(Entry("removed", na, None, m.scopes.get(ga, ga)))
    return Diff(a, b, entries, a_spec, b_spec)


# ---------------------------------------------------------------- words
def _num(n: int, signed: bool = False) -> str:
    return f"{n:+,}" if signed else f"{n:,}"


def _macs(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}"


def _signed_macs(n: int) -> str:
    return _macs(n) if n < 0 else "+" + _macs(n)


def _value(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict) and "scheme" in v:
        args = ", ".join(f"{k}={x!r}" for k, x in v.get("args") or [])
        return f"{v['scheme']}({args})"
    if isinstance(v, list):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _what(e: Entry) -> str:
    """The op column: its label, or what changed in it."""
    if e.status == "added":
        assert e.b is not None
        return e.b.op.label()
    if e.status == "removed":
        assert e.a is not None
        return e.a.op.label()
    if e.status == "renamed":
        assert e.b is not None
        return e.b.op.label()
    if "op" in e.changes:
        assert e.a is not None and e.b is not None
        return f"{e.a.op.label()} -> {e.b.op.label()}"
    assert e.b is not None
    params = [f"{k[3:]} {_value(a)} -> {_value(b)}" for k, (a, b) in e.changes.items() if k.startswith("op.")]
    return f"{e.b.op.kind}: " + ", ".join(params) if params else e.b.op.label()


def _shape_col(e: Entry) -> str:
    if "shape" in e.changes:
        a, b = e.changes["shape"]
        return f"{fmt_shape(tuple(a))} -> {fmt_shape(tuple(b))}"
    node = e.b or e.a
    assert node is not None
    return fmt_shape(node.shape) if e.status in ("added", "removed") else ""


def _note_col(e: Entry) -> str:
    notes = []
    d = e.delta("params")
    if d:
        notes.append(f"{_num(d, True)} params")
    if "inputs" in e.changes:
        a, b = e.changes["inputs"]
        if len(a) == len(b):
            slots = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
            notes.append("reads " + ", ".join(f"{y} instead of {x}" for x, y in slots))
        else:
            notes.append(f"reads {', '.join(b) or 'nothing'} instead of {', '.join(a) or 'nothing'}")
    return "  ".join(notes)


def _path_col(e: Entry) -> str:
    if e.a is not None and e.b is not None and e.a.id != e.b.id:
        return f"{e.a.id} -> {e.b.id}"
    return e.path


def _side(g: Graph, spec: str) -> str:
    outs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in g.output_shapes().items())
    label = spec if spec and spec != g.name else g.name
    return f"{label}: input {fmt_shape(g.input_shape)} -> {outs}; {_num(g.params)} params, {_macs(g.macs)} MACs"


def text(d: Diff) -> str:
    """A unified-diff-like listing: a header per changed group with its deltas, then totals."""
    lines = [f"--- {_side(d.a, d.a_spec)}", f"+++ {_side(d.b, d.b_spec)}"]
    sign = {"added": "+", "removed": "-", "changed": "~", "renamed": "="}
    shown: list[tuple[str, list[Entry], list[Entry]]] = []
    for group, entries in d.groups().items():
        if all(e.status == "same" for e in entries):
            continue
        rows = [
            e
            for e in entries
            if e.status in ("added", "removed", "changed")
            or (e.status == "renamed" and (e.b is not None and e.b.params))
        ]
        quiet = [e for e in entries if e.status == "renamed" and e not in rows]
        shown.append((group, rows, quiet))
    cells = [
        (f"{sign[e.status]} {_path_col(e)}", _what(e), _shape_col(e), _note_col(e))
        for _, rows, _ in shown
        for e in rows
    ]
    widths = [min(max((len(c[i]) for c in cells), default=0), cap) for i, cap in enumerate((56, 40, 36))]
    k = 0
    for group, rows, quiet in shown:
        entries = d.groups()[group]
        scope = d.b.scopes.get(group) or d.a.scopes.get(group)
        name = f" ({scope.name})" if scope is not None and scope.kind == "block" and scope.name else ""
        dp = sum(e.delta("params") for e in entries)
        dm = sum(e.delta("macs") for e in entries)
        lines.append(f"@@ {group or '(network)'}{name}  {_num(dp, True)} params  {_signed_macs(dm)} MACs")
        for _ in rows:
            c = cells[k]
            k += 1
            line = f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]}"
            lines.append(line.rstrip())
        if quiet:
            names = ", ".join(f"{e.a.id} -> {e.path}" for e in quiet[:2])  # type: ignore[union-attr]
            more = f" and {len(quiet) - 2} more" if len(quiet) > 2 else ""
            lines.append(
                f"= {len(quiet)} unnamed weightless layer{'s' if len(quiet) != 1 else ''} renumbered ({names}{more})"
            )
    n = d.counts()
    lines.append("")
    if d.a.input_shape != d.b.input_shape:
        lines.append(
            f"input:  {fmt_shape(d.a.input_shape)} -> {fmt_shape(d.b.input_shape)} "
            "(so every shape after it may differ; --input CxHxW compares both at one size)"
        )
    oa, ob = d.a.output_shapes(), d.b.output_shapes()
    if oa != ob:
        outs = sorted(set(oa) | set(ob))
        lines.append(
            "outputs: "
            + ", ".join(
                f"{o} {fmt_shape(oa[o]) if o in oa else '-'} -> {fmt_shape(ob[o]) if o in ob else '-'}"
                for o in outs
                if oa.get(o) != ob.get(o)
            )
        )
    lines.append(f"params: {_num(d.a.params)} -> {_num(d.b.params)} ({_num(d.b.params - d.a.params, True)})")
    dm = d.b.macs - d.a.macs
    lines.append(f"MACs:   {_macs(d.a.macs)} -> {_macs(d.b.macs)} ({_signed_macs(dm)}, {_num(dm, True)})")
    lines.append(
        f"layers: {len(d.a.layers())} -> {len(d.b.layers())}: {n['added']} added, {n['removed']} removed, "
        f"{n['changed']} changed, {n['renamed']} renumbered"
    )
    if d.identical:
        lines = lines[:2] + ["identical"]
    return "\n".join(lines)


def as_json(d: Diff) -> dict[str, Any]:
    """Strict-JSON form (schema_version 1); unchanged layers are counted, not listed."""

    def side(g: Graph, spec: str) -> dict[str, Any]:
        return {
            "spec": spec,
            "network": g.name,
            "args": {k: _plain(v) for k, v in g.args.items()},
            "input": list(g.input_shape),
            "params": g.params,
            "macs": g.macs,
            "outputs": {k: list(v) for k, v in g.output_shapes().items()},
            "layers": len(g.layers()),
        }

    def node(n: Node | None) -> dict[str, Any] | None:
        if n is None:
            return None
        return {
            "path": n.id,
            "op": n.op.kind,
            "label": n.op.label(),
            "params": n.op.model_dump(mode="json"),
            "shape": list(n.shape),
            "param_count": n.params,
            "macs": n.macs,
            "inputs": list(n.inputs),
        }

    groups = []
    for group, entries in d.groups().items():
        c = {s: sum(1 for e in entries if e.status == s) for s in ("added", "removed", "changed", "renamed")}
        groups.append(
            {
                "group": group,
                "params_delta": sum(e.delta("params") for e in entries),
                "macs_delta": sum(e.delta("macs") for e in entries),
                **c,
            }
        )
    out = {
        "schema_version": SCHEMA_VERSION,
        "identical": d.identical,
        "a": side(d.a, d.a_spec),
        "b": side(d.b, d.b_spec),
        "totals": {"params_delta": d.b.params - d.a.params, "macs_delta": d.b.macs - d.a.macs, **d.counts()},
        "groups": [g for g in groups if any(g[s] for s in ("added", "removed", "changed", "renamed"))],
        "layers": [
            {
                "status": e.status,
                "group": e.group,
                "a": node(e.a),
                "b": node(e.b),
                "changes": {k: [_plain(x) for x in v] for k, v in e.changes.items()},
                "params_delta": e.delta("params"),
                "macs_delta": e.delta("macs"),
            }
            for e in d.entries
            if e.status != "same"
        ],
    }
    strict: dict[str, Any] = finite(out)  # strict JSON: a non-finite float becomes "inf" or "nan" (netspec.jsonout)
    return strict


def _plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


@dataclass
class Highlight:
    """What `render SPEC --diff BASE` colours: SPEC's layers that BASE lacks or has otherwise,
    and BASE's layers that SPEC lacks (listed, since they are not drawn)."""

    status: dict[str, str]  # node id in SPEC -> "added" | "changed"
    removed: list[str]
    baseline: str


def highlight(base: Graph, g: Graph, baseline: str = "") -> Highlight:
    """Diff `base` (old) against `g` (new, the graph drawn) for `render --diff`."""
    d = diff(base, g)
    status = {e.b.id: e.status for e in d.entries if e.b is not None and e.status in ("added", "changed")}
    removed = [f"{e.a.id} ({e.a.op.kind})" for e in d.entries if e.status == "removed" and e.a is not None]
    return Highlight(status, removed, baseline or base.name)
