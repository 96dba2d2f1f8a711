"""fpn (specs/fpn.net) against torchvision's BackboneWithFPN on resnet50: same keys, same pyramid."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor

import netspec
from netspec.compiler.to_torch import module_class

pytestmark = pytest.mark.torch


def test_resnet50_fpn_matches_torchvision_backbone_with_fpn() -> None:
    torch.manual_seed(0)
    ref = _resnet_fpn_extractor(torchvision.models.resnet50(), trainable_layers=5).eval()
    ours = module_class(netspec.load("resnet50_fpn"))().eval()
    assert list(ours.state_dict()) == list(ref.state_dict())  # torchvision's keys, in its order
    with torch.no_grad():
        for t in ref.state_dict().values():  # give the batch-norm statistics non-trivial values
            if t.dtype.is_floating_point and t.dim() == 1:
                t.uniform_(0.5, 1.5)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        want, got = ref(x), ours(x)
    assert list(want) == ["0", "1", "2", "3", "pool"]
    for k, name in zip(want, ["p2", "p3", "p4", "p5", "pool"], strict=True):
        assert got[name].shape == want[k].shape
        assert torch.allclose(got[name], want[k], atol=1e-4, rtol=1e-4), name
