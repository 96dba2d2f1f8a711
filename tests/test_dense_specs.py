"""The dense prediction and detection specs, checked without torch.

FCN, U-Net, hypercolumns, SPP-net, YOLO v1, the RPN head and the deformable
ResNet against the figures of their papers (or torchvision); fully
convolutional networks against several input sizes, and the sizes that cannot
work against a clear error that names the layer.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from functools import cache
from typing import Any

import pytest

import netspec
from netspec import SpecError
from netspec.cli import main as cli_main
from netspec.graph import Graph
from netspec.table import table

DENSE = ["fcn32s", "fcn16s", "fcn8s", "fcn_resnet50", "deeplabv3_resnet50", "unet", "unet_padded",
         "hypercolumn", "deform_resnet50", "yolov1", "spp", "rpn_head", "deeplabv1_vgg16", "deeplabv2_vgg16",
         "yolov1_decoded"]


@cache
def load(name: str, input: tuple[int, ...] | None = None, **kwargs: Any) -> Graph:
    return netspec.load(name, input=input, **kwargs)


def count(g: Graph, *kinds: str) -> int:
    return sum(n.kind in kinds for n in g.layers())


# ---------------------------------------------------------------- every network


@pytest.mark.parametrize(("name", "outputs", "params"), [
    ("fcn32s", {"score": (21, 500, 500)}, 136_152_917),
    ("fcn16s", {"score": (21, 500, 500)}, 134_815_994),
    ("fcn8s", {"score": (21, 500, 500)}, 134_489_759),
    ("fcn_resnet50", {"out": (21, 520, 520)}, 32_957_013),
    ("deeplabv3_resnet50", {"out": (21, 520, 520)}, 39_638_869),
    # VGG-16's convs (14,714,688) + fc6 3x3x512x1024 + fc7 1x1x1024x1024 + fc8 (5,790,741 per classifier)
    ("deeplabv1_vgg16", {"out": (21, 321, 321)}, 20_505_429),
    ("deeplabv2_vgg16", {"out": (21, 321, 321)}, 37_877_652),
    ("unet", {"out": (2, 388, 388)}, 31_030_658),
    ("unet_padded", {"out": (2, 512, 512)}, 31_030_658),
    ("hypercolumn", {"out": (21, 224, 224)}, 14_744_277),
    ("deform_resnet50", {"out": (1000,)}, 26_137_874),
    ("yolov1", {"out": (7, 7, 30)}, 271_703_550),
    ("spp", {"out": (1000,)}, 77_037_672),
    ("yolov1_decoded", {"grid": (7, 7, 30), "boxes": (7, 7, 2, 4), "confidence": (7, 7, 2),
                        "class_scores": (7, 7, 20)}, 271_703_550),
    ("rpn_head", {"cls_logits": (3, 50, 50), "bbox_pred": (12, 50, 50)}, 593_935),
])
def test_network_outputs_and_params(name: str, outputs: dict[str, tuple[int, ...]], params: int) -> None:
    g = load(name)
    assert g.output_shapes() == outputs
    assert g.params == params


@pytest.mark.parametrize("name", DENSE)
def test_network_checks_and_summarizes_without_warnings(name: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert cli_main(["check", name]) == 0
    assert out.getvalue().startswith(f"ok: {name}:")
    assert err.getvalue() == ""
    text = table(load(name))
    assert "RF" in text and f"{load(name).params:,}" in text


# ---------------------------------------------------------------- FCN


@pytest.mark.parametrize("name", ["fcn32s", "fcn16s", "fcn8s"])
@pytest.mark.parametrize("size", [1, 31, 64, 97, 224, 333, 512])
def test_fcn_output_has_the_input_size(name: str, size: int) -> None:
    g = load(name, (3, size, size + 7))
    assert g.output_shapes() == {"score": (21, size, size + 7)}


def test_fcn_is_vgg16_with_convolutional_fc_layers() -> None:
    g = load("fcn32s")
    n = g.nodes
    assert [k for k in n if k.startswith("conv") and n[k].kind == "conv"] == [
        f"conv{s}_{i}" for s, reps in enumerate([2, 2, 3, 3, 3], 1) for i in range(1, reps + 1)]
    assert n["conv1_1"].op.padding == 100  # type: ignore[attr-defined]
    assert (n["fc6"].op.out, n["fc6"].op.kernel) == (4096, 7)  # type: ignore[attr-defined]
    assert (n["fc7"].op.out, n["fc7"].op.kernel) == (4096, 1)  # type: ignore[attr-defined]
    assert all(n[f"pool{s}"].op.ceil_mode for s in range(1, 6))  # type: ignore[attr-defined]
    up = n["upscore"].op
    assert (up.kernel, up.stride, up.bias) == (64, 32, False)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "crops"), [
    ("fcn32s", {"score": 19}),
    ("fcn16s", {"score_pool4c": 5, "score": 27}),
    ("fcn8s", {"score_pool4c": 5, "score_pool3c": 9, "score": 31}),
])
def test_fcn_crop_offsets_are_caffes(name: str, crops: dict[str, int]) -> None:
    g = load(name)
    assert {k: n.op.offset for k, n in g.nodes.items() if n.kind == "crop"} == crops  # type: ignore[attr-defined]


def test_fcn8s_fuses_pool4_and_pool3_scores() -> None:
    g = load("fcn8s")
    assert g.nodes["score_pool4"].inputs == ("pool4",)
    assert g.nodes["score_pool3"].inputs == ("pool3",)
    assert g.nodes["score_pool4c"].inputs == ("score_pool4", "upscore2")
    assert set(g.nodes["fuse_pool3"].inputs) == {"score_pool3c", "upscore_pool4"}
    assert g.nodes["score"].inputs == ("upscore8", "input")


def test_fcn_too_small_input_names_the_layer() -> None:
    # pad=100 lets every size through; with less padding a small input cannot reach fc6.
    with pytest.raises(SpecError) as err:
        netspec.load("fcn32s", input=(3, 32, 32), pad=81)
    assert err.value.path == "fc6"
    assert "7x7" in err.value.message and "6x6" in err.value.message
    assert netspec.load("fcn32s", input=(3, 33, 33), pad=81).output_shapes() == {"score": (21, 33, 33)}


def test_fcn_padding_too_small_to_align_is_an_error() -> None:
    with pytest.raises(SpecError) as err:
        netspec.load("fcn16s", pad=60)
    assert "offset" in err.value.message and err.value.span is not None


def test_fcn_skips_out_of_range_is_an_error() -> None:
    with pytest.raises(SpecError, match="out of range"):
        netspec.load("fcn", skips=3)


# ---------------------------------------------------------------- torchvision segmentation


@pytest.mark.parametrize("name", ["fcn_resnet50", "deeplabv3_resnet50"])
def test_segmentation_aux_output_exists_in_eval_mode(name: str) -> None:
    g = load(name, aux_loss=True)
    assert g.output_shapes() == {"out": (21, 520, 520), "aux": (21, 520, 520)}
    assert g.active_outputs(training=False) == ["out", "aux"]
    assert g.nodes["aux_classifier.0"].inputs == (g.scopes["backbone.layer3"].output,)


@pytest.mark.parametrize("size", [(64, 64), (97, 130)])
def test_segmentation_takes_other_sizes(size: tuple[int, int]) -> None:
    g = load("deeplabv3_resnet50", (3, *size), num_classes=5)
    assert g.output_shapes() == {"out": (5, *size)}


def test_dilated_backbone_has_output_stride_8() -> None:
    g = load("fcn_resnet50")
    assert g.nodes[g.scopes["backbone.layer4"].output].shape == (2048, 65, 65)
    dil = {k: n.op.dilation for k, n in g.nodes.items()  # type: ignore[attr-defined]
           if k.endswith("conv2") and k.startswith("backbone.layer")}
    assert dil["backbone.layer2.0.conv2"] == 1 and g.nodes["backbone.layer2.0.conv2"].op.stride == 2  # type: ignore[attr-defined]
    assert dil["backbone.layer3.0.conv2"] == 1 and g.nodes["backbone.layer3.0.conv2"].op.stride == 1  # type: ignore[attr-defined]
    assert {dil[f"backbone.layer3.{i}.conv2"] for i in range(1, 6)} == {2}
    assert dil["backbone.layer4.0.conv2"] == 2
    assert {dil[f"backbone.layer4.{i}.conv2"] for i in range(1, 3)} == {4}


def test_aspp_branches() -> None:
    g = load("deeplabv3_resnet50")
    n = g.nodes
    assert [n[f"classifier.0.convs.{i}.0"].op.dilation for i in range(1, 4)] == [12, 24, 36]  # type: ignore[attr-defined]
    assert n["classifier.0.convs.4.0"].kind == "adaptive_avgpool"
    assert n["classifier.0.convs.5"].shape == (1280, 65, 65)


# ---------------------------------------------------------------- DeepLab v1 / v2 (VGG-16)


@pytest.mark.parametrize("name", ["deeplabv1_vgg16", "deeplabv2_vgg16"])
def test_deeplab_vgg16_trunk_has_output_stride_8_and_vgg16_positions(name: str) -> None:
    g = load(name)
    n = g.nodes
    convs = [k for k, v in n.items() if k.startswith("features.") and v.kind == "conv"]
    assert convs == [f"features.{i}" for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)]  # vgg16.features
    pools = {k: (v.op.stride, v.op.padding, v.op.ceil_mode) for k, v in n.items() if v.kind == "maxpool"}  # type: ignore[attr-defined]
    assert pools == {"features.4": (2, 1, True), "features.9": (2, 1, True), "features.16": (2, 1, True),
                     "features.23": (1, 1, False), "features.30": (1, 1, False)}
    assert [n[f"features.{i}"].op.dilation for i in (24, 26, 28)] == [2, 2, 2]  # type: ignore[attr-defined]
    assert n["features.30"].shape == (512, 41, 41)  # 321 -> 161 -> 81 -> 41, as Caffe rounds


def test_deeplabv1_is_largefov() -> None:
    n = load("deeplabv1_vgg16").nodes
    fc6 = n["classifier.fc6"].op
    assert (fc6.out, fc6.kernel, fc6.dilation, fc6.padding) == (1024, 3, 12, 12)  # type: ignore[attr-defined]
    assert n["classifier.fc8"].shape == (21, 41, 41)


def test_deeplabv2_sums_four_atrous_branches() -> None:
    g = load("deeplabv2_vgg16")
    n = g.nodes
    assert [n[f"aspp.branch{i}.fc6"].op.dilation for i in range(1, 5)] == [6, 12, 18, 24]  # type: ignore[attr-defined]
    merge = n["aspp.4"]
    assert merge.kind == "add" and merge.inputs == tuple(f"aspp.branch{i}.fc8" for i in range(1, 5))
    assert netspec.load("deeplabv2_vgg16", input=(3, 97, 130), rates=[2, 4]).output_shapes() == {"out": (21, 97, 130)}


# ---------------------------------------------------------------- U-Net


def test_unet_is_the_papers() -> None:
    g = load("unet")
    assert g.input_shape == (1, 572, 572)
    assert count(g, "conv", "conv_transpose") == 23
    assert all(n.op.padding == 0 for n in g.layers() if n.kind == "conv")  # type: ignore[attr-defined]
    ups = [n for n in g.layers() if n.kind == "conv_transpose"]
    assert [(n.op.kernel, n.op.stride, n.shape[0]) for n in ups] == [  # type: ignore[attr-defined]
        (2, 2, 512), (2, 2, 256), (2, 2, 128), (2, 2, 64)]
    # The contracting path's 64x568x568 map is centre-cropped to the 392x392 up-conv output.
    crop = g.nodes["up1.1"]
    assert [g.nodes[i].shape for i in crop.inputs] == [(64, 568, 568), (64, 392, 392)]
    assert g.nodes["up1.2"].shape == (128, 392, 392)


def test_unet_valid_small_input() -> None:
    assert load("unet", (1, 188, 188)).output_shapes() == {"out": (2, 4, 4)}


@pytest.mark.parametrize("size", [16, 48, 64, 256])
def test_unet_padded_keeps_the_size(size: int) -> None:
    assert load("unet_padded", (1, size, size)).output_shapes() == {"out": (2, size, size)}


@pytest.mark.parametrize("size", [100, 72, 40])
def test_unet_padded_other_sizes_name_the_concat(size: int) -> None:
    with pytest.raises(SpecError) as err:
        netspec.load("unet_padded", input=(1, size, size))
    assert err.value.message.startswith("concat:")
    assert err.value.path is not None and err.value.path.startswith("up")
    assert "divides by 16" in err.value.render()  # the source line says why


# ---------------------------------------------------------------- hypercolumn, SPP


@pytest.mark.parametrize("size", [(224, 224), (64, 96), (50, 50)])
def test_hypercolumn_output_has_the_input_size(size: tuple[int, int]) -> None:
    g = load("hypercolumn", (3, *size))
    assert g.output_shapes() == {"out": (21, *size)}
    assert g.nodes["hyper.3"].shape == (1408, size[0] // 2, size[1] // 2)
    assert g.nodes["hyper.3"].inputs[0] == g.scopes["stage2"].output


@pytest.mark.parametrize("size", [100, 180, 224, 300, (150, 260)])
def test_spp_fixed_length_for_any_size(size: int | tuple[int, int]) -> None:
    h, w = (size, size) if isinstance(size, int) else size
    g = load("spp", (3, h, w))
    assert g.nodes["spp.4"].shape == (256 * (36 + 9 + 4 + 1),)
    assert g.output_shapes() == {"out": (1000,)}


def test_spp_levels_parameter() -> None:
    g = netspec.load("spp", input=(3, 200, 200), levels=[4, 2, 1])
    assert g.nodes["spp.3"].shape == (256 * 21,)


# ---------------------------------------------------------------- YOLO, RPN, deformable ResNet


def test_yolov1_is_the_papers() -> None:
    g = load("yolov1")
    assert g.input_shape == (3, 448, 448)
    assert count(g, "conv") == 24 and count(g, "linear") == 2
    assert count(g, "leaky_relu") == 25
    assert {n.op.negative_slope for n in g.layers() if n.kind == "leaky_relu"} == {0.1}  # type: ignore[attr-defined]
    assert [n.op.out for n in g.layers() if n.kind == "linear"] == [4096, 7 * 7 * 30]  # type: ignore[attr-defined]
    assert g.nodes[g.scopes["features"].output].shape == (1024, 7, 7)
    assert count(g, "dropout") == 1


def test_yolov1_grid_boxes_classes_are_parameters() -> None:
    g = load("yolov1", S=3, B=3, C=4)
    assert g.input_shape == (3, 192, 192)
    assert g.output_shapes() == {"out": (3, 3, 19)}


def test_rpn_head_names_follow_torchvision() -> None:
    g = load("rpn_head")
    assert [n.id for n in g.layers() if n.params] == ["conv.0.0", "cls_logits", "bbox_pred"]
    assert g.nodes["cls_logits"].inputs == g.nodes["bbox_pred"].inputs == ("conv.0.1",)
    assert load("rpn_head", (256, 13, 17)).output_shapes() == {"cls_logits": (3, 13, 17), "bbox_pred": (12, 13, 17)}


def test_deform_resnet50_deforms_stages_3_to_5() -> None:
    g = load("deform_resnet50")
    deform = [n.id for n in g.layers() if n.kind == "deform_conv"]
    assert len(deform) == 4 + 6 + 3
    assert all(d.startswith(("layer2.", "layer3.", "layer4.")) and d.endswith(".conv2") for d in deform)
    plain = load("resnet50")
    # each offset conv: 2 * 3 * 3 outputs from a 3x3 window over the input channels, with bias
    offsets = sum(18 * (g.nodes[n.inputs[0]].shape[0] * 9 + 1) for n in g.layers() if n.kind == "deform_conv")
    assert g.params == plain.params + offsets
