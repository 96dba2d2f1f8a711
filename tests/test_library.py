"""The spec library against torchvision and timm, without importing torch.

Parametrized over the library and the reference files, so a new spec is
tested as soon as it exists:

- every library network checks;
- every network mirrored in reference/{torchvision,timm}.json has, with
  the entry's constructor kwargs, exactly the reference's parameters (in total
  and per module path), its BN buffers, and its output shapes. A module path
  owns parameters or buffers: a node with params > 0, or a BN node; the
  reference's are its `state_dict` keys minus their last component;
- every network with a published torchvision operation count
  (torchvision_ops.json, GMACs at the weights' evaluation resolution) is within
  2% of it at its default input. torchvision counts only conv and linear
  multiply-accumulates, which is what `Graph.macs` counts: every model of the
  library lands within 0.05% (the rounding of ops_g), while one operation per
  output element of BN, activations, pools and merges would add 0.1% (VGG)
  to 4% (EfficientNet-B0).
"""

from __future__ import annotations

import io
import json
import math
from contextlib import redirect_stdout
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.cli import main as cli_main
from netspec.graph import Graph
from netspec.library import library_index

REFERENCE = Path(__file__).resolve().parent / "reference"  # see reference/README.md
BUFFERS = {"running_mean", "running_var", "num_batches_tracked"}
MAC_TOLERANCE = 0.02

# The classification networks this library promises to mirror exactly.
CLASSIFIERS = {
    "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn",
    "googlenet", "googlenet_aux", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "wide_resnet50_2", "densenet121", "densenet161", "densenet169", "densenet201",
    *(f"efficientnet_b{i}" for i in range(8)), "seresnet18", "seresnet50",
}


def _reference(file: str) -> dict[str, dict[str, Any]]:
    models: dict[str, dict[str, Any]] = json.loads((REFERENCE / file).read_text())["models"]
    return models


REFERENCES = {**_reference("torchvision.json"), **_reference("timm.json")}
OPS = json.loads((REFERENCE / "torchvision_ops.json").read_text())


def network_for(ref_name: str) -> str | None:
    """Library network for a reference entry: `googlenet_aux` is `googlenet` with its kwargs."""
    index = library_index()
    if ref_name in index:
        return ref_name
    base = ref_name.removesuffix("_aux")
    return base if base in index else None


MIRRORED = sorted(name for name in REFERENCES if network_for(name))


@cache
def load(name: str, input: tuple[int, ...] | None = None, **kwargs: Any) -> Graph:
    """netspec.load, cached: several tests read the same graph."""
    return netspec.load(name, input=input, **kwargs)


def reference_graph(ref_name: str) -> tuple[Graph, dict[str, Any]]:
    ref = REFERENCES[ref_name]
    net = network_for(ref_name)
    assert net is not None
    return load(net, tuple(ref["input"][1:]), **ref.get("kwargs", {})), ref


# ---------------------------------------------------------------- the library


@pytest.mark.parametrize("name", sorted(library_index()))
def test_every_network_checks(name: str) -> None:
    g = load(name)
    assert g.layers(), name
    assert g.params > 0
    assert g.active_outputs(training=False)


def test_cli_list_json_names_the_library() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["list", "--json"]) == 0
    names = [e["name"] for e in json.loads(out.getvalue())["networks"]]
    assert sorted(names) == sorted(library_index())
    assert len(names) == len(set(names))


def test_the_classifiers_are_all_mirrored() -> None:
    assert CLASSIFIERS <= set(MIRRORED), sorted(CLASSIFIERS - set(MIRRORED))


# ---------------------------------------------------------------- against the references


def _reference_paths(ref: dict[str, Any]) -> dict[str, int]:
    """Module path -> its parameter count, from `state_dict` keys and shapes."""
    paths: dict[str, int] = {}
    for key, shape in ref["state_dict"].items():
        path, _, leaf = key.rpartition(".")
        paths.setdefault(path, 0)
        if leaf not in BUFFERS:
            paths[path] += math.prod(shape)
    return paths


def _graph_paths(g: Graph) -> dict[str, int]:
    return {n.id: n.params for n in g.layers() if n.params > 0 or n.kind == "bn"}


@pytest.mark.parametrize("ref_name", MIRRORED)
def test_parameter_count_matches_reference(ref_name: str) -> None:
    g, ref = reference_graph(ref_name)
    assert g.params == ref["params"]


@pytest.mark.parametrize("ref_name", MIRRORED)
def test_module_paths_match_state_dict(ref_name: str) -> None:
    g, ref = reference_graph(ref_name)
    ours, theirs = _graph_paths(g), _reference_paths(ref)
    assert sorted(set(ours) - set(theirs)) == [], "paths torchvision does not have"
    assert sorted(set(theirs) - set(ours)) == [], "paths the spec lacks"
    assert {p: n for p, n in ours.items() if n != theirs[p]} == {}, "parameters per path differ"


@pytest.mark.parametrize("ref_name", MIRRORED)
def test_bn_buffers_match_reference(ref_name: str) -> None:
    g, ref = reference_graph(ref_name)
    buffers = sum(2 * n.shape[0] + 1 for n in g.layers() if n.kind == "bn")
    assert buffers == ref["buffers"]


@pytest.mark.parametrize("ref_name", MIRRORED)
def test_output_shapes_match_reference(ref_name: str) -> None:
    g, ref = reference_graph(ref_name)
    shapes = g.output_shapes()
    active = g.active_outputs(training=False)
    expected = ref["output"]
    if isinstance(expected, dict):
        assert {o: list(shapes[o]) for o in active} == {o: s[1:] for o, s in expected.items()}
    else:
        assert [list(shapes[o]) for o in active] == [expected[1:]]


# ---------------------------------------------------------------- MACs against torchvision_ops.json


def _ops_network(weights: str) -> str:
    """`ResNet50_Weights.IMAGENET1K_V1` -> `resnet50`; `Wide_ResNet50_2_Weights...` -> `wide_resnet50_2`."""
    return weights.split("_Weights.")[0].lower()


# Weights published with a configuration no reference entry lists: torchvision counts
# Inception-v3's checkpoint with its auxiliary head.
OPS_KWARGS: dict[str, dict[str, Any]] = {"inception_v3": {"aux_logits": True}}


def _ops_kwargs(net: str, params: int) -> dict[str, Any]:
    """The reference configuration the weights belong to (e.g. with the aux head), if listed."""
    for ref_name in (net, f"{net}_aux"):
        ref = REFERENCES.get(ref_name)
        if ref is not None and ref["params"] == params:
            return dict(ref.get("kwargs", {}))
    return dict(OPS_KWARGS.get(net, {}))


WEIGHTS = sorted(w for w in OPS if _ops_network(w) in library_index())


def test_ops_names_map_to_the_classifiers() -> None:
    mapped = {_ops_network(w) for w in WEIGHTS}
    expected = {n for n in CLASSIFIERS if not n.endswith("_aux") and not n.startswith("seresnet")}
    assert expected <= mapped, sorted(expected - mapped)


@pytest.mark.parametrize("weights", WEIGHTS)
def test_macs_match_torchvision_ops(weights: str) -> None:
    net, entry = _ops_network(weights), OPS[weights]
    g = load(net, **_ops_kwargs(net, entry["params"]))
    assert g.params == entry["params"]
    gmacs = g.macs / 1e9
    assert abs(gmacs - entry["ops_g"]) <= MAC_TOLERANCE * entry["ops_g"], f"{gmacs:.3f} vs {entry['ops_g']}"


# ---------------------------------------------------------------- details of particular specs


def test_googlenet_aux_heads_exist_only_in_training() -> None:
    g = load("googlenet", aux_logits=True)
    assert g.train_outputs == {"aux1", "aux2"}
    assert g.active_outputs(training=False) == ["out"]
    assert sorted(g.active_outputs(training=True)) == ["aux1", "aux2", "out"]
    aux = [n for n in g.layers() if n.id.split(".")[0] in ("aux1", "aux2")]
    assert aux and all(n.train_only for n in aux)
    assert not any(n.train_only for n in g.layers() if n not in aux)
    # The heads read inception4a and inception4d, as in torchvision.
    assert g.nodes["aux1.0"].inputs == (g.scopes["inception4a"].output,)
    assert g.nodes["aux2.0"].inputs == (g.scopes["inception4d"].output,)
    assert load("googlenet").train_outputs == set()


def test_googlenet_dropouts_are_parameters() -> None:
    g = load("googlenet", aux_logits=True, dropout=0.4, dropout_aux=0.6)
    assert g.nodes["dropout"].op.p == 0.4
    assert g.nodes["aux1.dropout"].op.p == g.nodes["aux2.dropout"].op.p == 0.6


def test_alexnet_paper_follows_the_2012_paper() -> None:
    # Independent count from the paper's Figure 2: (out, in per tower, k) per conv.
    def convs(towers: int) -> int:
        layers = [(96, 3, 11), (256, 96 // towers, 5), (384, 256, 3), (384, 384 // towers, 3), (256, 384 // towers, 3)]
        return sum(o * i * k * k + o for o, i, k in layers)

    fcs = (256 * 6 * 6 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    for towers in (1, 2):
        g = load("alexnet_paper", towers=towers)
        assert g.params == convs(towers) + fcs
    g = load("alexnet_paper")
    assert g.input_shape == (3, 227, 227)
    lrns = [n for n in g.layers() if n.kind == "lrn"]
    assert [n.shape for n in lrns] == [(96, 55, 55), (256, 27, 27)]
    assert all((n.op.size, n.op.alpha, n.op.beta, n.op.k) == (5, 1e-4, 0.75, 2) for n in lrns)
    assert [n.shape[0] for n in g.layers() if n.kind == "conv"] == [96, 256, 384, 384, 256]


@pytest.mark.parametrize("name, resolution, eps, momentum", [
    ("efficientnet_b0", 224, 1e-5, 0.1), ("efficientnet_b1", 240, 1e-5, 0.1), ("efficientnet_b2", 288, 1e-5, 0.1),
    ("efficientnet_b3", 300, 1e-5, 0.1), ("efficientnet_b4", 380, 1e-5, 0.1), ("efficientnet_b5", 456, 1e-3, 0.01),
    ("efficientnet_b6", 528, 1e-3, 0.01), ("efficientnet_b7", 600, 1e-3, 0.01),
])
def test_efficientnet_variant_settings(name: str, resolution: int, eps: float, momentum: float) -> None:
    g = load(name)
    assert g.input_shape == (3, resolution, resolution)
    assert {(n.op.eps, n.op.momentum) for n in g.layers() if n.kind == "bn"} == {(eps, momentum)}


def test_efficientnet_stochastic_depth_grows_with_block_index() -> None:
    # torchvision: p = 0.2 * (global block index) / (number of blocks); only
    # blocks with an identity shortcut apply it.
    g = load("efficientnet_b0")
    blocks = [p for p, s in g.scopes.items() if s.kind == "block" and s.name == "mbconv"]
    assert len(blocks) == 16
    for index, path in enumerate(blocks):
        node = g.nodes.get(f"{path}.stochastic_depth")
        has_shortcut = any(n.kind == "add" for n in g.layers() if n.id.startswith(path + "."))
        assert (node is not None) == has_shortcut, path
        if node is not None:
            assert node.op.p == pytest.approx(0.2 * index / 16) and node.op.mode == "row"


def _inits(g: Graph, leaf: str) -> set[str | None]:
    """The init overrides of every residual block's `leaf` layer (e.g. bn2)."""
    return {str(n.op.init) if n.op.init else None for n in g.layers()
            if n.id.startswith("layer") and n.id.endswith("." + leaf)}


def test_zero_init_residual_zeroes_the_last_bn_of_each_branch() -> None:
    assert _inits(load("resnet18"), "bn2") == {None}
    assert _inits(load("resnet18", zero_init_residual=True), "bn2") == {"zeros()"}
    assert _inits(load("seresnet18"), "bn2") == {"zeros()"}  # timm's zero_init_last
    r50 = load("resnet50", zero_init_residual=True)
    assert _inits(r50, "bn3") == {"zeros()"}
    assert _inits(r50, "bn2") == _inits(r50, "bn1") == {None}


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "googlenet", "resnet50", "densenet121", "efficientnet_b0"])
def test_classifier_size_is_a_parameter(name: str) -> None:
    g = load(name, num_classes=10)
    assert [g.output_shapes()[o] for o in g.active_outputs(training=False)] == [(10,)]


def test_init_rules_follow_torchvision() -> None:
    def rules(name: str) -> dict[str, tuple[str | None, str | None]]:
        return {r.kind: (str(r.weight) if r.weight else None, str(r.bias) if r.bias else None)
                for r in load(name).inits if r.prefix == ""}

    assert rules("alexnet") == {}
    assert rules("resnet50") == {"conv": ("kaiming_normal(mode='fan_out', nonlinearity='relu')", None),
                                 "bn": ("ones()", "zeros()")}
    assert rules("densenet121")["linear"] == (None, "zeros()")
    assert rules("googlenet")["linear"][1] is None  # torchvision keeps the default linear bias
    assert rules("efficientnet_b0")["linear"] == ("uniform(a=-0.03162277660168379, b=0.03162277660168379)", "zeros()")
    assert load("vgg16", init_weights=False).inits == []
