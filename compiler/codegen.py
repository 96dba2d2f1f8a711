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

from netspec.graph import Graph, Node
from netspec.ops import Shape
from netspec.ops.form import Alias, Call, Form, In, Infix, Ins, Module

from .exprs import CompileError, Ctor, Lit, Named, Ref, ctor, is_default, literal, render, same
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

    def __init__(self, graph: Graph, class_name: str | None = None) -> None:
        self.graph = graph
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
        for c in self.tree.containers():  # children first
            if c is not self.tree and self.is_inline(c):
                self.inline.add(c.path)
        groups: dict[Any, list[Container]] = {}
        for c in self.tree.containers():
            if c.path in self.inline:
                continue
            key = (
                ("root",)
                if c is self.tree
                else ("block", c.scope.name)
                if c.kind == "block" and c.scope
                else ("seq", base_name(c), self.structure(c))
            )
            groups.setdefault(key, []).append(c)
        for key, members in groups.items():
            self.add_classes(key, members)
        for cd in self.classes:
            self.finalize(cd)
        return self.emit()

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
        if sequential and any(s.optional for s in slots):
            return None
        # Expressions per instance, and their structure must agree where present.
        for s in slots:
            s.exprs = [None if m is None else self.child_expr(m, sequential) for m in s.members]
            names = {m.name for m in s.members if m is not None}
            if len(names) != 1 and not isinstance(s.exprs[_first(s.exprs)], CallExpr):
                return None  # a submodule has one attribute name in every instance
            shapes = {self.skeleton(e) for e in s.exprs if e is not None}
            if len(shapes) != 1:
                return None
            trains = {
                m.train_only and not c.train_only for m, c in zip(s.members, members, strict=True) if m is not None
            }
            if len(trains) != 1:
                return None
            s.train_only = trains.pop()
            if s.optional and isinstance(s.exprs[_first(s.exprs)], CallExpr):
                call = s.exprs[_first(s.exprs)]
                member = s.members[_first(s.exprs)]
                if call.func not in ("+", "*", "") and (member is None or not member.inputs):
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

    def skeleton(self, e: Any) -> str:
        """The expression with literals blanked and class instances named by their group."""
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
        seen: list[tuple[list[Any], str]] = []
        for p, hint in enumerate(hints):
            column = [v[p] for v in vectors]
            known = [x for x in column if x is not DC]
            if all(same(x, known[0]) for x in known):
                continue  # the same everywhere: stays a literal
            name = next((nm for col, nm in seen if _columns_match(col, column)), None)
            if name is None:
                name = self.param_name(cd, column, hint, set(cd.params))
                seen.append((column, name))
                cd.params.append(name)
            pos_name[p] = name
        columns = {nm: col for col, nm in seen}
        for c, vec in zip(cd.instances, vectors, strict=True):
            values = []
            for name in cd.params:
                col = columns[name]
                idx = cd.instances.index(c)
                v = vec[[p for p, n in pos_name.items() if n == name][0]]
                if v is DC:
                    v = next((x for x in col if x is not DC), None)
                if v is DC:
                    v = next((vec[p] for p, n in pos_name.items() if n == name and vec[p] is not DC), None)
                values.append(v)
                del idx
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
        for c in cd.instances:
            k = cd.instances.index(c)
            cd.flag_args[c.path] = {s.flag: s.members[k] is not None for s in cd.slots if s.flag}

    def param_name(self, cd: ClassDef, column: list[Any], hint: tuple[str, ...], taken: set[str]) -> str:
        """A block argument whose values match the column, else a name from where the literal sits."""
        scopes = [c.scope for c in cd.instances]
        if all(s is not None for s in scopes) and scopes[0] is not None:
            for arg in scopes[0].args:
                values = [s.args.get(arg) for s in scopes if s is not None]
                if _columns_match(values, column) and var_ok(arg) and arg not in taken:
                    return arg
        if _columns_match([self.in_channels(c) for c in cd.instances], column) and "in_channels" not in taken:
            return "in_channels"
        for name in (hint[-1], "_".join(hint)):
            if name and name[0].isalpha() and var_ok(name) and name not in taken and not name.startswith("arg"):
                return name
        for name in ("_".join(hint), "arg"):
            name = re.sub(r"\W", "_", name).strip("_") or "arg"
            if not name[0].isalpha():
                name = "arg_" + name
            while not var_ok(name) or name in taken:
                name += "_"
            return name
        return "arg"  # pragma: no cover

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
        params = "".join(f", {p}" for p in cd.params) + "".join(f", {f}=False" for f in cd.flags)
        out.append(f"    def __init__(self{params}):")
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
                )
            )
        is_root = cd.first is self.tree
        guard_all = False  # slots carry train_only relative to their container
        if is_root:
            return forward_lines(
                lines, len(cd.first.inputs), cd.outputs, lambda names: self.root_return(cd, names), guard_all
            )
        return forward_lines(lines, len(cd.first.inputs), cd.outputs, None, guard_all)

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


def var_ok_attr(name: str) -> bool:
    from .forward import attr_ok

    return attr_ok(name)


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
    if isinstance(s.exprs[_first(s.exprs)], CallExpr) and not s.name.isdigit():
        base = f"use_{s.name}"
    base = re.sub(r"\W", "_", base)
    name = base if var_ok(base) else f"use_{base}"
    while name in taken or not var_ok(name):
        name += "_"
    return name


def _drop_defaults(e: Any) -> Any:
    """Leave out keyword arguments whose literal value is the callable's default (`stride=1`)."""
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


def _lits(e: Any, where: tuple[str, ...], out: list[tuple[tuple[str, ...], Any]]) -> None:
    """Collect (where it sits: child names then argument name, value) of every literal in render order."""
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
    return "(N, " + ", ".join(str(d) for d in shape) + ")"
