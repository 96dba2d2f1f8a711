"""Region ops equal torchvision.ops: roi_pool, roi_align, ps_roi_align, roi_spp, multiscale_roi_align."""

from __future__ import annotations

import builtins
from collections import OrderedDict
from typing import Any

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from netspec.compiler import regions
from netspec.compiler.to_torch import op_function, op_inputs
from netspec.ops import OPS

pytestmark = pytest.mark.torch


def _boxes(n_images: int, k: int, size: float, gen: torch.Generator, lo: float = 1.0) -> torch.Tensor:
    """k boxes (batch_index, x1, y1, x2, y2) per image, sides from `lo` to `size`, sorted by image."""
    rows = []
    for i in range(n_images):
        corner = torch.rand(k, 2, generator=gen) * size * 0.5
        side = lo + torch.rand(k, 2, generator=gen) * (size * 0.5 - lo)
        rows.append(torch.cat([torch.full((k, 1), float(i)), corner, corner + side], 1))
    return torch.cat(rows)


def _run(kind: str, params: dict[str, Any], x: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
    op = OPS[kind](**params)
    shapes = [tuple(t.shape[1:]) for t in x] + [(5,)]
    out = op.infer(shapes)
    _, fn = op_function(op, shapes)
    y = fn(*x, boxes)
    assert tuple(y.shape) == (boxes.shape[0], *out)
    assert op.count_params(shapes, out) == 0 and op.count_macs(shapes, out) == 0
    return y


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(4, 20),
    w=st.integers(4, 20),
    size=st.sampled_from([1, 2, 3, 7, [2, 3]]),
    scale=st.sampled_from([1.0, 0.5, 0.25, 1 / 16]),
    ratio=st.sampled_from([-1, 0, 1, 2]),
    aligned=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_roi_align_and_roi_pool_equal_torchvision(
    h: int, w: int, size: Any, scale: float, ratio: int, aligned: bool, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, h, w, generator=gen)
    boxes = _boxes(2, 3, max(h, w) / scale, gen)
    out = tuple(size) if isinstance(size, list) else size
    got = _run(
        "roi_align",
        {"output_size": size, "spatial_scale": scale, "sampling_ratio": ratio, "aligned": aligned},
        [x],
        boxes,
    )
    assert torch.equal(got, torchvision.ops.roi_align(x, boxes, out, scale, ratio, aligned))
    got = _run("roi_pool", {"output_size": size, "spatial_scale": scale}, [x], boxes)
    assert torch.equal(got, torchvision.ops.roi_pool(x, boxes, out, scale))


@pytest.mark.parametrize(("size", "ratio"), [(1, -1), (2, 2), ([2, 3], 0), (3, 1)])
def test_ps_roi_align_equals_torchvision(size: Any, ratio: int) -> None:
    gen = torch.Generator().manual_seed(1)
    out = tuple(size) if isinstance(size, list) else (size, size)
    x = torch.randn(2, 2 * out[0] * out[1], 12, 10, generator=gen)
    boxes = _boxes(2, 4, 40, gen)
    got = _run("ps_roi_align", {"output_size": size, "spatial_scale": 0.25, "sampling_ratio": ratio}, [x], boxes)
    assert got.shape[1] == 2
    assert torch.equal(got, torchvision.ops.ps_roi_align(x, boxes, out, 0.25, ratio))


def test_roi_spp_is_sppnet_pyramid_of_roi_max_pools() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 13, 13, generator=gen)
    boxes = _boxes(2, 3, 13 * 16, gen, lo=16)
    got = _run("roi_spp", {"spatial_scale": 1 / 16}, [x], boxes)  # the paper's 6x6, 3x3, 2x2, 1x1
    assert got.shape == (6, 5 * 50)
    pools = [torchvision.ops.roi_pool(x, boxes, n, 1 / 16).flatten(1) for n in (6, 3, 2, 1)]
    assert torch.equal(got, torch.cat(pools, 1))


def _pyramid(gen: torch.Generator, image: int, levels: range) -> OrderedDict[str, torch.Tensor]:
    return OrderedDict((f"p{k}", torch.randn(2, 4, image >> k, image >> k, generator=gen)) for k in levels)


@pytest.mark.parametrize(
    ("levels", "output_size", "ratio"), [(range(2, 6), 7, 2), (range(3, 5), [3, 2], -1), (range(4, 5), 2, 0)]
)
def test_multiscale_roi_align_equals_torchvision(levels: range, output_size: Any, ratio: int) -> None:
    """Boxes from 4 to 512 pixels reach every level, clamped at both ends, as torchvision maps them."""
    gen = torch.Generator().manual_seed(3)
    image = 512
    feats = _pyramid(gen, image, levels)
    big = torch.tensor([[0, 0, 0, 511, 500], [1, 3, 2, 480, 470]])
    boxes = torch.cat([_boxes(2, 12, image, gen, lo=4.0), big])
    boxes = boxes[torch.sort(boxes[:, 0], stable=True).indices]  # torchvision's order: image by image
    scales = [2.0**-k for k in levels]
    params = {"output_size": output_size, "sampling_ratio": ratio, "scales": scales}
    got = _run("multiscale_roi_align", params, list(feats.values()), boxes)
    tv = torchvision.ops.MultiScaleRoIAlign(list(feats), output_size, ratio)
    per_image = [boxes[boxes[:, 0] == i, 1:] for i in range(2)]
    want = tv(feats, per_image, [(image, image)] * 2)
    assert torch.equal(got, want)
    if len(levels) > 1:  # the boxes really spread over the levels
        mapped = regions.box_levels(boxes, levels[0], levels[-1])
        assert set(mapped.tolist()) == set(range(len(levels)))


def test_multiscale_level_rule_is_fpn_eq1_with_torchvision_eps() -> None:
    """A 224x224 box goes to P4; 112 to P3; a box just below 224 (within eps of log2) stays on P3."""
    boxes = torch.tensor([[0, 0, 0, 224, 224], [0, 0, 0, 112, 112], [0, 0, 0, 448, 448], [0, 0, 0, 223.99, 224]])
    levels = regions.box_levels(boxes, 2, 5)
    mapper = torchvision.ops.poolers.LevelMapper(2, 5)
    assert levels.tolist() == [2, 1, 3, 1]
    assert torch.equal(levels, mapper([boxes[:, 1:]]))


def test_multiscale_module_form_equals_call_form() -> None:
    params, shapes = OPS["multiscale_roi_align"].example
    op = OPS["multiscale_roi_align"](**params)
    form = op.module(shapes)
    assert form is not None and form.cls == "netspec.compiler.regions:MultiScaleRoIAlign"
    module = regions.MultiScaleRoIAlign(*form.args, **dict(form.kwargs))
    assert not list(module.parameters()) and not module.state_dict()
    _, fn = op_function(op, shapes)
    torch.manual_seed(4)
    xs = op_inputs(op, shapes, boxes=6)
    assert torch.equal(module(*xs), fn(*xs))


def test_missing_torchvision_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_torchvision(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "torchvision":
            raise ModuleNotFoundError("No module named 'torchvision'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(ImportError, match=r"torchvision is not installed: pip install torchvision"):
        regions.roi_align(torch.randn(1, 1, 4, 4), torch.tensor([[0.0, 0, 0, 2, 2]]), 2)
    with pytest.raises(ImportError, match="pip install torchvision"):
        regions.MultiScaleRoIAlign(7, 2, (0.25, 0.125))


SPEC = """
network boxes_from_a_layer() {
  input 3x32x32
  c: conv 8 k=3 p=1
  p: maxpool 2
  boxes: [global_pool keepdim=false, linear 5]
  @c -> box_roi_pool: multiscale_roi_align @p @boxes 7 sampling_ratio=2 scales=[1, 0.5]
  output pooled: roi_align @boxes 7 spatial_scale=0.5 sampling_ratio=2
  output spp: @c -> roi_spp @boxes
}
"""


def test_generated_source_calls_torchvision_through_region_support(tmp_path: Any) -> None:
    """Named multiscale pooling is a module (torchvision's box_roi_pool), the others plain calls; ruff-clean."""
    import subprocess
    import sys
    from pathlib import Path

    import netspec
    from netspec.compiler.to_torch import to_source

    graph = netspec.load(_write(tmp_path, SPEC))
    assert graph.nodes["box_roi_pool"].shape == (8, 7, 7) and graph.nodes["spp"].shape == (8 * 50,)
    text = to_source(graph)
    assert "Needs only torch and torchvision" in text
    assert "self.box_roi_pool = MultiScaleRoIAlign(7, 2, (1.0, 0.5))" in text
    assert "x = self.box_roi_pool(c, p, boxes)" in text
    assert "pooled = roi_align(x, boxes, 7, spatial_scale=0.5, sampling_ratio=2)" in text
    assert "def require_torchvision()" in text and "import torchvision.ops" in text
    out = tmp_path / "model.py"
    out.write_text(text)
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        # E501: only the header line naming the spec's long temporary path
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--no-cache",
            "--config",
            str(root / "pyproject.toml"),
            "--extend-ignore",
            "E501",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout


def _write(tmp_path: Any, text: str) -> str:
    path = tmp_path / "spec.net"
    path.write_text(text)
    return str(path)
