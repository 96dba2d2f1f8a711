"""Generated source: standalone, equal to the in-memory module, and made only of safe constructs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import netspec
from netspec.cli import main
from netspec.compiler.to_torch import compile_graph, generate, to_source
from netspec.library import library_index

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

# One network using every op the support code provides, and several inputs per merge.
ZOO = """
block gate(c) {
  mul {
    identity
    [global_pool, conv c k=1, sigmoid]
  }
}
network zoo() {
  input 3x20x20
  stem: conv 8 k=3 p=1 -> layer_norm -> gelu
  skip: identity
  d: deform_conv 8 k=3 p=1 modulated=true offset_groups=2
  pad [1, 2, 0, 3] mode="reflect"
  crop @skip
  g: gate(8)
  concat @skip @d
  conv_transpose 8 k=2 s=2
  upsample @skip mode="bilinear" align_corners=false
  pad 1 value=0.5
  crop @skip offset=[1, 2]
  stochastic_depth 0.3 mode="batch"
  add @g
  upsample 0.5
  avgpool 2 ceil=true -> maxpool 2 s=1 p=1
  flatten
  reshape [2, -1]
  softmax dim=2
  flatten
  bn
  output out: linear 5 -> leaky_relu 0.2 -> dropout 0.1
}
"""

# The layout, arithmetic, norm and attention ops: a token sequence from a feature map and back.
ZOO2 = """
network zoo2() {
  input 3x16x16
  affine scale=[4.37, 4.46, 4.44] shift=[-2.12, -2.04, -1.8]
  conv 16 k=3 p=1 -> group_norm 4 -> prelu per_channel=true -> channel_shuffle 4
  pixel_unshuffle 2 -> instance_norm affine=true track_running_stats=true -> elu -> selu -> mish
  pixel_shuffle 2
  slice 1 stop=8 -> slice -1 start=1 step=2
  tokens: conv 8 k=2 s=2 -> reshape [8, -1] -> permute [2, 1]
  layer_norm over=1
  self_attention: multihead_attention 2
  add @tokens
  linear 12 -> gelu -> linear 8
  concat @tokens dim=-1
  transpose 1 2
  scale 0.5 -> shift 1
  log_softmax dim=-1
  flatten
  output out: softmax dim=-1
}
"""

RUNNER = r"""
import importlib.util, json, sys
sys.modules["netspec"] = None          # make sure the generated file never reaches for netspec
sys.modules["compiler"] = None
sys.path = [p for p in sys.path if p not in ("", {repo!r})]
import torch
spec = importlib.util.spec_from_file_location("model", {path!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
torch.manual_seed(0)
model = mod.Model()
x = torch.randn(2, *{shape!r}, generator=torch.Generator().manual_seed(1))
model.eval()
with torch.no_grad():
    out = model(x)
torch.save({{"state": model.state_dict(), "out": out}}, {result!r})
print(json.dumps({{"class": type(model).__name__}}))
"""


def run_standalone(graph: netspec.Graph, tmp_path: Path) -> tuple[dict, str]:
    path = tmp_path / "model.py"
    path.write_text(to_source(graph))
    result = tmp_path / "result.pt"
    repo = str(Path(__file__).resolve().parent.parent)
    code = RUNNER.format(repo=repo, path=str(path), shape=tuple(graph.input_shape), result=str(result))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return torch.load(result), json.loads(proc.stdout)["class"]


@pytest.mark.parametrize(("spec", "params"), [
    ("resnet18", {"input": (3, 64, 64)}),
    ("googlenet", {"aux_logits": True, "input": (3, 64, 64)}),
    ("unet", {"base": 8, "input": (1, 188, 188)}),
    ("zoo", {}),
    ("zoo2", {}),
])
def test_standalone_file_equals_compiled_module(spec: str, params: dict, tmp_path: Path) -> None:
    """Same seed -> same weights (init plan included) and the same outputs, without netspec."""
    zoos = {"zoo": ZOO, "zoo2": ZOO2}
    graph = netspec.load_text(zoos[spec], name=spec) if spec in zoos else netspec.load(spec, **params)
    got, cls_name = run_standalone(graph, tmp_path)
    torch.manual_seed(0)
    model = compile_graph(graph).eval()
    assert cls_name == type(model).__name__
    state = model.state_dict()
    assert list(got["state"]) == list(state)
    assert all(torch.equal(got["state"][k], state[k]) for k in state)
    x = torch.randn(2, *graph.input_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(x)
    if isinstance(out, dict):
        assert list(out) == list(got["out"])
        assert all(torch.equal(out[k], got["out"][k]) for k in out)
    else:
        assert torch.equal(out, got["out"])


SUPPORT = {"ChannelLayerNorm", "GlobalPool", "StochasticDepth", "stochastic_depth", "crop", "fan_uniform_",
           "DeformConv2d", "OffsetConv", "deform_conv2d", "_pair2", "slice_along", "channel_affine",
           "SelfMultiheadAttention"}
ROOTS = {"self", "nn", "F", "torch", "m", "block"}
METHODS = {"reshape", "mean", "amax", "flatten", "modules", "__init__", "append", "chunk", "split"}


def _allowed_call(func: ast.expr, classes: set[str], local: set[str]) -> bool:
    """Calls of torch / nn / F / self attributes, generated classes, support objects, and a few tensor methods."""
    if isinstance(func, ast.Attribute):
        root = func
        while isinstance(root, ast.Attribute):
            root = root.value  # type: ignore[assignment]
        if isinstance(root, ast.Name) and root.id in ROOTS:
            return True
        if isinstance(root, ast.Name) and root.id in local and func.attr in METHODS:
            return True
        if isinstance(root, ast.Call):  # super().__init__()
            return isinstance(root.func, ast.Name) and root.func.id == "super" and func.attr == "__init__"
        return False
    if isinstance(func, ast.Call):  # getattr(self, "2")(x)
        return (isinstance(func.func, ast.Name) and func.func.id == "getattr"
                and isinstance(func.args[0], ast.Name) and func.args[0].id == "self"
                and isinstance(func.args[1], ast.Constant) and isinstance(func.args[1].value, str))
    if isinstance(func, ast.Name):
        return func.id in classes | SUPPORT | {"super", "OrderedDict", "getattr", "isinstance"}
    return False


def check_body(body: str) -> None:
    """The generated body holds classes and calls of modules, torch functions and tensor methods: nothing else."""
    tree = ast.parse(body)
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {a.arg for a in ast.walk(tree)
                                                                         if isinstance(a, ast.arg)}
    allowed = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.AugAssign,
               ast.Return, ast.Expr, ast.If, ast.IfExp, ast.For, ast.Call, ast.Name, ast.Attribute, ast.Constant,
               ast.Tuple, ast.List, ast.Dict, ast.Load, ast.Store, ast.keyword, ast.Subscript, ast.Slice,
               ast.UnaryOp, ast.USub, ast.BinOp, ast.Add, ast.Mult, ast.Compare, ast.IsNot, ast.Starred)
    for node in ast.walk(tree):
        assert isinstance(node, allowed), ast.dump(node)
        if isinstance(node, ast.Call):
            assert _allowed_call(node.func, classes, local), ast.unparse(node)
        if isinstance(node, ast.Name):
            assert not node.id.startswith("__") and node.id not in ("eval", "exec", "open", "compile"), node.id
    for stmt in tree.body:
        assert isinstance(stmt, (ast.ClassDef, ast.Assign))


@pytest.mark.parametrize("name", sorted(library_index()))
def test_library_source_is_only_literals_and_module_calls(name: str) -> None:
    check_body(generate(netspec.load(name)).body)


def test_zoo_source_is_only_literals_and_module_calls() -> None:
    src = generate(netspec.load_text(ZOO, name="zoo"))
    check_body(src.body)
    wanted = {"crop", "DeformConv2d", "stochastic_depth", "ChannelLayerNorm"}
    assert {ref.split(":")[1] for ref in src.support} >= wanted


def test_zoo2_source_is_only_literals_and_module_calls() -> None:
    src = generate(netspec.load_text(ZOO2, name="zoo2"))
    check_body(src.body)
    assert {ref.split(":")[1] for ref in src.support} == {"channel_affine", "slice_along", "SelfMultiheadAttention"}
    assert "channel_affine(x, scale=(4.37, 4.46, 4.44), shift=(-2.12, -2.04, -1.8))" in src.body
    assert "torch.permute(x, (0, 2, 1))" in src.body and "torch.cat([x, tokens], -1)" in src.body
    assert "self.self_attention = SelfMultiheadAttention(8, 2)" in src.body


def test_blocks_become_parameterised_classes() -> None:
    body = generate(netspec.load("resnet50")).body
    assert body.count("class Bottleneck(") == 1 and "class Bottleneck2" not in body
    assert "def __init__(self, in_channels, planes, stride, out_channels, downsample=False):" in body
    assert "Bottleneck(64, 64, 1, 256, downsample=True)," in body and "Bottleneck(256, 64, 1, 256)," in body
    assert "y = F.relu(y, inplace=True)" in body and "bn3 += x" in body
    assert "add_module" not in body and "getattr" not in body


def test_hostile_names_stay_strings(tmp_path: Path) -> None:
    spec = 'network n() {\n input 3x8x8\n "class": conv 4\n "0abc": relu\n output "x": identity\n}'
    graph = netspec.load_text(spec)
    body = generate(graph).body
    check_body(body)
    model = compile_graph(graph)
    assert 'self.add_module("class"' in body and set(model(torch.randn(1, 3, 8, 8))) == {"x"}


def test_cli_compile_writes_source_and_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    py, pt = tmp_path / "m.py", tmp_path / "m.pt"
    assert main(["compile", "resnet18", "--set", "num_classes=10", "-o", str(py), "--class-name", "Net"]) == 0
    text = py.read_text()
    assert "class Net(nn.Module):" in text and "nn.Linear(512, num_classes)" in text
    assert "def __init__(self, num_classes=10):" in text  # --set values become the defaults
    assert main(["compile", "resnet18", "-o", str(pt)]) == 0
    state = torch.load(pt)
    assert state["fc.weight"].shape == (1000, 512)
    assert main(["compile", "resnet18", "-o", str(tmp_path / "m.txt")]) == 1
    assert main(["compile", "resnet18", "-o", str(py), "--class-name", "not valid"]) == 1
    err = capsys.readouterr().err
    assert "don't know how to write 'm.txt'" in err and "not a valid Python class name" in err


def test_layer_names_never_shadow_support_functions() -> None:
    """A layer named like a support function (`crop: crop @skip`) still calls the function."""
    spec = "network n() {\n input 3x16x16\n skip: conv 4 k=3 p=1\n conv 4 k=3\n upsample 2\n crop: crop @skip\n}"
    model = compile_graph(netspec.load_text(spec))
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 4, 16, 16)
