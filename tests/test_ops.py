"""Every op's shape rule agrees with torch: registry-driven, plus randomized sweeps."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netspec.compiler.to_torch import op_function
from netspec.ops import OPS, Family, ShapeError


class _Built:
    """An op's module (or none) and its function, as generated code would run it."""

    def __init__(self, op: object, shapes: list[tuple[int, ...]]) -> None:
        self.module, self.fn = op_function(op, shapes)

    def eval(self) -> "_Built":
        if self.module is not None:
            self.module.eval()
        return self

    def parameters(self) -> list[torch.Tensor]:
        return list(self.module.parameters()) if self.module is not None else []

    def __call__(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


def build(op: object, shapes: list[tuple[int, ...]]) -> _Built:
    return _Built(op, shapes)

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`


def _run(kind: str, params: dict, shapes: list[tuple[int, ...]]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    op = OPS[kind](**params)
    rule = op.infer(shapes)
    module = build(op, shapes).eval()
    xs = [torch.randn(2, *s) for s in shapes]
    with torch.no_grad():
        out = module(*xs)
    return rule, tuple(out.shape[1:])


@pytest.mark.parametrize("kind", sorted(OPS))
def test_registry_example_matches_torch(kind: str) -> None:
    params, shapes = OPS[kind].example
    rule, real = _run(kind, params, shapes)
    assert rule == real


@pytest.mark.parametrize("kind", sorted(OPS))
def test_param_count_matches_torch(kind: str) -> None:
    params, shapes = OPS[kind].example
    op = OPS[kind](**params)
    out = op.infer(shapes)
    module = build(op, shapes)
    assert op.count_params(shapes, out) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("kind", sorted(OPS))
def test_every_op_is_documented(kind: str) -> None:
    cls = OPS[kind]
    assert cls.doc, f"{kind} needs a doc line for `netspec ops` and docs/language.md"
    assert isinstance(cls.family, Family)


sizes = st.integers(1, 20)


@settings(max_examples=120, deadline=None)
@given(h=sizes, w=sizes, k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2),
       g=st.sampled_from([1, 2]))
def test_conv_shape_rule_equals_torch(h: int, w: int, k: int, s: int, p: int, d: int, g: int) -> None:
    params = {"out": 4, "kernel": k, "stride": s, "padding": p, "dilation": d, "groups": g}
    try:
        rule = OPS["conv"](**params).infer([(4, h, w)])
    except ShapeError:
        with pytest.raises(RuntimeError):
            torch.nn.Conv2d(4, 4, k, s, p, d, g)(torch.randn(1, 4, h, w))
        return
    assert rule == tuple(torch.nn.Conv2d(4, 4, k, s, p, d, g)(torch.randn(1, 4, h, w)).shape[1:])


@settings(max_examples=120, deadline=None)
@given(h=sizes, w=sizes, k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2),
       ceil=st.booleans(), kind=st.sampled_from(["maxpool", "avgpool"]))
def test_pool_shape_rule_equals_torch(h: int, w: int, k: int, s: int, p: int, ceil: bool, kind: str) -> None:
    params = {"kernel": k, "stride": s, "padding": p, "ceil_mode": ceil}
    x = torch.randn(1, 3, h, w)
    make = torch.nn.MaxPool2d if kind == "maxpool" else torch.nn.AvgPool2d
    try:
        rule = OPS[kind](**params).infer([(3, h, w)])
    except ShapeError:
        with pytest.raises(RuntimeError):
            make(k, s, p, ceil_mode=ceil)(x)
        return
    assert rule == tuple(make(k, s, p, ceil_mode=ceil)(x).shape[1:])


@settings(max_examples=80, deadline=None)
@given(h=sizes, k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), op=st.integers(0, 2),
       d=st.integers(1, 2))
def test_conv_transpose_shape_rule_equals_torch(h: int, k: int, s: int, p: int, op: int, d: int) -> None:
    params = {"out": 2, "kernel": k, "stride": s, "padding": p, "output_padding": op, "dilation": d}
    x = torch.randn(1, 3, h, h + 1)
    try:
        rule = OPS["conv_transpose"](**params).infer([(3, h, h + 1)])
    except ShapeError:
        try:  # torch refuses, or (a negative padding overlap) returns an empty map, which netspec refuses
            y = torch.nn.ConvTranspose2d(3, 2, k, s, p, op, 1, True, d)(x)
        except RuntimeError:
            return
        assert y.numel() == 0, y.shape
        return
    assert rule == tuple(torch.nn.ConvTranspose2d(3, 2, k, s, p, op, 1, True, d)(x).shape[1:])


@settings(max_examples=60, deadline=None)
@given(h=sizes, w=sizes, scale=st.sampled_from([0.5, 1.5, 2, 3, 2.7]), mode=st.sampled_from(["nearest", "bilinear"]))
def test_upsample_scale_rule_equals_torch(h: int, w: int, scale: float, mode: str) -> None:
    x = torch.randn(1, 2, h, w)
    try:
        rule = OPS["upsample"](scale=scale, mode=mode).infer([(2, h, w)])
    except ShapeError:
        with pytest.raises(RuntimeError):
            torch.nn.functional.interpolate(x, scale_factor=scale, mode=mode)
        return
    real = torch.nn.functional.interpolate(x, scale_factor=scale, mode=mode)
    assert rule == tuple(real.shape[1:])


def test_same_padding_matches_torch_for_even_kernels() -> None:
    rule = OPS["conv"](out=3, kernel=4, padding="same", dilation=2).infer([(2, 9, 10)])
    real = torch.nn.Conv2d(2, 3, 4, padding="same", dilation=2)(torch.randn(1, 2, 9, 10))
    assert rule == tuple(real.shape[1:])
