"""Pure-torch deformable convolution against torchvision.ops.deform_conv2d (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from netspec.compiler.deform import DeformConv2d, deform_conv2d

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`


def _inputs(b, c, h, w, c_out, k, s, p, d, g, og, modulated, seed=0, scale=2.0):
    gen = torch.Generator().manual_seed(seed)
    kh, kw = k
    x = torch.randn(b, c, h, w, dtype=torch.float64, generator=gen)
    weight = torch.randn(c_out, c // g, kh, kw, dtype=torch.float64, generator=gen)
    bias = torch.randn(c_out, dtype=torch.float64, generator=gen)
    ho = (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1
    offset = scale * torch.randn(b, 2 * og * kh * kw, ho, wo, dtype=torch.float64, generator=gen)
    mask = torch.rand(b, og * kh * kw, ho, wo, dtype=torch.float64, generator=gen) if modulated else None
    return x, offset, weight, bias, mask


CASES = [
    # b, c, h, w, c_out, kernel, stride, padding, dilation, groups, offset_groups, modulated
    (2, 4, 7, 9, 6, (3, 3), (1, 1), (1, 1), (1, 1), 1, 1, False),
    (1, 8, 6, 5, 4, (3, 3), (2, 2), (1, 1), (2, 2), 2, 4, True),
    (2, 6, 1, 1, 6, (1, 1), (1, 1), (0, 0), (1, 1), 3, 3, True),
    (1, 4, 9, 9, 8, (3, 2), (2, 1), (1, 0), (1, 2), 1, 2, True),
    (1, 2, 5, 5, 2, (5, 5), (1, 1), (2, 2), (1, 1), 2, 1, False),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_torchvision(case: tuple) -> None:
    b, c, h, w, c_out, k, s, p, d, g, og, modulated = case
    x, offset, weight, bias, mask = _inputs(*case)
    want = torchvision.ops.deform_conv2d(x, offset, weight, bias, s, p, d, mask)
    got = deform_conv2d(x, offset, weight, bias, s, p, d, mask)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", CASES[:4])
def test_gradients_match_torchvision(case: tuple) -> None:
    tensors = [t.requires_grad_() if t is not None else None for t in _inputs(*case, seed=3)]
    _, _, _, _, _, _, s, p, d, _, _, _ = case
    grads = []
    for fn in (torchvision.ops.deform_conv2d, deform_conv2d):
        for t in tensors:
            if t is not None:
                t.grad = None
        x, offset, weight, bias, mask = tensors
        fn(x, offset, weight, bias, s, p, d, mask).pow(2).sum().backward()
        grads.append([t.grad.clone() for t in tensors if t is not None])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 8), w=st.integers(1, 8), k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 2),
       d=st.integers(1, 2), og=st.sampled_from([1, 2]), modulated=st.booleans(), scale=st.floats(0, 6))
def test_random_geometry_matches_torchvision(h, w, k, s, p, d, og, modulated, scale) -> None:
    if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
        return
    case = (1, 4, h, w, 2, (k, k), (s, s), (p, p), (d, d), 2, og, modulated)
    x, offset, weight, bias, mask = _inputs(*case, scale=scale)
    want = torchvision.ops.deform_conv2d(x, offset, weight, bias, (s, s), (p, p), (d, d), mask)
    got = deform_conv2d(x, offset, weight, bias, (s, s), (p, p), (d, d), mask)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_fresh_layer_is_a_plain_convolution() -> None:
    torch.manual_seed(0)
    layer = DeformConv2d(4, 6, 3, stride=2, padding=1, groups=2)
    x = torch.randn(2, 4, 9, 9)
    want = F.conv2d(x, layer.weight, layer.bias, 2, 1, 1, 2)
    torch.testing.assert_close(layer(x), want, rtol=1e-5, atol=1e-5)
    modulated = DeformConv2d(4, 6, 3, padding=1, bias=False, modulated=True, offset_groups=2)
    half = 0.5 * F.conv2d(x, modulated.weight, None, 1, 1)  # sigmoid(0) = 0.5
    torch.testing.assert_close(modulated(x), half, rtol=1e-5, atol=1e-5)
    assert modulated.offset.weight.shape == (2 * 2 * 9, 4, 3, 3) and modulated.mask.weight.shape == (2 * 9, 4, 3, 3)


def test_far_offsets_read_zeros() -> None:
    x, offset, weight, bias, _ = _inputs(1, 2, 5, 5, 3, (3, 3), (1, 1), (1, 1), (1, 1), 1, 1, False)
    out = deform_conv2d(x, torch.full_like(offset, 100.0), weight, bias, 1, 1, 1)
    torch.testing.assert_close(out, bias.view(1, -1, 1, 1).expand_as(out))


def test_half_precision_positions_and_meta() -> None:
    layer = DeformConv2d(3, 4, 3, padding=1, modulated=True).to(torch.bfloat16)
    x = torch.randn(1, 3, 300, 7, dtype=torch.bfloat16)
    ref = DeformConv2d(3, 4, 3, padding=1, modulated=True)
    ref.load_state_dict({k: v.float() for k, v in layer.state_dict().items()})
    torch.testing.assert_close(layer(x).float(), ref(x.float()), rtol=0.05, atol=0.05)
    with torch.device("meta"):
        assert DeformConv2d(3, 4, 3, stride=2)(torch.empty(2, 3, 11, 11)).shape == (2, 4, 5, 5)
