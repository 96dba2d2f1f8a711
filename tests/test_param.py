"""`param` (a learnable tensor with no batch dim), its broadcasting in add/mul, and `expand`."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import netspec
from netspec.compiler.to_torch import op_function, to_source
from netspec.errors import SpecError
from netspec.ops import OPS, ShapeError

FAST = settings(max_examples=60, deadline=None)
BATCH = 3  # never a param dim (those are 1 or 2): torch broadcasting a param against the batch is refused by design

SPEC = """
network t(dim=8) {
  input 8x6x6
  stem: conv 8 k=3 p=1
  residual {
    block: [conv dim k=7 p=3 groups=dim, permute [2, 3, 1], layer_norm over=1 eps=1e-6, linear 4*dim, gelu,
            linear dim, permute [3, 1, 2]]
    layer_scale: param [dim, 1, 1] init=constant(val=1e-6)
    mul @block
  }
  tokens: reshape [8, -1] -> permute [2, 1]
  class_token: param [1, 1, 8]
  @class_token -> expand @tokens -> concat @tokens dim=1
  add { identity; pos_embedding: param [1, 37, 8] init=normal(std=0.02) }
}
"""


def _mixed(kind: str, params: dict, shapes: list[tuple[int, ...]], batched: list[bool]) -> tuple[int, ...] | None:
    try:
        return OPS[kind](**params).infer_mixed(shapes, batched)
    except (ValidationError, ShapeError):
        return None


@FAST
@given(param=st.lists(st.integers(1, 2), min_size=1, max_size=5).map(tuple),
       sample=st.lists(st.integers(1, 2), min_size=1, max_size=4).map(tuple),
       kind=st.sampled_from(["add", "mul"]), first=st.booleans())
def test_param_broadcasting_equals_torch(param: tuple[int, ...], sample: tuple[int, ...], kind: str,
                                         first: bool) -> None:
    """add/mul accept a parameter <=> torch broadcasts it and keeps the batch first; then shapes and values agree."""
    shapes, batched = ([param, sample], [False, True]) if first else ([sample, param], [True, False])
    rule = _mixed(kind, {}, shapes, batched)
    p = torch.randn(*param, requires_grad=True)
    x = torch.randn(BATCH, *sample, requires_grad=True)
    a, b = (p, x) if first else (x, p)
    try:
        out = a + b if kind == "add" else a * b
        ok = out.dim() == x.dim() and out.shape[0] == BATCH
        out.sum().backward()
    except RuntimeError:
        ok = False
    assert (rule is not None) == ok, f"{kind} {shapes}: netspec {rule}"
    if ok:
        assert rule == tuple(out.shape[1:])
        _, fn = op_function(OPS[kind](), shapes)
        torch.testing.assert_close(fn(a, b), out)


@FAST
@given(param=st.lists(st.integers(1, 2), min_size=1, max_size=4).map(tuple))
def test_expand_equals_torch(param: tuple[int, ...]) -> None:
    """expand accepts a parameter <=> torch's p.expand(n, -1, ...) runs (a (N,) result aside, by design)."""
    rule = _mixed("expand", {}, [param, (5,)], [False, True])
    p = torch.randn(*param, requires_grad=True)
    x = torch.randn(BATCH, 5)
    try:
        out = p.expand(x.shape[0], *[-1] * (len(param) - 1))
        out.sum().backward()
        ok = len(param) > 1  # (N,) has no sample dims: netspec wants at least one
    except RuntimeError:
        ok = False
    assert (rule is not None) == ok, f"expand {param}: netspec {rule}"
    if ok:
        assert rule == tuple(out.shape[1:])
        _, fn = op_function(OPS["expand"](), [param, (5,)])
        torch.testing.assert_close(fn(p, x), out)


def test_a_param_is_refused_by_ops_that_do_not_broadcast() -> None:
    with pytest.raises(SpecError, match="'p' is a parameter .no batch dim.: relu cannot read it") as err:
        netspec.load_text("network t() {\n input 4x4x4\n p: param [4, 1, 1]\n relu\n}")
    assert "expand" in (err.value.hint or "")
    with pytest.raises(SpecError, match="expand repeats a parameter over the batch, but its input already has one"):
        netspec.load_text("network t() {\n input 4x4x4\n x: conv 4\n expand @x\n}")
    with pytest.raises(SpecError, match=r"parameter \[2, 4, 1, 1\] does not broadcast"):
        netspec.load_text("network t() {\n input 4x4x4\n x: conv 4\n p: param [2, 4, 1, 1]\n mul @x\n}")
    with pytest.raises(SpecError, match="needs a shape of at least 2 dims"):
        netspec.load_text("network t() {\n input 4x4x4\n p: param [4] init=kaiming_normal()\n}")


def test_param_checks_summarizes_and_draws() -> None:
    g = netspec.load_text(SPEC)
    assert g.output_shapes() == {"out": (37, 8)}
    assert g.nodes["layer_scale"].params == 8 and g.nodes["pos_embedding"].params == 37 * 8
    text = netspec.summary(g).text()
    assert "[8,1,1]" in text and "[1,37,8]" in text  # a parameter's torch shape: no batch
    rows = {r["path"]: r for r in netspec.summary(g).as_json()["nodes"]}
    assert rows["class_token"]["shape"] == [1, 1, 8] and rows["class_token"]["activation_bytes"] == 0
    scaled = netspec.load_text("network s() {\n input 4x8x8\n x: conv 4 k=3\n p: param [4, 1, 1]\n y: mul @x\n}")
    rf = scaled.receptive()["y"].as_json()
    assert rf["size"] == [3, 3] and not rf["context"]  # a parameter is a constant: no pixels, no global context
    diagram = netspec.render(g)
    assert "param 8x1x1" in diagram.source and "param 8x1x1" in diagram.html()


@pytest.mark.torch
def test_param_compiles_to_nn_parameter_attributes() -> None:
    g = netspec.load_text(SPEC)
    src = to_source(g)
    assert "self.layer_scale = nn.Parameter(torch.full((8, 1, 1), 1e-06))" in src
    assert "self.class_token = nn.Parameter(torch.zeros(1, 1, 8))" in src
    assert "nn.Parameter(nn.init.normal_(torch.empty(1, 37, 8), std=0.02))" in src
    assert "self.layer_scale * block" in src and "self.class_token.expand(" in src
    assert "+= self.pos_embedding" in src and "self.pos_embedding +=" not in src
    model = netspec.compile(g)
    keys = model.state_dict().keys()
    assert {"layer_scale", "class_token", "pos_embedding"} <= set(keys)
    assert torch.equal(model.layer_scale, torch.full((8, 1, 1), 1e-6))
    x = torch.randn(2, 8, 6, 6)
    out = model(x)
    out.sum().backward()
    assert out.shape == (2, 37, 8) and model.class_token.grad is not None
    ns: dict = {}
    exec(compile(src, "t.py", "exec"), ns)  # the standalone file runs the same model
    other = ns["Model"]()
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other(x), out)
