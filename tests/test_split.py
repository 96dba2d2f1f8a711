"""Ops with several outputs: split, chunk and maxpool's indices (with max_unpool), against torch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import netspec
from netspec.compiler.to_torch import op_function, to_source
from netspec.errors import SpecError
from netspec.ops import OPS, ShapeError
from netspec.ops.base import part_of

FAST = settings(max_examples=60, deadline=None)
shapes_ = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


def _pieces(kind: str, params: dict, shape: tuple[int, ...]) -> list[tuple[int, ...]] | None:
    try:
        return OPS[kind](**params).infer_outputs([shape])
    except (ValidationError, ShapeError):
        return None


def _agree(kind: str, params: dict, shape: tuple[int, ...], reference, batch: bool) -> None:
    """netspec accepts the op <=> torch runs it forward and backward (never across the batch, by design)."""
    rule = _pieces(kind, params, shape)
    x = torch.randn(2, *shape, requires_grad=True)
    try:
        outs = reference(x)
        sum(o.sum() for o in outs).backward()
        ok = not batch and all(o.numel() for o in outs)
    except (RuntimeError, ValueError, IndexError):
        ok = False
    assert (rule is not None) == ok, f"{kind} {params} on {shape}: netspec {rule}"
    if ok:
        assert rule == [tuple(o.shape[1:]) for o in outs]
        _, fn = op_function(OPS[kind](**params), [shape])
        for a, b in zip(fn(x), outs, strict=True):
            torch.testing.assert_close(a, b)


def _batch_dim(dim: int, shape: tuple[int, ...]) -> bool:
    return -len(shape) - 1 <= dim <= len(shape) and dim % (len(shape) + 1) == 0


@FAST
@given(shape=shapes_, dim=st.integers(-5, 4), size=st.integers(0, 7) | st.lists(st.integers(0, 4), max_size=4))
def test_split_equals_torch(shape: tuple[int, ...], dim: int, size: int | list[int]) -> None:
    _agree("split", {"size": size, "dim": dim}, shape, lambda x: torch.split(x, size, dim), _batch_dim(dim, shape))


@FAST
@given(shape=shapes_, dim=st.integers(-5, 4), chunks=st.integers(0, 7))
def test_chunk_equals_torch(shape: tuple[int, ...], dim: int, chunks: int) -> None:
    _agree("chunk", {"chunks": chunks, "dim": dim}, shape, lambda x: torch.chunk(x, chunks, dim),
           _batch_dim(dim, shape))


@FAST
@given(h=st.integers(1, 9), w=st.integers(1, 9), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       ceil=st.booleans(), dh=st.none() | st.integers(-3, 3), dw=st.integers(-3, 3))
def test_maxpool_indices_and_max_unpool_equal_torch(h: int, w: int, k: int, s: int, p: int, ceil: bool,
                                                     dh: int | None, dw: int) -> None:
    """maxpool indices=true then max_unpool (same window, optionally an output size): netspec <=> torch."""
    pool = {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil, "indices": True}
    unpool = {"kernel": k, "stride": s, "padding": p}
    # Increasing values put each window's maximum at its last pixel, so the largest index is the
    # largest the pool can make, which netspec bounds statically (torch checks the actual indices).
    x = torch.arange(2 * 3 * h * w, dtype=torch.float32).reshape(2, 3, h, w).requires_grad_()
    try:
        op = OPS["maxpool"](**pool)
        pooled, idx = op.infer_outputs([(3, h, w)])
        ins = [pooled, idx] if dh is None else [pooled, idx, (5, h + dh, w + dw)]
        unpool_op = OPS["max_unpool"](**unpool)
        rule = unpool_op.infer(ins)
        made = part_of(type(op))(source=op, index=1)
        unpool_op.check_sources([(op, [(3, h, w)]), (made, [(3, h, w)])], rule)
    except (ValidationError, ShapeError):
        rule = None
    try:
        y, i = F.max_pool2d(x, k, s, p, ceil_mode=ceil, return_indices=True)
        size = None if dh is None else (h + dh, w + dw)
        out = F.max_unpool2d(y, i, k, s, p, output_size=size)
        out.sum().backward()
        ok = out.numel() > 0
    except (RuntimeError, ValueError):
        ok = False
    assert (rule is not None) == ok, f"pool {pool} unpool to {dh, dw} of {h}x{w}: netspec {rule}"
    if ok:
        assert rule == tuple(out.shape[1:])
        _, pool_fn = op_function(OPS["maxpool"](**pool), [(3, h, w)])
        y2, i2 = pool_fn(x)
        assert torch.equal(i2, i)
        shapes = [tuple(y.shape[1:])] * 2 + ([] if dh is None else [(5, h + dh, w + dw)])
        _, unpool_fn = op_function(OPS["max_unpool"](**unpool), shapes)
        extra = [] if dh is None else [torch.zeros(2, 5, h + dh, w + dw)]
        torch.testing.assert_close(unpool_fn(y2, i2, *extra), out)


SHUFFLE = """
block unit(c) {
  halves: chunk 2
  @halves.1 -> branch2: [conv c//2 k=1 bias=false, bn, relu, conv c//2 k=3 p=1 groups=c//2 bias=false, bn,
                         conv c//2 k=1 bias=false, bn, relu]
  @halves.0 -> concat @branch2
  channel_shuffle 2
}
network t(c=8) {
  input 8x6x6
  stage: { unit(c); unit(c) }
  pieces: split [3, 5]
  @pieces.1 -> relu
}
"""


def test_split_names_its_outputs_and_checks() -> None:
    g = netspec.load_text(SHUFFLE)
    assert g.nodes["stage.0.halves.1"].shape == (4, 6, 6) and g.nodes["pieces.0"].shape == (3, 6, 6)
    assert g.scopes["pieces"].kind == "op" and g.output_shapes() == {"out": (5, 6, 6)}
    text = netspec.summary(g).text()
    assert "chunk 2 .1" in text and "split 3,5 .0" in text
    diagram = netspec.render(g, depth="full")
    assert "chunk 2 .0" in diagram.source and "split 3,5 .1" in diagram.html()
    with pytest.raises(SpecError, match=r"'@p' has 2 outputs \(chunk 2\)") as err:
        netspec.load_text("network t() {\n input 4x4x4\n p: chunk 2\n @p -> relu\n}")
    assert err.value.hint == "pick one: @p.0 ... @p.1"
    with pytest.raises(SpecError, match="split .3, 3. adds up to 6, but dim 1 has 4"):
        netspec.load_text("network t() {\n input 4x4x4\n p: split [3, 3]\n}")
    with pytest.raises(SpecError, match="'chunk' has several outputs and needs a name"):
        netspec.load_text("network t() {\n input 4x4x4\n chunk 2\n}")
    with pytest.raises(SpecError, match="'p' has no part '2'"):
        netspec.load_text("network t() {\n input 4x4x4\n p: chunk 2\n @p.2 -> relu\n}")
    with pytest.raises(SpecError, match="needs the indices of a maxpool as its second input"):
        netspec.load_text("network t() {\n input 4x4x4\n p: maxpool 2 indices=true\n max_unpool 2 @p.0\n}")
    with pytest.raises(SpecError, match="indices .* must have the shape of the values"):
        netspec.load_text("network t() {\n input 4x4x4\n p: maxpool 2 indices=true\n conv 4 k=1 s=2\n"
                          " max_unpool 2 @p.1\n}")
    with pytest.raises(SpecError, match="max_unpool to 2x4 is too small for the indices"):
        netspec.load_text("network t() {\n input 4x3x5\n p: maxpool 2 indices=true\n max_unpool 2 @p.1\n}")


@pytest.mark.torch
def test_split_compiles_to_tuple_unpacking_and_matches_torchvision_shufflenet_unit() -> None:
    from torchvision.models.shufflenetv2 import InvertedResidual

    g = netspec.load_text(SHUFFLE)
    src = to_source(g)
    assert "halves, halves_1 = x.chunk(2, dim=1)" in src
    assert "pieces, pieces_1 = x.split((3, 5), dim=1)" in src
    model = netspec.compile(g).eval()
    ns: dict = {}
    exec(compile(src, "t.py", "exec"), ns)
    other = ns["Model"]().eval()
    other.load_state_dict(model.state_dict())
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(other(x), model(x))
    # One unit against torchvision's: strict state_dict load, equal outputs.
    tv = InvertedResidual(8, 8, 1).eval()
    unit = netspec.compile(netspec.load_text(SHUFFLE.split("network")[0] + "network u() {\n input 8x6x6\n unit(8)\n}"))
    unit = unit.eval()
    state = {k.removeprefix("0."): v for k, v in unit.state_dict().items()}
    tv.load_state_dict(state, strict=True)
    torch.testing.assert_close(getattr(unit, "0")(x), tv(x))


@pytest.mark.torch
def test_max_unpool_compiles_with_the_pool_indices() -> None:
    g = netspec.load_text("network t() {\n input 3x9x9\n stage1: conv 4 k=3 p=1\n pool1: maxpool 2 indices=true\n"
                          " conv 4 k=3 p=1\n max_unpool 2 @pool1.1 @stage1\n}")
    assert g.output_shapes() == {"out": (4, 9, 9)}
    src = to_source(g)
    assert "pool1, pool1_1 = self.pool1(stage1)" in src
    assert "F.max_unpool2d(x, pool1_1, 2, stride=2, output_size=stage1.shape[-2:])" in src
    model = netspec.compile(g)
    out = model(torch.randn(2, 3, 9, 9))
    out.sum().backward()
    assert out.shape == (2, 4, 9, 9)
