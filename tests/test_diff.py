"""`netspec diff` and `render --diff` on real pairs from the library.

Each pair's expected differences are stated from what the two architectures are:
SE-ResNet adds an SE module to every residual branch, ResNeXt changes the
bottleneck's width and conv2's groups, EfficientNet-B1 adds blocks (depth 1.1)
and a larger input, the padded U-Net drops the crops.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

import netspec
from netspec.cli import main
from netspec.diff import Diff, as_json, diff, highlight, text
from netspec.graph import Graph


@cache
def load(name: str, input: tuple[int, ...] | None = None) -> Graph:
    return netspec.load(name, input=input)


def pair(a: str, b: str, input: tuple[int, ...] | None = None) -> Diff:
    return diff(load(a, input), load(b, input), a, b)


def by_status(d: Diff, status: str) -> list[str]:
    return [e.path for e in d.entries if e.status == status]


def check_totals(d: Diff) -> None:
    """Per-group deltas add up to the totals, which are the graphs' own differences."""
    groups = d.groups().values()
    assert sum(e.delta("params") for g in groups for e in g) == d.b.params - d.a.params
    assert sum(e.delta("macs") for g in groups for e in g) == d.b.macs - d.a.macs
    j = as_json(d)
    assert sum(g["params_delta"] for g in j["groups"]) == j["totals"]["params_delta"] == d.b.params - d.a.params


# ---------------------------------------------------------------- library pairs
def test_seresnet_adds_an_se_module_to_every_block() -> None:
    d = pair("resnet18", "seresnet18")
    added = by_status(d, "added")
    blocks = [f"layer{s}.{i}" for s in range(1, 5) for i in range(2)]
    se = ["avgpool", "fc1", "activation", "fc2", "scale_activation", "5"]
    assert added == [f"{b}.se.{x}" for b in blocks for x in se]
    assert by_status(d, "removed") == []
    # the rest of each block: bn2 is zero-initialised (timm's zero_init_last), the add reads the SE
    # output, and the final relu moved up one position (the SE scope took one)
    ds = {b: int(b in ("layer2.0", "layer3.0", "layer4.0")) for b in blocks}  # a downsample takes one too
    changed = {e.path: set(e.changes) for e in d.entries if e.status == "changed"}
    assert changed == {**{f"{b}.bn2": {"op.init"} for b in blocks}, **{f"{b}.{6 + ds[b]}": {"inputs"} for b in blocks}}
    renamed = {e.a.id: e.b.id for e in d.entries if e.status == "renamed"}  # type: ignore[union-attr]
    assert renamed == {f"{b}.{6 + ds[b]}": f"{b}.{7 + ds[b]}" for b in blocks}
    for group in blocks:
        entries = d.groups()[group]
        se_params = sum(e.b.params for e in entries if e.status == "added")  # type: ignore[union-attr]
        assert sum(e.delta("params") for e in entries) == se_params > 0
    check_totals(d)
    out = text(d)
    assert "@@ layer1.0 (basic)  +1,096 params" in out
    row = next(line for line in out.splitlines() if line.startswith("+ layer1.0.se.fc1"))
    assert row.split() == ["+", "layer1.0.se.fc1", "conv", "1x1,", "8", "(N,8,1,1)", "+520", "params"]
    assert "layers: 69 -> 117: 48 added, 0 removed, 16 changed, 8 renumbered" in out


def test_resnext_changes_every_bottleneck_width_and_groups() -> None:
    d = pair("resnet50", "resnext50_32x4d")
    assert by_status(d, "added") == by_status(d, "removed") == []
    blocks = [f"layer{s + 1}.{i}" for s, n in enumerate([3, 4, 6, 3]) for i in range(n)]
    assert sorted(g for g in d.groups() if any(e.status != "same" for e in d.groups()[g])) == sorted(blocks)
    for b in blocks:
        conv2 = next(e for e in d.entries if e.path == f"{b}.conv2")
        assert conv2.changes["op.groups"] == (1, 32)
        assert conv2.changes["op.out"][1] == 2 * conv2.changes["op.out"][0]  # 32 groups x 4 = 2 x resnet's width
        assert next(e for e in d.entries if e.path == f"{b}.conv1").changes["op.out"] == conv2.changes["op.out"]
        conv3 = next(e for e in d.entries if e.path == f"{b}.conv3")
        assert set(conv3.changes) == {"params"}  # same op, wider input
    untouched = ("conv1", "bn1", "fc", "layer1.0.downsample")
    assert all(e.status == "same" for e in d.entries if e.path.startswith(untouched))
    check_totals(d)
    assert "conv: out 64 -> 128, groups 1 -> 32" in text(d)


def test_efficientnet_b1_adds_blocks() -> None:
    d = pair("efficientnet_b0", "efficientnet_b1", input=(3, 224, 224))  # one size: only the structure differs
    added_groups = sorted({e.group for e in d.entries if e.status == "added"})
    # depth 1.1: stages of 1, 2, 2, 3, 3, 4, 1 blocks become 2, 3, 3, 4, 4, 5, 2
    assert added_groups == [
        "features.1.1",
        "features.2.2",
        "features.3.2",
        "features.4.3",
        "features.5.3",
        "features.6.4",
        "features.7.1",
    ]
    assert by_status(d, "removed") == []
    kinds = {tuple(sorted(e.changes)) for e in d.entries if e.status == "changed"}
    assert kinds == {("op.p",), ("inputs",)}  # stochastic-depth rates, and the layers after a new block
    check_totals(d)
    full = pair("efficientnet_b0", "efficientnet_b1")  # at their own resolutions, 224 vs 240
    assert full.a.input_shape != full.b.input_shape and "input:  (N,3,224,224) -> (N,3,240,240)" in text(full)
    check_totals(full)


def test_unet_padded_drops_the_crops() -> None:
    d = pair("unet", "unet_padded", input=(1, 576, 576))  # a size both take
    removed = [(e.path, e.a.op.kind) for e in d.entries if e.status == "removed"]  # type: ignore[union-attr]
    assert removed == [(f"up{i}.1", "crop") for i in (4, 3, 2, 1)]
    convs = [e for e in d.entries if e.status == "changed" and e.b is not None and e.b.op.kind == "conv"]
    padded = [e for e in convs if e.changes.get("op.padding") == (0, 1)]
    assert len(padded) == 18 and [e.path for e in convs if e not in padded] == ["out"]  # the 1x1 head: its shape
    assert d.b.params == d.a.params and by_status(d, "added") == []
    check_totals(d)


def test_identical() -> None:
    d = pair("resnet18", "resnet18")
    assert d.identical and text(d).endswith("identical") and as_json(d)["layers"] == []


def test_renumbered_layers_are_matched_not_removed_and_added() -> None:
    src = (
        "network a() {\n input 3x8x8\n conv 8 k=3 p=1\n relu\n conv 8 k=1\n}\n"
        "network b() {\n input 3x8x8\n conv 8 k=3 p=1\n bn\n relu\n conv 8 k=1\n}\n"
    )
    d = diff(netspec.load_text(src, "a"), netspec.load_text(src, "b"), "a", "b")
    assert by_status(d, "added") == ["1"] and by_status(d, "removed") == []
    assert {e.a.id: e.b.id for e in d.entries if e.status == "renamed"} == {"2": "3"}  # type: ignore[union-attr]
    relu = next(e for e in d.entries if e.b is not None and e.b.op.kind == "relu")
    assert (relu.status, relu.a.id, relu.b.id, set(relu.changes)) == ("changed", "1", "2", {"inputs"})  # type: ignore[union-attr]
    out = text(d).splitlines()
    assert "= 2 -> 3  conv 1x1, 8" in out  # a conv that moved: its state_dict keys move with it
    assert "~ 1 -> 2  relu" in [line[: len("~ 1 -> 2  relu")] for line in out]


# ---------------------------------------------------------------- CLI
def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "resnet18", "resnet18"]) == 0
    assert main(["diff", "resnet18", "seresnet18"]) == 1
    assert main(["diff", "resnet18", "resnet18", "--set-b", "num_classes=10"]) == 1
    assert main(["diff", "resnet18", "resnet18", "--set", "num_classes=10"]) == 0
    assert main(["diff", "resnet18", "nosuchnet"]) == 2
    assert main(["diff", "resnet18", "resnet18", "--input", "3x0x1"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["diff", "resnet18"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_cli_json_is_strict(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "unet", "specs/unet.net:unet_padded", "--json", "--set-a", "num_classes=3"]) == 1

    def no_constants(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")

    j = json.loads(capsys.readouterr().out, parse_constant=no_constants)
    assert j["schema_version"] == 1 and j["identical"] is False
    assert j["a"]["args"]["num_classes"] == 3 and j["b"]["args"]["num_classes"] == 2
    assert j["totals"]["removed"] == 4
    assert {x["status"] for x in j["layers"]} == {"changed", "removed"}
    crop = next(x for x in j["layers"] if x["status"] == "removed")
    assert crop["a"]["op"] == "crop" and crop["b"] is None


# ---------------------------------------------------------------- render --diff
def test_render_diff_colours_boxes(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from netspec.compiler.to_graphviz import DIFF_COLORS, Diagram, diff_status, make_view

    g = load("seresnet18")
    hl = highlight(load("resnet18"), g, "resnet18")
    view = make_view(g, 1)
    status = {b.path: diff_status(b, hl) for b in view.boxes.values()}
    assert status["layer1.0.se"] == "added" and status["layer1.0.bn2"] == "changed"
    assert status["layer1.0.conv1"] is None and status["conv1"] is None
    source = Diagram(view, highlight=hl).source
    assert source.count(DIFF_COLORS["added"][0]) >= 8 and "new (not in resnet18)" in source
    assert netspec.render("seresnet18", depth=1, diff="resnet18").source == source  # the Python API

    out = tmp_path / "u.dot"  # type: ignore[operator]
    assert main(["render", "unet_padded", "--diff", "unet", "-o", str(out)]) == 0
    assert "4 layers removed" in capsys.readouterr().out
    dot = out.read_text()
    assert "removed (only in unet): up4.1 (crop), up3.1 (crop), up2.1 (crop), up1.1 (crop)" in dot
