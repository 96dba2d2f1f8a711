"""Weight initialisation written as the spec writes it: one rule per `init` statement.

Modules are built with torch's default init. Then, at the end of the network's
constructor and as torchvision's own models do, each `init` statement becomes
one loop over `self.modules()` with an `isinstance` test, applied from the
outermost scope to the innermost (so a rule inside a block wins over the
network's, and a later rule over an earlier one), followed by the per-layer
`init=` / `bias_init=` overrides:

    for m in self.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
    for m in self.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)

The in-memory module runs this same source, so `netspec.compile` and a
`compile -o` file draw the same weights for the same seed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from netspec.errors import SpecError
from netspec.ops import Init, ParamOp

if TYPE_CHECKING:
    from netspec.graph import Graph, InitRule, Node

    from .codegen import Generator


def _under(nid: str, prefix: str) -> bool:
    return not prefix or nid == prefix or nid.startswith(prefix + ".")


def _apply(init: Init, owner: str, target: str) -> str:
    inner = "".join(f", {k}={v!r}" for k, v in init.args)
    if init.scheme == "fan_uniform":
        return f"fan_uniform_({owner}.{target}, {owner}.weight{inner})"
    return f"nn.init.{init.scheme}_({owner}.{target}{inner})"


def _access(path: str) -> str:
    """Python for the submodule at a dotted path, from `self`."""
    out = "self"
    for part in path.split("."):
        out += (
            f".{part}" if part.isidentifier() else f"[{int(part)}]" if part.isdigit() else f'.get_submodule("{part}")'
        )
    return out


def init_lines(graph: Graph, gen: Generator) -> list[str]:
    """The init statements for the end of the network class's __init__ (8-space indented)."""
    layers = {n.id: n for n in graph.layers() if isinstance(n.op, ParamOp)}
    classes: dict[str, str] = {}  # node id -> its module class in generated code
    for nid, node in layers.items():
        form = node.op.module([graph.nodes[i].shape for i in node.inputs])
        if form is not None:
            classes[nid] = form.cls.split(":")[-1]
    rules: dict[Any, list[InitRule]] = {}
    for rule in graph.inits:
        rules.setdefault(rule.span, []).append(rule)
    ordered = sorted(rules.values(), key=lambda rs: min(_depth(r.prefix) for r in rs))  # stable: source order
    out: list[str] = []
    for group in ordered:
        out += _rule(group, layers, classes, gen)
    out += _overrides(layers, gen)
    if any("fan_uniform_(" in line for line in out):
        gen.refs.add("netspec.compiler.modules:fan_uniform_")
    return out


def _depth(prefix: str) -> int:
    return prefix.count(".") + 1 if prefix else 0


def _rule(group: list[InitRule], layers: dict[str, Node], classes: dict[str, str], gen: Generator) -> list[str]:
    """One `init` statement: a loop over the modules of the scopes it applies to."""
    first = group[0]
    for rule in group:
        for init in (rule.weight, rule.bias):
            if init is not None:
                _check(init, rule.span)
    targets = [n for n in layers.values() if n.kind == first.kind and any(_under(n.id, r.prefix) for r in group)]
    if not targets:
        return []
    kinds = sorted({classes[n.id] for n in targets})
    # isinstance must catch exactly the targeted layers under these scopes.
    same_class = [
        n for n in layers.values() if classes.get(n.id) in kinds and any(_under(n.id, r.prefix) for r in group)
    ]
    body: list[str] = []
    for target, init in (("weight", first.weight), ("bias", first.bias)):
        if init is None:
            continue
        has = [target in n.op.init_targets() for n in targets]
        if not any(has):
            continue
        line = _apply(init, "m", target)
        body.append(line if all(has) else f"if m.{target} is not None:\n    {line}")
    if not body:
        return []
    test = kinds[0] if len(kinds) == 1 else f"({', '.join(kinds)})"
    prefixes = [r.prefix for r in group]
    loop: list[str]
    if {n.id for n in same_class} != {n.id for n in targets}:
        return _explicit(targets, body)
    if prefixes == [""]:
        loop = ["for m in self.modules():", f"    if isinstance(m, {test}):"]
        return _indent(loop + [f"        {b}" for line in body for b in line.split("\n")])
    owners = {gen.of[p].name for p in prefixes if p in gen.of}
    if len(owners) == 1 and all(p in gen.of for p in prefixes):
        cd = gen.of[prefixes[0]]
        if {c.path for c in cd.instances} == set(prefixes):
            loop = [
                "for block in self.modules():",
                f"    if isinstance(block, {cd.name}):",
                "        for m in block.modules():",
                f"            if isinstance(m, {test}):",
            ]
            return _indent(loop + [f"                {b}" for line in body for b in line.split("\n")])
    return _explicit(targets, body)


def _explicit(targets: list[Node], body: list[str]) -> list[str]:
    out = []
    for n in targets:
        for line in body:
            out += [_M.sub(_access(n.id) + ".", b) for b in line.split("\n")]
    return _indent(out)


_M = re.compile(r"\bm\.")


def _overrides(layers: dict[str, Node], gen: Generator) -> list[str]:
    """Per-layer `init=` / `bias_init=`: grouped per block class where every instance has the same one."""
    found: dict[tuple[str, str, str], list[str]] = {}  # (class or "", relative path, call text) -> node ids
    order: list[tuple[str, str, str]] = []
    for node in layers.values():
        op = node.op
        assert isinstance(op, ParamOp)
        for target, init in (("weight", op.init), ("bias", op.bias_init)):
            if init is None:
                continue
            _check(init, node.span)
            if target not in op.init_targets():
                raise SpecError(
                    f"{'init' if target == 'weight' else 'bias_init'}= on a layer without a {target}",
                    node.span,
                    path=node.id,
                    hint="this layer has no such tensor (bias=false?)",
                )
            owner, rel = _owner(node.id, gen)
            key = (owner, rel, _apply(init, "m", target))
            if key not in found:
                order.append(key)
            found.setdefault(key, []).append(node.id)
    out: list[str] = []
    for owner, rel, text in order:
        ids = found[(owner, rel, text)]
        cd = next((c for c in gen.classes if c.name == owner), None)
        if owner and cd is not None and len(ids) == len(cd.instances):
            access = "block" + _access(rel)[4:]
            out += [
                "for block in self.modules():",
                f"    if isinstance(block, {owner}):",
                f"        {_M.sub(access + '.', text)}",
            ]
        else:
            out += [_M.sub(_access(nid) + ".", text) for nid in ids]
    return _indent(out)


def _owner(nid: str, gen: Generator) -> tuple[str, str]:
    """The innermost generated class instance holding a layer, and the layer's path inside it."""
    parts = nid.split(".")
    for k in range(len(parts) - 1, 0, -1):
        path = ".".join(parts[:k])
        if path in gen.of:
            return gen.of[path].name, ".".join(parts[k:])
    return "", nid


def _check(init: Init, span: Any) -> None:
    """Init arguments are validated by the Init model itself; nothing can fail at run time."""
    del init, span


def _indent(lines: list[str]) -> list[str]:
    return [f"        {line}" for line in lines]
