"""The support modules against the torch / torchvision code they stand for."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.convnext import LayerNorm2d

from netspec.compiler.exprs import SUPPORT, describe, render
from netspec.compiler.modules import ChannelLayerNorm, Concat, Crop, Elementwise, GlobalPool, Pad, StochasticDepth, Upsample
from netspec.ops import OPS

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_stochastic_depth_is_torchvisions(mode: str, p: float) -> None:
    x = torch.randn(6, 3, 4, 4)
    torch.manual_seed(1)
    want = torchvision.ops.stochastic_depth(x, p, mode, training=True)
    torch.manual_seed(1)
    got = StochasticDepth(p, mode).train()(x)
    assert torch.equal(got, want)
    assert torch.equal(StochasticDepth(p, mode).eval()(x), x)


def test_channel_layer_norm_is_convnexts() -> None:
    ref = LayerNorm2d(5, eps=1e-6)
    with torch.no_grad():
        ref.weight.uniform_()
        ref.bias.uniform_()
    ours = ChannelLayerNorm(5, 1e-6)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 3, 4)
    torch.testing.assert_close(ours(x), ref(x))
    flat = torch.randn(3, 5)
    torch.testing.assert_close(ours(flat), F.layer_norm(flat, (5,), ours.weight, ours.bias, 1e-6))
    assert list(ChannelLayerNorm(5, affine=False).parameters()) == []


def test_merges_and_pools() -> None:
    a, b, c = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 1, 1), torch.randn(2, 3, 4, 4)
    assert torch.equal(Elementwise("add")(a, b, c), a + b + c)
    assert torch.equal(Elementwise("mul")(a, b), a * b)
    assert torch.equal(Concat()(a, c), torch.cat([a, c], 1))
    assert torch.equal(GlobalPool("max")(a), F.adaptive_max_pool2d(a, 1))
    torch.testing.assert_close(GlobalPool("avg", keepdim=False)(a), F.adaptive_avg_pool2d(a, 1).flatten(1))
    with pytest.raises(ValueError):
        Elementwise("sub")


def test_resizing() -> None:
    x, ref = torch.randn(1, 2, 5, 7), torch.empty(1, 9, 11, 3)
    assert torch.equal(Upsample(2.0)(x), F.interpolate(x, scale_factor=2.0))
    assert Upsample(mode="bilinear", align_corners=True)(x, ref).shape == (1, 2, 11, 3)
    assert Upsample(size=(3, 3))(x).shape == (1, 2, 3, 3)
    assert torch.equal(Crop()(x, torch.empty(1, 1, 3, 3)), x[..., 1:4, 2:5])
    assert torch.equal(Crop((0, 4))(x, torch.empty(1, 1, 2, 3)), x[..., 0:2, 4:7])
    assert torch.equal(Pad((1, 2, 3, 4), value=0.5)(x), F.pad(x, (1, 2, 3, 4), value=0.5))
    assert torch.equal(Pad((1, 1, 2, 2), mode="reflect")(x), F.pad(x, (1, 1, 2, 2), mode="reflect"))


def _pairs(text: str) -> str:
    """Pools keep `kernel_size` as given; the source writes (3, 3) as 3, which means the same."""
    return re.sub(r"\((\d+), \1\)", r"\1", text)


@pytest.mark.parametrize("kind", sorted(OPS))
def test_every_op_module_round_trips_through_source(kind: str) -> None:
    """describe() writes each op's module back as a constructor that rebuilds it exactly."""
    params, shapes = OPS[kind].example
    module = OPS[kind](**params).build(shapes)
    text = render(describe(module))
    rebuilt = eval(text, {"nn": torch.nn, "OrderedDict": dict, **SUPPORT})  # noqa: S307  (our literal source)
    assert type(rebuilt) is type(module)
    assert _pairs(repr(rebuilt)) == _pairs(repr(module))
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in module.state_dict().items()}
