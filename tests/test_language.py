"""The language front end: constructs, naming, scoping, wiring and shapes (no torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netspec import SpecError, load, load_text
from netspec.evaluate import Limits

DATA = Path(__file__).parent / "data"


def net(body: str, head: str = "", **params: object):
    return load_text(f"{head}\nnetwork n(w=8, flag=true) {{\n  input 3x32x32\n{body}\n}}\n", **params)


def ids(g) -> list[str]:
    return [n.id for n in g.layers()]


def test_resnet_mini_matches_torchvision_resnet18_count() -> None:
    g = load(f"{DATA / 'resnet_mini.net'}:resnet18")
    assert g.params == 11_689_512
    assert g.output_shapes() == {"out": (1000,)}
    assert "layer2.0.downsample.0" in g.nodes and "layer1.0.downsample.0" not in g.nodes


def test_unnamed_layers_take_their_position_and_conditions_take_none() -> None:
    g = net("features: {\n conv w k=3\n relu\n bn if not flag\n maxpool 2\n}")
    assert ids(g) == ["features.0", "features.1", "features.2"]
    assert g.nodes["features.2"].kind == "maxpool"


def test_labelled_chain_is_a_sequence_scope() -> None:
    g = net("stem: conv w k=3 -> bn -> relu\nhead: conv 4")
    assert ids(g)[:3] == ["stem.0", "stem.1", "stem.2"]
    assert g.nodes["head"].inputs == ("stem.2",)


def test_computed_names_and_loops() -> None:
    g = net("for i in range(3) { layer{i+1}: conv w*(i+1) k=1 }\nfor a, b in [[1, 2], [3, 4]] { \"x{a}\": conv b }")
    assert ids(g) == ["layer1", "layer2", "layer3", "x1", "x3"]
    assert g.nodes["layer3"].shape == (24, 32, 32)


def test_block_names_are_local() -> None:
    g = net("a: blk(4)\nb: blk(4)", head="block blk(c) { conv1: conv c; act: relu }")
    assert {"a.conv1", "a.act", "b.conv1", "b.act"} <= set(g.nodes)
    with pytest.raises(SpecError, match="undefined reference '@conv1'"):
        net("a: blk(4)\nadd @conv1", head="block blk(c) { conv1: conv c; act: relu }")


def test_block_defaults_can_read_the_input_shape() -> None:
    g = net("x: keep()", head="block keep(c=in.channels * 2) { conv c }")
    assert g.nodes["x.0"].shape == (6, 32, 32)


def test_residual_projection_only_when_shape_changes() -> None:
    head = """block basic(c, stride=1) {
  residual(shortcut = down: [conv c k=1 s=stride, bn] if stride != 1 or in.channels != c) {
    c1: conv c k=3 s=stride p=1; b1: bn
  }
}"""
    g = net("a: basic(3)\nb: basic(16, stride=2)", head=head)
    assert "a.down.0" not in g.nodes and "b.down.0" in g.nodes
    assert g.nodes["b.3"].kind == "add" and g.nodes["b.3"].shape == (16, 16, 16)


def test_residual_when_false_drops_the_add() -> None:
    g = net("residual(when = false) { conv 8 k=3 p=1 }")
    assert [n.kind for n in g.layers()] == ["conv"]


def test_parallel_concat_and_mul() -> None:
    g = net(
        "concat {\n a: conv 4\n b: [conv 2, conv 6 k=3 p=1]\n maxpool 3 s=1 p=1\n}\n"
        "mul { identity; [global_pool, conv 13, sigmoid] }"
    )
    cat = next(n for n in g.layers() if n.kind == "concat")
    assert cat.shape == (13, 32, 32) and len(cat.inputs) == 3
    assert g.layers()[-1].kind == "mul" and g.layers()[-1].shape == (13, 32, 32)


def test_dense_block_concatenates_all_earlier_features() -> None:
    g = net('dense { for i in range(3) { "layer{i+1}": conv 4 k=3 p=1 } }')
    assert g.nodes["layer3"].inputs and g.layers()[-1].shape == (3 + 3 * 4, 32, 32)
    assert g.nodes[g.nodes["layer3"].inputs[0]].shape == (3 + 2 * 4, 32, 32)


def test_references_and_tensor_parameters() -> None:
    head = "block up(c, skip: tensor) { conv_transpose c k=2 s=2; concat @skip }"
    g = net("e1: conv 8 k=3 p=1\ndown: maxpool 2\nu: up(8, @e1)", head=head)
    assert g.layers()[-1].shape == (16, 32, 32)


def test_dotted_reference_into_a_block() -> None:
    g = net("bb: body()\n@bb.mid -> conv 2", head="block body() { mid: conv 5; conv 7 }")
    assert g.layers()[-1].inputs == ("bb.mid",)


def test_outputs_and_train_only_nodes() -> None:
    g = net("main: conv 8\noutput train aux: @main -> global_pool -> flatten -> linear 3\nconv 4")
    assert g.outputs.keys() == {"out", "aux"} and g.implicit_output
    assert g.train_outputs == {"aux"}
    assert all(n.train_only for n in g.layers() if n.kind == "linear")
    assert not g.nodes["main"].train_only


def test_expressions() -> None:
    g = net("let c = make_divisible(w * 1.1)\nconv c + [1, 2, 3][-1] * 2 ** 2 k=(3 if c > 4 and not false else 1) p=1\n"
            "conv sum([ceil(x / 2) for x in range(5) if x % 2 == 0])")
    assert g.layers()[0].shape == (8 + 12, 32, 32)
    assert g.layers()[1].shape[0] == 0 + 1 + 2


def test_network_alias_keeps_free_parameters() -> None:
    g = load(f"{DATA / 'resnet_mini.net'}:resnet34", num_classes=10)
    assert g.output_shapes() == {"out": (10,)}
    with pytest.raises(SpecError, match="no parameter 'num_clases'"):
        load(f"{DATA / 'resnet_mini.net'}:resnet34", num_clases=10)


def test_input_override() -> None:
    g = load(f"{DATA / 'resnet_mini.net'}:resnet18", input=(3, 64, 64))
    assert g.input_shape == (3, 64, 64) and g.nodes["layer4.1.conv2"].shape == (512, 2, 2)


def test_imports_relative_and_cycles(tmp_path: Path) -> None:
    (tmp_path / "blocks.net").write_text("block cbr(c) { conv c k=3 p=1; bn; relu }\n")
    (tmp_path / "main.net").write_text('import "blocks.net"\nnetwork m() { input 3x8x8; a: cbr(4) }\n')
    assert load(str(tmp_path / "main.net")).nodes["a.0"].shape == (4, 8, 8)
    (tmp_path / "x.net").write_text('import "y.net"\n')
    (tmp_path / "y.net").write_text('import "x.net"\n')
    with pytest.raises(SpecError, match="import cycle"):
        load(str(tmp_path / "x.net"))


def test_receptive_field_and_macs() -> None:
    g = net("conv 4 k=3\nconv 4 k=3 s=2\nconv 4 k=3")
    rf = g.receptive()
    assert [(rf[n.id].size[0], rf[n.id].jump) for n in g.layers()] == [(3, (1, 1)), (5, (2, 2)), (9, (2, 2))]
    assert g.layers()[0].macs == 30 * 30 * 4 * 3 * 9


def test_edges_carry_shapes_and_slots() -> None:
    g = net("a: conv 4\nb: conv 4\nadd @a")
    add = g.layers()[-1].id
    assert g.nx.edges["b", add] == {"shape": (4, 32, 32), "slot": 0}
    assert g.nx.edges["a", add]["slot"] == 1


def test_limits_are_enforced_quickly() -> None:
    with pytest.raises(SpecError, match="more than 50 layers"):
        net("repeat 100 { relu }", limits=Limits(max_nodes=50))
    with pytest.raises(SpecError, match="iterations"):
        net("for i in range(100) { for j in range(100) { let x = 1 } }", limits=Limits(max_iterations=500))
    with pytest.raises(SpecError, match="nested deeper"):
        net("x: b0()", head="\n".join(f"block b{i}() {{ b{i + 1}() }}" for i in range(60)) + "\nblock b60() { relu }")


def test_values_are_never_python_eval() -> None:
    with pytest.raises(SpecError):
        net('conv __import__("os").system("true")')


def test_front_end_does_not_import_torch() -> None:
    code = ("import sys, netspec; g = netspec.load(sys.argv[1] + ':resnet18'); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(g.params)")
    out = subprocess.run([sys.executable, "-c", code, str(DATA / "resnet_mini.net")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "11689512"


def test_input_override_supplies_a_missing_input_statement() -> None:
    g = load_text("network n() {\n  conv 4 k=3\n}\n", input=(3, 16, 16))
    assert g.nodes["0"].shape == (4, 14, 14)
