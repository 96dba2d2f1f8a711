"""Weight initialisation: the spec's `init` rules resolved into a plan, and its application.

Modules are built with torch's default init. Then, as torchvision's own init
loops do, two passes run over the layers in module order:

1. `init` rules: for every layer with weights, the most specific rule of its
   op kind (the deepest scope; the later one on ties) that names a scheme for
   `weight`, then for `bias`;
2. per-layer overrides: `init=` and `bias_init=` on the layer itself.

The plan is a list of (module path, tensor name, scheme index) with the schemes
listed once; `apply_init` replays it. The generated model source holds the same
plan and copies of `init_tensor` / `apply_init`, so a model built from
`model.py` draws exactly the weights `netspec.compile` draws for the same seed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from netspec.errors import SpecError
from netspec.ops import Init, ParamOp

if TYPE_CHECKING:
    from netspec.graph import Graph, InitRule

Scheme = tuple[str, dict[str, Any]]
Step = tuple[str, str, int]

# The keyword arguments each scheme accepts (those of the torch.nn.init function).
SCHEME_ARGS: dict[str, tuple[str, ...]] = {
    "kaiming_normal": ("a", "mode", "nonlinearity"),
    "kaiming_uniform": ("a", "mode", "nonlinearity"),
    "xavier_normal": ("gain",),
    "xavier_uniform": ("gain",),
    "normal": ("mean", "std"),
    "trunc_normal": ("mean", "std", "a", "b"),
    "uniform": ("a", "b"),
    "constant": ("val",),
    "zeros": (),
    "ones": (),
    "fan_uniform": ("mode",),
}


def init_tensor(module: nn.Module, name: str, scheme: str, kwargs: dict[str, Any]) -> None:
    """Initialise `module.<name>` in place with a torch.nn.init scheme.

    `fan_uniform` draws U(-1/sqrt(fan), 1/sqrt(fan)) with the fan ('fan_in' by
    default, or 'fan_out') of the module's weight: torch's default for biases.
    """
    tensor = getattr(module, name)
    if tensor.is_meta:  # nothing to draw; skipping keeps meta-device construction fast
        return
    if scheme == "fan_uniform":
        weight = module.weight
        receptive = weight[0][0].numel() if weight.dim() > 2 else 1
        fan = weight.shape[1 if kwargs.get("mode", "fan_in") == "fan_in" else 0] * receptive
        bound = 1 / math.sqrt(fan) if fan > 0 else 0.0
        nn.init.uniform_(tensor, -bound, bound)
    elif scheme in ("zeros", "ones"):
        getattr(nn.init, scheme + "_")(tensor)
    else:
        getattr(nn.init, scheme + "_")(tensor, **kwargs)


def apply_init(model: nn.Module, schemes: list[tuple[str, dict[str, Any]]], plan: list[tuple[str, str, int]]) -> None:
    """Run an init plan: each step initialises one tensor of one submodule."""
    for path, name, index in plan:
        scheme, kwargs = schemes[index]
        init_tensor(model.get_submodule(path), name, scheme, kwargs)


def _check(init: Init, span: Any, path: str | None) -> Scheme:
    """The scheme as (name, kwargs), after trying it on a small tensor so bad arguments fail here."""
    allowed = SCHEME_ARGS[init.scheme]
    kwargs = dict(init.args)
    for key in kwargs:
        if key not in allowed:
            usage = ", ".join(allowed) or "no arguments"
            raise SpecError(f"{init.scheme}() has no argument '{key}'", span, path=path,
                            hint=f"{init.scheme} takes {usage}")
    try:
        with torch.random.fork_rng(devices=[]):  # leave the caller's random stream as it was
            init_tensor(nn.Linear(3, 2), "weight", init.scheme, kwargs)
    except (ValueError, TypeError, RuntimeError) as err:
        raise SpecError(f"bad init {init}: {err}", span, path=path) from None
    return init.scheme, kwargs


def _under(nid: str, prefix: str) -> bool:
    return not prefix or nid == prefix or nid.startswith(prefix + ".")


def _winner(rules: list[InitRule], nid: str, kind: str, target: str) -> InitRule | None:
    """The deepest matching rule naming a scheme for `target`; the later one on ties."""
    best: InitRule | None = None
    for rule in rules:
        if rule.kind == kind and getattr(rule, target) is not None and _under(nid, rule.prefix):
            if best is None or rule.prefix.count(".") + bool(rule.prefix) >= best.prefix.count(".") + bool(best.prefix):
                best = rule
    return best


def init_plan(graph: Graph, has_tensor: dict[tuple[str, str], bool]) -> tuple[list[Scheme], list[Step]]:
    """Resolve the graph's init rules and per-layer overrides into (schemes, steps).

    Args:
        graph: the checked graph.
        has_tensor: (node id, 'weight' | 'bias') -> whether that layer's module has the tensor.
    """
    schemes: list[Scheme] = []
    index: dict[Any, int] = {}

    def scheme_index(init: Init, span: Any, path: str | None) -> int:
        if init not in index:
            index[init] = len(schemes)
            schemes.append(_check(init, span, path))
        return index[init]

    steps: list[Step] = []
    layers = [n for n in graph.layers() if isinstance(n.op, ParamOp)]
    for node in layers:  # pass 1: rules
        for target in ("weight", "bias"):
            rule = _winner(graph.inits, node.id, node.kind, target)
            if rule is not None and has_tensor.get((node.id, target), False):
                steps.append((node.id, target, scheme_index(getattr(rule, target), rule.span, None)))
    for node in layers:  # pass 2: the layer's own init= / bias_init=
        op = node.op
        assert isinstance(op, ParamOp)
        for target, init in (("weight", op.init), ("bias", op.bias_init)):
            if init is None:
                continue
            if not has_tensor.get((node.id, target), False):
                raise SpecError(f"{'init' if target == 'weight' else 'bias_init'}= on a layer without a {target}",
                                node.span, path=node.id, hint="this layer has no such tensor (bias=false?)")
            steps.append((node.id, target, scheme_index(init, node.span, node.id)))
    return schemes, steps


def tensor_exists(module: nn.Module, name: str) -> bool:
    """Whether a layer's module has a parameter `name` (weight or bias) to initialise."""
    return isinstance(getattr(module, name, None), torch.Tensor)
