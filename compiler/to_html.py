"""Draw a checked graph as one interactive HTML page: blocks open and close in place.

    netspec render resnet50 -o resnet50.html      # one file, opens offline from disk
    netspec view my.net                           # the same page, redrawn when my.net is saved
    netspec.render("unet")                        # in Jupyter: this page, in an iframe

The page holds the whole scope tree, not one level of it: every layer, every
block instance (a group), every run of equal blocks (`layer1.1-2 x2`, as
`diagram_view` folds them at some depth) and the outputs. In the browser a
closed group or run is one box; double-clicking it opens it into a frame holding
its children, and double-clicking a frame closes it again. The depth buttons
reset every group to what `diagram_view.build_view` shows at that depth. Hovering
a box shows its path, op and parameters, output shape, params, MACs, receptive
field and spec line; clicking it shows that line of the spec in context.

Drawing is done by cytoscape.js with the dagre layout (vendored, minified, with
their licences, under `html/vendor/`; see its README). Open frames are laid out
inside out: dagre places each frame's children, a closed frame counts as one node
of its size in its parent, so opening everything in efficientnet_b7 (866 boxes,
340 frames) takes a second or two, where dagre's own compound mode takes a minute.
This module only writes
the data (`page_data`) and inlines it with the page's script and style
(`page_html`). Everything a box shows is computed here, so the script stays a
viewer: which boxes are visible, which edges join them, and which edges are
skips (the `diagram_view` rule, on the visible boxes).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from netspec.errors import SpecError, source_line
from netspec.graph import Graph, Node, Scope
from netspec.jsonout import dumps

from .diagram_view import (
    Box,
    Cluster,
    build_view,
    default_depth,
    drawn_inputs,
    max_depth,
    runs,
    scope_block_depth,
    scope_members,
    scope_sums,
)
from .to_graphviz import (
    BLOCK_COLOR,
    EDGE_COLOR,
    FAMILY_COLORS,
    IO_COLOR,
    SKIP_COLOR,
    _args_text,
    _relative,
    fmt_count,
    fmt_shape,
    parse_depth,
)

ASSETS = Path(__file__).resolve().parent / "html"
VENDOR = ("cytoscape.min.js", "cytoscape-dagre.min.js")
CONTEXT_LINES = 2  # spec lines embedded above and below each line a box comes from
MAX_PAGE_LAYERS = 10_000  # the page holds every layer: ~2 KiB of data each, and the browser lays them out


# ---------------------------------------------------------------- the data
class _PageData:
    """Items (layers, groups, runs, input, outputs) as plain dicts, keyed `i0`, `i1`, ..."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.items: dict[str, dict[str, Any]] = {}
        self.roots: list[str] = []
        self.of_node: dict[str, str] = {}  # graph node id -> item id
        self.of_scope: dict[str, str] = {}  # scope path -> group item id
        self.index = {nid: i for i, nid in enumerate(g.nodes)}
        self.lines: set[tuple[str, int]] = set()

    def add(self, kind: str, path: str, parent: str | None, order: int, **fields: Any) -> str:
        iid = f"i{len(self.items)}"
        self.items[iid] = {"id": iid, "kind": kind, "path": path, "parent": parent, "order": order, **fields}
        return iid

    # ------------------------------------------------------------ tree
    def walk(self, items: list[Box | Cluster], parent: str | None, frame: str) -> list[str]:
        ids = []
        for it in items:
            if isinstance(it, Box):
                ids.append(self.box(it, parent, frame))
                continue
            gid = self.group(it.scope, parent, frame)
            self.items[gid]["children"] = self.walk(it.items, gid, it.scope.path)
            ids.append(gid)
        return ids

    def box(self, box: Box, parent: str | None, frame: str) -> str:
        g = self.g
        if box.kind == "output":
            nid = g.outputs[box.path]
            tip = [["output", box.path], ["of", nid], ["shape", fmt_shape(box.shape)]]
            order = len(self.index) + list(g.outputs).index(box.path)
            return self.add(
                "output",
                box.path,
                parent,
                order,
                label=[box.path, fmt_shape(box.shape)],
                family="io",
                tip=tip,
                src=None,
                train=box.train_only,
                node=nid,
            )
        node = g.nodes[box.members[0]]
        if box.kind == "input":
            label = ["input", fmt_shape(node.shape)]
            family = "io"
        else:
            name = _relative(node.id, frame)
            label = [node.op.label()] if node.id.rpartition(".")[2].isdigit() else [name, node.op.label()]
            family = node.op.family
        iid = self.add(
            "input" if box.kind == "input" else "layer",
            node.id,
            parent,
            self.index[node.id],
            label=label,
            family=family,
            tip=self.layer_tip(node),
            src=self.src(node.span),
            train=node.train_only,
        )
        self.of_node[node.id] = iid
        return iid

    def group(self, scope: Scope, parent: str | None, frame: str) -> str:
        members = self.under(scope.path)
        title = _relative(scope.path, frame)
        if scope.kind == "block":
            call = f"{scope.name}({_args_text(scope.args)})"
            frame_label = f"{scope.path} : {scope.name}"
        else:
            call = f"{len(members)} layers"
            frame_label = scope.path
        out = self.g.nodes.get(scope.output) if scope.output else None
        out = out or self.g.nodes[members[-1]]
        full = f"{scope.name}({_args_text(scope.args, limit=1 << 16)})" if scope.kind == "block" else call
        params, macs, live = scope_sums(self.g, scope.path)
        tip = [
            ["path", scope.path],
            ["block" if scope.kind == "block" else "sequence", full],
            ["layers", str(len(members))],
            *self.cost_rows(params, macs, out),
            *self.src_rows(scope.span),
        ]
        gid = self.add(
            "group",
            scope.path,
            parent,
            self.index[members[0]],  # members are in execution order
            scope=scope.kind,
            bdepth=self.block_depth(scope.path),
            label=[title, call, self.costs(params, macs)],
            frame=frame_label,
            family="block",
            tip=tip,
            src=self.src(scope.span),
            children=[],
            train=live == 0,
        )
        self.of_scope[scope.path] = gid
        return gid

    def run(self, box: Box, level: int) -> None:
        """Fold the instance groups of a `diagram_view` run (and the merges between them) into a run item."""
        ids = [self.of_scope[s.path] for s in box.instances]
        parent = self.items[ids[0]]["parent"]
        siblings = self.items[parent]["children"] if parent else self.roots
        lo, hi = min(map(siblings.index, ids)), max(map(siblings.index, ids))
        inside = siblings[lo : hi + 1]
        members = set(box.members)
        if any(i not in ids and self.items[i]["path"] not in members for i in inside):
            return  # not a contiguous stretch of this frame (cannot happen for diagram_view's runs)
        first = box.scope
        assert first is not None
        frame = self.items[parent]["path"] if parent else ""
        common = {k: v for k, v in first.args.items() if all(s.args.get(k) == v for s in box.instances)}
        call = f"{first.name}({_args_text(common)})"
        last = box.instances[-1]
        out = self.g.nodes[last.output] if last.output else self.g.nodes[box.members[-1]]
        repeats = f"x{box.count}: " + ", ".join(s.path for s in box.instances)
        tip = [
            ["path", box.path],
            ["repeats", repeats],
            ["block", f"{first.name}({_args_text(common, 1 << 16)})"],
            ["layers", str(len(box.members))],
            *self.cost_rows(box.params, box.macs, out),
            *self.src_rows(first.span),
        ]
        rid = self.add(
            "run",
            box.path,
            parent,
            box.order,
            level=level,
            count=box.count,
            label=[f"{_relative(box.path, frame)} x{box.count}", call, self.costs(box.params, box.macs)],
            frame=f"{box.path} x{box.count}",
            family="block",
            tip=tip,
            src=self.src(first.span),
            children=inside,
            train=box.train_only,
        )
        for i in inside:
            self.items[i]["parent"] = rid
        siblings[lo : hi + 1] = [rid]

    # ------------------------------------------------------------ text
    def under(self, path: str) -> list[str]:
        return scope_members(self.g, path)

    def block_depth(self, path: str) -> int:
        return scope_block_depth(self.g, path)

    def costs(self, params: int, macs: int) -> str:
        return f"{fmt_count(params)} params, {fmt_count(macs)} MACs"

    def cost_rows(self, params: int, macs: int, out: Node) -> list[list[str]]:
        return [
            ["output", fmt_shape(out.shape)],
            ["params", f"{params:,}"],
            ["MACs", f"{macs:,} ({fmt_count(macs)})"],
            ["receptive field", _rf_text(self.g, out)],
        ]

    def layer_tip(self, node: Node) -> list[list[str]]:
        params = ", ".join(f"{k}={_value_text(v)}" for k, v in node.op.model_dump().items() if v is not None)
        rows = [["path", node.id], ["op", f"{node.op.kind}: {node.op.label()}"]]
        if params:
            rows.append(["parameters", params])
        if node.inputs:
            rows.append(["inputs", ", ".join(node.inputs)])
        rows += [
            ["output", fmt_shape(node.shape)],
            ["params", f"{node.params:,}"],
            ["MACs", f"{node.macs:,} ({fmt_count(node.macs)})"],
            ["receptive field", _rf_text(self.g, node)],
        ]
        if node.train_only:
            rows.append(["training only", "yes"])
        return rows + self.src_rows(node.span)

    def src(self, span: Any) -> list[Any] | None:
        if span is None or not span.file or span.line <= 0:
            return None
        self.lines.add((span.file, span.line))
        return [span.file, span.line, span.col]

    def src_rows(self, span: Any) -> list[list[str]]:
        if span is None or span.line <= 0:
            return []
        line = source_line(span.file, span.line) or ""
        return [["spec", f"{span.file}:{span.line}"], ["source", line.strip()]]

    def sources(self) -> dict[str, dict[str, str]]:
        """The spec lines the boxes come from, with CONTEXT_LINES around each: {file: {line: text}}."""
        out: dict[str, dict[str, str]] = {}
        for file, line in sorted(self.lines):
            for n in range(max(1, line - CONTEXT_LINES), line + CONTEXT_LINES + 1):
                text = source_line(file, n)  # only files this session parsed, never one read again from disk
                if text is not None:
                    out.setdefault(file, {})[str(n)] = text
        return out


def _rf_text(g: Graph, node: Node) -> str:
    rf = g.receptive().get(node.id)
    if rf is None:
        return "-"
    if rf.is_global:
        return "global (the whole input)"
    px, step = rf.size_jump()
    return f"{px} px (jump {step})" + (" + global context" if rf.context else "")


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value_text(x)}" for k, x in v.items()) + "}"
    return str(v)


def page_data(g: Graph, depth: int | None) -> dict[str, Any]:
    """Everything the page draws, as JSON-able data.

    Args:
        g: a checked graph.
        depth: the level of detail shown first (`diagram_view` depth; None = every layer).

    Returns:
        `{"name", "title", "depth", "maxDepth", "roots", "items", "edges", "sources", "colors"}`;
        `items[id]` has `kind` (layer, input, output, group, run), `path`, `parent`,
        `label` (lines), `tip` ([key, value] rows), `src` ([file, line, col]) and, for groups
        and runs, `children`; `edges` are `[src item, dst item, shape]` between layers.
    """
    check_page_size(g)
    d = _PageData(g)
    d.roots = d.walk(build_view(g, None).items, None, "")
    for level in range(max_depth(g) + 1):
        for box in runs(g, level):
            d.run(box, level)
    ins = drawn_inputs(g)
    edges = [
        [d.of_node[src], d.of_node[n.id], fmt_shape(g.nodes[src].shape)] for n in g.nodes.values() for src in ins[n.id]
    ]
    outputs = [it for it in d.items.values() if it["kind"] == "output"]
    edges += [[d.of_node[it["node"]], it["id"], fmt_shape(g.nodes[it["node"]].shape)] for it in outputs]
    title = (
        f"input {fmt_shape(g.input_shape)}  |  {g.params:,} params  |  {fmt_count(g.macs)} MACs  |  "
        f"{len(g.layers())} layers"
    )
    colors = {**FAMILY_COLORS, "block": BLOCK_COLOR, "io": IO_COLOR, "skip": SKIP_COLOR, "edge": EDGE_COLOR}
    return {
        "name": g.name,
        "title": title,
        "depth": depth,
        "maxDepth": max_depth(g),
        "roots": d.roots,
        "items": d.items,
        "edges": edges,
        "sources": d.sources(),
        "colors": colors,
    }


def check_page_size(g: Graph) -> None:
    """Refuse a graph with more than MAX_PAGE_LAYERS layers (the page holds every one)."""
    if len(g.nodes) > MAX_PAGE_LAYERS:
        raise SpecError(
            f"too large for the interactive page: {len(g.nodes):,} layers (at most {MAX_PAGE_LAYERS:,})",
            hint="draw an image at a depth instead (-o net.svg --depth N), or summarize it (netspec summary)",
        )


# ---------------------------------------------------------------- the page
def _script_json(value: Any) -> str:
    """JSON that is safe inside <script>: no `</script>`, `<!--` or U+2028 can end or confuse it."""
    text = dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _vendor_js() -> str:
    parts = []
    for name in VENDOR:
        text = (ASSETS / "vendor" / name).read_text(encoding="utf-8")
        text = re.sub(r"//# sourceMappingURL=\S+\s*$", "", text)  # the .map files are not shipped
        if "</script" in text.lower():
            raise ValueError(f"{name} contains '</script'; it cannot be inlined")
        parts.append(f"/* {name}: see compiler/html/vendor/README.md */\n{text}")
    return "\n".join(parts)


def page_html(
    data: dict[str, Any] | None, rankdir: str = "TB", live: dict[str, Any] | None = None, error: str | None = None
) -> str:
    """The self-contained page: vendored scripts, style, script and data inlined.

    Args:
        data: `page_data(...)`, or None when there is nothing to draw yet (a spec error).
        rankdir: "TB" or "LR", the first layout direction (the page has a toggle).
        live: for `netspec view`: `{"endpoint": "state.json", "version": n}`; the page polls it.
        error: a rendered SpecError to show above the drawing.
    """
    template = (ASSETS / "page.html").read_text(encoding="utf-8")
    config = {"rankdir": rankdir, "live": live, "error": error}
    name = data["name"] if data else "netspec"
    parts = {
        "TITLE": html.escape(f"{name} - netspec"),
        "STYLE": (ASSETS / "page.css").read_text(encoding="utf-8"),
        "VENDOR": _vendor_js(),
        "APP": (ASSETS / "page.js").read_text(encoding="utf-8"),
        "DATA": _script_json(data),
        "CONFIG": _script_json(config),
    }
    return re.sub(r"@@(TITLE|STYLE|VENDOR|APP|DATA|CONFIG)@@", lambda m: parts[m.group(1)], template)


def resolve_depth(g: Graph, depth: int | str | None) -> int | None:
    """`render`'s depth argument (None, an int, "2" or "full") -> a depth, or None for every layer."""
    d = parse_depth(depth)
    if d is None:
        return default_depth(g)
    return None if d == "full" else int(d)


def render_html(g: Graph, depth: int | str | None = None, rankdir: str = "TB") -> str:
    """The page for one graph, first shown at `depth` (as `render` takes it: None picks a readable one)."""
    return page_html(page_data(g, resolve_depth(g, depth)), rankdir)


def iframe(page: str, height: int = 640) -> str:
    """Wrap a page for Jupyter: an iframe whose srcdoc is the page, so its scripts run in any notebook."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width: 100%; height: {height}px; '
        f'border: 1px solid #ddd" sandbox="allow-scripts"></iframe>'
    )
