"""Graph -> readable Python source: one class per spec block, plain calls for weightless layers.

Every container of the module tree (compiler.tree) becomes one of:

- an inline `nn.Sequential(...)` (a plain chain that is no block: `features`, `downsample`);
- an `nn.Sequential` subclass (a block that is a plain chain of unnamed layers, as
  torchvision's `Conv2dNormActivation`);
- a generated class with a forward (the network, every other block).

All instances of one spec block share one class. What differs between them
becomes constructor parameters: literals (named after the block's arguments
where the values say so), and submodules that exist in only some instances,
which are `None` elsewhere (torchvision's `downsample`):

    class Bottleneck(nn.Module):
        \"\"\"block bottleneck: layer1.0, layer1.1, ... (16 in all)\"\"\"

        def __init__(self, in_channels, width, stride, out_channels, downsample=False):
            ...
            self.downsample = nn.Sequential(...) if downsample else None

The source holds only validated identifiers and literals; it is the only
Python that a spec ever turns into.
"""

from __future__ import annotations

import difflib
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any

from netspec.fmt import fmt_shape
from netspec.graph import Graph, Node
from netspec.ops import Shape
from netspec.ops.form import Alias, Call, Form, In, Infix, Ins, Module, Parameter

from .exprs import (
    CompileError,
    Ctor,
    Lit,
    Named,
    Ref,
    ctor,
    is_default,
    literal,
    render,
    render_literal,
    same,
    source_name,
)
from .forward import RESERVED_VARS, Arg, CallExpr, Line, forward_lines, var_ok
from .init import init_lines
from .inplace import inplace_nodes
from .tree import Container, Leaf, build_tree

DC = object()  # a literal of an absent optional child: matches any value


@dataclass
class Inst:
    """A child that is an instance of a generated class (resolved to a Ctor once the class is final)."""

    container: Container


@dataclass
class Opt:
    """An element of an inline nn.Sequential that only some instances have (`expr` None where absent)."""

    key: str
    expr: Any
    template: Any
    flag: str | None = None


@dataclass
class Alt:
    """A submodule built one of two ways depending on the instance (`DeformConv2d(...) if deform else ...`)."""

    choice: int  # which template this instance uses (-1 in the class body)
    expr: Any
    templates: list[Any]
    flag: str | None = None


@dataclass
class Slot:
    """One child position of a class, aligned across its instances."""

    key: str
    name: str
    members: list[Leaf | Container | None]  # per instance
    exprs: list[Any] = field(default_factory=list)  # per instance: Ctor / Named / Inst / CallExpr / None
    inputs: list[Any] = field(default_factory=list)
    n_out: int = 1
    train_only: bool = False
    flag: str | None = None

    @property
    def optional(self) -> bool:
        return any(m is None for m in self.members)

    @property
    def is_call(self) -> bool:
        return any(isinstance(e, CallExpr) for e in self.exprs)


@dataclass
class ClassDef:
    """One generated class and the containers that instantiate it."""

    name: str
    first: Container
    instances: list[Container]
    slots: list[Slot]
    outputs: list[Any]
    sequential: bool = False  # an nn.Sequential subclass
    params: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    args: dict[str, list[Any]] = field(default_factory=dict)  # instance path -> parameter values
    flag_args: dict[str, dict[str, bool]] = field(default_factory=dict)
    body: list[Any] = field(default_factory=list)  # per slot: expression with Refs
    stored: set[str] = field(default_factory=set)  # parameters kept as attributes (used in forward)
    defaults: dict[str, Any] = field(default_factory=dict)  # keyword parameters and their defaults


@dataclass
class Source:
    """Generated code: `body` (classes and the network) and the support objects it uses."""

    body: str
    class_name: str
    support: list[str]  # `pkg.mod:Obj` references
    uses_ordered_dict: bool
    modules: dict[str, str] = field(default_factory=dict)  # head of each dotted callable used


class Generator:
    """Builds the source for one graph."""

    def __init__(self, graph: Graph, class_name: str | None = None, expose: bool = True) -> None:
        self.graph = graph
        self.expose_params = expose
        self.tree = build_tree(graph)
        self.root_name = _unreserved(class_name or camel(graph.name) or "Network")
        self.names: set[str] = {self.root_name}
        self.inplace = inplace_nodes(graph)
        self.classes: list[ClassDef] = []
        self.of: dict[str, ClassDef] = {}
        self.inline: set[str] = set()  # container paths written as inline nn.Sequential
        self.refs: set[str] = set()  # every callable reference used

    # ------------------------------------------------------------ leaves
    def shapes(self, node: Node) -> list[Shape]:
        return [self.graph.nodes[i].shape for i in node.inputs]

    def module_form(self, leaf: Leaf) -> Module | None:
        return leaf.node.op.module(self.shapes(leaf.node))

    def as_module(self, leaf: Leaf, in_sequence: bool) -> bool:
        """A leaf is a submodule when it has weights, sits in an nn.Sequential, or the spec names it."""
        op = leaf.node.op
        if op.init_targets() or leaf.node.params:
            return True
        if self.module_form(leaf) is None:
            return False
        return in_sequence or not leaf.name.isdigit() or op.call(self.shapes(leaf.node)) is None

    def leaf_ctor(self, leaf: Leaf) -> Ctor:
        param = leaf.node.op.parameter()
        if param is not None:
            return parameter_ctor(param, self.refs)
        form = self.module_form(leaf)
        if form is None:
            raise CompileError(f"op '{leaf.node.kind}' has weights but no module form")
        self.refs.add(form.cls)
        e = ctor(form, leaf.node.id)
        if leaf.node.id in self.inplace and form.inplace and leaf.node.op.can_inplace():
            e.kwargs.append(("inplace", Lit(True)))
        return e

    def leaf_call(self, leaf: Leaf) -> CallExpr:
        form: Form | None = leaf.node.op.call(self.shapes(leaf.node))
        inplace = leaf.node.id in self.inplace and leaf.node.op.can_inplace()
        if isinstance(form, Infix):
            return CallExpr(form.op, inplace=inplace and form.op == "+")
        if isinstance(form, Alias):
            return CallExpr("")
        if not isinstance(form, Call):
            raise CompileError(f"op '{leaf.node.kind}' has neither a call nor a module form")
        self.refs.add(form.func)
        args = [_placeholder(a, leaf.node.id) for a in form.args]
        kwargs = [(k, _placeholder(v, leaf.node.id)) for k, v in form.kwargs]
        return CallExpr(form.func, args, kwargs, inplace and form.inplace, form.training)

    # ------------------------------------------------------------ containers
    def chain(self, c: Container) -> bool:
        """Each child reads only the previous one, every layer can be a module: an nn.Sequential."""
        if c is self.tree or not c.children or len(c.inputs) != 1 or len(c.outputs) != 1:
            return False
        prev = c.inputs[0]
        for ch in c.children:
            if ch.inputs != [prev] or len(ch.outputs) != 1 or ch.train_only != c.children[0].train_only:
                return False
            if isinstance(ch, Leaf) and self.module_form(ch) is None:
                return False
            prev = ch.outputs[0]
        return c.outputs[0] == prev

    def is_inline(self, c: Container) -> bool:
        return c.kind != "block" and self.chain(c)

    def child_expr(self, ch: Leaf | Container, in_sequence: bool) -> Any:
        whole = ch.as_leaf() if isinstance(ch, Container) else None
        if whole is not None:
            return self.leaf_ctor(whole) if self.as_module(whole, in_sequence) else self.leaf_call(whole)
        if isinstance(ch, Leaf):
            return self.leaf_ctor(ch) if self.as_module(ch, in_sequence) else self.leaf_call(ch)
        if ch.path in self.inline:
            kids = [self.child_expr(k, True) for k in ch.children]
            names = [k.name for k in ch.children]
            if names == [str(i) for i in range(len(names))]:
                return Ctor("nn.Sequential", kids, names=["" for _ in kids])
            return Ctor("nn.Sequential", [Named(list(zip(names, kids, strict=True)))], names=[""])
        return Inst(ch)

    def run(self) -> Source:
        self.prepare_tree()
        self.prepare_classes()
        if self.expose_params:
            self.expose()
        return self.emit()

    def prepare_classes(self) -> None:
        for cd in self.classes:
            self.finalize(cd)

    # ------------------------------------------------------------ network parameters
    def expose(self) -> None:
        """Make network parameters constructor arguments of the network class where the code allows.

        A parameter qualifies when checking the network again with another value changes nothing
        but some literals of the network class, each from the parameter's value to the new one
        (`num_classes` -> `nn.Linear(2048, num_classes)`). Parameters that shape the structure
        (depths, widths) stay fixed: regenerate with `--set` to change them.
        """
        g = self.graph
        root = self.classes[-1]
        if g.rebuild is None or not g.free_params:
            return
        base = _literal_vector(root.body)
        others = self.block_sources()
        taken = set(RESERVED_VARS) | {c.name for c in self.classes}
        chosen: dict[int, str] = {}
        for name in g.free_params:
            value = g.args.get(name)
            probe = _probe(value)
            if probe is None or not var_ok(name) or name in taken or not any(same(v, value) for v in base):
                continue  # (a value that no literal of the network class holds cannot become an argument)
            try:
                other = g.rebuild({name: probe})
                gen = Generator(other, self.root_name, expose=False)
                gen.prepare_tree()
                gen.prepare_classes()
            except Exception:  # noqa: BLE001  (any failure: the parameter stays fixed)
                continue
            if gen.block_sources() != others or [c.name for c in gen.classes] != [c.name for c in self.classes]:
                continue
            vec = _literal_vector(gen.classes[-1].body)
            if len(vec) != len(base) or _skeletons(gen.classes[-1].body, gen) != _skeletons(root.body, self):
                continue
            if init_lines(other, gen) != init_lines(g, self):
                continue
            moved = [i for i, (a, b) in enumerate(zip(base, vec, strict=True)) if not same(a, b)]
            if moved and all(same(base[i], value) and same(vec[i], probe) for i in moved):
                for i in moved:
                    chosen[i] = name
                root.defaults[name] = value
                root.params.append(name)
        if chosen:
            counter = iter(range(len(base)))
            root.body = [_substitute(e, chosen, counter) for e in root.body]

    def prepare_tree(self) -> None:
        """Group and unify classes (run's first half)."""
        ops = {c.path for c in self.tree.containers() if c.as_leaf() is not None}  # one call each, no class
        for c in self.tree.containers():
            if c is not self.tree and c.path not in ops and self.is_inline(c):
                self.inline.add(c.path)
        groups: dict[Any, list[Container]] = {}
        for c in self.tree.containers():
            if c.path in self.inline or c.path in ops or any(c.path.startswith(p + ".") for p in ops):
                continue
            key = (
                ("root",)
                if c is self.tree
                else ("block", c.scope.name)
                if c.kind == "block" and c.scope
                else ("seq", base_name(c), self.structure(c))
            )
            groups.setdefault(key, []).append(c)
        for key in _inner_first(groups):
            self.add_classes(key, groups[key])

    def block_sources(self) -> list[str]:
        return ["\n".join(self.class_lines(cd)) for cd in self.classes[:-1]]

    def structure(self, c: Container) -> str:
        return repr([(ch.name, type(ch).__name__, ch.node.kind if isinstance(ch, Leaf) else "") for ch in c.children])

    def add_classes(self, key: Any, members: list[Container]) -> None:
        """One class for the group if its instances unify, else one per distinct structure."""
        base = self.root_name if key == ("root",) else base_name(members[0])
        cd = self.unify(base, members)
        if cd is not None:
            self.register(cd)
            return
        by_shape: dict[str, list[Container]] = {}
        for c in members:
            by_shape.setdefault(self.structure(c) + repr(self.skeleton_of(c)), []).append(c)
        for group in by_shape.values():
            cd = self.unify(base, group)
            if cd is None:  # pragma: no cover - identical structures always unify
                raise CompileError(f"cannot generate a class for {group[0].path}")
            self.register(cd)

    def register(self, cd: ClassDef) -> None:
        if cd.first is not self.tree:
            cd.name = self.fresh_class(cd.name)
        self.classes.append(cd)
        for c in cd.instances:
            self.of[c.path] = cd

    def skeleton_of(self, c: Container) -> list[str]:
        return [self.skeleton(self.child_expr(ch, False)) for ch in c.children]

    def fresh_class(self, base: str) -> str:
        name, n = base, 1
        while name in self.names or name in RESERVED_VARS or name in _RESERVED_CLASSES:
            n += 1
            name = f"{base}{n}"
        self.names.add(name)
        return name

    # ------------------------------------------------------------ unification
    def unify(self, name: str, members: list[Container]) -> ClassDef | None:
        """Align the children of all instances; None if they cannot share one class."""
        keyed = []
        for c in members:
            seen: dict[str, int] = {}
            row = []
            for ch in c.children:
                base = _align_key(ch, 0)
                seen[base] = seen.get(base, 0) + 1
                row.append((base if seen[base] == 1 else f"{base}#{seen[base]}", ch))
            keyed.append(row)
        order: list[str] = []
        for row in keyed:
            keys = [k for k, _ in row]
            if not order:
                order = keys
                continue
            merged: list[str] = []
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=order, b=keys, autojunk=False).get_opcodes():
                merged += order[i1:i2] if tag == "equal" else order[i1:i2] + keys[j1:j2]
            if len(set(merged)) != len(merged):
                return None
            order = merged
        slots = []
        for key in order:
            present = [dict(row).get(key) for row in keyed]
            first = next(m for m in present if m is not None)
            slots.append(Slot(key, first.name, present))
        sequential = (
            members[0] is not self.tree
            and members[0].kind == "block"
            and all(
                self.chain(c) and [ch.name for ch in c.children] == [str(i) for i in range(len(c.children))]
                for c in members
            )
        )
        # Expressions per instance, and their structure must agree where present.
        for s in slots:
            s.exprs = [None if m is None else self.child_expr(m, sequential) for m in s.members]
            names = {m.name for m in s.members if m is not None}
            if len(names) != 1 and not isinstance(s.exprs[_first(s.exprs)], CallExpr):
                return None  # a submodule has one attribute name in every instance
            kinds = {self.skeleton(e) for e in s.exprs if e is not None}
            if len(kinds) != 1:
                aligned = self.merge_sequentials(s.exprs) or self.alternatives(s.exprs)
                if aligned is None:
                    return None
                s.exprs = aligned
            trains = {
                m.train_only and not c.train_only for m, c in zip(s.members, members, strict=True) if m is not None
            }
            if len(trains) != 1:
                return None
            s.train_only = trains.pop()
            if s.optional and isinstance(s.exprs[_first(s.exprs)], CallExpr):
                first_call: CallExpr = s.exprs[_first(s.exprs)]
                member = s.members[_first(s.exprs)]
                if first_call.func not in ("+", "*", "") and (member is None or not member.inputs):
                    return None
        # Wiring: values as ("in", k) / ("out", slot, m); absent slots pass their first input through.
        index = {s.key: i for i, s in enumerate(slots)}
        per_inst: list[tuple[dict[int, list[Any]], list[Any]]] = []
        n_inputs = {len(c.inputs) for c in members}
        if len(n_inputs) != 1:
            return None
        for c, row in zip(members, keyed, strict=True):
            value: dict[str, Any] = {v: ("in", k) for k, v in enumerate(c.inputs)}
            ins: dict[int, list[Any]] = {}
            for key, ch in row:
                i = index[key]
                try:
                    ins[i] = [value[v] for v in ch.inputs]
                except KeyError:
                    return None
                for m, v in enumerate(ch.outputs):
                    value[v] = ("out", i, m)
            try:
                per_inst.append((ins, [value[v] for v in c.outputs]))
            except KeyError:
                return None
        fullest = max(range(len(members)), key=lambda k: sum(m is not None for s in slots for m in [s.members[k]]))
        for i, s in enumerate(slots):
            k = fullest if s.members[fullest] is not None else _first(s.members)
            s.inputs = per_inst[k][0][i]
            member = s.members[k]
            assert member is not None
            s.n_out = len(member.outputs)
        outputs = per_inst[fullest][1]

        def resolve(v: Any, k: int) -> Any:
            while v[0] == "out" and slots[v[1]].members[k] is None:
                if v[2] != 0 or not slots[v[1]].inputs:
                    return None
                v = slots[v[1]].inputs[0]
            return v

        for k, (ins, outs) in enumerate(per_inst):
            for i, s in enumerate(slots):
                if s.members[k] is not None and [resolve(v, k) for v in s.inputs] != ins[i]:
                    return None
            if [resolve(v, k) for v in outputs] != outs:
                return None
        return ClassDef(name, members[0], members, slots, outputs, sequential)

    def merge_sequentials(self, exprs: list[Any]) -> list[Any] | None:
        """Inline nn.Sequentials whose instances differ by optional elements, aligned as one.

        Elements are aligned from the end (EfficientNet's optional expand conv is the first
        element); those missing somewhere become `Opt` elements.
        """
        present = [e for e in exprs if e is not None]
        if not all(
            isinstance(e, Ctor) and e.func == "nn.Sequential" and all(n == "" for n in e.names) for e in present
        ):
            return None
        rows = [[self.class_skeleton(a) for a in reversed(e.args)] for e in present]
        order: list[tuple[str, int]] = []  # (skeleton, id)
        assign: list[list[int]] = []  # per present instance: order index of each (reversed) element
        for row in rows:
            if not order:
                order = [(k, i) for i, k in enumerate(row)]
                assign.append(list(range(len(row))))
                continue
            keys = [k for k, _ in order]
            new_order: list[tuple[str, int]] = []
            mine: list[int] = []
            remap: dict[int, int] = {}
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=keys, b=row, autojunk=False).get_opcodes():
                if tag == "equal":
                    for i in range(i1, i2):
                        remap[i] = len(new_order)
                        mine.append(len(new_order))
                        new_order.append(order[i])
                else:
                    for i in range(i1, i2):
                        remap[i] = len(new_order)
                        new_order.append(order[i])
                    for j in range(j1, j2):
                        mine.append(len(new_order))
                        new_order.append((row[j], -1))
            assign = [[remap[x] for x in a] for a in assign]
            assign.append(mine)
            order = new_order
        n = len(order)
        slots: list[list[Any]] = []
        for e, a in zip(present, assign, strict=True):
            cells: list[Any] = [None] * n
            for elem, pos in zip(reversed(e.args), a, strict=True):
                cells[pos] = elem
            slots.append(cells)
        templates = [next(c[k] for c in slots if c[k] is not None) for k in range(n)]
        optional = [any(c[k] is None for c in slots) for k in range(n)]
        out: list[Any] = []
        it = iter(slots)
        for e in exprs:
            if e is None:
                out.append(None)
                continue
            cells = next(it)
            args = [
                Opt(f"{n - 1 - k}", cells[k], templates[k]) if optional[k] else cells[k] for k in reversed(range(n))
            ]
            out.append(Ctor("nn.Sequential", args, [], ["" for _ in args], ref=e.ref))
        if len({self.skeleton(e) for e in out if e is not None}) != 1:
            return None
        return out

    def class_skeleton(self, e: Any) -> str:
        """The skeleton, with a block instance named by its class when it has one already.

        Aligning on classes, and on which optional children an instance has, keeps instances
        of one block with different bodies apart (MobileNetV3's projection conv_bn_act, without
        activation, is not its depthwise one).
        """
        if isinstance(e, Inst) and e.container.path in self.of:
            cd = self.of[e.container.path]
            k = next(i for i, c in enumerate(cd.instances) if c.path == e.container.path)
            present = "".join("1" if s.members[k] is not None else "0" for s in cd.slots)
            return f"@{cd.name}[{present}]"
        return self.skeleton(e)

    def alternatives(self, exprs: list[Any]) -> list[Any] | None:
        """Two kinds of module at one place (a deformable or a plain conv2), chosen per instance."""
        kinds: dict[str, Any] = {}
        for e in exprs:
            if e is not None:
                kinds.setdefault(self.skeleton(e), e)
        if len(kinds) != 2 or not all(isinstance(e, Ctor) for e in kinds.values()):
            return None
        keys = list(kinds)
        templates = list(kinds.values())
        return [None if e is None else Alt(keys.index(self.skeleton(e)), e, templates) for e in exprs]

    def skeleton(self, e: Any) -> str:
        """The expression with literals blanked and class instances named by their group."""
        if isinstance(e, Alt):
            return "alt[" + "|".join(self.skeleton(t) for t in e.templates) + "]"
        if isinstance(e, Opt):
            return f"opt[{e.key}]" + self.skeleton(e.template)
        if isinstance(e, Lit):
            return "?"
        if isinstance(e, Inst):
            c = e.container
            return f"@{c.scope.name if c.kind == 'block' and c.scope else base_name(c)}"
        if isinstance(e, Named):
            return "{" + ",".join(f"{n}:{self.skeleton(x)}" for n, x in e.items) + "}"
        if isinstance(e, CallExpr):
            return (
                f"call {e.func}("
                + ",".join(self.skeleton(a) if isinstance(a, Lit) else repr(a) for a in e.args)
                + "|"
                + ",".join(f"{k}={self.skeleton(v) if isinstance(v, Lit) else repr(v)}" for k, v in e.kwargs)
                + f"|{e.inplace}{e.training})"
            )
        if isinstance(e, Ctor):
            return (
                f"{e.func}("
                + ",".join(self.skeleton(a) for a in e.args)
                + "|"
                + ",".join(f"{k}={self.skeleton(v)}" for k, v in e.kwargs)
                + ")"
            )
        return repr(e)

    # ------------------------------------------------------------ parameters
    def resolve(self, e: Any) -> Any:
        """Replace class instances by their constructor calls (their classes are final by now)."""
        if isinstance(e, Opt):
            return Opt(e.key, None if e.expr is None else self.resolve(e.expr), self.resolve(e.template))
        if isinstance(e, Alt):
            return Alt(e.choice, self.resolve(e.expr), [self.resolve(t) for t in e.templates])
        if isinstance(e, Inst):
            cd = self.of[e.container.path]
            args = [Lit(v) for v in cd.args[e.container.path]]
            flags = cd.flag_args[e.container.path]
            kwargs: list[tuple[str, Any]] = [(f, Lit(True)) for f in cd.flags if flags.get(f)]
            return Ctor(cd.name, args, kwargs, names=list(cd.params))
        if isinstance(e, Named):
            return Named([(n, self.resolve(x)) for n, x in e.items])
        if isinstance(e, Ctor):
            return Ctor(
                e.func,
                [self.resolve(a) for a in e.args],
                [(k, self.resolve(v)) for k, v in e.kwargs],
                list(e.names),
                ref=e.ref,
            )
        return e

    def finalize(self, cd: ClassDef) -> None:
        """Choose the class's parameters: literal positions that differ, and flags for optional children."""
        per_instance: list[list[Any]] = []
        for k in range(len(cd.instances)):
            row = []
            for s in cd.slots:
                e = s.exprs[k]
                row.append(None if e is None else self.resolve(e))
            per_instance.append(row)
        template = [self.resolve(s.exprs[_first(s.exprs)]) for s in cd.slots]
        hints: list[tuple[str, ...]] = []
        for s, e in zip(cd.slots, template, strict=True):
            found: list[tuple[tuple[str, ...], Any]] = []
            _lits(e, (s.name,), found)
            hints += [h for h, _ in found]
        vectors: list[list[Any]] = []
        for row in per_instance:
            vec: list[Any] = []
            for e, t in zip(row, template, strict=True):
                found = []
                _lits(e if e is not None else t, ("",), found)
                vec += [DC if e is None else v for _, v in found]
            if len(vec) != len(hints):
                raise CompileError("instances of one generated class differ in structure")
            vectors.append(vec)
        pos_name: dict[int, str] = {}
        columns: dict[str, list[Any]] = {}  # parameter -> its merged column (DC where no instance says)
        for p, hint in enumerate(hints):
            column = [v[p] for v in vectors]
            known = [x for x in column if x is not DC]
            name = next((nm for nm, col in columns.items() if _columns_match(col, column)), None)
            if all(same(x, known[0]) for x in known) and (name is None or len(known) == len(column)):
                continue  # the same everywhere it exists: stays a literal (unless a parameter explains it)
            if name is None:
                name, source = self.param_name(cd, column, hint, set(cd.params))
                cd.params.append(name)
                columns[name] = [x if x is not DC else y for x, y in zip(column, source, strict=True)]
            else:
                columns[name] = [x if x is not DC else y for x, y in zip(columns[name], column, strict=True)]
            pos_name[p] = name
        for k, c in enumerate(cd.instances):
            values = []
            for name in cd.params:
                v = columns[name][k]
                values.append(v if v is not DC else next((x for x in columns[name] if x is not DC), None))
            cd.args[c.path] = values
        counter = iter(range(len(hints)))
        cd.body = [_drop_defaults(_substitute(e, pos_name, counter)) for e in template]
        taken = set(cd.params)
        for s, e in zip(cd.slots, cd.body, strict=True):
            if s.optional:
                flag = _flag_name(s, taken)
                taken.add(flag)
                s.flag = flag
                cd.flags.append(flag)
                if isinstance(e, Ctor):
                    e.optional = Ref(flag)
                if isinstance(e, CallExpr):
                    cd.stored.add(flag)
            if isinstance(e, CallExpr):
                for a in [*e.args, *(v for _, v in e.kwargs)]:
                    if isinstance(a, Ref):
                        cd.stored.add(a.name)
        opts: dict[tuple[int, str], Opt] = {}
        for i, e in enumerate(cd.body):
            for o in _opts(e):
                o.flag = self.opt_flag(cd, o, taken)
                taken.add(o.flag)
                cd.flags.append(o.flag)
                opts[(i, o.key)] = o
        alts: dict[int, Alt] = {}
        for i, (s, e) in enumerate(zip(cd.slots, cd.body, strict=True)):
            if isinstance(e, Alt):
                choices = [x.choice if isinstance(x, Alt) else None for x in s.exprs]
                e.flag = self.alt_flag(cd, e, choices, taken)
                taken.add(e.flag)
                cd.flags.append(e.flag)
                alts[i] = e
        for k, c in enumerate(cd.instances):
            flags = {s.flag: s.members[k] is not None for s in cd.slots if s.flag}
            for i, alt in alts.items():
                x = cd.slots[i].exprs[k]
                assert alt.flag is not None
                flags[alt.flag] = isinstance(x, Alt) and x.choice == 1
            for i, s in enumerate(cd.slots):
                e = s.exprs[k]
                for o in _opts(e) if e is not None else []:
                    opt_flag = opts[(i, o.key)].flag
                    assert opt_flag is not None
                    flags[opt_flag] = o.expr is not None
            cd.flag_args[c.path] = flags

    def alt_flag(self, cd: ClassDef, alt: Alt, choices: list[int | None], taken: set[str]) -> str:
        """A boolean block argument that picks the second form, else `use_<its class>`."""
        want = [None if c is None else c == 1 for c in choices]
        scope = cd.instances[0].scope
        for arg in scope.args if scope is not None else {}:
            values = [c.scope.args.get(arg) if c.scope else None for c in cd.instances]
            if (
                all(isinstance(v, bool) for v in values)
                and all(w is None or w == v for w, v in zip(want, values, strict=True))
                and var_ok(arg)
                and arg not in taken
            ):
                return arg
        t = alt.templates[1]
        what = t.func if isinstance(t, Ctor) else "other"
        name = "use_" + re.sub(r"(?<!^)(?=[A-Z])", "_", what.split(".")[-1]).lower()
        while name in taken or not var_ok(name):
            name += "_"
        return name

    def opt_flag(self, cd: ClassDef, o: Opt, taken: set[str]) -> str:
        """The flag that switches an optional Sequential element: `with_<its class>`."""
        t = o.template
        what = t.func if isinstance(t, Ctor) else "layer"
        base = "with_" + re.sub(r"(?<!^)(?=[A-Z])", "_", what.split(".")[-1]).lower()
        name = re.sub(r"\W", "_", base)
        while name in taken or not var_ok(name):
            name += "_"
        return name

    def param_name(
        self, cd: ClassDef, column: list[Any], hint: tuple[str, ...], taken: set[str]
    ) -> tuple[str, list[Any]]:
        """A block argument whose values match the column, else a name from where the literal sits.

        Returns the name and the values that fill the column where absent children leave it open.
        """
        scopes = [c.scope for c in cd.instances]
        if all(s is not None for s in scopes) and scopes[0] is not None:
            for arg in scopes[0].args:
                values = [s.args.get(arg) for s in scopes if s is not None]
                if _columns_match(values, column) and var_ok(arg) and arg not in taken:
                    return arg, values
        channels = [self.in_channels(c) for c in cd.instances]
        if _columns_match(channels, column) and "in_channels" not in taken:
            return "in_channels", channels
        for name in (hint[-1], "_".join(hint)):
            if name and name[0].isalpha() and var_ok(name) and name not in taken and not name.startswith("arg"):
                return name, column
        name = re.sub(r"\W", "_", "_".join(hint)).strip("_") or "arg"
        if not name[0].isalpha():
            name = "arg_" + name
        while not var_ok(name) or name in taken:
            name += "_"
        return name, column

    def in_channels(self, c: Container) -> int | None:
        shape = self.graph.nodes[c.inputs[0]].shape if c.inputs else ()
        return shape[0] if shape else None

    # ------------------------------------------------------------ output
    def emit(self) -> Source:
        lines: list[str] = []
        *blocks, root = self.classes
        for cd in blocks:
            lines += [*self.class_lines(cd), "", ""]
        lines += self.class_lines(root, init=init_lines(self.graph, self))
        body = "\n".join(lines) + "\n"
        support = sorted(r for r in self.refs if ":" in r)
        heads = {r.split(".")[0] for r in self.refs if ":" not in r and not r.startswith(".")}
        return Source(body, root.name, support, "OrderedDict(" in body, {h: h for h in heads})

    def class_lines(self, cd: ClassDef, init: list[str] | None = None) -> list[str]:
        base = "nn.Sequential" if cd.sequential else "nn.Module"
        out = [f"class {cd.name}({base}):", f'    """{self.doc(cd)}"""', ""]
        params = "".join(
            f", {p}" if p not in cd.defaults else f", {p}={render_literal(cd.defaults[p])}" for p in cd.params
        )
        params += "".join(f", {f}=False" for f in cd.flags)
        head = f"    def __init__(self{params}):"
        if len(head) > 100:
            names = ["self", *(p.strip() for p in params.split(",")[1:])]
            rows = textwrap.wrap(", ".join(names) + ",", 100 - 8, break_long_words=False)
            head = "    def __init__(\n" + "".join(f"        {r}\n" for r in rows) + "    ):"
        out.append(head)
        if cd.sequential and any(isinstance(e, Ctor) and e.optional is not None for e in cd.body):
            layered: list[tuple[Any, str | None]] = [
                (Ctor(e.func, e.args, e.kwargs, e.names, None, e.ref), e.optional.name)
                if isinstance(e, Ctor) and e.optional is not None
                else (e, None)
                for e in cd.body
            ]
            return [*out, *_layer_lines(layered), "        super().__init__(*layers)"]
        if cd.sequential:
            items = [render(e, indent=12) for e in cd.body]
            flat = ", ".join(items)
            if len(flat) + 25 <= 100 and "\n" not in flat:
                out.append(f"        super().__init__({flat})")
            else:
                out += ["        super().__init__(", *(f"            {t}," for t in items), "        )"]
            return out
        out.append("        super().__init__()")
        for p in cd.params + cd.flags:
            if p in cd.stored:
                out.append(f"        self.{p} = {p}")
        for s, e in zip(cd.slots, cd.body, strict=True):
            if isinstance(e, CallExpr):
                continue
            if isinstance(e, Alt):
                assert e.flag is not None
                first, second = (render(t, indent=12) for t in e.templates)
                out.append(f"        if {e.flag}:")
                out.append(f"            {_assign(s.name)} = {second}")
                out.append("        else:")
                out.append(f"            {_assign(s.name)} = {first}")
                continue
            if isinstance(e, Ctor) and any(isinstance(a, Opt) for a in e.args):
                out += _layer_lines([(a.template, a.flag) if isinstance(a, Opt) else (a, None) for a in e.args])
                e = Ctor(e.func, [Lit(_Raw("*layers"))], [], [""], e.optional, e.ref)
            text = render(e, indent=8)
            if s.name.isidentifier() and s.name == s.name.strip() and var_ok_attr(s.name):
                out.append(f"        self.{s.name} = {text}")
            else:
                out.append(f'        self.add_module("{s.name}", {text})')
        if init:
            out += init
        out.append("")
        out += self.forward(cd)
        return out

    def forward(self, cd: ClassDef) -> list[str]:
        lines = []
        for s, e in zip(cd.slots, cd.body, strict=True):
            member = s.members[_first(s.members)]
            assert member is not None
            label = s.name
            if isinstance(member, Leaf) and s.name.isdigit():
                label = member.node.kind if isinstance(e, CallExpr) else s.name
            optional = None
            if s.flag is not None:
                optional = f"self.{s.flag}" if isinstance(e, CallExpr) else f"self.{s.name} is not None"
                if not var_ok_attr(s.name) and not isinstance(e, CallExpr):
                    optional = f'getattr(self, "{s.name}") is not None'
            lines.append(
                Line(
                    s.name,
                    list(s.inputs),
                    s.n_out,
                    e if isinstance(e, CallExpr) else None,
                    optional,
                    s.train_only,
                    label,
                    attribute=isinstance(member, Leaf) and member.node.op.parameter() is not None,
                )
            )
        is_root = cd.first is self.tree
        guard_all = False  # slots carry train_only relative to their container
        reserved = {source_name(r) for r in self.refs} | {c.name for c in self.classes}
        if is_root:
            return forward_lines(
                lines,
                len(cd.first.inputs),
                cd.outputs,
                lambda names: self.root_return(cd, names),
                guard_all,
                reserved,
            )
        return forward_lines(lines, len(cd.first.inputs), cd.outputs, None, guard_all, reserved)

    def root_return(self, cd: ClassDef, names: dict[Any, str]) -> list[str]:
        """A plain tensor for the implicit output (a dict in training when aux outputs exist), else a dict."""
        g = self.graph
        value = {nid: cd.outputs[i] for i, nid in enumerate(dict.fromkeys(g.outputs.values()))}
        always = [(k, names[value[v]]) for k, v in g.outputs.items() if k not in g.train_outputs]
        train = [(k, names[value[v]]) for k, v in g.outputs.items() if k in g.train_outputs]

        def pairs(items: list[tuple[str, str]]) -> str:
            return ", ".join(f"{k!r}: {v}" for k, v in items)

        if g.implicit_output:
            ((_, out),) = always
            if not train:
                return [f"        return {out}"]
            return [
                "        if self.training:",
                f"            return {{{pairs(always + train)}}}",
                f"        return {out}",
            ]
        if not train:
            return [f"        return {{{pairs(always)}}}"]
        lines = [f"        outputs = {{{pairs(always)}}}", "        if self.training:"]
        lines += [f"            outputs[{k!r}] = {v}" for k, v in train]
        return [*lines, "        return outputs"]

    def doc(self, cd: ClassDef) -> str:
        """The class docstring: what the network computes, or which block instances use the class."""
        c = cd.first
        if c is self.tree:
            g = self.graph
            outs = ", ".join(f"{safe_text(k)} {fmt(g.nodes[v].shape)}" for k, v in g.outputs.items())
            train = [safe_text(k) for k in g.outputs if k in g.train_outputs]
            text = (
                f"network {safe_text(g.name)} ({safe_text(g.file)}): input {fmt(g.input_shape)} -> {outs}"
                + (f" ({', '.join(train)} in training only)" if train else "")
                + f"; {g.params:,} parameters."
            )
        else:
            paths = [i.path for i in cd.instances]
            shown = ", ".join(paths[:4]) + (f", ... ({len(paths)} in all)" if len(paths) > 4 else "")
            what = f"block {c.scope.name}" if c.kind == "block" and c.scope is not None else "sequence"
            text = f"{safe_text(what)}: {safe_text(shown)}"
        return "\n    ".join(textwrap.wrap(text, 100)) + ("\n    " if len(text) > 100 else "")


def parameter_ctor(p: Parameter, refs: set[str]) -> Ctor:
    """`nn.Parameter(torch.zeros(1, 1, 768))`, `nn.Parameter(torch.full((64, 1, 1), 1e-06))`, or an
    init scheme on an empty tensor: `nn.Parameter(nn.init.normal_(torch.empty(1, 197, 768), std=0.02))`."""
    dims = [Lit(d) for d in p.shape]
    names = [f"size{i}" for i in range(len(dims))]
    if p.scheme in ("zeros", "ones"):
        tensor = Ctor(f"torch.{p.scheme}", dims, names=names)
    elif p.scheme == "full":
        tensor = Ctor(
            "torch.full", [Lit(tuple(p.shape)), Lit(float(dict(p.args).get("val", 0.0)))], names=["size", "value"]
        )
    else:
        empty = Ctor("torch.empty", dims, names=names)
        tensor = Ctor(f"nn.init.{p.scheme}_", [empty], [(k, Lit(v)) for k, v in p.args], names=[""])
    refs.update({"torch.zeros", "nn.Parameter"})
    return Ctor("nn.Parameter", [tensor], names=[""])


def var_ok_attr(name: str) -> bool:
    from .forward import attr_ok

    return attr_ok(name)


def _inner_first(groups: dict[Any, list[Container]]) -> list[Any]:
    """The group keys ordered so that every class comes after the classes it contains.

    Post-order alone is not enough: a block whose first instance lacks an optional child
    (MobileNetV3's first bneck has no SE) would come before that child's class, whose
    constructor arguments its own finalisation needs.
    """
    key_of = {c.path: key for key, members in groups.items() for c in members}
    inner = {
        key: [key_of[d.path] for c in members for d in c.containers() if d is not c and d.path in key_of]
        for key, members in groups.items()
    }
    order: list[Any] = []
    done: set[Any] = set()

    def visit(key: Any) -> None:
        if key in done:
            return
        done.add(key)
        for k in inner[key]:
            visit(k)
        order.append(key)

    for key in groups:
        visit(key)
    return order


def _first(items: list[Any]) -> int:
    return next(i for i, x in enumerate(items) if x is not None)


def _align_key(ch: Leaf | Container, k: int) -> str:
    if not ch.name.isdigit():
        return ch.name
    if isinstance(ch, Leaf):
        return f"#{ch.node.kind}"
    return f"#{ch.scope.name if ch.scope is not None and ch.kind == 'block' else 'seq'}"


def _columns_match(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(x is DC or y is DC or same(x, y) for x, y in zip(a, b, strict=True))


def _flag_name(s: Slot, taken: set[str]) -> str:
    member = s.members[_first(s.members)]
    base = s.name if not s.name.isdigit() else f"use_{member.node.kind}" if isinstance(member, Leaf) else "use_block"
    first = s.exprs[_first(s.exprs)]
    if isinstance(first, CallExpr) and not s.name.isdigit():
        base = f"use_{s.name}"
    elif isinstance(first, CallExpr) and first.func == "+":
        base = "use_residual"  # an optional sum: a residual connection that only some instances have
    base = re.sub(r"\W", "_", base)
    name = base if var_ok(base) else f"use_{base}"
    while name in taken or not var_ok(name):
        name += "_"
    return name


def _assign(name: str) -> str:
    return f"self.{name}" if var_ok_attr(name) else f'self._modules["{name}"]'


class _Raw(str):
    """Source text written as is (only for the generated `*layers`)."""

    def __repr__(self) -> str:
        return str(self)


def _layer_lines(items: list[tuple[Any, str | None]]) -> list[str]:
    """`layers = [...]` with optional elements appended under their flags (torchvision's MBConv style)."""
    out = ["        layers = []"]
    for e, flag in items:
        text = render(e, indent=12 if flag else 8)
        if flag:
            out += [f"        if {flag}:", f"            layers.append({text})"]
        else:
            out.append(f"        layers.append({text})")
    return out


def _literal_vector(body: list[Any]) -> list[Any]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for e in body:
        _lits(e, (), found)
    return [v for _, v in found]


def _skeletons(body: list[Any], gen: Generator) -> list[str]:
    return [gen.skeleton(e) for e in body]


def _probe(value: Any) -> Any:
    """Another legal-looking value of a parameter's type, to see which literals follow it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7 if value > 0 else None
    if isinstance(value, float):
        return value + 0.0625 if value + 0.0625 <= 1 else value / 2
    return None


def _drop_defaults(e: Any) -> Any:
    """Leave out keyword arguments whose literal value is the callable's default (`stride=1`)."""
    if isinstance(e, Alt):
        return Alt(e.choice, None, [_drop_defaults(t) for t in e.templates], e.flag)
    if isinstance(e, Opt):
        return Opt(e.key, None, _drop_defaults(e.template), e.flag)
    if isinstance(e, Named):
        return Named([(n, _drop_defaults(x)) for n, x in e.items])
    if isinstance(e, Ctor):
        kwargs = [(k, v) for k, v in e.kwargs if not (e.ref and isinstance(v, Lit) and is_default(e.ref, k, v.value))]
        return Ctor(e.func, [_drop_defaults(a) for a in e.args], kwargs, list(e.names), e.optional, e.ref)
    if isinstance(e, CallExpr):
        kwargs = [(k, v) for k, v in e.kwargs if not (isinstance(v, Lit) and is_default(e.func, k, v.value))]
        return CallExpr(e.func, e.args, kwargs, e.inplace, e.training)
    return e


def _placeholder(v: Any, where: str) -> Any:
    if isinstance(v, In):
        return Arg(v.index, v.suffix)
    if isinstance(v, Ins):
        return Arg(None)
    return Lit(literal(v, where))


def _opts(e: Any) -> list[Opt]:
    if isinstance(e, Opt):
        return [e]
    if isinstance(e, Ctor):
        return [o for a in e.args for o in _opts(a)]
    return []


def _lits(e: Any, where: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    """Collect (where it sits: child names then argument name, value) of every literal in render order."""
    if isinstance(e, Alt):
        for i, t in enumerate(e.templates):
            if i == e.choice:
                _lits(e.expr, where, out)
            else:
                skipped: list[tuple[tuple[str, ...], Any]] = []
                _lits(t, where, skipped)
                out += [(w, DC) for w, _ in skipped]
        return
    if isinstance(e, Opt):
        if e.expr is not None:
            _lits(e.expr, where, out)
        else:
            found: list[tuple[tuple[str, ...], Any]] = []
            _lits(e.template, where, found)
            out += [(w, DC) for w, _ in found]
        return
    if isinstance(e, Lit):
        out.append((where, e.value))
    elif isinstance(e, Named):
        for n, x in e.items:
            _lits(x, (*where, n), out)
    elif isinstance(e, (Ctor, CallExpr)):
        names = e.names if isinstance(e, Ctor) else []
        for i, a in enumerate(e.args):
            label = names[i] if i < len(names) and names[i] else str(i)
            _lits(a, (*where, label), out)
        for k, v in e.kwargs:
            _lits(v, (*where, k), out)


def _substitute(e: Any, pos_name: dict[int, str], counter: Any) -> Any:
    """The expression with the literals at parameter positions replaced by Refs (same order as _lits)."""
    if isinstance(e, Alt):
        return Alt(
            -1,
            None,
            [_substitute(e.expr if i == e.choice else t, pos_name, counter) for i, t in enumerate(e.templates)],
        )
    if isinstance(e, Opt):
        return Opt(e.key, None, _substitute(e.expr if e.expr is not None else e.template, pos_name, counter))
    if isinstance(e, Lit):
        p = next(counter)
        return Ref(pos_name[p]) if p in pos_name else e
    if isinstance(e, Named):
        return Named([(n, _substitute(x, pos_name, counter)) for n, x in e.items])
    if isinstance(e, Ctor):
        args = [_substitute(a, pos_name, counter) for a in e.args]
        kwargs = [(k, _substitute(v, pos_name, counter)) for k, v in e.kwargs]
        return Ctor(e.func, args, kwargs, list(e.names), ref=e.ref)
    if isinstance(e, CallExpr):
        args = [_substitute(a, pos_name, counter) for a in e.args]
        kwargs = [(k, _substitute(v, pos_name, counter)) for k, v in e.kwargs]
        return CallExpr(e.func, args, kwargs, e.inplace, e.training)
    return e


# ---------------------------------------------------------------- names

_RESERVED_CLASSES = {"Model", "OrderedDict", "fan_uniform_"}


def camel(name: str) -> str:
    """`dense_layer` -> `DenseLayer`; anything but letters and digits is dropped."""
    text = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)
    if text and not text[0].isalpha():
        text = "Net" + text
    return text


def base_name(c: Container) -> str:
    if c.kind == "block" and c.scope is not None:
        return camel(c.scope.name) or "Block"
    return camel(c.name.rstrip("0123456789")) or "Sequence"


def _unreserved(name: str) -> str:
    return name + "Net" if name in _RESERVED_CLASSES or name in RESERVED_VARS else name


def safe_text(text: str) -> str:
    """Text from a spec made safe for a docstring."""
    return re.sub(r"[^\w./:+\-,() ]", "?", str(text))


def fmt(shape: Shape) -> str:
    return fmt_shape(shape, sep=", ")
