"""Encoder-decoders drawn like their papers: each down stage and its up stage on one row.

Positions are read from the SVG that dot draws: every `<g class="node">` has a title
(the box id) and a shape whose centre is the box's position. A row is a set of
boxes whose centres share a y (within a pixel).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.compiler.diagram_view import build_view
from netspec.compiler.to_graphviz import Diagram, render
from netspec.compiler.u_layout import find_u
from netspec.graph import Graph
from netspec.library import library_index

SVG = "{http://www.w3.org/2000/svg}"
ENCODER_DECODERS = {"unet", "unet_padded", "fcn16s", "fcn8s", "hypercolumn"}


@cache
def graph(name: str) -> Graph:
    return netspec.load(name)


def positions(d: Diagram) -> dict[str, tuple[float, float]]:
    """Box path -> centre (x, y) of its shape in the SVG (y grows downwards)."""
    root = ET.fromstring(d.pipe("svg"))
    by_id = {b.id: b.path for b in d.view.boxes.values() if b.kind != "output"}
    out: dict[str, tuple[float, float]] = {}
    for g in root.iter(f"{SVG}g"):
        title = g.find(f"{SVG}title")
        if g.get("class") != "node" or title is None or title.text not in by_id:
            continue
        xs: list[float] = []
        ys: list[float] = []
        for shape in g.iter():  # the shape sits in the tooltip's <a>
            if shape.tag == f"{SVG}ellipse":
                xs.append(float(shape.get("cx", 0)))
                ys.append(float(shape.get("cy", 0)))
            coords = ""
            if shape.tag in (f"{SVG}polygon", f"{SVG}path"):
                coords = shape.get("points") or shape.get("d") or ""
            nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", coords)]
            xs += nums[0::2]
            ys += nums[1::2]
        out[by_id[title.text]] = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    return out


def same_row(pos: dict[str, tuple[float, float]], *paths: str) -> bool:
    ys = [pos[p][1] for p in paths]
    return max(ys) - min(ys) < 1.0


def test_unet_is_a_u_at_depth_0() -> None:
    pos = positions(render("unet", depth=0))
    for k in (1, 2, 3, 4):
        assert same_row(pos, f"down{k}", f"up{k}"), k  # the skip runs straight across
        assert pos[f"up{k}"][0] > pos[f"down{k}"][0]  # contracting path left, expanding path right
    downs = [pos[f"down{k}"] for k in (1, 2, 3, 4)] + [pos["bottom"]]
    ups = [pos[f"up{k}"] for k in (4, 3, 2, 1)]
    assert [y for _, y in downs] == sorted(y for _, y in downs)  # down the left side
    assert [y for _, y in ups] == sorted((y for _, y in ups), reverse=True)  # up the right side
    assert max(x for x, _ in downs[:4]) - min(x for x, _ in downs[:4]) < 1.0  # a column each
    assert max(x for x, _ in ups) - min(x for x, _ in ups) < 1.0
    assert same_row(pos, "input", "down1", "up1", "out")  # the paper's top row: input tile ... output map


@pytest.mark.parametrize("depth", [1, "full"])
def test_unet_stages_share_rows(depth: int | str) -> None:
    """Opened up, a whole down stage and its whole up stage are one row (its first pooling sits above)."""
    d = render("unet", depth=depth)
    pos = positions(d)
    g = graph("unet")
    for k in (1, 2, 3, 4):
        stage = [n for n in g.nodes if n.startswith(f"down{k}.convs.") or n.startswith(f"up{k}.")]
        boxes = {d.view.boxes[d.view.box_of[n]].path for n in stage}
        assert len(boxes) >= (2 if depth == 1 else 9)
        assert same_row(pos, *boxes), (k, sorted(boxes))
    rows = [pos[f"down{k}.convs.3" if depth == "full" else f"down{k}.convs"][1] for k in (1, 2, 3, 4)]
    assert rows == sorted(rows)


@pytest.mark.parametrize("name", ["fcn8s", "fcn16s"])
def test_fcn_pooled_features_share_rows_with_their_fusion(name: str) -> None:
    pos = positions(render(name))
    assert same_row(pos, "pool4", "score_pool4", "fuse_pool4", "upscore2")
    assert pos["fuse_pool4"][0] > pos["pool4"][0]
    if name == "fcn8s":
        assert same_row(pos, "pool3", "score_pool3", "fuse_pool3", "upscore_pool4")
        assert pos["pool3"][1] < pos["pool4"][1]
        assert abs(pos["pool3"][0] - pos["pool4"][0]) < 1.0 and abs(pos["fuse_pool3"][0] - pos["fuse_pool4"][0]) < 1.0


def test_hypercolumn_features_rise_to_their_row() -> None:
    pos = positions(render("hypercolumn", depth=0))
    assert same_row(pos, "stage2.3", "hyper.0", "hyper.1", "hyper.2", "hyper.3", "classifier")
    assert pos["stage5.5"][1] > pos["stage2.3"][1]  # the deep stages below, their upsamplers up in the row


def test_layout_chain_turns_it_off() -> None:
    pos = positions(render("unet", depth=0, layout="chain"))
    ys = [pos[p][1] for p in ("down1", "down4", "bottom", "up4", "up1")]
    assert ys == sorted(ys)  # one column, top to bottom
    assert "rank=same" not in render("unet", layout="chain").source
    assert "rank=same" not in render("unet", rankdir="LR").source  # LR keeps its own U (test_render)
    with pytest.raises(netspec.SpecError, match="layout must be 'auto' or 'chain'"):
        render("unet", layout="paper")


def test_cli_layout(tmp_path: Path) -> None:
    out = tmp_path
    assert main(["render", "unet", "-o", str(out / "u.dot"), "--depth", "0"]) == 0
    assert main(["render", "unet", "-o", str(out / "c.dot"), "--depth", "0", "--layout", "chain"]) == 0
    assert "rank=same" in (out / "u.dot").read_text() and "rank=same" not in (out / "c.dot").read_text()


@pytest.mark.parametrize("name", sorted(library_index()))
def test_only_encoder_decoders_get_a_u(name: str) -> None:
    """Residual shortcuts, SE gates, ASPP's image pooling, inception branches, crops to the input: no U."""
    g = graph(name)
    assert (find_u(build_view(g, 0)) is not None) == (name in ENCODER_DECODERS)
