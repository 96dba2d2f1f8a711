"""Which input sizes a network accepts (`netspec check --sizes`), against full checks and torch.

- the rules of known networks: unet_padded needs a multiple of 16, unet runs from
  188 and loses no pixels only at 16k + 12 (572), resnets take anything;
- the pixel-loss rule against a brute-force count of the rows windows read;
- the CLI: `check --sizes`, the summary line (`summary --sizes`), the hint for a failing `--input`;
- over the whole library (slow): the rule agrees with full evaluation at seeded
  random sizes, and `check` accepts a size exactly when the compiled module's
  forward runs on it (built and run on torch's meta device: shapes only, no
  weights, so the biggest networks cost what the smallest do).
"""

from __future__ import annotations

import json
import random
from functools import cache

import pytest

import netspec
from netspec import sizes
from netspec.cli import main
from netspec.library import library_index
from netspec.sizes import SizeReport, residue_text, window_loss


@cache
def prober(name: str) -> sizes.Prober:
    return sizes.Prober(name)


@cache
def report(name: str) -> SizeReport:
    return sizes.analyze(name, prober=prober(name))


# ---------------------------------------------------------------- known rules
def test_unet_padded_needs_a_multiple_of_16() -> None:
    rep = report("unet_padded")
    h = rep.rules[1]
    assert rep.same_wh and rep.replayed
    assert h.period == 16 and h.runs_residues() == {0} and h.minimum == 16
    assert h.works(576) and not h.works(570) and h.nearest(570) == (560, 576)
    assert h.exact_residues() == {0}  # padded convs and even pools: nothing lost
    text = rep.text()
    assert "H: a multiple of 16, from 16" in text
    assert "minimum 16: at 15 'bottom.pool' fails" in text
    assert "at 513 'up1.1' fails: concat" in text
    assert "W: the same as H" in text


def test_unet_loses_no_pixels_only_at_16k_plus_12() -> None:
    h = report("unet").rules[1]
    assert h.minimum == 188 and h.runs_residues() == set(range(16))
    assert h.exact_residues() == {12} and h.status(572) == "exact" and h.status(188) == "exact"
    assert h.outcomes[576].loss(1).layer == "down4.pool"  # type: ignore[union-attr]
    loss = h.outcomes[577].loss(1)
    assert loss is not None and (loss.layer, loss.size_in, loss.size_out, loss.lost) == ("down2.pool", 573, 286, 1)
    assert h.nearest(570, exact=True) == (556, 572)
    assert "no pixels lost only for H = 16k + 12: 556, 572, 588" in report("unet").text()


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_resnets_take_any_size(name: str) -> None:
    h = report(name).rules[1]
    assert h.minimum == 1 and h.runs_residues() == h.exact_residues() == set(range(h.period))
    assert report(name).short() == "input sizes: H, W: any size >= 1 (netspec check --sizes)"


def test_asymmetric_input_scans_both_dims() -> None:
    rep = sizes.analyze("unet_padded", input=(1, 512, 256))
    assert not rep.same_wh
    assert rep.rules[2].declared == 256 and rep.rules[2].runs_residues() == {0}


def test_residue_words() -> None:
    assert residue_text("H", {0}, 16) == "a multiple of 16"
    assert residue_text("H", {12}, 16) == "H = 16k + 12"
    assert residue_text("H", {0, 8}, 16) == "a multiple of 8"
    assert residue_text("H", {29, 30, 31, 0}, 32) == "H = 32k - 3 to 32k"
    assert residue_text("H", set(range(4)), 4) == "any size"


@pytest.mark.torch
def test_window_loss_counts_the_rows_the_floor_drops() -> None:
    """Against brute force: rows no window reads but a window past the last would."""
    import torch
    rng = random.Random(0)
    for _ in range(400):
        k, s, d = rng.randint(1, 7), rng.randint(1, 4), 1 if rng.random() < 0.7 else rng.randint(2, 3)
        p, n = rng.randint(0, (d * (k - 1) + 1) // 2), rng.randint(1, 40)
        x, w = torch.zeros(1, 1, n), torch.zeros(1, 1, k)
        try:
            out = torch.nn.functional.conv1d(x, w, stride=s, padding=p, dilation=d).shape[-1]
        except RuntimeError:
            continue  # too small for the kernel
        read = {j * s - p + d * i for j in range(out) for i in range(k)}
        later = {j * s - p + d * i for j in range(out, out + n + 1) for i in range(k)}
        dropped = {r for r in range(n) if r not in read and r in later}
        got = window_loss(((k, k), (s, s), (p, p), (d, d)), 0, n, out)
        assert got == len(dropped), (n, k, s, p, d)


# ---------------------------------------------------------------- CLI
def test_check_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "unet", "--sizes"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: unet:")
    assert "H: any size >= 188" in out and "H = 16k + 12" in out and "'down2.pool'" in out


def test_summary_has_the_size_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "unet_padded", "--depth", "0", "--sizes"]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last == "input sizes: H, W: a multiple of 16, from 16 (netspec check --sizes)"
    assert main(["summary", "unet_padded", "--depth", "0"]) == 0  # opt-in: it costs ~0.2 s on resnet152
    assert "input sizes" not in capsys.readouterr().out
    assert main(["summary", "unet", "--json", "--sizes"]) == 0
    dims = json.loads(capsys.readouterr().out)["input_sizes"]["dims"]
    assert dims["H"]["minimum"] == 188 and dims["H"]["exact_mod_period"] == [12] and dims["H"]["period"] == 16
    assert dims["H"]["minimum_layer"] == "up3.convs.conv2" and "down2.pool" in dims["H"]["loss_layers"]
    assert dims["W"]["same_as"] == "H"


def test_failing_input_hints_at_the_nearest_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "unet_padded", "--input", "1x570x570"]) == 1
    err = capsys.readouterr().err
    assert "at: up4.1" in err
    assert "hint: the nearest input sizes that work are 1x560x560 or 1x576x576" in err
    assert "note: concat needs equal height and width" in err  # the op's own hint is kept
    assert main(["check", "unet_padded", "--input", "1x512x100"]) == 1
    assert "1x512x96 or 1x512x112" in capsys.readouterr().err


# ---------------------------------------------------------------- the whole library (slow)
NETWORKS = sorted(library_index())


@cache
def _first_alike() -> dict[str, str]:
    """Each network's first name in NETWORKS with the same graph (`resnet` is `resnet18`)."""
    seen: dict[tuple[object, ...], str] = {}
    out = {}
    for name in NETWORKS:
        g = netspec.load(name)
        out[name] = seen.setdefault((g.input_shape, g.params, g.macs, tuple(g.nodes)), name)
    return out


def _distinct() -> list[str]:
    """The networks whose graph no earlier name already has (`resnet` is `resnet18`)."""
    return [n for n in NETWORKS if _first_alike()[n] == n]


@cache
def _forward_in_torch() -> set[str]:
    """The networks run in torch: each spec file's smallest, and any of at most 200 layers
    (the others repeat those blocks more times: resnet152 is resnet50's bottleneck, longer)."""
    out: set[str] = set()
    for file in {library_index()[n] for n in NETWORKS}:
        names = sorted((len(netspec.load(n).nodes), n) for n in NETWORKS if library_index()[n] == file)
        out |= {names[0][1]} | {n for size, n in names if size <= 200}
    return out


def _sizes_for(name: str, n: int) -> list[tuple[int, int]]:
    """Seeded random (H, W): mostly small, some around the declared size."""
    rng = random.Random(name)
    rep = report(name)
    c, dh, dw = rep.shape
    per = max(rep.rules[1].period, rep.rules[2].period)
    top_h, top_w = dh + 2 * per, dw + 2 * per
    return [(rng.randint(1, top_h), rng.randint(1, top_w)) for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("name", _distinct())
def test_rule_agrees_with_full_evaluation(name: str) -> None:
    rep, p = report(name), prober(name)
    c, dh, dw = rep.shape
    rng = random.Random(name)
    for dim, declared in ((1, dh), (2, dw)):
        rule = rep.rules[dim]
        for h in rng.sample(range(1, declared + 3 * rule.period), 3):
            shape = (c, h, dw) if dim == 1 else (c, dh, h)
            assert p.full(shape)[0].status(dim) == rule.status(h), (name, shape)
    for h, w in _sizes_for(name, 3):
        ok = p.full((c, h, w))[0].runs
        assert ok == (rep.rules[1].works(h) and rep.rules[2].works(w)), (name, h, w)


@pytest.mark.slow
@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(set(_distinct()) & _forward_in_torch()))
def test_check_accepts_exactly_what_torch_runs(name: str) -> None:
    """Forward on the meta device: torch's own shape checks, without weights or arithmetic.

    Each spec file's smallest network and any of at most 200 layers run in torch; the others
    repeat the same blocks more times (resnet152 is resnet50's bottleneck, longer).
    """
    import torch

    from netspec.compiler.to_torch import compile_graph

    base = netspec.load(name)
    c = base.input_shape[0]
    with torch.device("meta"):
        declared = compile_graph(base)
    train = bool(base.train_outputs)
    for h, w in _sizes_for(name, 3):
        try:
            g = netspec.load(name, input=(c, h, w))
        except netspec.SpecError:
            g = None
        model = declared
        if g is not None and [n.params for n in g.layers()] != [n.params for n in base.layers()]:
            with torch.device("meta"):
                model = compile_graph(g)  # a classifier whose weights follow the input size
        runs = True
        try:
            with torch.no_grad():
                out = model.eval()(torch.empty(1, c, h, w, device="meta"))
                if train:  # training-only heads too (batch 2: batch norm needs two values in training)
                    model.train()(torch.empty(2, c, h, w, device="meta"))
        except (RuntimeError, ValueError, IndexError):
            runs = False
        assert runs == (g is not None), (name, h, w, "runs" if runs else "fails in torch")
        if g is not None:
            first = out if isinstance(out, torch.Tensor) else next(iter(out.values()))
            assert tuple(first.shape[1:]) == next(iter(g.output_shapes().values()))
