"""Compiled library networks are drop-in torchvision models: same state_dict, same outputs.

For every library network that mirrors a torchvision model, torchvision's
state_dict loads with strict=True and, in eval mode, both give the same output
on random input (to 1e-5 of the output's scale). To stay fast, both models are
built on the meta device and given one set of random weights (torchvision's
tensors are assigned into ours), and inputs are as small as each architecture
allows.
"""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torchvision.models import segmentation

import netspec
from netspec.compiler.to_torch import module_class

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

# library name -> (torchvision builder, its kwargs, input size)
SMALL = {
    "alexnet": (torchvision.models.alexnet, {}, 64),
    "resnet18": (torchvision.models.resnet18, {}, 64),
    "resnet34": (torchvision.models.resnet34, {}, 64),
    "resnet50": (torchvision.models.resnet50, {}, 64),
    "resnext50_32x4d": (torchvision.models.resnext50_32x4d, {}, 64),
    "densenet121": (torchvision.models.densenet121, {}, 64),
    "efficientnet_b0": (torchvision.models.efficientnet_b0, {}, 64),
    "googlenet": (torchvision.models.googlenet, {"aux_logits": False, "init_weights": False}, 64),
    "vgg11": (torchvision.models.vgg11, {}, 32),
    "vgg11_bn": (torchvision.models.vgg11_bn, {}, 32),
    "squeezenet1_0": (torchvision.models.squeezenet1_0, {}, 64),
    "squeezenet1_1": (torchvision.models.squeezenet1_1, {}, 64),
    "mobilenet_v2": (torchvision.models.mobilenet_v2, {}, 32),
    "mobilenet_v3_large": (torchvision.models.mobilenet_v3_large, {}, 32),
    "mobilenet_v3_small": (torchvision.models.mobilenet_v3_small, {}, 32),
    "mnasnet0_5": (torchvision.models.mnasnet0_5, {}, 32),
    "efficientnet_v2_s": (torchvision.models.efficientnet_v2_s, {}, 32),
    "inception_v3": (torchvision.models.inception_v3, {"aux_logits": False, "init_weights": False}, 75),
    "shufflenet_v2_x0_5": (torchvision.models.shufflenet_v2_x0_5, {}, 32),
    "shufflenet_v2_x1_0": (torchvision.models.shufflenet_v2_x1_0, {}, 32),
}
BIG = {
    **{f"vgg{d}{bn}": (getattr(torchvision.models, f"vgg{d}{bn}"), {}, 32) for d in (13, 16, 19) for bn in ("", "_bn")},
    **{n: (getattr(torchvision.models, n), {}, 32) for n in (
        "resnet101", "resnet152", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
        "densenet161", "densenet169", "densenet201")},
    **{f"efficientnet_b{i}": (getattr(torchvision.models, f"efficientnet_b{i}"), {}, 32) for i in range(1, 8)},
    **{n: (getattr(torchvision.models, n), {}, 32) for n in ("mnasnet0_75", "mnasnet1_0", "mnasnet1_3")},
    **{n: (getattr(torchvision.models, n), {}, 32) for n in ("efficientnet_v2_m", "efficientnet_v2_l")},
    **{n: (getattr(torchvision.models, n), {}, 32) for n in ("shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
}
SEGMENTATION = {  # id -> (library name, its params, torchvision builder, its kwargs, input size)
    f"{net}{'_aux' if aux else ''}": (net, {"aux_loss": aux}, getattr(segmentation, net),
                                      {"aux_loss": aux, "weights_backbone": None}, 64)
    for net in ("fcn_resnet50", "deeplabv3_resnet50") for aux in (False, True)
}


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Give every parameter and buffer random values of a sensible scale (weights ~ He init)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if key.endswith("num_batches_tracked"):
                t.zero_()
            elif key.endswith("running_var") or (key.endswith("weight") and t.dim() == 1):
                t.uniform_(0.5, 1.5, generator=gen)
            elif t.dim() > 1:
                bound = math.sqrt(3.0) * math.sqrt(2.0 / (t[0].numel()))
                t.uniform_(-bound, bound, generator=gen)
            else:
                t.uniform_(-0.1, 0.1, generator=gen)


def pair(name: str, builder, kwargs, **params) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(torchvision model with random weights, our compiled model sharing them)."""
    with torch.device("meta"):
        ref = builder(weights=None, **kwargs)
        ours = module_class(netspec.load(name, **params))()
    ref = ref.to_empty(device="cpu")
    randomize(ref, seed=len(name))
    result = ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    assert not result.missing_keys and not result.unexpected_keys
    return ref.eval(), ours.eval()


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    scale = b.abs().max().item()
    assert scale > 0
    assert (a - b).abs().max().item() <= 1e-5 * scale


def check(name: str, builder, kwargs, size: int, batch: int, **params) -> None:
    ref, ours = pair(name, builder, kwargs, **params)
    assert list(ours.state_dict()) == list(ref.state_dict())  # same keys, in torchvision's order
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out, want = ours(x), ref(x)
    if isinstance(want, dict):
        assert list(out) == list(want)
        for k in want:
            close(out[k], want[k])
    else:
        close(out, want)


@pytest.mark.parametrize("name", list(SMALL))
def test_matches_torchvision(name: str) -> None:
    builder, kwargs, size = SMALL[name]
    check(name, builder, kwargs, size, batch=2)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BIG))
def test_matches_torchvision_big(name: str) -> None:
    builder, kwargs, size = BIG[name]
    check(name, builder, kwargs, size, batch=1)


@pytest.mark.parametrize("name", list(SEGMENTATION))
def test_matches_torchvision_segmentation(name: str) -> None:
    net, params, builder, kwargs, size = SEGMENTATION[name]
    check(net, builder, kwargs, size, batch=1, **params)


def test_googlenet_aux_train_mode_matches() -> None:
    """Training mode: the aux heads run (same order, so same dropout draws) and come back in a dict."""
    ref, ours = pair("googlenet", torchvision.models.googlenet, {"aux_logits": True, "init_weights": False},
                     aux_logits=True)
    ref.train()
    ours.train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    want = ref(x)
    torch.manual_seed(5)
    out = ours(x)
    assert set(out) == {"out", "aux1", "aux2"}
    close(out["out"], want.logits)
    close(out["aux1"], want.aux_logits1)
    close(out["aux2"], want.aux_logits2)
    ours.eval()
    with torch.no_grad():
        assert isinstance(ours(x), torch.Tensor)  # eval: the plain tensor, as torchvision


def test_efficientnet_train_mode_matches() -> None:
    """Stochastic depth and dropout draw in torchvision's order."""
    ref, ours = pair("efficientnet_b0", torchvision.models.efficientnet_b0, {})
    ref.train()
    ours.train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(7)
    want = ref(x)
    torch.manual_seed(7)
    out = ours(x)
    close(out, want)


@pytest.mark.slow  # the aux head needs a 299x299 input
def test_inception_v3_aux_and_transform_input_match() -> None:
    """transform_input (a fixed per-channel affine) in eval; the aux head only in training, in a dict."""
    kwargs = {"aux_logits": True, "transform_input": True, "init_weights": False}
    ref, ours = pair("inception_v3", torchvision.models.inception_v3, kwargs, aux_logits=True, transform_input=True)
    x = torch.randn(2, 3, 75, 75, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        close(ours(x), ref(x))
    ref.train()
    ours.train()
    x = torch.randn(2, 3, 299, 299, generator=torch.Generator().manual_seed(4))  # the aux head needs a 17x17 grid
    torch.manual_seed(9)
    want = ref(x)
    torch.manual_seed(9)
    out = ours(x)
    assert set(out) == {"out", "AuxLogits"}
    close(out["out"], want.logits)
    close(out["AuxLogits"], want.aux_logits)
