"""A user-defined op, declared only in this file, works everywhere a built-in op does.

Two ops: `scaled_relu` (weightless: a plain call of a support function that uses F.relu)
and `mix` (weighted: its own nn.Module, `MyLayer`, referenced as `test_plugin_op:MyLayer`).
Both are registered by a fixture (`netspec.register_op`) and removed afterwards, so the
registry-driven tests of other modules never see them. Through netspec they must check,
summarize, render, lint, document, compile in memory (keys, shape, a training step) and
compile to a standalone file that runs without netspec.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

import netspec
from netspec.cli import main
from netspec.compiler.to_graphviz import FAMILY_COLORS
from netspec.compiler.to_torch import compile_graph, op_function, to_source
from netspec.docgen import op_table
from netspec.ops import OPS, Family, Op, ParamOp, Shape
from netspec.ops.base import Bool, Int, spatial, unregister
from netspec.ops.form import Call, In, Module

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`


# ---------------------------------------------------------------- support code (copied into generated files)


def scaled_relu(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """relu(x) * scale."""
    return F.relu(x) * scale


def _mix(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    y = torch.einsum("nchw,oc->nohw", x, weight)
    return y if bias is None else y + bias[:, None, None]


class MyLayer(nn.Module):
    """A 1x1 channel mix with its own parameters, scaled by a fixed gain."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True, gain: float = 1.0) -> None:
        super().__init__()
        self.gain = gain
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        bound = in_channels**-0.5
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _mix(x, self.weight, self.bias) * self.gain


NEEDS = {"MyLayer": ("_mix",)}  # what MyLayer calls, copied with it


# ---------------------------------------------------------------- the op declarations


class ScaledReLU(Op):
    """relu(x) * scale: a weightless op whose torch form is one call."""

    kind: ClassVar[str] = "scaled_relu"
    aliases: ClassVar[tuple[str, ...]] = ("srelu",)
    family: ClassVar[Family] = Family.ACTIVATION
    positional: ClassVar[tuple[str, ...]] = ("scale",)
    doc: ClassVar[str] = "relu(x) * scale"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"scale": 2.0}, [(4, 6, 6)])
    scale: float = Field(1.0, gt=0, le=1e3, allow_inf_nan=False)

    def call(self, ins: list[Shape]) -> Call:
        return Call("test_plugin_op:scaled_relu", (In(0),), (("scale", self.scale),))


class Mix(ParamOp):
    """A 1x1 channel mix computed by this file's own module, MyLayer."""

    kind: ClassVar[str] = "mix"
    family: ClassVar[Family] = Family.CONV  # so lint treats it as a convolution (conv-bias-bn, plain-chain)
    positional: ClassVar[tuple[str, ...]] = ("out",)
    doc: ClassVar[str] = "1x1 channel mix with a fixed output gain"
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"out": 5, "gain": 0.5}, [(3, 4, 4)])
    out: Int = Field(gt=0, le=1 << 16, description="output channels")
    bias: Bool = True
    gain: float = Field(1.0, gt=0, le=1e3, allow_inf_nan=False)

    def infer(self, ins: list[Shape]) -> Shape:
        _, h, w = spatial(ins[0], self.kind)
        return (self.out, h, w)

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        return self.out * ins[0][0] + (self.out if self.bias else 0)

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        return self.out * ins[0][0] * out[1] * out[2]

    def label(self) -> str:
        return f"mix {self.out}"

    def module(self, ins: list[Shape]) -> Module:
        return Module("test_plugin_op:MyLayer", (ins[0][0], self.out), (("bias", self.bias), ("gain", self.gain)))


PLUGIN_OPS = (ScaledReLU, Mix)

SPEC = """
network plug(num_classes=10) {
  input 3x16x16
  init mix weight=normal(std=0.02)
  stem: mix 8 bias=false
  bn
  act: scaled_relu 2.0
  m2: mix 8 gain=0.5
  scaled_relu 0.5
  mix 8
  bn
  global_pool keepdim=false
  fc: linear num_classes
}
"""


@pytest.fixture(autouse=True)
def plugin_ops() -> Iterator[None]:
    """Register this file's ops for one test, then remove them."""
    for cls in PLUGIN_OPS:
        netspec.register_op(cls)
    yield
    for cls in PLUGIN_OPS:
        unregister(cls.kind)


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "plug.net"
    path.write_text(SPEC)
    return path


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


# ---------------------------------------------------------------- front end


def test_registered_ops_are_found_and_removed_again() -> None:
    assert OPS["scaled_relu"] is ScaledReLU and "mix" in OPS
    unregister("mix")
    assert "mix" not in OPS
    netspec.register_op(Mix)
    assert netspec.register_op(Mix) is Mix  # the same class twice is harmless


def test_check(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli("check", str(spec))
    assert code == 0
    g = netspec.load(str(spec))
    assert out.startswith(f"ok: plug: input (N,3,16,16) -> out (N,10); {len(g.layers())} layers, {g.params:,} params")
    assert g.params == 3 * 8 + 2 * 8 + (8 * 8 + 8) + (8 * 8 + 8) + 2 * 8 + 8 * 10 + 10
    assert g.nodes["stem"].macs == 3 * 8 * 16 * 16
    # lint reads the family: a plugin convolution with a bias before bn is flagged like conv
    assert "warning: mix has a bias but bn follows [conv-bias-bn]" in capsys.readouterr().err


def test_summary(spec: Path) -> None:
    code, out = run_cli("summary", str(spec), "--json")
    assert code == 0
    rows = {r["path"]: r for r in json.loads(out)["nodes"]}
    assert (rows["stem"]["kind"], rows["stem"]["op"], rows["stem"]["params"]) == ("mix", "mix 8", 24)
    assert (rows["act"]["kind"], rows["act"]["shape"]) == ("scaled_relu", [1, 8, 16, 16])  # batch first
    text = run_cli("summary", str(spec))[1]
    assert any(line.split()[:3] == ["m2", "mix", "8"] for line in text.splitlines())


def test_render_dot(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "plug.dot"
    code, _ = run_cli("render", str(spec), "-o", str(out), "--depth", "full")
    assert code == 0
    dot = out.read_text()
    assert "mix 8" in dot and "scaled_relu" in dot
    assert FAMILY_COLORS[Family.CONV] in dot and FAMILY_COLORS[Family.ACTIVATION] in dot


def test_docs_row_and_ops_command() -> None:
    table = op_table(PLUGIN_OPS)
    row = next(line for line in table.splitlines() if line.startswith("| `mix` |"))
    assert "conv" in row and "**out**: `int>0` = required" in row and "gain: `0<float<=1000` = 1.0" in row
    assert "(weights: `init=`, `bias_init=`)" in row
    assert "| `scaled_relu` | srelu | activation | 1 |" in table
    code, out = run_cli("ops", "mix")
    assert code == 0
    assert out.splitlines()[1] == "    family conv; 1 input; weights: init=, bias_init=; from test_plugin_op"


# ---------------------------------------------------------------- torch


@pytest.mark.parametrize("cls", PLUGIN_OPS, ids=lambda c: c.kind)
def test_torch_form_matches_the_shape_rule_and_param_count(cls: type[Op]) -> None:
    params, shapes = cls.example
    op = cls(**params)
    module, fn = op_function(op, shapes)
    out = fn(*(torch.randn(2, *s) for s in shapes))
    assert tuple(out.shape[1:]) == op.infer(shapes)
    counted = sum(p.numel() for p in module.parameters()) if module is not None else 0
    assert counted == op.count_params(shapes, op.infer(shapes))


def test_compile_in_memory_and_train(spec: Path) -> None:
    g = netspec.load(str(spec))
    torch.manual_seed(0)
    model = netspec.compile(g)
    assert list(model.state_dict()) == [
        "stem.weight",
        *(f"1.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")),
        "m2.weight",
        "m2.bias",
        "5.weight",
        "5.bias",
        *(f"6.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")),
        "fc.weight",
        "fc.bias",
    ]
    assert isinstance(model.get_submodule("stem"), MyLayer)
    assert sum(p.numel() for p in model.parameters()) == g.params
    assert 0.01 < model.get_submodule("stem").weight.std().item() < 0.03  # the spec's init rule reached it
    x = torch.randn(4, 3, 16, 16)
    assert model(x).shape == (4, 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.get_submodule("m2").weight.detach().clone()
    loss = F.cross_entropy(model(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    assert all(p.grad is not None for p in model.parameters())
    assert not torch.equal(model.get_submodule("m2").weight, before)


RUNNER = r"""
import importlib.util, sys
sys.modules["netspec"] = None          # the generated file must not reach for netspec ...
sys.modules["test_plugin_op"] = None   # ... nor for the plugin's module: its code is copied in
sys.path = [p for p in sys.path if p not in ("", {repo!r}, {tests!r})]
import torch
spec = importlib.util.spec_from_file_location("model", {path!r})
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
torch.manual_seed(0)
model = mod.Model().eval()
x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    out = model(x)
torch.save({{"state": model.state_dict(), "out": out}}, {result!r})
"""


def test_compile_to_source_runs_without_netspec(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.py"
    code, text = run_cli("compile", str(spec), "-o", str(out))
    assert code == 0 and text.startswith(f"wrote {out}")
    source = out.read_text()
    g = netspec.load(str(spec))
    assert source == to_source(g)
    for copied in ("def scaled_relu(", "def _mix(", "class MyLayer(nn.Module):"):
        assert source.count(copied) == 1
    assert source.index("def _mix(") < source.index("class MyLayer(")  # what it needs comes first
    assert "scaled_relu(" in source.split("# ---- the network ----")[1]

    result = tmp_path / "result.pt"
    tests = str(Path(__file__).resolve().parent)
    runner = RUNNER.format(repo=str(Path(tests).parent), tests=tests, path=str(out), result=str(result))
    proc = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = torch.load(result)

    torch.manual_seed(0)
    model = compile_graph(g).eval()
    assert list(got["state"]) == list(model.state_dict())
    assert all(torch.equal(got["state"][k], v) for k, v in model.state_dict().items())
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), got["out"])
