"""The summary: receptive fields (hand-worked cases and the library), the table's columns,
memory, JSON for tools (`summary`, `check`, `ops`, `list`), `netspec.summary()` and the
Jupyter views. The gradient probe is in test_receptive.py, torchinfo in test_summary_torchinfo.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest

import netspec
from netspec.cli import main
from netspec.errors import SpecError
from netspec.library import load_text
from netspec.receptive import Receptive
from netspec.table import COLUMNS, Summary


def net(body: str, input: str = "3x16x16") -> netspec.Graph:
    return load_text(f"network n() {{\n  input {input}\n{body}\n}}\n")


def rf_of(g: netspec.Graph, nid: str) -> Receptive:
    return g.receptive()[nid]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- receptive fields, by hand
def test_a_chain_of_windows() -> None:
    g = net("a: conv 4 k=3\nb: conv 4 k=3 s=2\nc: conv 4 k=3", input="3x32x32")
    # a: 30 outputs, centre 14 reads rows 14..16; b: 14, centre 6 reads a's 12..14 = rows 12..16;
    # c: 12, centre 5 reads b's 5..7 = a's 10..16 = rows 10..18.
    assert [(rf_of(g, x).rows, rf_of(g, x).jump) for x in "abc"] == [
        ((14, 16), (1, 1)),
        ((12, 16), (2, 2)),
        ((10, 18), (2, 2)),
    ]
    assert rf_of(g, "c").size == (9, 9) and rf_of(g, "c").text() == "9/2"


def test_merging_misaligned_branches_takes_the_union() -> None:
    # One branch reads o-1..o+1, the other (padded on the right only) o..o+2: the sum reads
    # o-1..o+2, four rows; the largest single field is three.
    g = net("add {\n  a: conv 4 k=3 p=1\n  [pad [0, 2, 0, 2], b: conv 4 k=3]\n}")
    add = g.layers()[-1].id
    assert rf_of(g, "a").rows == (6, 8) and rf_of(g, "1.b").rows == (7, 9)
    assert rf_of(g, add).rows == rf_of(g, add).cols == (6, 9) and rf_of(g, add).size == (4, 4)


def test_padding_is_not_input() -> None:
    # a 7x7 conv with p=3 at the centre of a 7x7 map reads all of it, but no more
    g = net("a: conv 4 k=7 p=3\nb: conv 4 k=7 p=3", input="3x7x7")
    assert rf_of(g, "a").rows == rf_of(g, "b").rows == (0, 6)


def test_dilation_counts_only_the_taps_inside() -> None:
    # d=2, k=3, p=2 on 5 rows: the centre reads rows 0, 2, 4; the corner output 0 reads 0 and 2
    g = net("a: conv 4 k=3 d=2 p=2\nb: conv 4 k=3 p=1", input="3x5x5")
    assert rf_of(g, "a").rows == (0, 4)
    g = net("a: conv 4 k=3 d=2 p=2\nb: conv 4 k=1 s=2 p=1", input="3x5x5")
    # b has 4 outputs: its centre (1) is a's 1, whose taps -1, 1, 3 leave rows 1 and 3 inside
    assert rf_of(g, "b").rows == (1, 3)
    g = net("a: conv 4 k=3 d=3 p=0\nb: conv 4 k=1", input="3x9x9")
    assert rf_of(g, "b").rows == (1, 7) and rf_of(g, "b").size == (7, 7)


def test_transposed_conv_and_upsampling_read_whole_input_pixels() -> None:
    g = net("a: conv_transpose 4 k=2 s=2\nb: conv_transpose 4 k=4 s=2 p=1", input="3x5x5")
    # a: 10 outputs, centre 4 reads input 2; b: 20 outputs, centre 9 reads a's 4 and 5 (inputs 2, 2)
    assert rf_of(g, "a").rows == (2, 2) and rf_of(g, "a").jump == (0.5, 0.5)
    assert rf_of(g, "b").rows == (2, 2) and rf_of(g, "b").jump == (0.25, 0.25)
    g = net('a: upsample 2 mode="bilinear"\nb: @in -> upsample 2', input="3x5x5")
    # bilinear x2: output 4 samples (4 + 0.5) / 2 - 0.5 = 1.75, so inputs 1 and 2; nearest: input 2
    assert rf_of(g, "a").rows == (1, 2) and rf_of(g, "b").rows == (2, 2)


def test_crop_offsets_and_adaptive_pools() -> None:
    g = net("x: conv 4 k=1\nbig: conv 4 k=1 p=3\nc: crop @x offset=[1, 2]", input="3x8x8")
    # big is 14x14 (3 rows of padding each side); c keeps rows 1..8 of it, i.e. input rows -2..5
    assert rf_of(g, "c").rows == (1, 1)  # centre 3 -> big's 4 -> input row 1
    assert rf_of(g, "c").cols == (2, 2)  # centre 3 -> big's 5 -> input column 2
    g = net("a: adaptive_avgpool 16\nb: adaptive_avgpool 4\nc: adaptive_avgpool 3\nd: adaptive_avgpool 1")
    assert rf_of(g, "a").rows == (7, 7)  # 16 -> 16: the identity
    assert rf_of(g, "b").rows == (4, 7)  # 16 -> 4: output 1 averages rows 4..7
    assert rf_of(g, "c").rows == (4, 11)  # 4 -> 3: output 1 reads b's 1..2, rows 4..11
    assert rf_of(g, "d").is_global and rf_of(g, "d").text() == "global"


def test_global_context_is_marked_not_counted() -> None:
    g = net(
        "x: conv 8 k=3 p=1\nmul {\n  identity\n  [global_pool, conv 2, relu, conv 8, sigmoid]\n}\ny: conv 8 k=3 p=1"
    )
    gate = [n.id for n in g.layers() if n.kind == "sigmoid"][0]
    mul = [n.id for n in g.layers() if n.kind == "mul"][0]
    assert rf_of(g, gate).is_global
    assert rf_of(g, mul).rows == rf_of(g, "x").rows == (6, 8) and rf_of(g, mul).context
    assert rf_of(g, "y").size == (5, 5) and rf_of(g, "y").context and rf_of(g, "y").text() == "5/1 +g"


def test_softmax_over_a_spatial_dim_reads_the_whole_axis() -> None:
    g = net("a: conv 4 k=1\nb: softmax dim=2")
    assert rf_of(g, "b").rows == (0, 15) and rf_of(g, "b").cols == (7, 7)


def test_library_networks() -> None:
    vgg = netspec.load("vgg16")
    # the 7 -> 7 adaptive pool is an identity, not a global pool
    assert rf_of(vgg, "avgpool") == rf_of(vgg, "features.30")
    assert rf_of(vgg, "avgpool").text() == "212/32" and rf_of(vgg, "avgpool").rows == (6, 217)
    assert rf_of(vgg, "classifier.6").is_global
    se = netspec.load("seresnet50")
    assert rf_of(se, "layer1.0.conv1").text() == "11/4"
    gated = se.scopes["layer1.0.se"].output  # x * sigmoid(fc2(relu(fc1(pool(x)))))
    assert rf_of(se, gated) == Receptive((99, 117), (99, 117), (4.0, 4.0), (27, 27), context=True)
    assert not rf_of(se, "layer1.0.se.fc1").context
    assert rf_of(se, "layer1.0.se.fc1").is_global
    assert rf_of(se, se.scopes["layer4.2"].output).text() == "224/32 +g" and rf_of(se, "avgpool").is_global
    eff = netspec.load("efficientnet_b0")
    assert max(r.size[0] for r in eff.receptive().values()) == 224
    unet = netspec.load("unet")  # 572 -> 388: each output reads 188 rows around it, inside the input
    assert rf_of(unet, "out").text() == "188/1" and rf_of(unet, "out").rows == (192, 379)


@pytest.mark.parametrize("name", ["resnet152", "densenet201", "efficientnet_b7", "deeplabv3_resnet50", "fcn8s"])
def test_fields_never_exceed_the_input(name: str) -> None:
    g = netspec.load(name)
    _, h, w = g.input_shape
    for rf in g.receptive().values():
        assert rf.rows is not None and 0 <= rf.rows[0] <= rf.rows[1] < h
        assert rf.cols is not None and 0 <= rf.cols[0] <= rf.cols[1] < w


def test_a_network_on_vectors_has_no_field() -> None:
    g = load_text("network m() {\n  input 16, 1\n  flatten\n  linear 8\n}\n", input=(16,))
    assert g.receptive() == {}
    assert Summary(g).rows[0].rf is None and "-" in Summary(g).text().splitlines()[3]


# ---------------------------------------------------------------- the table
def test_default_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "resnet18", "--depth", "0")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "resnet18  input (N,3,224,224)  ->  out (N,1000)"
    assert lines[2].split() == ["layer", "op", "output", "params", "MACs", "RF/jump"]
    assert any(line.split()[:3] == ["layer4", "sequence", "(N,512,7,7)"] for line in lines)
    assert "params:       11,689,512 (trainable 11,689,512, non-trainable 0)" in out
    assert "memory (MB):  input 0.60, params 46.76," in out
    assert "input sizes" not in out  # `--sizes` asks for it


def test_columns_batch_and_dtype(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "resnet18", "--columns", "all", "--batch", "4", "--dtype", "fp16")
    assert code == 0
    head = out.splitlines()[2]
    for title in COLUMNS.values():
        assert title in head
    conv1 = next(line for line in out.splitlines() if line.startswith("conv1 "))
    # conv1: (4,3,224,224) -> (4,64,112,112), 7x7, 9,408 params: 0.02 MB in fp16; 2 x 4 x 802,816 x 2 bytes = 12.85 MB
    assert conv1.split() == [
        "conv1", "conv", "7x7/2,", "64", "(4,3,224,224)", "(4,64,112,112)", "7x7", "9,408", "9,408", "118.01M",
        "7/2", "0.02", "12.85",
    ]  # fmt: skip
    assert "(batch 4, float16)" in out
    code, _, err = run(capsys, "summary", "resnet18", "--columns", "params,flops")
    assert code == 1 and "unknown summary column 'flops'" in err
    code, _, err = run(capsys, "summary", "resnet18", "--dtype", "int3")
    assert code == 1 and "unknown dtype 'int3'" in err


def test_depth_full_is_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    g = netspec.load("resnet18")
    assert [r.path for r in Summary(g, "full").rows] == [n.id for n in g.layers()]
    rows = Summary(g, 1).rows
    layer2_0 = next(r for r in rows if r.path == "layer2.0")
    assert layer2_0.rf == g.receptive()[g.scopes["layer2.0"].output]
    assert layer2_0.inputs == [(64, 56, 56)] and layer2_0.shape == (128, 28, 28)
    assert run(capsys, "summary", "resnet18", "--depth", "full")[0] == 0
    assert run(capsys, "summary", "resnet18", "--depth", "deep")[0] == 1


def test_memory_definitions() -> None:
    g = netspec.load("resnet50")
    s = Summary(g, batch=8, dtype="bfloat16")
    t = s.totals()
    assert t["param_bytes"] == g.params * 2
    assert t["activation_bytes"] == 2 * 8 * 2 * sum(math.prod(n.shape) for n in g.layers())
    assert t["input_bytes"] == 8 * 3 * 224 * 224 * 2
    assert t["total_bytes"] == t["param_bytes"] + t["activation_bytes"] + t["input_bytes"]
    grouped = Summary(g, 0, batch=8, dtype="bfloat16").as_json()["nodes"]
    assert sum(r["activation_bytes"] for r in grouped) == t["activation_bytes"]
    assert sum(r["param_bytes"] for r in grouped) == t["param_bytes"]


# ---------------------------------------------------------------- JSON
def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_summary_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "summary", "seresnet18", "--json", "--batch", "2", "--depth", "1")
    data = _strict(out)
    assert code == 0 and data["schema_version"] == 1
    assert data["input"] == [2, 3, 224, 224] and data["outputs"]["out"]["shape"] == [2, 1000]
    assert data["batch"] == 2 and data["dtype"] == "float32" and data["depth"] == 1
    assert data["params"] == data["trainable_params"] == 11_779_624 and data["non_trainable_params"] == 0
    rows = {r["path"]: r for r in data["nodes"]}
    assert rows["conv1"]["kernel"] == [7, 7] and rows["conv1"]["inputs"] == [[2, 3, 224, 224]]
    assert rows["conv1"]["rf"] == {
        "size": [7, 7], "jump": [2.0, 2.0], "rows": [107, 113], "cols": [107, 113], "center": [55, 55],
        "global": False, "context": False,
    }  # fmt: skip
    assert rows["layer1.0"]["rf"]["context"] and rows["fc"]["rf"]["global"]
    assert all(isinstance(r["params"], int) and isinstance(r["activation_bytes"], int) for r in data["nodes"])
    assert "input_sizes" not in data
    code, out, _ = run(capsys, "summary", "unet", "--json", "--sizes")
    assert _strict(out)["input_sizes"]["dims"]["H"]["minimum"] == 188


def test_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, out, _ = run(capsys, "check", "resnet18", "--json", "--input", "3x64x64")
    data = _strict(out)
    assert code == 0 and data["schema_version"] == 1 and data["ok"] is True
    assert data["input"] == [1, 3, 64, 64] and data["outputs"]["out"]["shape"] == [1, 1000]
    assert data["params"] == 11_689_512 and data["warnings"] == []
    code, out, _ = run(capsys, "check", "unet", "--json", "--input", "1x100x100")
    data = _strict(out)
    assert code == 1 and data["ok"] is False
    err = data["error"]
    assert (err["file"], err["line"], err["col"], err["path"]) == ("specs/unet.net", 12, 10, "bottom.convs.conv1")
    assert err["message"].startswith("conv 3x3 shrinks") and err["text"].startswith("specs/unet.net:12:10: error:")
    spec = tmp_path / "w.net"
    spec.write_text("network w() {\n  input 3x8x8\n  conv 4 k=3\n  bn\n}\n")
    data = _strict(run(capsys, "check", str(spec), "--json")[1])
    assert [(w["code"], w["line"], w["severity"]) for w in data["warnings"]] == [("conv-bias-bn", 3, "warning")]


def test_ops_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "ops", "--json")
    data = _strict(out)
    assert code == 0 and data["schema_version"] == 1
    ops = {o["kind"]: o for o in data["ops"]}
    conv = {p["name"]: p for p in ops["conv"]["params"]}
    assert conv["kernel"]["default"] == 1 and conv["kernel"]["alias"] == "k" and conv["out"]["required"]
    assert conv["out"]["positional"] and conv["padding"]["type"].endswith('"same" | "valid"')
    assert {p["name"]: p["default"] for p in ops["bn"]["params"]} == {"eps": 1e-05, "momentum": 0.1, "affine": True}
    assert ops["add"]["inputs"] == {"min": 2, "max": None} and ops["conv"]["weights"] == ["weight", "bias"]
    assert _strict(run(capsys, "ops", "relu", "--json")[1])["ops"][0]["kind"] == "relu"


def test_list_json_gives_defaults_as_values(capsys: pytest.CaptureFixture[str]) -> None:
    data = _strict(run(capsys, "list", "--json")[1])
    assert data["schema_version"] == 1
    nets = {n["name"]: {p["name"]: p for p in n["params"]} for n in data["networks"]}
    assert nets["resnet"]["layers"]["default"] == [2, 2, 2, 2] and nets["resnet"]["block"]["default"] == "basic"
    assert nets["efficientnet"]["bn_eps"]["default"] == 1e-05 and nets["efficientnet"]["bn_eps"]["text"] == "1e-05"
    assert nets["resnet50"]["num_classes"] == {
        "name": "num_classes",
        "required": False,
        "default": 1000,
        "text": "1000",
    }
    assert nets["vgg"]["batch_norm"]["default"] is False
    assert isinstance(nets["vgg"]["cfg"]["default"], list)  # a file constant, evaluated


# ---------------------------------------------------------------- Python and Jupyter
def test_summary_function() -> None:
    s = netspec.summary("resnet18", depth=0, columns=["in", "out", "params"], batch=2)
    assert isinstance(s, Summary) and "(2,64,56,56)" in str(s)
    again = netspec.summary("resnet18", num_classes=10, input=(3, 64, 64))  # still the function, not the module
    assert again.as_json()["outputs"]["out"]["shape"] == [1, 10]
    html = s._repr_html_()
    assert html.count("<tr>") == len(s.rows) + 1 and "<code>layer4</code>" in html
    with pytest.raises(SpecError, match="unknown summary column"):
        netspec.summary("resnet18", columns="size")


def test_graph_shows_itself_in_jupyter() -> None:
    g = netspec.load("resnet18")
    assert g._repr_html_().startswith("<iframe")
    svg = g._repr_svg_()
    assert svg is None or svg.lstrip().startswith("<?xml")


def test_the_front_end_stays_light() -> None:
    """Loading and summarizing import neither the back end nor the size scan."""
    code = (
        "import sys, netspec\n"
        "from netspec.cli import main\n"
        "main(['summary', 'resnet18', '--depth', '0'])\n"
        "g = netspec.load('resnet18')\n"
        "bad = [m for m in sys.modules if m.startswith('netspec.compiler') or m in ('torch', 'netspec.sizes')]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
