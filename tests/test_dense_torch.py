"""The dense prediction and detection specs compiled to torch, against reference implementations.

torchvision's segmentation models, RPN head, ResNet-50 and deform_conv2d where
torchvision has them; otherwise a few lines of torch.nn.functional written from
the paper (Caffe's FCN, U-Net, SPP). Inputs are small to keep this fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

import netspec

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

RTOL = 1e-5


def assert_close(a: Tensor, b: Tensor, rtol: float = RTOL) -> None:
    """Equal within rtol of the reference's largest magnitude."""
    assert a.shape == b.shape
    scale = b.abs().max().clamp_min(1e-12)
    assert ((a - b).abs().max() / scale).item() <= rtol


def randomize(model: nn.Module, seed: int = 0) -> None:
    """Random weights and BN statistics, so that every path and buffer matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                fill = torch.rand(t.shape, generator=gen) + 0.5 if name.endswith("running_var") else \
                    torch.randn(t.shape, generator=gen) * (t.shape[1] * t[0, 0].numel() if t.dim() > 1 else 10) ** -0.5
                t.copy_(fill)


def capture(model: nn.Module, path: str, pre: bool = False) -> Callable[[], Tensor]:
    """Hook a submodule; the returned function gives its last output (or input, with pre)."""
    seen: list[Tensor] = []
    module = model.get_submodule(path)
    if pre:
        module.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    else:
        module.register_forward_hook(lambda m, args, out: seen.append(out))
    return lambda: seen[-1]


# ---------------------------------------------------------------- torchvision segmentation


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_segmentation_equals_torchvision(name: str) -> None:
    torch.manual_seed(0)
    ours = netspec.compile(name, aux_loss=True)
    ref = getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None, aux_loss=True)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in ref.state_dict().items()]
    randomize(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got, want = ours(x), ref(x)
    assert list(got) == list(want) == ["out", "aux"]  # aux in eval mode too, as torchvision
    for key in want:
        assert_close(got[key], want[key])


# ---------------------------------------------------------------- DeepLab v1 / v2 on VGG-16


def caffe_deeplab(sd: dict[str, Tensor], x: Tensor, branches: dict[str, int]) -> Tensor:
    """DeepLab-LargeFOV / ASPP-L from their prototxts, in torch.nn.functional (eval mode)."""
    h, i = x, 0
    for stage, n in enumerate([2, 2, 3, 3, 3]):
        for _ in range(n):
            d = 2 if stage == 4 else 1
            h = F.relu(F.conv2d(h, sd[f"features.{i}.weight"], sd[f"features.{i}.bias"], padding=d, dilation=d))
            i += 2
        h = F.max_pool2d(h, 3, 2 if stage < 3 else 1, 1, ceil_mode=stage < 3)
        i += 1
    scores = 0
    for prefix, rate in branches.items():
        b = F.relu(F.conv2d(h, sd[f"{prefix}.fc6.weight"], sd[f"{prefix}.fc6.bias"], padding=rate, dilation=rate))
        b = F.relu(F.conv2d(b, sd[f"{prefix}.fc7.weight"], sd[f"{prefix}.fc7.bias"]))
        scores = scores + F.conv2d(b, sd[f"{prefix}.fc8.weight"], sd[f"{prefix}.fc8.bias"])
    return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


@pytest.mark.parametrize(("name", "kwargs", "branches"), [
    ("deeplabv1_vgg16", {"rate": 3}, {"classifier": 3}),
    ("deeplabv2_vgg16", {"rates": [1, 2, 3]}, {"aspp.branch1": 1, "aspp.branch2": 2, "aspp.branch3": 3}),
])
def test_deeplab_equals_caffe_reference(name: str, kwargs: dict[str, Any], branches: dict[str, int]) -> None:
    torch.manual_seed(0)
    ours = netspec.compile(name, num_classes=3, **kwargs).eval()
    x = torch.randn(1, 3, 45, 38)
    with torch.no_grad():
        got = ours(x)["out"]
        want = caffe_deeplab(ours.state_dict(), x, branches)
    assert got.shape == (1, 3, 45, 38)
    assert_close(got, want)


def test_deeplab_trunk_loads_torchvision_vgg16_features() -> None:
    with torch.device("meta"):
        ours = netspec.compile("deeplabv2_vgg16")
        vgg = torchvision.models.vgg16()
    ours.features.load_state_dict(vgg.features.state_dict(), strict=True)


# ---------------------------------------------------------------- FCN, as Caffe computes it


def caffe_fcn(sd: dict[str, Tensor], x: Tensor, skips: int) -> Tensor:
    """voc-fcn{32,16,8}s from its prototxt, in torch.nn.functional."""
    h, pools = x, {}
    for s, n in enumerate([2, 2, 3, 3, 3], 1):
        for i in range(1, n + 1):
            pad = 100 if s == i == 1 else 1
            h = F.relu(F.conv2d(h, sd[f"conv{s}_{i}.weight"], sd[f"conv{s}_{i}.bias"], padding=pad))
        h = pools[s] = F.max_pool2d(h, 2, 2, ceil_mode=True)
    h = F.relu(F.conv2d(h, sd["fc6.weight"], sd["fc6.bias"]))
    h = F.relu(F.conv2d(h, sd["fc7.weight"], sd["fc7.bias"]))
    h = F.conv2d(h, sd["score_fr.weight"], sd["score_fr.bias"])

    def crop(t: Tensor, like: Tensor, off: int) -> Tensor:
        return t[:, :, off:off + like.shape[2], off:off + like.shape[3]]

    for level, name, off in [(4, "upscore2", 5), (3, "upscore_pool4", 9)][:skips]:
        up = F.conv_transpose2d(h, sd[f"{name}.weight"], stride=2)
        score = F.conv2d(pools[level], sd[f"score_pool{level}.weight"], sd[f"score_pool{level}.bias"])
        h = up + crop(score, up, off)
    stride, name, off = [(32, "upscore", 19), (16, "upscore16", 27), (8, "upscore8", 31)][skips]
    return crop(F.conv_transpose2d(h, sd[f"{name}.weight"], stride=stride), x, off)


@pytest.mark.parametrize(("name", "skips"), [("fcn32s", 0), ("fcn16s", 1), ("fcn8s", 2)])
def test_fcn_equals_caffe_reference(name: str, skips: int) -> None:
    torch.manual_seed(0)
    ours = netspec.compile(name, num_classes=3).eval()  # torch's default init: random weights
    x = torch.randn(1, 3, 37, 50)
    with torch.no_grad():
        got = ours(x)
        want = caffe_fcn(ours.state_dict(), x, skips)
    assert list(got) == ["score"]
    assert got["score"].shape == (1, 3, 37, 50)
    assert_close(got["score"], want)


# ---------------------------------------------------------------- U-Net, from the paper


def paper_unet(sd: dict[str, Tensor], x: Tensor, pad: int) -> Tensor:
    """Ronneberger et al. 2015, Fig. 1, in torch.nn.functional."""
    def twice(prefix: str, t: Tensor) -> Tensor:
        for conv in ("conv1", "conv2"):
            t = F.relu(F.conv2d(t, sd[f"{prefix}.{conv}.weight"], sd[f"{prefix}.{conv}.bias"], padding=pad))
        return t

    skips = [twice("down1.convs", x)]
    for i in (2, 3, 4):
        skips.append(twice(f"down{i}.convs", F.max_pool2d(skips[-1], 2)))
    h = twice("bottom.convs", F.max_pool2d(skips[-1], 2))
    for i in (4, 3, 2, 1):
        h = F.conv_transpose2d(h, sd[f"up{i}.upconv.weight"], sd[f"up{i}.upconv.bias"], stride=2)
        s = skips[i - 1]
        top, left = (s.shape[2] - h.shape[2]) // 2, (s.shape[3] - h.shape[3]) // 2
        h = twice(f"up{i}.convs", torch.cat([s[:, :, top:top + h.shape[2], left:left + h.shape[3]], h], 1))
    return F.conv2d(h, sd["out.weight"], sd["out.bias"])


@pytest.mark.parametrize(("name", "size", "out"), [("unet", 188, 4), ("unet_padded", 48, 48)])
def test_unet_equals_paper_reference(name: str, size: int, out: int) -> None:
    torch.manual_seed(0)
    ours = netspec.compile(name, base=8).eval()
    x = torch.randn(2, 1, size, size)
    with torch.no_grad():
        got = ours(x)["out"]
        want = paper_unet(ours.state_dict(), x, pad=int(name == "unet_padded"))
    assert got.shape == (2, 2, out, out)
    assert_close(got, want)


def test_unet_full_size_params() -> None:
    model = netspec.compile(netspec.load("unet", input=(1, 188, 188)))
    assert sum(p.numel() for p in model.parameters()) == 31_030_658


# ---------------------------------------------------------------- deformable ResNet-50


def test_deform_resnet50_with_zero_offsets_is_resnet50() -> None:
    torch.manual_seed(0)
    ours = netspec.compile("deform_resnet50")
    ref = torchvision.models.resnet50(weights=None)
    randomize(ref)
    result = ours.load_state_dict(ref.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert len(result.missing_keys) == 2 * 13
    assert all(".conv2.offset." in k for k in result.missing_keys)
    assert all((ours.get_submodule(k.rsplit(".", 1)[0]).weight == 0).all() for k in result.missing_keys)
    ours.eval()
    ref.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert_close(ours(x), ref(x))


@pytest.mark.parametrize(("spec", "path", "channels"), [
    ("deform_resnet50", "layer2.0.conv2", 128),  # stride 2, no bias
    ("network d() {\n  input 8x9x11\n  dc: deform_conv 6 k=3 p=2 d=2 groups=2 offset_groups=2 modulated=true\n}",
     "dc", 8),
])
def test_deform_conv_equals_torchvision_ops(spec: str, path: str, channels: int) -> None:
    torch.manual_seed(0)
    model = netspec.compile(spec if "\n" not in spec else netspec.load_text(spec))
    layer: Any = model.get_submodule(path)
    with torch.no_grad():
        for aux in (layer.offset, layer.mask):
            if aux is not None:
                aux.weight.normal_(0, 0.05)
                aux.bias.uniform_(-2, 2)
    x = torch.randn(2, channels, 9, 11)
    with torch.no_grad():
        offset = layer.offset(x)
        mask = layer.mask(x).sigmoid() if layer.mask is not None else None
        assert offset.abs().max() > 1  # samples land between pixels and outside the map
        want = torchvision.ops.deform_conv2d(x, offset, layer.weight, layer.bias, layer.stride, layer.padding,
                                             layer.dilation, mask)
        assert_close(layer(x), want)


# ---------------------------------------------------------------- detection heads


def test_rpn_head_equals_torchvision() -> None:
    from torchvision.models.detection.rpn import RPNHead

    torch.manual_seed(0)
    ours = netspec.compile("rpn_head")
    ref = RPNHead(256, 3)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert sum(p.numel() for p in ours.parameters()) == 593_935
    # torchvision's init: normal(std=0.01) weights, zero biases.
    assert all((ours.get_submodule(m).bias == 0).all() for m in ("conv.0.0", "cls_logits", "bbox_pred"))
    assert abs(ours.get_submodule("conv.0.0").weight.std().item() - 0.01) < 5e-4
    randomize(ref)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 256, 13, 17)
    with torch.no_grad():
        got = ours(x)
        (logits,), (boxes,) = ref([x])
    assert list(got) == ["cls_logits", "bbox_pred"]
    assert_close(got["cls_logits"], logits)
    assert_close(got["bbox_pred"], boxes)


def test_yolov1_output_grid() -> None:
    torch.manual_seed(0)
    model = netspec.compile("yolov1", S=2, B=2, C=20).eval()
    last = capture(model, "classifier.4")
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 2, 2, 30)
    assert torch.equal(y.reshape(2, -1), last())  # row-major S x S x (B*5 + C)
    modules = sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.1 for m in model.modules())
    calls = type(model).netspec_source.count("F.leaky_relu(")  # weightless layers outside a Sequential are calls
    assert modules + calls == 25 and calls >= 1


def test_yolov1_decoding_head_splits_the_grid() -> None:
    torch.manual_seed(0)
    model = netspec.compile("yolov1", S=2, B=3, C=4, decode=True).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 128, 128))
    assert list(y) == ["grid", "boxes", "confidence", "class_scores"]
    grid = y["grid"]
    assert grid.shape == (2, 2, 2, 3 * 5 + 4)
    cells = grid[..., :15].reshape(2, 2, 2, 3, 5)  # each cell: B boxes (x, y, w, h, confidence), then C scores
    assert torch.equal(y["boxes"], cells[..., :4])
    assert torch.equal(y["confidence"], cells[..., 4])
    assert torch.equal(y["class_scores"], grid[..., 15:])


def test_spp_pools_a_fixed_pyramid_for_any_size() -> None:
    torch.manual_seed(0)
    model = netspec.compile("spp").eval()
    conv5 = capture(model, "features.conv5")
    fc6_in = capture(model, "classifier.fc6", pre=True)
    for size in [(100, 100), (180, 180), (150, 230)]:
        with torch.no_grad():
            y = model(torch.randn(1, 3, *size))
        assert y.shape == (1, 1000)
        f = F.relu(conv5())
        want = torch.cat([F.adaptive_max_pool2d(f, n).flatten(1) for n in (6, 3, 2, 1)], 1)
        assert fc6_in().shape == (1, 12_800)
        assert_close(fc6_in(), want)


def test_hypercolumn_runs_at_any_size() -> None:
    torch.manual_seed(0)
    model = netspec.compile(netspec.load("hypercolumn", input=(3, 64, 48))).eval()
    hyper = capture(model, "classifier", pre=True)
    with torch.no_grad():
        y = model(torch.randn(1, 3, 64, 48))["out"]
    assert y.shape == (1, 21, 64, 48)
    assert hyper().shape == (1, 1408, 32, 24)
