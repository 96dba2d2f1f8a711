"""Diagrams: every library network at depths 0, 1 and full, checked in the SVG that dot draws.

The SVG is parsed with xml.etree: `<g class="node">` per box, `<g class="edge">` per
edge (title `n3->n4`, text = the shape label), `<g class="cluster">` per opened scope.
Counts are compared with what the checked graph implies at that depth.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.compiler import to_graphviz
from netspec.compiler.diagram_view import MAX_DEFAULT_BOXES, View, build_view, default_depth, drawn_inputs, max_depth
from netspec.compiler.to_graphviz import Diagram, fmt_shape, render
from netspec.graph import Graph
from netspec.library import library_index

SVG = "{http://www.w3.org/2000/svg}"
LIBRARY = sorted(library_index())


@cache
def graph(name: str) -> Graph:
    return netspec.load(name)


def parse_svg(data: bytes | str) -> dict[str, dict[str, ET.Element]]:
    """Groups of an SVG by class, keyed by their <title> (node id, `a->b`, cluster name)."""
    root = ET.fromstring(data)
    out: dict[str, dict[str, ET.Element]] = {"node": {}, "edge": {}, "cluster": {}}
    for g in root.iter(f"{SVG}g"):
        cls = g.get("class")
        if cls in out:
            title = g.find(f"{SVG}title")
            assert title is not None and title.text
            out[cls][re.sub(r":[nsew]+\b", "", title.text)] = g  # n4:n->n6:n (ports) -> n4->n6
    return out


def texts(el: ET.Element) -> list[str]:
    return ["".join(t.itertext()).replace("\xa0", " ") for t in el.iter(f"{SVG}text")]


def block_depth(g: Graph, path: str) -> int:
    parts = path.split(".")
    prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return sum(1 for p in prefixes if p in g.scopes and g.scopes[p].kind == "block")


def enclosing_block(g: Graph, nid: str, depth: int) -> str | None:
    """The outermost block instance nested deeper than `depth` that holds `nid`, if any."""
    parts = nid.split(".")
    for i in range(1, len(parts)):
        p = ".".join(parts[:i])
        if p in g.scopes and g.scopes[p].kind == "block" and block_depth(g, p) > depth:
            return p
    return None


def expected_boxes(g: Graph, view: View) -> int:
    """Boxes the graph implies at a depth: free layers + closed blocks, less what runs fold."""
    if view.depth is None:
        return len(g.nodes) + len(g.outputs)
    closed = {enclosing_block(g, nid, view.depth) for nid in g.nodes} - {None}
    free = [nid for nid in g.nodes if enclosing_block(g, nid, view.depth) is None]
    folded = 0
    for box in view.boxes.values():
        if box.kind == "run":
            inside = {s.path for s in box.instances}
            glue = [m for m in box.members if enclosing_block(g, m, view.depth) not in inside]
            folded += box.count - 1 + len(glue)
    return len(free) + len(closed) - folded + len(g.outputs)


def expected_edges(g: Graph, view: View) -> set[tuple[str, str]]:
    """Distinct (box, box) pairs over every graph edge (as drawn), plus one edge per output."""
    ins = drawn_inputs(g)
    pairs = {(view.box_of[s], view.box_of[n]) for n in g.nodes for s in ins[n]}
    pairs = {(a, b) for a, b in pairs if a != b}
    outs = {b.path: b.id for b in view.boxes.values() if b.kind == "output"}
    return pairs | {(view.box_of[nid], outs[name]) for name, nid in g.outputs.items()}


# ---------------------------------------------------------------- the whole library
@pytest.mark.parametrize("depth", [0, 1, "full"])
@pytest.mark.parametrize("name", LIBRARY)
def test_library_svg_matches_graph(name: str, depth: int | str) -> None:
    g = graph(name)
    if depth == "full" and len(g.nodes) > to_graphviz.MAX_BOXES:  # EfficientNetV2-L: 1,094 layers
        with pytest.raises(netspec.SpecError, match="too large to lay out at this depth"):
            render(g, depth=depth).pipe("svg")
        return
    d = render(g, depth=depth)
    view = d.view
    svg = parse_svg(d.pipe("svg"))

    # Every layer is drawn exactly once, inside a box that holds whole block instances.
    members = [m for b in view.boxes.values() for m in b.members]
    assert sorted(members) == sorted(g.nodes)
    assert sum(b.params for b in view.boxes.values()) == g.params
    for b in view.boxes.values():
        for s in b.instances:
            assert set(b.members) >= {n for n in g.nodes if n.startswith(s.path + ".")}

    assert len(svg["node"]) == len(view.boxes) == expected_boxes(g, view)
    pairs = expected_edges(g, view)
    assert {tuple(t.split("->")) for t in svg["edge"]} == pairs
    assert len(svg["cluster"]) == len(view.clusters())

    # Each edge label names the shape of a layer in the source box that feeds the target box.
    ins = drawn_inputs(g)
    for title, el in svg["edge"].items():
        src, dst = title.split("->")
        label = " ".join(texts(el))
        feeding = {
            fmt_shape(g.nodes[s].shape) for n in view.boxes[dst].members for s in ins[n] if view.box_of[s] == src
        }
        if view.boxes[dst].kind == "output":
            feeding = {fmt_shape(g.nodes[g.outputs[view.boxes[dst].path]].shape)}
        shown = set(re.findall(r"\d+(?:x\d+)*", label.split(" x ", 1)[-1]))  # "6 x 32x56x56" -> 32x56x56
        assert shown and shown <= feeding, (title, label, feeding)


def test_default_depth_stays_readable() -> None:
    for name in LIBRARY:
        g = graph(name)
        n = len(build_view(g, default_depth(g)).boxes)
        assert n <= 80, (name, n)
        if default_depth(g) > 0:
            assert n <= MAX_DEFAULT_BOXES, (name, n)
        if default_depth(g) < max_depth(g):
            assert len(build_view(g, default_depth(g) + 1).boxes) > MAX_DEFAULT_BOXES, name


def test_largest_networks_at_default_depth() -> None:
    for name in ("densenet201", "efficientnet_b7", "seresnet152", "resnet152"):
        g = graph(name)
        assert default_depth(g) == 0
        assert len(build_view(g, None).boxes) > 500  # so the default really is a summary
        assert len(build_view(g, 0).boxes) < 30


def _expand(g: Graph, ins: dict[str, tuple[str, ...]], nid: str) -> list[str]:
    """The real inputs behind a drawn concat: an earlier concat drawn as an input stands for its own inputs."""
    drawn, real = ins[nid], g.nodes[nid].inputs
    return list(real) if drawn == real else [*_expand(g, ins, drawn[0]), *drawn[1:]]


def test_concat_ladder_is_the_same_concatenation() -> None:
    """Drawn inputs of a concat, with earlier concats expanded, are exactly its real inputs."""
    for name in ("densenet121", "googlenet", "unet", "resnet18"):
        g = graph(name)
        ins = drawn_inputs(g)
        for nid, n in g.nodes.items():
            if ins[nid] != n.inputs:
                assert n.op.kind == "concat" and len(ins[nid]) < len(n.inputs)
                assert g.nodes[ins[nid][0]].op.kind == "concat"
                assert _expand(g, ins, nid) == list(n.inputs)
    dense = graph("densenet121")
    concats = [n for n in dense.nodes.values() if n.op.kind == "concat"]
    assert all(len(drawn_inputs(dense)[n.id]) == 2 for n in concats)  # a ladder: previous + new


# ---------------------------------------------------------------- folding
def test_resnet50_stages_fold() -> None:
    d = render("resnet50", depth=0)
    svg = parse_svg(d.pipe("svg"))
    labels = [" ".join(texts(el)) for el in svg["node"].values()]
    heads = [lab.split(" ")[0] for lab in labels]
    for stage, n in ((1, 3), (2, 4), (3, 6), (4, 3)):
        assert f"layer{stage}.0" in heads
        run = f"layer{stage}.1-{n - 1} x{n - 1}"
        assert any(lab.startswith(run + " bottleneck(") for lab in labels), run
    assert len(svg["node"]) == 17  # input, 4 stem layers, 8 stage boxes, avgpool, flatten, fc, out
    runs = [b for b in d.view.boxes.values() if b.kind == "run"]
    assert [b.count for b in runs] == [2, 3, 5, 2]
    assert all(b.params == sum(graph("resnet50").nodes[m].params for m in b.members) for b in runs)


def test_densenet_layers_fold_through_their_concats() -> None:
    view = build_view(graph("densenet121"), 0)
    runs = {b.path.rpartition(".")[2]: b.count for b in view.boxes.values() if b.kind == "run"}
    assert runs == {"denselayer1-6": 6, "denselayer1-12": 12, "denselayer1-24": 24, "denselayer1-16": 16}


SMALL = """
block unit(c, p=0.0) { conv c k=3 p=1; relu; dropout p }
network chain(n=4) {
  input 3x16x16
  stage: { for i in range(n) { unit(8, p=0.1 * i) } }
}
network parallel() {
  input 3x16x16
  concat { a: unit(8); b: unit(8) }
}
network differ() {
  input 3x16x16
  unit(8); unit(16); unit(16)
}
network lonely() {
  input 3x16x16
  unit(8); relu; unit(8)
}
"""


def _runs(network: str) -> list[tuple[str, int]]:
    view = build_view(netspec.load_text(SMALL, network), 0)
    return [(b.path, b.count) for b in view.boxes.values() if b.kind == "run"]


def test_fold_rules() -> None:
    assert _runs("chain") == [("stage.0-3", 4)]  # dropout rates differ, structure does not
    assert _runs("parallel") == []  # branches read the same input: not a chain
    assert _runs("differ") == [("1-2", 2)]  # the first differs (16 vs 8 channels)
    assert _runs("lonely") == []  # a layer between them breaks the run
    full = build_view(netspec.load_text(SMALL, "chain"), None)
    assert not [b for b in full.boxes.values() if b.kind in ("run", "block")]


# ---------------------------------------------------------------- styling
def node_y(el: ET.Element) -> float:
    return float(next(el.iter(f"{SVG}text")).get("y", "nan"))


def node_x(el: ET.Element) -> float:
    return float(next(el.iter(f"{SVG}text")).get("x", "nan"))


def test_unet_draws_as_a_u_left_to_right() -> None:
    d = render("unet", depth=0, rankdir="LR")
    svg = parse_svg(d.pipe("svg"))
    by_path = {b.path: svg["node"][b.id] for b in d.view.boxes.values()}
    path = ["down1", "down2", "down3", "down4", "bottom", "up4", "up3", "up2", "up1"]
    ys = [node_y(by_path[p]) for p in path]
    xs = [node_x(by_path[p]) for p in path]
    assert xs == sorted(xs)  # left to right
    assert ys[:5] == sorted(ys[:5]) and ys[4:] == sorted(ys[4:], reverse=True)  # down, then up: a U
    skips = [e for e in d.view.edges if e.skip]
    assert sorted((d.view.boxes[e.src].path, d.view.boxes[e.dst].path) for e in skips) == [
        ("down1", "up1"),
        ("down2", "up2"),
        ("down3", "up3"),
        ("down4", "up4"),
    ]
    for e in skips:
        assert 'stroke="#1f5fa8"' in ET.tostring(svg["edge"][f"{e.src}->{e.dst}"], encoding="unicode")


def test_residual_shortcuts_are_skips() -> None:
    view = build_view(graph("resnet18"), None)
    skips = [e for e in view.edges if e.skip]
    assert len(skips) == 5  # identity shortcuts; the 3 projection shortcuts are branches
    assert all(view.graph.nodes[view.boxes[e.dst].members[0]].op.kind == "add" for e in skips)


def test_training_only_parts_are_dashed() -> None:
    d = render("googlenet", depth=0, aux_logits=True)
    svg = parse_svg(d.pipe("svg"))
    dashed = {t for t, el in svg["node"].items() if "stroke-dasharray" in ET.tostring(el, encoding="unicode")}
    train = {b.id for b in d.view.boxes.values() if b.train_only}
    assert train == dashed
    assert sorted(d.view.boxes[b].path for b in train) == ["aux1", "aux1", "aux2", "aux2"]  # blocks, outputs


def test_colours_follow_op_families_with_a_legend() -> None:
    d = render("resnet18", depth="full")
    src = d.source
    for fam in ("conv", "norm", "activation", "pool", "merge", "linear", "shape"):
        assert f'BGCOLOR="{to_graphviz.FAMILY_COLORS[fam]}"><FONT POINT-SIZE="9">{fam}<' in src
    assert "regularize" not in src  # the legend lists only what is drawn
    conv = next(b for b in d.view.boxes.values() if b.path == "conv1")
    assert re.search(rf'{conv.id} \[label=<<B>conv1</B><BR/>conv 7x7/2, 64> fillcolor="#a6cee3"', src)


def test_title_names_network_input_params_and_macs() -> None:
    svg = render("resnet50", depth=0).pipe("svg").decode()
    text = " ".join(texts(ET.fromstring(svg))[:3])
    assert "resnet50" in text and "input 3x224x224" in text
    assert "25,557,032 params" in text and "4.09G MACs" in text


def test_any_text_renders_escaped() -> None:
    text = """
block b(c, tag="") { conv c k=1 }
network odd() {
  input 3x8x8
  x: b(4, tag="a<b>&c 'q' </TD> ]]> é")
}
"""
    g = netspec.load_text(text, "odd")
    svg = render(g, depth=0).pipe("svg")
    assert any("a<b>&c 'q' </TD> ]]> é" in t for t in texts(ET.fromstring(svg)))


# ---------------------------------------------------------------- files, CLI, Jupyter
def test_diagram_object(tmp_path: Path) -> None:
    d = netspec.render("resnet18")
    assert isinstance(d, Diagram)
    svg = d._repr_svg_()
    assert svg is not None and svg.lstrip().startswith("<?xml")
    for suffix in ("svg", "png", "pdf", "dot"):
        out = d.save(tmp_path / f"r.{suffix}")
        assert out.stat().st_size > 100
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "r.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "r.dot").read_text().startswith("digraph resnet18")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.dot", "r.pdf", "r.png", "r.svg"]


def test_cli_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "u.svg"
    assert main(["render", "unet", "-o", str(out), "--depth", "full", "--rankdir", "LR"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert len(parse_svg(out.read_bytes())["node"]) == len(graph("unet").nodes) + 1
    assert main(["render", "resnet18", "-o", str(tmp_path / "r.svg"), "--depth", "0", "--set", "num_classes=10"]) == 0
    nodes = parse_svg((tmp_path / "r.svg").read_bytes())["node"]
    assert ["out", "10"] in [texts(el) for el in nodes.values()]  # the output box
    for bad in (["--depth", "deep"], ["--depth", "-1"]):
        assert main(["render", "resnet18", "-o", str(tmp_path / "x.svg"), *bad]) == 1
        assert "depth must be a number >= 0 or 'full'" in capsys.readouterr().err
    assert main(["render", "resnet18", "-o", str(tmp_path / "x.jpg")]) == 1
    assert "use a .svg, .png, .pdf or .dot" in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))


def test_failed_layout_leaves_old_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.svg"
    out.write_text("old")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"  # a `dot` that fails as a broken Graphviz would
    fake.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(netspec.SpecError, match="Graphviz 'dot' failed: Error: syntax error in line 1"):
        render("resnet18").save(out)
    assert out.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["bin", "r.svg"]


def test_interrupted_write_leaves_old_file_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "r.dot"
    out.write_text("old")

    def disk_full(src: object, dst: object) -> None:  # the data is written, the rename never happens
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("netspec.files.os.replace", disk_full)
    with pytest.raises(netspec.SpecError, match="No space left on device"):
        render("resnet18").save(out)
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.dot"]


def test_without_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `dot` anywhere
    svg = tmp_path / "r.svg"
    assert main(["render", "resnet18", "-o", str(svg)]) == 1
    err = capsys.readouterr().err
    assert "'dot' program is not installed" in err and "apt-get install graphviz" in err
    assert f"dot -Tsvg {tmp_path / 'r.dot'} -o {svg}" in err
    assert not svg.exists() and (tmp_path / "r.dot").read_text().startswith("digraph resnet18")

    dot = tmp_path / "s.dot"
    assert main(["render", "resnet18", "-o", str(dot)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and "apt-get install graphviz" in captured.err
    assert dot.read_text() == render("resnet18").source

    d = render("resnet18")
    assert d._repr_svg_() is None and "install Graphviz" in repr(d)
    with pytest.raises(netspec.SpecError, match="not installed"):
        d.pipe("svg")


def test_render_api_errors() -> None:
    with pytest.raises(netspec.SpecError, match="rankdir"):
        render("resnet18", rankdir="RL")
    with pytest.raises(netspec.SpecError, match="depth"):
        render("resnet18", depth=-2)
    with pytest.raises(netspec.SpecError, match="has no parameter .nonsense."):
        render("resnet18", depth=0, nonsense=3)
