"""The interactive page (`render -o net.html`), loaded and driven in headless Chromium.

The browser is real (tests/browser.py talks the DevTools protocol to it): the page's
own script lays the graph out, the mouse events are the ones a user's mouse makes,
and what is checked is what the page then shows: how many boxes, the hover text,
the source line. Chromium missing is a failure, not a skip (scripts/setup.sh installs it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from browser import Chromium, Page

import netspec
from netspec.cli import main
from netspec.compiler.diagram_view import build_view, max_depth
from netspec.compiler.to_html import page_data, page_html, render_html
from netspec.graph import Graph
from netspec.library import library_index


@cache
def graph(name: str) -> Graph:
    return netspec.load(name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with Chromium() as b:
        yield b


def open_page(browser: Chromium, path: Path) -> Page:
    page = browser.open(path.as_uri())
    page.wait("document.body.dataset.ready === '1'")
    return page


def write_page(tmp_path: Path, g: Graph, depth: int | str | None = None, rankdir: str = "TB") -> Path:
    out = tmp_path / f"{g.name}.html"
    out.write_text(render_html(g, depth, rankdir), encoding="utf-8")
    return out


def center(page: Page, path: str) -> tuple[float, float]:
    """Where a box is on the screen, in CSS pixels; the view is first centred on it."""
    x, y = page.eval(f"""(() => {{
        const n = netspecPage.cy.getElementById(netspecPage.find({json.dumps(path)}));
        netspecPage.cy.center(n);
        const p = n.renderedPosition(), r = document.getElementById("cy").getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }})()""")
    return x, y


def visible(page: Page) -> tuple[int, int, int]:
    boxes, frames, edges = page.eval("[netspecPage.boxes(), netspecPage.frames(), netspecPage.cy.edges().length]")
    return boxes, frames, edges


# ---------------------------------------------------------------- the file
def test_page_is_one_self_contained_file(tmp_path: Path) -> None:
    text = write_page(tmp_path, graph("resnet50")).read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=|<link\b|@import|url\(http", text)  # nothing fetched
    assert "Cytoscape Consortium" in text and "cytoscape-dagre" in text  # vendored scripts, inlined
    assert "sourceMappingURL" not in text
    data = json.loads(re.search(r'id="netspec-data">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    assert data["name"] == "resnet50" and data["depth"] == 0
    lines = data["sources"]["specs/resnet.net"]
    assert "bottleneck" in lines["65"]  # the spec lines the boxes come from travel with the page


@pytest.mark.parametrize("name", sorted(library_index()))
def test_page_data_holds_every_layer_once(name: str) -> None:
    g = graph(name)
    data = page_data(g, 0)
    items = data["items"]
    layers = sorted(it["path"] for it in items.values() if it["kind"] in ("layer", "input"))
    assert layers == sorted(g.nodes)
    assert sorted(it["path"] for it in items.values() if it["kind"] == "output") == sorted(g.outputs)
    runs = {it["path"]: it["count"] for it in items.values() if it["kind"] == "run"}
    for d in range(max_depth(g) + 1):
        for box in build_view(g, d).boxes.values():
            if box.kind == "run":
                assert runs[box.path] == box.count  # every fold diagram_view makes at some depth
    reached: list[str] = []
    stack = list(data["roots"])
    while stack:
        iid = stack.pop()
        reached.append(iid)
        for child in items[iid].get("children", []):
            assert items[child]["parent"] == iid
            stack.append(child)
    assert sorted(reached) == sorted(items)  # one tree, each item in it once


def test_cli_and_jupyter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "u.html"
    assert main(["render", "unet", "-o", str(out), "--depth", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert '"depth":1' in out.read_text() and '"name":"unet"' in out.read_text()
    d = netspec.render("resnet18")
    frame = d._repr_html_()
    assert frame.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;') and 'sandbox="allow-scripts"' in frame
    assert d._repr_svg_() is not None  # static viewers still get the SVG


# ---------------------------------------------------------------- in the browser
def test_expand_collapse_and_hover_with_the_mouse(browser: Chromium, tmp_path: Path) -> None:
    page = open_page(browser, write_page(tmp_path, graph("resnet50"), depth=0))
    assert visible(page) == (17, 4, 16)  # as the SVG at depth 0: 17 boxes; frames layer1..layer4

    # Hover: the box's path, op and parameters, shape, params, MACs, receptive field and spec line.
    x, y = center(page, "layer1.0")
    page.hover(x, y)
    tip = page.wait("!document.getElementById('tip').hidden && document.getElementById('tip').innerText")
    assert "layer1.0" in tip and "bottleneck(planes=64, stride=1" in tip
    for row in (
        "output\t256x56x56",
        "params\t75,008",
        "MACs\t231,211,008 (231.21M)",
        "receptive field\t19 px (jump 4)",
        "spec\tspecs/resnet.net:65",
    ):
        assert row in tip, (row, tip)

    # Double-click opens the block in place: one box becomes its 12 layers in a frame.
    page.double_click(x, y)
    page.wait("netspecPage.boxes() === 28")
    assert visible(page) == (28, 6, 28)  # + frames layer1.0 and its downsample; 11 edges inside, 3 into it

    # A layer inside: hover shows the op with every parameter; a click shows its spec line.
    x, y = center(page, "layer1.0.conv2")
    page.hover(x, y)
    tip = page.wait(
        "document.getElementById('tip').dataset.path === 'layer1.0.conv2' && document.getElementById('tip').innerText"
    )
    assert "op\tconv: conv 3x3, 64" in tip and "stride=1" in tip and "padding=1" in tip
    assert "output\t64x56x56" in tip and "params\t36,864" in tip and "receptive field" in tip
    page.click(x, y)
    here = page.wait(
        "document.getElementById('panel').dataset.path === 'layer1.0.conv2' && "
        "document.querySelector('#panel .here').innerText"
    )
    line = graph("resnet50").nodes["layer1.0.conv2"].span.line
    spec_line = Path("specs/resnet.net").read_text().splitlines()[line - 1]
    assert here.endswith(spec_line) and "conv2" in spec_line
    assert page.eval("document.querySelector('#panel .where').innerText").startswith("specs/resnet.net:")

    # The xN run unfolds into its two instances, and folds again from its frame.
    x, y = center(page, "layer1.1-2")
    page.double_click(x, y)
    page.wait("netspecPage.boxes() === 29")
    assert page.eval("netspecPage.cy.getElementById(netspecPage.find('layer1.1-2')).isParent()")
    page.wait("netspecPage.cy.getElementById(netspecPage.find('layer1.2')).nonempty()")
    left, top = page.eval("""(() => { const bb = netspecPage.cy.getElementById(netspecPage.find('layer1.1-2'))
        .renderedBoundingBox(), r = document.getElementById('cy').getBoundingClientRect();
        return [r.left + bb.x1 + 3, r.top + (bb.y1 + bb.y2) / 2]; })()""")
    page.double_click(left, top)  # on the frame's own border, not on a box inside it
    page.wait("netspecPage.boxes() === 28")

    # The depth buttons reset to what the SVG shows at that depth.
    page.eval("document.querySelector('#depths button[data-depth=\"full\"]').click()")
    assert visible(page)[0] == len(graph("resnet50").nodes) + 1
    assert page.errors() == []


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "googlenet", "unet", "efficientnet_b0", "fcn8s"])
def test_every_depth_shows_what_the_svg_shows(browser: Chromium, tmp_path: Path, name: str) -> None:
    g = graph(name)
    page = open_page(browser, write_page(tmp_path, g))
    for depth in [*range(max_depth(g) + 1), None]:
        view = build_view(g, depth)
        page.eval(f"netspecPage.setDepth({json.dumps(depth)})")
        boxes, _, edges = visible(page)
        assert (boxes, edges) == (len(view.boxes), len(view.edges)), (name, depth)
        skips = page.eval("netspecPage.cy.edges('.skip').length")
        assert skips == sum(e.skip for e in view.edges), (name, depth)
    assert page.errors() == []


def test_any_text_is_safe_in_the_page(browser: Chromium, tmp_path: Path) -> None:
    # (A raw U+2028 in a spec is an error of its own; the page escapes it all the same.)
    text = """
block b(c, tag="") { conv c k=1 }
network odd() {
  input 3x8x8
  x: b(4, tag="</script><script>window.pwned=1</script> é <!--")
}
"""
    g = netspec.load_text(text, "odd")
    page = open_page(browser, write_page(tmp_path, g, depth=0))
    assert page.eval("window.pwned") is None
    x, y = center(page, "x")
    page.hover(x, y)
    tip = page.wait("!document.getElementById('tip').hidden && document.getElementById('tip').innerText")
    assert "</script><script>window.pwned=1</script> é" in tip
    assert page.errors() == []


def test_error_page_without_a_drawing(browser: Chromium, tmp_path: Path) -> None:
    out = tmp_path / "e.html"
    out.write_text(page_html(None, error="my.net:3:1: error: unexpected 'oops'"))
    page = open_page(browser, out)
    assert page.eval("document.getElementById('error').innerText") == "my.net:3:1: error: unexpected 'oops'"
    assert page.eval("netspecPage.cy.nodes().length") == 0 and page.errors() == []
