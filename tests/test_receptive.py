"""Receptive fields against a gradient probe, on every network of the library.

The probe compiles the network, makes every weight positive (so no two paths can
cancel), backpropagates from the central output position of a layer and reads the
first and last input row and column with a nonzero gradient. netspec's analysis
(netspec.receptive) must give exactly those rows and columns, for every layer probed.

What the probe changes, and why it stays a measurement of the same thing:

- max pooling sends its gradient to one winner per window, so it would hide the
  other pixels that can influence the output; the probe swaps it for average
  pooling over the same windows (same output sizes, ceil mode and padding);
- global context (a global pool, an adaptive pool to 1x1, a flatten) is detached:
  the analysis reports the spatial path and marks global context separately;
- deformable convolutions get zero offsets (their offset convs zeroed), the grid a
  fresh layer samples; learned offsets move it, which no static analysis can know.

Inputs are small and not square, so rows and columns are checked apart, and many
layers' fields reach the borders, where padding clips them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

import netspec
from netspec.graph import Graph
from netspec.library import library_index

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

INPUT = (64, 72)  # rows != columns
INPUTS = {  # networks that need another size (or are cheaper at one)
    "alexnet_paper": (3, 100, 108),
    "deeplabv3_resnet50": (3, 48, 56),
    "fcn_resnet50": (3, 48, 56),
    "rpn_head": (256, 16, 24),
    "unet": (1, 188, 204),  # the smallest U-Net input: 16k + 12 >= 188
    "unet_padded": (1, 64, 80),
}
PROBES = 12  # layers probed per network, spread over its depth
BUDGET = 3e9  # MACs per forward pass: fewer layers are probed in a heavier network
SLOW = {"fcn", "fcn8s", "fcn16s", "fcn32s"}  # 20 GMACs at any input (FCN pads its input by 100)


def _networks() -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(library_index())]


def small_input(g: Graph) -> tuple[int, ...]:
    return INPUTS.get(g.name, (g.input_shape[0], *INPUT))


# ---------------------------------------------------------------- the probe
def _reduces_space(x: Any, out: Any) -> bool:
    """Whether a call turned a map with several positions into one position or a vector."""
    if not (isinstance(x, Tensor) and isinstance(out, Tensor) and x.dim() == 4 and x.shape[2] * x.shape[3] > 1):
        return False
    return out.dim() < 4 or tuple(out.shape[2:]) == (1, 1)


class SpatialPath(TorchFunctionMode):
    """Average instead of max pooling; global reductions detached (see the module docstring)."""

    GLOBAL = {Tensor.mean, Tensor.amax, torch.mean, torch.amax, torch.flatten, Tensor.flatten}

    def __torch_function__(
        self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        kwargs = kwargs or {}
        if func is F.max_pool2d:
            out = _window_pool(*args, **kwargs)
        elif func is F.adaptive_max_pool2d:
            out = F.adaptive_avg_pool2d(args[0], args[1] if len(args) > 1 else kwargs["output_size"])
        else:
            out = func(*args, **kwargs)
        if func in self.GLOBAL or func in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
            if _reduces_space(args[0] if args else None, out):
                return out.detach()
        return out


def _window_pool(
    x: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    dilation: Any = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Tensor:
    """Average pooling over max pooling's windows: every pixel of a window gets gradient."""
    assert dilation in (1, (1, 1)) and not return_indices
    return F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad=True)


def positive(model: nn.Module) -> None:
    """Weights 1/fan-in (so values stay near 1 however deep), biases 0.01; deformable offsets zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".offset." in f".{name}" or ".mask." in f".{name}":
                p.zero_()
            elif p.dim() > 1:
                p.fill_(1.0 / p[0].numel())
            elif name.endswith("bias"):
                p.fill_(0.01)
            else:
                p.fill_(1.0)


def probe_points(g: Graph, model: nn.Module) -> dict[str, str]:
    """Module path -> the node its output is, for modules whose output has a spatial receptive field.

    In execution order (of the nodes), one module per node.
    """
    rf = g.receptive()
    found: dict[str, str] = {}
    for path, _ in model.named_modules(prefix=""):
        if not path:
            continue  # the network itself may return a dict of outputs
        scope = g.scopes.get(path)
        nid = path if path in g.nodes else scope.output if scope else None
        if nid is not None and len(g.nodes[nid].shape) == 3 and not rf[nid].is_global:
            found.setdefault(nid, path)
    return {found[nid]: nid for nid in g.nodes if nid in found}


def choose(g: Graph, points: dict[str, str], n: int) -> list[str]:
    """n probe points: mostly layers whose field ends inside the input (or the probe would only
    see the borders), spread over the depth, and the last spatial layer."""
    rf = g.receptive()
    _, h, w = g.input_shape
    inside = [p for p, nid in points.items() if rf[nid].rows != (0, h - 1) or rf[nid].cols != (0, w - 1)]
    rest = [p for p in points if p not in inside]
    picked = set(spread(inside, max(1, n - 2))) | set(spread(rest, 2)) | {list(points)[-1]}
    return [p for p in points if p in picked]


@contextmanager
def capture(model: nn.Module, paths: list[str]) -> Iterator[dict[str, Tensor]]:
    """Keep the outputs of these modules, handing a copy on so in-place ops downstream cannot change them."""
    got: dict[str, Tensor] = {}
    modules = dict(model.named_modules())

    def hook(path: str) -> Callable[..., Any]:
        def keep(_m: nn.Module, _i: Any, out: Any) -> Any:
            if isinstance(out, Tensor):
                got[path] = out
                return out.clone()
            if isinstance(out, tuple) and out and isinstance(out[0], Tensor):  # a block with several outputs
                got[path] = out[0]  # its own output comes first (compiler/tree.py)
                return (out[0].clone(), *out[1:])
            return None

        return keep

    handles = [modules[p].register_forward_hook(hook(p)) for p in paths]
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def measure(g: Graph, model: nn.Module, paths: list[str]) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Probe these modules in one backward pass: sample b of the batch probes module b.

    Returns module path -> the (first, last) input row and column whose gradient is nonzero.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device, torch.float64).eval()
    positive(model)
    names = paths
    x = torch.ones(len(names), *g.input_shape, dtype=torch.float64, device=device, requires_grad=True)
    with capture(model, names) as got, SpatialPath():
        model(x)
        total = x.new_zeros(())
        for b, path in enumerate(names):
            y = got[path]
            total = total + y[b, :, (y.shape[2] - 1) // 2, (y.shape[3] - 1) // 2].sum()
        (grad,) = torch.autograd.grad(total, x)
    out = {}
    for b, path in enumerate(names):
        hot = grad[b].abs().sum(0) > 0
        rows, cols = hot.any(1).nonzero().flatten(), hot.any(0).nonzero().flatten()
        assert len(rows), f"{path}: no input pixel reaches it"
        out[path] = ((int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1])))
    return out


def spread(items: list[str], n: int) -> list[str]:
    """n items evenly spread over the list (with the last, when n > 1)."""
    if len(items) <= n:
        return items
    if n == 1:
        return [items[len(items) // 2]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


# ---------------------------------------------------------------- the tests
@pytest.mark.parametrize("name", _networks())
def test_receptive_field_matches_the_gradient_probe(name: str) -> None:
    g = netspec.load(name)
    g = netspec.load(name, input=small_input(g))
    rf = g.receptive()
    model = netspec.compile(g)
    points = probe_points(g, model)
    chosen = {p: points[p] for p in choose(g, points, max(2, min(PROBES, int(BUDGET / max(g.macs, 1)))))}
    assert chosen, f"{name}: nothing to probe"
    measured = measure(g, model, list(chosen))
    wrong = {
        path: (f"probe rows {m[0]} cols {m[1]}", f"netspec rows {rf[chosen[path]].rows} cols {rf[chosen[path]].cols}")
        for path, m in measured.items()
        if m != (rf[chosen[path]].rows, rf[chosen[path]].cols)
    }
    assert not wrong, f"{name} at {g.input_shape}: {wrong}"
    _, h, w = g.input_shape
    assert any(m != ((0, h - 1), (0, w - 1)) for m in measured.values()), "only whole-input fields were probed"
