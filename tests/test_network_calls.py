"""A network is a block: called inside another, cut and tapped (docs/language.md, "Networks inside networks")."""

from __future__ import annotations

import pytest

import netspec
from netspec.errors import SpecError

TAPPED = """
import resnet
network feat(num_classes=10) {
  input 3x64x64
  backbone: resnet50(taps=["layer2", "layer4"])
  head: conv num_classes k=1
  side: @backbone.layer2 -> conv 3 k=1
  output out: @head
  output aux: @side
}
"""


def test_a_library_network_called_with_taps_keeps_its_names_and_drops_the_rest() -> None:
    g = netspec.load_text(TAPPED)
    assert "backbone.layer4.2.conv3" in g.nodes and "backbone.conv1" in g.nodes
    assert not any(n.startswith(("backbone.fc", "backbone.avgpool")) for n in g.nodes)  # cut after layer4
    assert "backbone.fc" not in g.scopes
    assert g.output_shapes() == {"out": (10, 2, 2), "aux": (3, 8, 8)}
    assert g.scopes["backbone"].name == "resnet"
    assert g.params == netspec.load("resnet50").params - 2048 * 1000 - 1000 + 2048 * 10 + 10 + 512 * 3 + 3


def test_a_network_from_the_same_file_takes_parameters_positionally_and_by_name() -> None:
    g = netspec.load_text(
        """
network stem(c=8, s=1) {
  input 3x32x32
  conv c k=3 s=s p=1
  relu
}
network top() {
  input 3x32x32
  a: stem(16, s=2)
  b: stem(c=4)
}
""",
        "top",
    )
    assert g.nodes["a.0"].shape == (16, 16, 16) and g.nodes["b.0"].shape == (4, 16, 16)
    assert list(g.output_shapes().values()) == [(4, 16, 16)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ('resnet50(taps=["layer9"])', "@layer9"),
        ("resnet50(depth=3)", "has no parameter 'depth'"),
        ("resnet50(taps=[1])", "taps= names layers"),
        ("resnet50(1, 2, 3, 4, 5, 6, 7, 8)", "takes"),
    ],
)
def test_bad_network_calls_are_located_errors(call: str, message: str) -> None:
    with pytest.raises(SpecError) as err:
        netspec.load_text(f"import resnet\nnetwork n() {{\n  input 3x32x32\n  b: {call}\n}}\n")
    assert message in str(err.value) and err.value.span is not None and err.value.span.line == 4


def test_a_network_cannot_call_itself() -> None:
    with pytest.raises(SpecError, match="uses itself"):
        netspec.load_text("network n() {\n  input 3x8x8\n  n()\n}\n")


def test_segmentation_backbones_are_the_library_resnet50() -> None:
    g = netspec.load("deeplabv3_resnet50", aux_loss=True)
    assert g.scopes["backbone"].name == "resnet"
    assert g.scopes["backbone"].args["replace_stride_with_dilation"] == (False, True, True)
    assert g.nodes["backbone.layer4.2.conv2"].op.dilation in (4, (4, 4))
    assert not any(n.startswith("backbone.fc") for n in g.nodes)


@pytest.mark.torch
def test_compiled_outputs_keep_their_declared_order() -> None:
    import torch

    model = netspec.compile(netspec.load_text(TAPPED)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert list(out) == ["out", "aux"]
    assert out["out"].shape == (1, 10, 2, 2) and out["aux"].shape == (1, 3, 8, 8)
    assert "backbone.layer4.2.bn3.running_var" in model.state_dict()
    assert not any(k.startswith("backbone.fc") for k in model.state_dict())
