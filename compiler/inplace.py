"""Which layers may overwrite their input, as torchvision's `ReLU(inplace=True)` and `out += identity` do.

Running an activation or a residual sum in place saves one activation-sized
allocation per layer. Every fact used here is declared by the ops themselves
(`Op.can_inplace`, `saves_output`, `returns_view`); this pass only proves, per
edge, that overwriting is safe: the overwritten tensor

- is read by nothing else: exactly one edge leaves it, and it is no network output;
- is not the network input nor a parameter (a node without inputs), and if it may be a view
  of another tensor (`returns_view`: flatten, eval-mode dropout), that tensor passes the same test;
- is not needed by its producer's backward (`saves_output`);
- already has the output's shape and training-only status (no broadcasting into it).
"""

from __future__ import annotations

from netspec.graph import Graph


def inplace_nodes(graph: Graph) -> set[str]:
    """The ids of the layers that may run in place."""
    edges = {nid: len(users) for nid, users in graph.consumers().items()}
    returned = set(graph.outputs.values())

    def overwritable(nid: str) -> bool:
        """Nothing but one consumer sees this tensor, nor any tensor it may be a view of."""
        src = graph.nodes[nid]
        if (
            src.id == Graph.INPUT
            or not src.inputs
            or src.op.saves_output
            or edges.get(src.id) != 1
            or src.id in returned
        ):
            return False
        return not src.op.returns_view or overwritable(src.inputs[0])

    found = set()
    for node in graph.layers():
        if not node.op.can_inplace():
            continue
        src = graph.nodes[node.inputs[0]]
        if (
            overwritable(src.id)
            and src.shape == node.shape
            and src.train_only == node.train_only
            and node.inputs.count(src.id) == 1
        ):
            found.add(node.id)
    return found
