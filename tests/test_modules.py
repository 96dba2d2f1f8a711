"""The support modules against the torch / torchvision code they stand for."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.convnext import LayerNorm2d

from netspec.compiler.modules import (
    ChannelLayerNorm,
    GlobalPool,
    SelfMultiheadAttention,
    StochasticDepth,
    channel_affine,
    crop,
    slice_along,
    stochastic_depth,
)
from netspec.compiler.to_torch import op_function, op_inputs
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
    _, add = op_function(OPS["add"](), [(3, 4, 4), (3, 1, 1), (3, 4, 4)])
    assert torch.equal(add(a, b, c), a + b + c)
    _, cat = op_function(OPS["concat"](), [(3, 4, 4), (3, 4, 4)])
    assert torch.equal(cat(a, c), torch.cat([a, c], 1))
    assert torch.equal(GlobalPool("max")(a), F.adaptive_max_pool2d(a, 1))
    torch.testing.assert_close(GlobalPool("avg", keepdim=False)(a), F.adaptive_avg_pool2d(a, 1).flatten(1))
    with pytest.raises(ValueError):
        GlobalPool("sum")


def test_crop_and_functional_stochastic_depth() -> None:
    x = torch.randn(1, 2, 5, 7)
    assert torch.equal(crop(x, torch.empty(1, 1, 3, 3)), x[..., 1:4, 2:5])
    assert torch.equal(crop(x, torch.empty(1, 1, 2, 3), (0, 4)), x[..., 0:2, 4:7])
    assert torch.equal(stochastic_depth(x, 0.5, "row", training=False), x)


def test_self_attention_is_torchvision_vits() -> None:
    """Same state_dict keys as ViT's EncoderBlock.self_attention (an nn.MultiheadAttention), same output."""
    from torchvision.models.vision_transformer import EncoderBlock

    block = EncoderBlock(num_heads=2, hidden_dim=8, mlp_dim=16, dropout=0.0, attention_dropout=0.0)
    ref = block.self_attention
    ours = SelfMultiheadAttention(8, 2)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 5, 8)
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0])
    ours.eval(), ref.eval()
    with torch.no_grad():  # torch's fast path in eval
        torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0])


def test_slice_and_affine() -> None:
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(slice_along(x, -1, 1, None, 2), x[..., 1::2])
    assert torch.equal(slice_along(x, 1, stop=-1), x[:, :-1])
    assert torch.equal(channel_affine(x, (1.0, 2.0, 3.0)), x * torch.tensor([1.0, 2.0, 3.0]).view(1, 3, 1, 1))
    assert torch.equal(channel_affine(x, shift=(0.5,)), x + 0.5)
    flat = torch.randn(2, 3)
    assert torch.equal(channel_affine(flat, (2.0, 2.0, 2.0), (1.0, 1.0, 1.0)), flat * 2 + 1)
    assert channel_affine(x.double(), (1.0, 2.0, 3.0)).dtype == torch.float64


# Several outputs, index inputs or no batch: their forms are run against torch in tests/test_ops.py
# (registry examples) and tests/test_split.py / tests/test_param.py.
SPECIAL = {"chunk", "expand", "max_unpool", "param", "split"}


@pytest.mark.parametrize("kind", sorted(set(OPS) - SPECIAL))
def test_every_op_form_builds_from_data(kind: str) -> None:
    """Each op's torch form is data; its module form (when it has one) builds and holds the counted weights."""
    params, shapes = OPS[kind].example
    op = OPS[kind](**params)
    form = op.module(shapes)
    assert form is not None or op.call(shapes) is not None, f"{kind} has no torch form"
    module, fn = op_function(op, shapes)
    out = op.infer(shapes)
    if module is not None:
        assert sum(p.numel() for p in module.parameters()) == op.count_params(shapes, out)
    with torch.no_grad():
        y = fn(*op_inputs(op, shapes))
    assert tuple(y.shape[1:]) == out
