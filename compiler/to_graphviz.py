"""Draw a checked graph as an architecture diagram (graphviz: svg, png, pdf or dot).

    netspec render resnet50 -o resnet50.svg                 # blocks as boxes, stages folded
    netspec render unet -o unet.svg --rankdir LR --depth full
    d = netspec.render("resnet50", depth=1); d.save("r.png")   # shows inline in Jupyter

What is drawn (which blocks are boxes, which are opened into frames, which
repeats fold into one `layer1.1-2 x2` box) is decided by `diagram_view`; see
its docstring for the rules and the default depth. This module only styles it:

- a box per layer shows its name and `op.label()` (`conv 3x3/2, 64`); a box per
  block shows its path, the block call, and its params and MACs; boxes are
  filled by op family (`Op.family`), explained by a legend;
- every edge is labelled with the tensor shape it carries (batch left out);
- skip connections (a value that is also used much later: residual shortcuts,
  dense and U-Net concats) are blue and bold; with `rankdir="LR"` the long ones
  do not pull on the layout (`constraint=false`, high weight on the main path),
  so the main path dips under them and a U-Net draws as a U;
- training-only parts (auxiliary heads) are dashed;
- the title gives the network, its input shape, its params and MACs;
- top to bottom, an encoder-decoder (U-Net, FCN, hypercolumns) is drawn as its
  paper does, each down stage and its up stage on one row (`u_layout`; `layout="chain"`
  turns it off);
- with a `highlight` (`netspec render SPEC --diff BASE`), boxes are filled by how
  they compare with BASE instead: green = new, amber = changed (a block box when
  anything inside it changed), white = the same; BASE's layers that SPEC lacks
  cannot be drawn, so the legend lists them in red.

`Diagram.save("net.html")` writes the interactive page instead (`to_html`), and
Jupyter shows that page.

Labels are HTML-escaped and dot identifiers are generated (`n0`, `n1` ...), so
any layer name renders. Files are written whole or not at all (a temporary file
in the same folder, then `os.replace`). Without the `dot` program a `.dot` file
is still written and the message says how to turn it into an image.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graphviz  # type: ignore[import-untyped]

from netspec.arguments import brief
from netspec.errors import SpecError
from netspec.files import check_output, shown, write_atomic
from netspec.fmt import fmt_count as fmt_count
from netspec.fmt import fmt_shape as _fmt_shape
from netspec.graph import Graph
from netspec.ops import Family, Shape

from .diagram_view import Box, Cluster, Edge, View, box_bounds, build_view, deepest_within, default_depth
from .u_layout import ULayout, find_u

if TYPE_CHECKING:
    from netspec.diff import Highlight

FORMATS = ("svg", "png", "pdf", "dot")
LAYOUTS = ("auto", "chain")
# Bounds that keep `dot` within seconds for any graph that checks: a view with more boxes or
# edges is refused (with the depth that fits); at most MAX_CROSSING long edges pass any rank
# (the rest are drawn as `@source` stubs beside their reader: a value read by 140 layers in
# a row kept dot busy for over ten minutes); and dot itself is stopped after DOT_TIMEOUT.
MAX_BOXES = 1000
MAX_EDGES = 2000
MAX_CROSSING = 12
DOT_TIMEOUT = 60.0
INSTALL_HINT = (
    "install Graphviz (apt-get install graphviz, brew install graphviz, or conda install graphviz), "
    "then: dot -T{fmt} {dot} -o {image}"
)

# One fill per op family, keyed by every Family member (a test checks), in legend order. Family is a
# StrEnum, so the page builder (to_html) may mix these keys with plain strings ("block", "io").
FAMILY_COLORS: dict[str, str] = {
    Family.CONV: "#a6cee3",
    Family.LINEAR: "#b2df8a",
    Family.NORM: "#fdbf6f",
    Family.ACTIVATION: "#fb9a99",
    Family.POOL: "#cab2d6",
    Family.MERGE: "#ffffb3",
    Family.RESIZE: "#8dd3c7",
    Family.SHAPE: "#e5e5e5",
    Family.REGULARIZE: "#fccde5",
    Family.ATTENTION: "#ffd92f",
    Family.REGION: "#bc80bd",
    Family.OTHER: "#ffffff",
}
BLOCK_COLOR = "#dbe4f3"
IO_COLOR = "#f2f2f2"
SKIP_COLOR = "#1f5fa8"
EDGE_COLOR = "#555555"
FONT = "Helvetica"


# ---------------------------------------------------------------- text
def fmt_shape(shape: Shape) -> str:
    """(64, 56, 56) -> `64x56x56`; the batch dimension is never shown."""
    return _fmt_shape(shape, batch=False)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _args_text(args: dict[str, Any], limit: int = 48) -> str:
    parts = []
    for k, v in args.items():
        if isinstance(v, tuple):
            v = "[" + ", ".join(str(x) for x in v) + "]"
        elif isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, str):
            v = f'"{v}"'
        parts.append(f"{k}={v}")
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _common_args(box: Box) -> dict[str, Any]:
    """The block arguments shared by every instance of a run (drop rates often differ)."""
    assert box.scope is not None
    return {k: v for k, v in box.scope.args.items() if all(s.args.get(k) == v for s in box.instances)}


def _relative(path: str, cluster: str) -> str:
    """A name inside its frame: `layer2.0.conv1` in `layer2.0` -> `conv1`; `layer1.1-2` in `layer1` stays."""
    if not cluster or not path.startswith(cluster + "."):
        return path
    rel = path[len(cluster) + 1 :]
    return f"{cluster.rpartition('.')[2]}.{rel}" if rel[:1].isdigit() else rel


def box_label(view: View, box: Box, cluster: str) -> str:
    """The HTML label of a box (see the module docstring for what each kind shows)."""
    small = '<FONT POINT-SIZE="9">{}</FONT>'
    if box.kind == "input":
        return f"<<B>input</B><BR/>{_e(fmt_shape(box.shape))}>"
    if box.kind == "output":
        return f"<<B>{_e(box.path)}</B><BR/>{_e(fmt_shape(box.shape))}>"
    if box.kind == "op":
        node = view.graph.nodes[box.members[0]]
        name = _relative(box.path, cluster)
        head = "" if box.path.rpartition(".")[2].isdigit() else f"<B>{_e(name)}</B><BR/>"
        return f"<{head}{_e(node.op.label())}>"
    assert box.scope is not None
    title = _relative(box.path, cluster) + (f" x{box.count}" if box.kind == "run" else "")
    call = f"{box.scope.name}({_args_text(_common_args(box))})"
    costs = f"{fmt_count(box.params)} params, {fmt_count(box.macs)} MACs"
    return f"<<B>{_e(title)}</B><BR/>{_e(call)}<BR/>{small.format(_e(costs))}>"


def edge_label(edge: Edge) -> str:
    shapes = [fmt_shape(s) for s in edge.shapes]
    if len(shapes) == 1:
        return shapes[0]
    if len(set(shapes)) == 1:
        return f"{len(shapes)} x {shapes[0]}"
    text = ", ".join(shapes[:3])
    return text + (", ..." if len(shapes) > 3 else "")


def title_label(view: View, highlight: Highlight | None = None) -> str:
    """Network name; input, params, MACs and level; then the legend, in one HTML table."""
    g = view.graph
    level = "full" if view.depth is None else f"depth {view.depth}"
    line = f"input {fmt_shape(g.input_shape)}  |  {g.params:,} params  |  {fmt_count(g.macs)} MACs  |  {level}"
    cells = _legend_cells(view) if highlight is None else _diff_legend(highlight)
    legend = (
        f'<TR><TD><TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2"><TR>{cells}</TR></TABLE></TD></TR>'
        if cells
        else ""
    )
    return (
        f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">'
        f'<TR><TD><FONT POINT-SIZE="16"><B>{_e(g.name)}</B></FONT></TD></TR>'
        f"<TR><TD>{_e(line)}</TD></TR>{legend}</TABLE>>"
    )


# ---------------------------------------------------------------- graphviz
def _family(view: View, box: Box) -> Family | None:
    """An op box's family; None for block, input and output boxes."""
    if box.kind == "op":
        return view.graph.nodes[box.members[0]].op.family
    return None


def _node_attrs(view: View, box: Box) -> dict[str, str]:
    fam = _family(view, box)
    attrs = {"shape": "box", "style": "rounded,filled", "tooltip": graphviz.escape(box.path)}
    if box.kind in ("input", "output"):
        attrs.update(shape="oval", style="filled", fillcolor=IO_COLOR)
    elif box.kind in ("block", "run"):
        attrs.update(style="filled,bold", fillcolor=BLOCK_COLOR)
        if box.kind == "run":
            attrs["peripheries"] = "2"  # a stack of equal blocks
    else:
        attrs["fillcolor"] = FAMILY_COLORS[fam if fam is not None else Family.OTHER]
    if box.train_only:
        attrs["style"] += ",dashed"
    return attrs


def _edge_attrs(edge: Edge, rankdir: str, layout: str = "auto") -> dict[str, str]:
    attrs = {"label": edge_label(edge), "color": EDGE_COLOR}
    styles = []
    if edge.skip:
        attrs.update(color=SKIP_COLOR, fontcolor=SKIP_COLOR, penwidth="1.6")
        if rankdir == "LR" and layout != "chain":
            attrs.update(weight="8", tailport="n", headport="n")
    else:
        attrs["weight"] = "1" if rankdir == "LR" else "4"
    if edge.train_only:
        styles.append("dashed")
    if styles:
        attrs["style"] = ",".join(styles)
    return attrs


def _add_items(view: View, dot: graphviz.Digraph, items: list[Box | Cluster], cluster: str) -> None:
    for it in items:
        if isinstance(it, Box):
            dot.node(it.id, box_label(view, it, cluster), **_node_attrs(view, it))
            continue
        scope = it.scope
        kind = f" : {scope.name}" if scope.kind == "block" else ""
        with dot.subgraph(name=it.id) as sub:
            sub.attr(
                label=f"<<B>{_e(scope.path)}</B>{_e(kind)}>",
                labeljust="l",
                fontsize="10",
                style="rounded,filled" if scope.kind == "block" else "rounded,dashed",
                fillcolor="#f6f8fc",
                color="#8a9bb8" if scope.kind == "block" else "#b0b0b0",
            )
            _add_items(view, sub, it.items, scope.path)


def _legend_cells(view: View) -> str:
    """One coloured cell per op family drawn, then blocks, skips and training-only parts if any."""
    families = {_family(view, b) for b in view.boxes.values()}
    cell = '<TD BGCOLOR="{}"><FONT POINT-SIZE="9">{}</FONT></TD>'
    cells = [cell.format(FAMILY_COLORS[f], f) for f in FAMILY_COLORS if f in families]
    if any(b.kind in ("block", "run") for b in view.boxes.values()):
        cells.append(cell.format(BLOCK_COLOR, "block, x N repeated"))
    if any(e.skip for e in view.edges):
        cells.append(f'<TD BORDER="0"><FONT POINT-SIZE="9" COLOR="{SKIP_COLOR}">&#8594; skip</FONT></TD>')
    if any(b.train_only for b in view.boxes.values()):
        cells.append('<TD STYLE="dashed"><FONT POINT-SIZE="9">training only</FONT></TD>')
    if far_edges(view):
        cells.append(f'<TD BORDER="0"><FONT POINT-SIZE="9" COLOR="{SKIP_COLOR}">@x: reads x, far above</FONT></TD>')
    return "".join(cells)


def _u_rows(view: View, dot: graphviz.Digraph, rankdir: str, layout: str) -> ULayout | None:
    """Draw an encoder-decoder like its paper: each down stage and its up stage on one row (`u_layout`).

    Adds a `rank=same` subgraph per row and the invisible guide edges that line the
    skips up; `_u_edge` then loosens the edges that climb. Only for top-to-bottom
    layouts: LR draws its U by the skip edges' ports and weights (`_edge_attrs`).
    """
    if layout == "chain" or rankdir != "TB":
        return None
    u = find_u(view)
    if u is None:
        return None
    for row in u.rows:
        with dot.subgraph() as sub:
            sub.attr(rank="same")
            for box in row:
                sub.node(box)
    for a, b in u.guides:
        dot.edge(a, b, style="invis", weight="10")
    return u


def _u_edge(u: ULayout | None, edge: Edge, attrs: dict[str, str]) -> dict[str, str]:
    if u is not None and (edge.src, edge.dst) in u.loose:
        attrs.update(constraint="false", weight="0")
    elif u is not None and (edge.src, edge.dst) in u.slack:
        attrs["weight"] = "1"
    return attrs


def to_dot(
    view: View, rankdir: str = "TB", highlight: Highlight | None = None, layout: str = "auto"
) -> graphviz.Digraph:
    """A graphviz Digraph for a view (boxes coloured by a diff when `highlight` is given).

    `layout="chain"` turns the encoder-decoder U (`_u_rows`) off.
    """
    dot = graphviz.Digraph(view.graph.name or "network")
    dot.attr(
        rankdir=rankdir,
        label=title_label(view, highlight),
        labelloc="t",
        fontname=FONT,
        nodesep="0.25",
        ranksep="0.3",
        newrank="true",
    )
    dot.attr("node", fontname=FONT, fontsize="10", margin="0.12,0.04", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="8", arrowsize="0.6")
    _add_items(view, dot, view.items, "")
    u = _u_rows(view, dot, rankdir, layout)
    far = far_edges(view)
    # Skips first: dot then orders their chains first (on top in LR), so the main path dips under them.
    for e in sorted(view.edges, key=lambda e: e.skip):
        attrs = _u_edge(u, e, _edge_attrs(e, rankdir, layout))
        if id(e) in far:
            _stub(view, dot, e, attrs)
        else:
            dot.edge(e.src, e.dst, **attrs)
    if highlight is not None:
        _mark_diff(view, dot, highlight)
    return dot


def far_edges(view: View, limit: int = MAX_CROSSING) -> set[int]:
    """The long edges (by id) drawn as stubs, so that at most `limit` long edges pass any rank.

    Edges are kept shortest first; one that would pass a rank `limit` kept edges already
    pass becomes a stub. dot routes an edge that spans k ranks through k - 1 virtual nodes,
    and many of them side by side (a tensor read by every layer of a long chain) make its
    crossing minimisation and placement explode; the library's networks stay under the limit.
    """
    crossing: dict[int, int] = {}
    far: set[int] = set()
    for e in sorted(view.edges, key=lambda e: e.span):
        if e.span <= 1 or e.dst not in view.boxes or e.src not in view.boxes:
            continue
        ranks = range(view.boxes[e.src].rank + 1, view.boxes[e.dst].rank)
        if any(crossing.get(r, 0) >= limit for r in ranks):
            far.add(id(e))
            continue
        for r in ranks:
            crossing[r] = crossing.get(r, 0) + 1
    return far


def _stub(view: View, dot: graphviz.Digraph, e: Edge, attrs: dict[str, str]) -> None:
    """Draw an edge as a small `@source` label beside its reader."""
    src = view.boxes[e.src]
    stub = f"{e.src}_to_{e.dst}"
    dot.node(
        stub,
        f"<@{_e(src.path)}>",
        shape="plaintext",
        fontcolor=SKIP_COLOR,
        fontsize="9",
        height="0.2",
        tooltip=graphviz.escape(f"reads {src.path}, drawn far above"),
    )
    for key in ("constraint", "tailport", "headport"):
        attrs.pop(key, None)
    dot.edge(stub, e.dst, **attrs)


# ---------------------------------------------------------------- diff colours (render --diff)
DIFF_COLORS = {"added": ("#b9e4b0", "#2e7d32"), "changed": ("#ffd98e", "#c77800"), "removed": ("#f7b6b6", "#c62828")}
SAME_COLOR = "#ffffff"


def diff_status(box: Box, highlight: Highlight) -> str | None:
    """added when every layer of the box is new, changed when any is new or differs, else None."""
    marks = [highlight.status.get(m) for m in box.members]
    if box.kind in ("input", "output") or not any(marks):
        return None
    return "added" if all(m == "added" for m in marks) else "changed"


def _mark_diff(view: View, dot: graphviz.Digraph, highlight: Highlight) -> None:
    # A node statement repeated after its first one only updates its attributes (in dot),
    # so the boxes keep their labels, shapes and frames and only change colour.
    for box in view.boxes.values():
        if box.kind in ("input", "output"):
            continue
        status = diff_status(box, highlight)
        if status is None:
            dot.node(box.id, fillcolor=SAME_COLOR, color="#9a9a9a")
        else:
            fill, line = DIFF_COLORS[status]
            dot.node(box.id, fillcolor=fill, color=line, penwidth="2")


def _diff_legend(highlight: Highlight, limit: int = 8) -> str:
    cell = '<TD BGCOLOR="{}"><FONT POINT-SIZE="9">{}</FONT></TD>'
    cells = [
        cell.format(DIFF_COLORS["added"][0], f"new (not in {_e(highlight.baseline)})"),
        cell.format(DIFF_COLORS["changed"][0], "changed"),
        cell.format(SAME_COLOR, "same"),
    ]
    if highlight.removed:
        names = ", ".join(highlight.removed[:limit])
        more = f" and {len(highlight.removed) - limit} more" if len(highlight.removed) > limit else ""
        text = f"removed (only in {highlight.baseline}): {names}{more}"
        cells.append(
            f'<TD BGCOLOR="{DIFF_COLORS["removed"][0]}"><FONT POINT-SIZE="9" '
            f'COLOR="{DIFF_COLORS["removed"][1]}">{_e(text)}</FONT></TD>'
        )
    return "".join(cells)


# ---------------------------------------------------------------- the diagram object
class Diagram:
    """A rendered view: `.source` (dot text), `.save(path)` (.html: the interactive page), and Jupyter display."""

    def __init__(
        self, view: View, rankdir: str = "TB", highlight: Highlight | None = None, layout: str = "auto"
    ) -> None:
        self.view = view
        self.rankdir = rankdir
        self.highlight = highlight
        self.layout = layout
        self._dot: graphviz.Digraph | None = None

    @property
    def dot(self) -> graphviz.Digraph:
        """The graphviz Digraph, made on first use (the page needs none)."""
        if self._dot is None:
            self._dot = to_dot(self.view, self.rankdir, self.highlight, self.layout)
        return self._dot

    @property
    def source(self) -> str:
        return str(self.dot.source)

    def pipe(self, fmt: str, dot_path: Path | None = None, timeout: float = DOT_TIMEOUT) -> bytes:
        """Lay out with `dot` and return the image bytes.

        Raises SpecError when the view has more boxes or edges than dot lays out in
        seconds (naming the depth that fits), when `dot` is missing (after writing the
        source to `dot_path`, if given), fails, or runs longer than `timeout` seconds.
        """
        self.check_size()  # before the source is even made
        exe = shutil.which("dot")
        if exe is None:
            notes = []
            if dot_path is not None:
                write_atomic(dot_path, self.source.encode("utf-8"), self.view.graph.files)
                notes.append(f"wrote the diagram source to {shown(dot_path)}")
            image = dot_path.with_suffix(f".{fmt}") if dot_path else f"FILE.{fmt}"
            raise SpecError(
                "the Graphviz 'dot' program is not installed, so no image can be drawn",
                notes=notes,
                hint=INSTALL_HINT.format(fmt=fmt, dot=dot_path or "FILE.dot", image=image),
            )
        try:
            proc = subprocess.run(
                [exe, f"-T{fmt}"], input=self.source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            v = self.view
            raise SpecError(
                f"Graphviz 'dot' did not finish laying out {len(v.boxes)} boxes and {len(v.edges)} edges "
                f"in {timeout:g} s, and was stopped",
                hint=f"draw less: {_depth_advice(v)}; or save the diagram as .dot and run dot yourself",
            ) from None
        except OSError as err:
            raise SpecError(f"cannot run Graphviz 'dot': {err.strerror or err}") from None
        if proc.returncode != 0 and b"init_rank" in proc.stderr and self.layout != "chain":
            # dot cannot always rank a U's rows across frames (a feature pyramid drawn in full):
            # draw the same view as a chain instead
            self.layout, self._dot = "chain", None
            return self.pipe(fmt, dot_path, timeout)
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace").strip()[:500]
            raise SpecError(
                f"Graphviz 'dot' failed: {stderr or f'exit status {proc.returncode}'}",
                hint="save the diagram as .dot and report it as a netspec bug",
            )
        return proc.stdout

    def check_size(self) -> None:
        """Refuse a view with more than MAX_BOXES boxes or MAX_EDGES edges, naming a depth that fits."""
        v = self.view
        if len(v.boxes) > MAX_BOXES or len(v.edges) > MAX_EDGES:
            level = "full depth" if v.depth is None else f"depth {v.depth}"
            raise SpecError(
                f"too large to lay out at this depth: {len(v.boxes):,} boxes and {len(v.edges):,} edges at {level} "
                f"(at most {MAX_BOXES:,} boxes and {MAX_EDGES:,} edges)",
                hint=_depth_advice(v),
            )

    def save(self, path: str | os.PathLike[str], fmt: str | None = None, protect: tuple[str, ...] = ()) -> Path:
        """Write `.svg`, `.png`, `.pdf`, `.dot` or `.html` (`fmt`, else by suffix), whole or not at all.

        Never over a spec file the graph was read from (nor one in `protect`).
        """
        protect = (*self.view.graph.files, *protect)
        out = check_output(path, protect)
        fmt = fmt or out.suffix.lower().lstrip(".")
        if fmt == "gv":
            fmt = "dot"
        if fmt in ("html", "htm"):
            write_atomic(out, self.html().encode("utf-8"), protect)
            return out
        if fmt not in FORMATS:
            raise SpecError(
                f"cannot render to '{shown(out.name)}'",
                hint="use a .svg, .png, .pdf or .dot file name, or .html for an interactive page",
            )
        data = self.source.encode("utf-8") if fmt == "dot" else self.pipe(fmt, dot_path=out.with_suffix(".dot"))
        write_atomic(out, data, protect)
        return out

    def html(self) -> str:
        """The interactive page (`to_html`): one self-contained file, blocks open and close in place."""
        from .to_html import render_html

        return render_html(self.view.graph, "full" if self.view.depth is None else self.view.depth, self.rankdir)

    def _repr_html_(self) -> str | None:
        """Jupyter shows the interactive page (in an iframe, so its scripts run); static viewers get the SVG."""
        from .to_html import iframe

        try:
            return iframe(self.html())
        except SpecError:
            return None  # too large for the page: Jupyter tries the SVG, then __repr__

    def _repr_svg_(self) -> str | None:
        if shutil.which("dot") is None:
            return None  # Jupyter falls back to __repr__, which says what is missing
        try:
            return self.pipe("svg").decode("utf-8")
        except SpecError:
            return None  # too large or too slow: __repr__ and the page (_repr_html_) remain

    def __repr__(self) -> str:
        depth = "full" if self.view.depth is None else self.view.depth
        note = "" if shutil.which("dot") else " (install Graphviz 'dot' to draw it)"
        return (
            f"<Diagram {self.view.graph.name}: depth {depth}, {len(self.view.boxes)} boxes, "
            f"{len(self.view.edges)} edges{note}>"
        )


def _precheck(g: Graph, depth: int | str | None) -> None:
    """Refuse a depth whose view surely has too many boxes to lay out, before building it."""
    d = parse_depth(depth)
    if d is None:
        return
    if d == "full":
        n, level = len(g.nodes) + len(g.outputs), "full depth"
    else:
        _, lower = box_bounds(g)
        n, level = lower[min(int(d), len(lower) - 1)], f"depth {d}"
    if n > MAX_BOXES:
        view = View(g, None if d == "full" else int(d), [], {}, [], {})
        raise SpecError(
            f"too large to lay out at this depth: {n:,} boxes or more at {level} (at most {MAX_BOXES:,})",
            hint=_depth_advice(view),
        )


def _depth_advice(view: View) -> str:
    """What to draw instead of a view too large (or too slow) to lay out: a smaller `--depth N`
    (the deepest whose view has at most MAX_BOXES boxes), or the page when none is smaller."""
    fits = deepest_within(view.graph, MAX_BOXES)
    if fits is not None and view.depth is not None:
        fits = min(fits, view.depth - 1)  # something smaller than what failed
    if fits is None or fits < 0:
        return "no smaller depth draws this network; write the interactive page instead (-o net.html)"
    return f"use --depth {fits} (render(..., depth={fits}) in Python)"


# ---------------------------------------------------------------- entry points
def parse_depth(depth: int | str | None) -> int | str | None:
    """`None` (default), an int >= 0 or `"full"`; strings from the command line are converted."""
    if depth is None or depth == "full":
        return depth
    if isinstance(depth, str) and re.fullmatch(r"[0-9]{1,4}", depth.strip()):  # ASCII digits: int() reads others
        return int(depth)
    if isinstance(depth, int) and not isinstance(depth, bool) and depth >= 0:
        return min(depth, 9999)  # deeper than any nesting the checker allows
    raise SpecError(
        f"depth must be a number >= 0 or 'full', got {brief(depth)}",
        hint="0 draws blocks as boxes; 'full' draws every layer",
    )


def make_view(g: Graph, depth: int | str | None = None) -> View:
    d = parse_depth(depth)
    if d is None:
        d = default_depth(g)
    return build_view(g, None if d == "full" else int(d))


def render(
    spec: str | os.PathLike[str] | Graph,
    /,
    *,
    depth: int | str | None = None,
    rankdir: str = "TB",
    input: Shape | None = None,
    diff: str | os.PathLike[str] | Graph | None = None,
    layout: str = "auto",
    limits: Any = None,
    import_roots: Any = (),
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Diagram:
    """Diagram of a spec or a checked Graph.

    Args:
        spec: a library name (`resnet50`), a file, `file.net:network`, a Path, or a Graph.
        depth: block nesting to open (0 = top-level blocks as boxes), `"full"` for
            every layer, or None for the deepest level that stays under ~60 boxes.
        rankdir: `"TB"` (top to bottom) or `"LR"` (left to right).
        layout: `"auto"` draws an encoder-decoder (U-Net, FCN, hypercolumns) as a U,
            each down stage beside its up stage (see `u_layout`); `"chain"` does not.
        input, limits, import_roots, params, kwargs: passed to `netspec.load` when `spec`
            is not a Graph (a network parameter named like an option goes in `params`).
        diff: a baseline spec or Graph: colour what `spec` adds or changes against it.

    Returns:
        A Diagram; `.save("net.svg")` writes it, Jupyter shows it inline.
    """
    if rankdir not in ("TB", "LR"):
        raise SpecError(f"rankdir must be 'TB' or 'LR', got {rankdir!r}")
    if layout not in LAYOUTS:
        raise SpecError(f"layout must be 'auto' or 'chain', got {layout!r}")
    from netspec.library import load

    options: dict[str, Any] = {"input": input, "limits": limits, "import_roots": import_roots}
    if isinstance(spec, Graph):
        if params or kwargs or input is not None:
            raise SpecError("render: network parameters and input= need a spec, not a checked Graph")
        g = spec
    else:
        g = load(spec, **options, params=params, **kwargs)
    highlight = None
    if diff is not None:
        from netspec.diff import highlight as diff_highlight

        base = diff if isinstance(diff, Graph) else load(diff, **options)
        highlight = diff_highlight(base, g, "" if isinstance(diff, Graph) else os.fspath(diff))
    return Diagram(make_view(g, depth), rankdir, highlight, layout)


def render_cli(graph: Graph, args: Any, highlight: Highlight | None = None, protect: tuple[str, ...] = ()) -> int:
    """`netspec render SPEC -o FILE [--depth N|full] [--rankdir TB|LR] [--layout auto|chain] [--diff BASE]`."""
    kind = getattr(args, "format", None)
    if args.output != "-":  # before any layout work
        kind = kind or check_output(args.output, (*graph.files, *protect)).suffix.lower().lstrip(".")
    if kind in ("svg", "png", "pdf"):
        _precheck(graph, args.depth)
    elif kind in ("html", "htm"):
        from .to_html import check_page_size

        check_page_size(graph)
    diagram = Diagram(make_view(graph, args.depth), args.rankdir, highlight, getattr(args, "layout", "auto"))
    fmt = getattr(args, "format", None)
    if args.output == "-":  # text formats only (the command line refuses png and pdf)
        fmt = fmt or "dot"
        text = diagram.html() if fmt == "html" else diagram.source if fmt == "dot" else diagram.pipe(fmt).decode()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    out = diagram.save(args.output, fmt, protect)
    view = diagram.view
    depth = "full" if view.depth is None else view.depth
    print(f"wrote {shown(out)}: {len(view.boxes)} boxes, {len(view.edges)} edges (depth {depth})")
    if highlight is not None:
        marks = [diff_status(b, highlight) for b in view.boxes.values()]
        print(
            f"diff against {highlight.baseline}: {marks.count('added')} boxes new, "
            f"{marks.count('changed')} changed, {len(highlight.removed)} layers removed"
        )
    if (fmt or out.suffix.lower().lstrip(".")) in ("dot", "gv") and shutil.which("dot") is None:
        hint = INSTALL_HINT.format(fmt="svg", dot=out, image=out.with_suffix(".svg"))
        print(f"note: the Graphviz 'dot' program is not installed; to get an image, {hint}", file=sys.stderr)
    return 0
