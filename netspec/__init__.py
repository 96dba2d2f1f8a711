"""netspec: a declarative model compiler for convolutional networks.

import netspec
g = netspec.load("resnet50")            # checked graph (no torch needed)
model = netspec.compile("resnet50")     # torch.nn.Module
print(netspec.summary("resnet50", depth=1, columns="in,out,params,act_mb", batch=8))
netspec.register_op(MyOp)               # a user-defined op (see docs/ops.md)

The package imports its stages on first use, so a tool that needs only the
parser (`netspec.parse`) does not pay for the op registry and pydantic.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import SpecError

if TYPE_CHECKING:
    from torch import nn

    from .graph import Graph, Node
    from .library import load, load_text
    from .plugins import register_op
    from .table import Summary

__all__ = ["Graph", "Node", "SpecError", "compile", "load", "load_text", "register_op", "render", "summary"]
__version__ = "0.1.0"
TORCH_HINT = "pip install 'netspec[torch]'"

_LAZY = {"Graph": "graph", "Node": "graph", "load": "library", "load_text": "library", "register_op": "plugins"}


def __getattr__(name: str) -> Any:
    """Import `Graph`, `Node`, `load`, `load_text` and `register_op` from their modules when first asked for."""
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def compile(spec: str | Graph, weights: str | os.PathLike[str] | None = None, **params: Any) -> nn.Module:
    """Compile a spec (or a checked Graph) into a torch.nn.Module, optionally with pretrained weights.

    `weights` is a tag of the network's records (`"IMAGENET1K_V2"`, `"DEFAULT"`; see
    `netspec weights NET`), a checkpoint file or an https:// or file:// URL. Tensors whose
    shapes differ (the head of `num_classes=10`) keep their fresh init and are logged as
    a warning; the model's `pretrained_cfg` then holds the record's preprocessing.
    """
    try:
        from netspec.compiler.to_torch import compile_graph
    except ModuleNotFoundError as err:
        if err.name != "torch":
            raise
        raise ImportError(f"netspec.compile needs torch: {TORCH_HINT}") from None

    from .graph import Graph
    from .library import load

    graph = spec if isinstance(spec, Graph) else load(spec, **params)
    model = compile_graph(graph)
    if weights is not None:
        import logging

        from netspec.compiler.weights import load_weights

        report = load_weights(model, weights, graph.name)
        for note in report.notes():
            logging.getLogger("netspec").warning("%s: %s", graph.name, note)
    return model


def summary(
    spec: str | Graph,
    *,
    depth: int | str | None = None,
    columns: str | list[str] | tuple[str, ...] | None = None,
    batch: int | None = None,
    dtype: str = "float32",
    input: tuple[int, ...] | None = None,
    **params: Any,
) -> Summary:
    """The per-layer table of a spec (or a checked Graph), as `netspec summary` prints it.

    Args:
        spec: a library name, a file, `file.net:network`, or a Graph.
        depth: group rows by block nesting (0 = top level); None or "full": every layer.
        columns: "in,out,params" or a list, from netspec.table.COLUMNS, or "all".
        batch: batch size for shapes and memory (None: shapes show N, memory counts 1).
        dtype: float32, float16, bfloat16 or float64, for the memory columns.
        input, params: passed to `netspec.load` when `spec` is not a Graph.

    Returns:
        A Summary: `print()` it, `.as_json()` it, `.rows` and `.totals()` hold the numbers;
        Jupyter shows it as an HTML table.
    """
    from .graph import Graph
    from .library import load
    from .table import Summary, parse_columns, parse_depth

    graph = spec if isinstance(spec, Graph) else load(spec, input=input, **params)
    return Summary(graph, parse_depth(depth), parse_columns(columns), batch, dtype)


def render(spec: str | Graph, **kwargs: Any) -> Any:
    """Render a spec as a diagram (see compiler.to_graphviz.render)."""
    from netspec.compiler.to_graphviz import render as _render

    return _render(spec, **kwargs)
