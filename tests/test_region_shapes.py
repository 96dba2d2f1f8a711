"""Region ops' shape rules and their refusals (no torch: the fast tier)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from netspec.ops import OPS, ShapeError


def test_region_shapes() -> None:
    assert OPS["roi_pool"](output_size=7, spatial_scale=1 / 16).infer([(512, 14, 14), (5,)]) == (512, 7, 7)
    assert OPS["roi_align"](output_size=[7, 5]).infer([(256, 50, 50), (5,)]) == (256, 7, 5)
    assert OPS["ps_roi_align"](output_size=7).infer([(21 * 49, 50, 50), (5,)]) == (21, 7, 7)
    assert OPS["roi_spp"]().infer([(256, 13, 13), (5,)]) == (256 * 50,)
    assert OPS["roi_spp"](levels=[4, 2, 1]).infer([(8, 13, 13), (5,)]) == (8 * 21,)
    fpn = OPS["multiscale_roi_align"](output_size=7, sampling_ratio=2, scales=[1 / 4, 1 / 8, 1 / 16, 1 / 32])
    assert fpn.infer([(256, 200, 200), (256, 100, 100), (256, 50, 50), (256, 25, 25), (5,)]) == (256, 7, 7)
    assert fpn.levels() == (2, 5) and fpn.label() == "multiscale_roi_align 7x7 P2-P5"


def test_region_ops_read_boxes_as_the_batch_of_their_output() -> None:
    for kind in ("roi_pool", "roi_align", "ps_roi_align", "roi_spp", "multiscale_roi_align"):
        cls = OPS[kind]
        assert cls.box_inputs == (-1,) and cls.batch_input == -1 and cls.family == "region"
    assert OPS["conv"].box_inputs == () and OPS["conv"].batch_input == 0


@pytest.mark.parametrize(
    ("kind", "params", "shapes", "message"),
    [
        ("roi_align", {"output_size": 7}, [(256, 50, 50), (4,)], r"needs boxes \(K,5\).*last input is \(K,4\)"),
        ("roi_pool", {"output_size": 7}, [(256, 50, 50), (3, 5)], r"needs boxes \(K,5\)"),
        ("roi_pool", {"output_size": 7}, [(256,), (5,)], r"needs a \(C,H,W\) feature map"),
        ("ps_roi_align", {"output_size": 7}, [(100, 50, 50), (5,)], "channels divisible by 49"),
        (
            "multiscale_roi_align",
            {"output_size": 7, "sampling_ratio": 2, "scales": [0.25, 0.125]},
            [(256, 8, 8), (5,)],
            "2 scales but 1 feature maps",
        ),
        (
            "multiscale_roi_align",
            {"output_size": 7, "sampling_ratio": 2, "scales": [0.25, 0.125]},
            [(256, 8, 8), (128, 4, 4), (5,)],
            "same channels",
        ),
    ],
)
def test_region_shape_errors(kind: str, params: dict[str, object], shapes: list[tuple[int, ...]], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        OPS[kind](**params).infer(shapes)


@pytest.mark.parametrize(
    ("scales", "message"),
    [([0.3], "powers of two"), ([0.25, 0.0625], "halve"), ([0.125, 0.25], "halve"), ([], "at least 1")],
)
def test_multiscale_scales_form_a_pyramid(scales: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OPS["multiscale_roi_align"](output_size=7, sampling_ratio=2, scales=scales)


def test_region_parameters_are_bounded() -> None:
    with pytest.raises(ValidationError):
        OPS["roi_align"](output_size=7, sampling_ratio=-2)
    with pytest.raises(ValidationError):
        OPS["roi_align"](output_size=7, spatial_scale=0)
    with pytest.raises(ValidationError):
        OPS["roi_spp"](levels=list(range(1, 20)))
