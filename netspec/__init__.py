"""netspec: a declarative model compiler for convolutional networks.

import netspec
g = netspec.load("resnet50")            # checked graph (no torch needed)
model = netspec.compile("resnet50")     # torch.nn.Module
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .graph import Graph, Node
from .library import load, load_text

if TYPE_CHECKING:
    from torch import nn

__all__ = ["Graph", "Node", "SpecError", "compile", "load", "load_text", "render"]
__version__ = "0.1.0"


def compile(spec: str | Graph, **params: Any) -> nn.Module:
    """Compile a spec (or a checked Graph) into a torch.nn.Module."""
    from netspec.compiler.to_torch import compile_graph

    graph = spec if isinstance(spec, Graph) else load(spec, **params)
    return compile_graph(graph)


def render(spec: str | Graph, **kwargs: Any) -> Any:
    """Render a spec as a diagram (see compiler.to_graphviz.render)."""
    from netspec.compiler.to_graphviz import render as _render

    return _render(spec, **kwargs)
