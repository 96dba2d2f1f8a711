"""Every op's shape rule agrees with torch: registry-driven, plus randomized sweeps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec.compiler.to_torch import op_function, op_inputs
from netspec.ops import OPS, Family, ShapeError


class _Built:
    """An op's module (or none) and its function, as generated code would run it."""

    def __init__(self, op: object, shapes: list[tuple[int, ...]]) -> None:
        self.module, self.fn = op_function(op, shapes)

    def eval(self) -> _Built:
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
    batched = list(OPS[kind].example_batched) or [True] * len(shapes)
    rule = op.infer(shapes) if all(batched) else op.infer_mixed(shapes, batched)
    module = build(op, shapes).eval()
    xs = op_inputs(op, shapes)
    xs = [x if b else x[0] for x, b in zip(xs, batched, strict=True)]  # a param has no batch
    if kind == "max_unpool":
        xs[1] = torch.zeros(xs[1].shape, dtype=torch.long)  # indices: every value back at position 0
    with torch.no_grad():
        out = module(*xs)
    if op.several():  # every output's shape, in order
        return tuple(op.infer_outputs(shapes)), tuple(tuple(o.shape[1:]) for o in out)
    return rule, tuple(out.shape[1:] if OPS[kind].batched else out.shape)


@pytest.mark.parametrize("kind", sorted(OPS))
def test_registry_example_matches_torch(kind: str) -> None:
    params, shapes = OPS[kind].example
    rule, real = _run(kind, params, shapes)
    assert rule == real


@pytest.mark.parametrize("kind", sorted(OPS))
def test_param_count_matches_torch(kind: str) -> None:
    params, shapes = OPS[kind].example
    op = OPS[kind](**params)
    batched = list(OPS[kind].example_batched) or [True] * len(shapes)
    out = op.infer(shapes) if all(batched) else op.infer_mixed(shapes, batched)
    module = build(op, shapes)
    assert op.count_params(shapes, out) == sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("kind", sorted(OPS))
def test_every_op_is_documented(kind: str) -> None:
    cls = OPS[kind]
    assert cls.doc, f"{kind} needs a doc line for `netspec ops` and docs/language.md"
    assert isinstance(cls.family, Family)


sizes = st.integers(1, 20)


@settings(max_examples=120, deadline=None)
@given(
    h=sizes,
    w=sizes,
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    d=st.integers(1, 2),
    g=st.sampled_from([1, 2]),
)
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
@given(
    h=sizes,
    w=sizes,
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    ceil=st.booleans(),
    kind=st.sampled_from(["maxpool", "avgpool"]),
)
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
@given(
    h=sizes, k=st.integers(1, 5), s=st.integers(1, 3), p=st.integers(0, 2), op=st.integers(0, 2), d=st.integers(1, 2)
)
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


# ---------------------------------------------------------------- randomized sweeps against torch
#
# Each sweep draws legal and illegal parameters and shapes and asserts: netspec checks the op
# <=> a torch reference written here runs forward and backward, with exactly the inferred
# shape; and then the op's own torch form (as generated code runs it) gives the reference's
# values. Two refusals are netspec's own, by design: an op never acts across the batch dim
# (`batch=True` cases, where torch would mix samples), and an output with no elements is an
# error (torch returns an empty tensor, which `_torch_runs` counts as a refusal).

TORCH_REFUSALS = (RuntimeError, ValueError, IndexError, AssertionError, ZeroDivisionError)
shapes_ = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
dims_ = st.integers(-6, 5)
FAST = settings(max_examples=40, deadline=None)


def _torch_runs(reference, xs: list[torch.Tensor]) -> tuple[torch.nn.Module | None, torch.Tensor | None]:
    """The reference's module and output, or (None, None) where torch refuses (or gives no elements)."""
    leaves = [x.clone().requires_grad_() for x in xs]
    try:
        got = reference(*leaves)
        module, out = got if isinstance(got, tuple) else (None, got)
        out.sum().backward()
    except TORCH_REFUSALS:
        return None, None
    return module, (out.detach() if out.numel() else None)


def agree(kind: str, params: dict, shapes: list[tuple[int, ...]], reference, batch: bool = False) -> None:
    """netspec accepts the op <=> the torch reference runs; then shape and values agree (see above)."""
    torch.manual_seed(0)
    xs = [torch.randn(2, *s) for s in shapes]
    try:
        op = OPS[kind](**params)
        rule = op.infer(shapes)
    except (ValidationError, ShapeError):
        op, rule = None, None
    if batch:
        assert rule is None, f"{kind} {params} on {shapes} works across the batch dim yet checks"
        return
    module, want = _torch_runs(reference, xs)
    assert (rule is not None) == (want is not None), f"{kind} {params} on {shapes}: netspec {rule}, torch {want}"
    if op is None or want is None:
        return
    assert rule == tuple(want.shape[1:])
    ours, fn = op_function(op, shapes, training=True)
    if ours is not None and module is not None:
        ours.load_state_dict(module.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fn(*xs), want)


def _batch_dim(dim: int, shape: tuple[int, ...]) -> bool:
    """Whether torch dim `dim` of the batched tensor is the batch (and in range, so torch would use it)."""
    return -len(shape) - 1 <= dim <= len(shape) and dim % (len(shape) + 1) == 0


@FAST
@given(
    shape=shapes_,
    dim=dims_,
    start=st.none() | st.integers(-7, 7),
    stop=st.none() | st.integers(-7, 7),
    step=st.integers(-1, 3),
)
def test_slice_equals_torch(shape: tuple[int, ...], dim: int, start: int | None, stop: int | None, step: int) -> None:
    def reference(x: torch.Tensor) -> torch.Tensor:
        index = [slice(None)] * x.dim()
        index[dim] = slice(start, stop, step)
        return x[tuple(index)]

    agree(
        "slice",
        {"dim": dim, "start": start, "stop": stop, "step": step},
        [shape],
        reference,
        batch=_batch_dim(dim, shape),
    )


@FAST
@given(shape=shapes_, dims=st.lists(dims_, min_size=1, max_size=5))
def test_permute_equals_torch(shape: tuple[int, ...], dims: list[int]) -> None:
    full = tuple(dims) if len(dims) == len(shape) + 1 else (0, *dims)
    agree(
        "permute",
        {"dims": dims},
        [shape],
        lambda x: torch.permute(x, full),
        batch=len(dims) == len(shape) + 1
        and _batch_dim(dims[0], shape) is False
        and sorted(d % (len(shape) + 1) for d in dims) == list(range(len(shape) + 1))
        and all(-len(shape) - 1 <= d <= len(shape) for d in dims),
    )


def test_permute_reads_both_spellings() -> None:
    short, full = OPS["permute"](dims=[2, 3, 1]), OPS["permute"](dims=[0, 2, 3, 1])
    assert short.infer([(4, 5, 6)]) == full.infer([(4, 5, 6)]) == (5, 6, 4)
    assert short.call([(4, 5, 6)]) == full.call([(4, 5, 6)])
    assert OPS["permute"](dims=[-1, 1]).infer([(4, 5)]) == (5, 4)


@FAST
@given(shape=shapes_, d0=dims_, d1=dims_)
def test_transpose_equals_torch(shape: tuple[int, ...], d0: int, d1: int) -> None:
    agree(
        "transpose",
        {"dim0": d0, "dim1": d1},
        [shape],
        lambda x: torch.transpose(x, d0, d1),
        batch=_batch_dim(d0, shape) or _batch_dim(d1, shape),
    )


@FAST
@given(shape=shapes_, groups=st.integers(-1, 6))
def test_channel_shuffle_equals_torch(shape: tuple[int, ...], groups: int) -> None:
    agree("channel_shuffle", {"groups": groups}, [shape], lambda x: F.channel_shuffle(x, groups))


@FAST
@given(
    shape=st.lists(st.integers(1, 8), min_size=1, max_size=4).map(tuple),
    r=st.integers(0, 3),
    kind=st.sampled_from(["pixel_shuffle", "pixel_unshuffle"]),
)
def test_pixel_shuffle_equals_torch(shape: tuple[int, ...], r: int, kind: str) -> None:
    fn = F.pixel_shuffle if kind == "pixel_shuffle" else F.pixel_unshuffle
    # On (N, C, W) torch would take the batch for the channels: netspec wants (C, H, W).
    agree(kind, {"factor": r}, [shape], lambda x: fn(x, r), batch=len(shape) == 2)


@FAST
@given(base=shapes_, dim=dims_, n=st.integers(1, 3), data=st.data())
def test_concat_equals_torch(base: tuple[int, ...], dim: int, n: int, data: st.DataObject) -> None:
    shapes = [base]
    for _ in range(n):
        shape = list(base)
        for _ in range(data.draw(st.integers(0, 2))):  # change some dims: along `dim` or (illegally) elsewhere
            shape[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(1, 4))
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            shape.append(2)  # another rank
        shapes.append(tuple(shape))
    agree("concat", {"dim": dim}, shapes, lambda *xs: torch.cat(xs, dim), batch=_batch_dim(dim, base))


@FAST
@given(shape=shapes_, target=st.lists(st.integers(-2, 8), min_size=1, max_size=5))
def test_reshape_equals_torch(shape: tuple[int, ...], target: list[int]) -> None:
    agree("reshape", {"shape": target}, [shape], lambda x: x.reshape(x.shape[0], *target))


@FAST
@given(shape=shapes_, out=st.integers(0, 4), bias=st.booleans())
def test_linear_over_the_last_dim_equals_torch(shape: tuple[int, ...], out: int, bias: bool) -> None:
    def reference(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
        m = torch.nn.Linear(shape[-1], out, bias=bias)
        return m, m(x)

    agree("linear", {"out": out, "bias": bias}, [shape], reference)
    if out:
        op = OPS["linear"](out=out, bias=bias)
        with FlopCounterMode(display=False) as flops:
            torch.nn.Linear(shape[-1], out, bias=bias)(torch.randn(1, *shape))
        assert flops.get_total_flops() == 2 * op.count_macs([shape], op.infer([shape]))


finite = st.floats(-10, 10, allow_nan=False)


@FAST
@given(shape=shapes_, value=finite, kind=st.sampled_from(["scale", "shift"]))
def test_scale_and_shift_equal_torch(shape: tuple[int, ...], value: float, kind: str) -> None:
    key = "factor" if kind == "scale" else "offset"
    agree(kind, {key: value}, [shape], lambda x: x * value if kind == "scale" else x + value)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 1e7])
def test_scale_refuses_non_finite_constants(bad: float) -> None:
    with pytest.raises(ValidationError):
        OPS["scale"](factor=bad)
    with pytest.raises(ValidationError):
        OPS["affine"](shift=[0.0, bad])


@FAST
@given(shape=shapes_, ns=st.tuples(st.integers(0, 6), st.integers(0, 6)).filter(lambda t: t != (0, 0)), data=st.data())
def test_affine_equals_torch(shape: tuple[int, ...], ns: tuple[int, int], data: st.DataObject) -> None:
    scale, shift = (data.draw(st.lists(finite, min_size=n, max_size=n)) or None for n in ns)

    def reference(x: torch.Tensor) -> torch.Tensor:
        per_channel = (-1,) + (1,) * (x.dim() - 2)  # broadcast against (N, C, *)
        if scale is not None:
            x = x * torch.tensor(scale).reshape(per_channel)
        if shift is not None:
            x = x + torch.tensor(shift).reshape(per_channel)
        return x

    agree("affine", {"scale": scale, "shift": shift}, [shape], reference)


def test_affine_needs_a_constant() -> None:
    with pytest.raises(ValidationError, match="affine needs scale"):
        OPS["affine"]()


@FAST
@given(shape=shapes_, groups=st.integers(0, 6), affine=st.booleans())
def test_group_norm_equals_torch(shape: tuple[int, ...], groups: int, affine: bool) -> None:
    def reference(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
        m = torch.nn.GroupNorm(groups, shape[0], affine=affine)
        return m, m(x)

    agree("group_norm", {"groups": groups, "affine": affine}, [shape], reference)


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), affine=st.booleans(), track=st.booleans())
def test_instance_norm_equals_torch(shape: tuple[int, ...], affine: bool, track: bool) -> None:
    def reference(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
        cls = getattr(torch.nn, f"InstanceNorm{max(len(shape) - 1, 1)}d")
        m = cls(shape[0], affine=affine, track_running_stats=track)
        return m, m(x)

    # On (N, C) torch's InstanceNorm1d takes the batch for the channels (unbatched input).
    agree("instance_norm", {"affine": affine, "track_running_stats": track}, [shape], reference, batch=len(shape) == 1)


@FAST
@given(shape=shapes_, over=st.none() | st.integers(0, 5), affine=st.booleans())
def test_layer_norm_equals_torch(shape: tuple[int, ...], over: int | None, affine: bool) -> None:
    def reference(x: torch.Tensor) -> torch.Tensor | tuple[torch.nn.Module, torch.Tensor]:
        if over is None:  # the channels at every position: ConvNeXt's LayerNorm2d, any rank
            return F.layer_norm(x.movedim(1, -1), shape[:1], eps=1e-6).movedim(-1, 1)
        normalized = x.shape[-over:] if over and over <= x.dim() else (1,) * over  # (1,)*3 on 2 dims: refused
        m = torch.nn.LayerNorm(normalized, eps=1e-6, elementwise_affine=affine)
        return m, m(x)

    # over = rank + 1 would normalise each sample together with the rest of the batch.
    agree(
        "layer_norm",
        {"over": over, "affine": affine},
        [shape],
        reference,
        batch=over is not None and over == len(shape) + 1,
    )


@FAST
@given(shape=shapes_, per_channel=st.booleans(), slope=finite)
def test_prelu_equals_torch(shape: tuple[int, ...], per_channel: bool, slope: float) -> None:
    def reference(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
        m = torch.nn.PReLU(shape[0] if per_channel else 1, init=slope)
        return m, m(x)

    agree("prelu", {"per_channel": per_channel, "slope": slope}, [shape], reference)


@FAST
@given(shape=shapes_, dim=dims_, kind=st.sampled_from(["softmax", "log_softmax"]))
def test_softmax_dims_equal_torch(shape: tuple[int, ...], dim: int, kind: str) -> None:
    fn = F.softmax if kind == "softmax" else F.log_softmax
    agree(kind, {"dim": dim}, [shape], lambda x: fn(x, dim), batch=_batch_dim(dim, shape))


@settings(max_examples=30, deadline=None)
@given(shape=shapes_, alpha=finite, kind=st.sampled_from(["elu", "selu", "mish"]))
def test_new_activations_equal_torch(shape: tuple[int, ...], alpha: float, kind: str) -> None:
    params = {"alpha": alpha} if kind == "elu" else {}
    agree(kind, params, [shape], lambda x: getattr(F, kind)(x, **params))


@pytest.mark.parametrize("kind", ["elu", "selu", "mish", "leaky_relu", "relu", "silu"])
def test_in_place_facts_hold_in_torch(kind: str) -> None:
    """An op that may run in place really can, and `saves_output` is set wherever overwriting its
    result (as a following in-place relu would) breaks its backward."""
    op = OPS[kind]()
    fn = getattr(F, kind)
    x = torch.randn(6, requires_grad=True)
    assert op.can_inplace()
    fn(x * 1, inplace=True).sum().backward()
    try:
        F.relu(fn(x * 1, inplace=True), inplace=True).sum().backward()
        clobbered_ok = True
    except RuntimeError:
        clobbered_ok = False
    assert op.saves_output == (not clobbered_ok)
    assert not OPS["elu"](alpha=-0.5).can_inplace()


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(1, 4),
    embed=st.integers(1, 8),
    heads=st.integers(0, 5),
    bias=st.booleans(),
    rank=st.sampled_from([1, 2, 2, 2, 3]),
)
def test_multihead_attention_equals_torch(length: int, embed: int, heads: int, bias: bool, rank: int) -> None:
    shape = {1: (embed,), 2: (length, embed), 3: (2, length, embed)}[rank]

    def reference(x: torch.Tensor) -> tuple[torch.nn.Module, torch.Tensor]:
        m = torch.nn.MultiheadAttention(embed, heads, bias=bias, batch_first=True)
        return m, m(x, x, x, need_weights=False)[0]

    # On (N, E) torch's attention reads an unbatched (L, E) sequence: the batch would attend to itself.
    agree("multihead_attention", {"heads": heads, "bias": bias}, [shape], reference, batch=rank == 1)
    if rank == 2 and heads and embed % heads == 0:
        op = OPS["multihead_attention"](heads=heads, bias=bias)
        with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as flops:
            reference(torch.randn(1, *shape))
        assert flops.get_total_flops() == 2 * op.count_macs([shape], shape)


# Issue 11's ops that move or keep pixels, on a map with rows != columns. Named layers are
# submodules, which the probe can hook; the slices are plain calls, seen by the convs after them.
RF_SPEC = """
network rf() {
  input 3x20x24
  c1: conv 8 k=3 p=1
  slice 2 start=1 step=2
  c2: conv 8 k=3 p=1
  u: pixel_unshuffle 2
  c3: conv 8 k=3 p=1
  s: pixel_shuffle 2
  c4: conv 8 k=3 p=1
  slice -1 stop=-3
  c5: conv 8 k=3
  c6: conv 8 k=3 p=1
}
"""


def _probe(spec: str, paths: list[str] | None = None) -> dict[str, tuple[object, object, object]]:
    """Layer -> (netspec's rows, cols, the gradient probe's rows and cols), as tests/test_receptive.py measures.

    `paths`: the layers to probe (default: every layer with a module and a spatial field).
    """
    from test_receptive import measure, probe_points

    g = netspec.load_text(spec)
    rf = g.receptive()
    model = netspec.compile(g)
    points = probe_points(g, model)
    measured = measure(g, model, paths or list(points))
    return {p: (rf[points[p]].rows, rf[points[p]].cols, m) for p, m in measured.items()}


def test_receptive_fields_of_slices_and_pixel_shuffles_match_the_gradient_probe() -> None:
    got = _probe(RF_SPEC)
    assert set(got) == {"c1", "c2", "u", "c3", "s", "c4", "c5", "c6"}
    assert {p: v for p, v in got.items() if v[2] != (v[0], v[1])} == {}
    assert got["c2"][:2] == ((6, 12), (9, 13))  # rows 9, 11, 13 of c1 (rows 1, 3, 5 of the slice) read 6..12


@pytest.mark.parametrize(
    ("layer", "rows", "cols"),
    [
        ("softmax dim=-2", "whole", "window"),
        ("log_softmax dim=3", "window", "whole"),
        ("softmax", "window", "window"),
        ("layer_norm", "window", "window"),
        ("layer_norm over=1", "window", "whole"),
        ("layer_norm over=2", "whole", "whole"),
        ("group_norm 2", "whole", "whole"),
        ("instance_norm", "whole", "whole"),
        ("instance_norm affine=true track_running_stats=true", "window", "window"),  # eval: running statistics
        ("linear 24", "window", "whole"),
        ("prelu per_channel=true", "window", "window"),
        ("channel_shuffle 2", "window", "window"),
        ("affine scale=[2.0] shift=[0, 1, 2, 3, 4, 5, 6, 7]", "window", "window"),
    ],
)
def test_receptive_fields_of_mixing_layers_match_the_gradient_probe(layer: str, rows: str, cols: str) -> None:
    # The probe's equal weights make all channels equal, and it sums a layer's output over channels,
    # which a softmax or a norm over channels then keeps constant: a fixed affine makes the channels
    # differ, and a sigmoid after the layer lets the conv behind it see what reaches it.
    spec = (
        f"network rf() {{\n input 3x20x24\n c1: conv 8 k=3 p=1\n c2: conv 8 k=3 p=1\n"
        f" affine scale=[1, 2, 3, 4, 5, 6, 7, 8]\n {layer}\n sigmoid\n"
    )
    got = _probe(spec + " c3: conv 8 k=3 p=1\n}", ["c2", "c3"])
    assert {p: v for p, v in got.items() if v[2] != (v[0], v[1])} == {}
    rf = netspec.load_text(spec + "}").receptive()["3"]
    assert (rf.rows == (0, 19), rf.cols == (0, 23)) == (rows == "whole", cols == "whole")


def test_layout_moves_are_global_as_reshape_is() -> None:
    for layer in ("permute [1, 3, 2]", "transpose 3 2", "transpose dim0=-1 dim1=-2"):
        g = netspec.load_text(f"network n() {{\n input 3x8x8\n conv 4 k=3\n {layer}\n}}")
        assert g.receptive()["1"].is_global
    g = netspec.load_text("network n() {\n input 3x8x8\n conv 4 k=3\n permute [0, 1, 2, 3]\n transpose 2 2\n}")
    assert not g.receptive()["2"].is_global and g.receptive()["2"].size == (3, 3)
