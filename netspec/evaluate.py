"""AST + arguments -> checked graph: blocks expanded, names scoped, shapes inferred.

The evaluator walks a network body statement by statement, threading the
"current" tensor through chains (`conv 64 -> bn -> relu`). Each layer becomes a
graph node whose id is its dotted scope path; unnamed layers take their
position in the enclosing sequence, as in `nn.Sequential`.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from itertools import repeat
from typing import Any, Protocol

from pydantic import ValidationError

from . import ast as A
from .errors import SpecError, did_you_mean
from .fmt import fmt_shape, fmt_value
from .graph import Graph, InitRule, Node, Scope
from .limits import COST, LimitError, Limits, Meter, recursion_room
from .ops import OPS, Init, Op, ParamOp, Shape, ShapeError
from .ops.merge import MergeMismatch
from .values import Env, Tensor, admit, bind_targets, evaluate, iterate, near, truth, type_name, typed_key

_IDENT = re.compile(r"^[A-Za-z0-9_]+$")

# Names people bring from other frameworks, for "did you mean".


__all__ = ["BlockEntry", "Evaluator", "Limits", "NetworkCall", "Networks", "bind_params"]

RF_CAP = 1e15  # receptive fields and jumps are capped here: past it they only overflow to inf


@dataclass
class BlockEntry:
    """A block definition and the environment of the file that defined it."""

    defn: A.BlockDef
    env: Env


@dataclass
class NetworkCall:
    """A network called inside another (`backbone: resnet50()`): its definition, home file and arguments."""

    defn: A.NetworkDef
    env: Env  # the top-level `let`s of its file
    blocks: dict[str, BlockEntry]
    networks: Networks
    args: dict[str, Any]  # the call's arguments plus what aliases fix, not yet bound


class Networks(Protocol):
    """The networks visible in a file (netspec.library.NetworkTable)."""

    def __contains__(self, name: object) -> bool: ...
    def names(self) -> list[str]: ...
    def params(self, name: str) -> list[A.Param]: ...
    def resolve(self, name: str, given: dict[str, Any]) -> NetworkCall: ...


class _NoNetworks:
    def __contains__(self, name: object) -> bool:
        return False

    def names(self) -> list[str]:
        return []

    def params(self, name: str) -> list[A.Param]:  # pragma: no cover - never called: nothing is contained
        raise KeyError(name)

    def resolve(self, name: str, given: dict[str, Any]) -> NetworkCall:  # pragma: no cover
        raise KeyError(name)


@dataclass
class Embedded:
    """What a network body needs when it runs inside another network: its extra inputs, its outputs."""

    name: str
    inputs: dict[str, str]  # input name -> the caller's node, for inputs after the first
    outputs: dict[str, str] = field(default_factory=dict)
    seen_input: bool = False


@dataclass
class Frame:
    """A naming scope while evaluating: module path, local names, position counter."""

    path: str
    block_input: str | None
    parent: Frame | None = None  # lexical parent inside the same block; None at a block root
    names: dict[str, str] = field(default_factory=dict)
    counter: int = 0
    embedded: Embedded | None = None  # set on the root frame of a network called inside another

    def child_id(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name


class _Entered:
    """The context manager behind Evaluator.entered (a plain class: it runs once per body)."""

    __slots__ = ("ev", "frame", "span", "saved")

    def __init__(self, ev: Evaluator, frame: Frame, span: A.Span) -> None:
        self.ev, self.frame, self.span = ev, frame, span

    def __enter__(self) -> Frame:
        ev = self.ev
        if ev.depth >= ev.limits.max_depth:
            raise LimitError(
                "max_depth",
                f"blocks and bodies nested deeper than {ev.limits.max_depth}",
                self.span,
                path=self.frame.path or None,
            )
        self.saved, ev.frame = ev.frame, self.frame
        ev.depth += 1
        return self.frame

    def __exit__(self, *exc: object) -> None:
        self.ev.frame = self.saved
        self.ev.depth -= 1


class Evaluator:
    """Expands one network into a Graph, counting every step against `limits` (netspec/limits.py)."""

    def __init__(
        self, blocks: dict[str, BlockEntry], limits: Limits | None = None, networks: Networks | None = None
    ) -> None:
        self.blocks = blocks
        self.networks: Networks = networks if networks is not None else _NoNetworks()
        self.limits = limits or Limits()
        self.meter = Meter(self.limits)
        self.graph: Graph | None = None
        self.frame: Frame | None = None
        self.depth = 0  # bodies entered and not yet left
        self.edges = 0  # layer inputs so far
        self.stack: list[str] = []
        self._op_cache: dict[Any, tuple[Op, Any]] = {}
        self._shape_cache: dict[Any, tuple[Shape, int, int]] = {}

    # ------------------------------------------------------------ entry
    def run(
        self,
        name: str,
        file: str,
        body: tuple[A.Stmt, ...],
        env: Env,
        args: dict[str, Any],
        input_override: Shape | None,
        span: A.Span,
    ) -> Graph:
        self.graph = g = Graph(name=name, file=file, args=args, input_shape=())
        self.input_override = _input_shape(input_override, span) if input_override is not None else None
        env.tensor = self._tensor_value
        env.meter = self.meter
        root = Frame("", None)
        g.scopes[""] = Scope("", "network", name, span, dict(args))
        start = None
        if not any(isinstance(s, A.Input) for s in body):
            if self.input_override is None:
                raise SpecError(
                    f"network '{name}' declares no input",
                    span,
                    hint="add a line such as 'input 3x224x224', or pass --input",
                )
            start = self._make_input(self.input_override, span)
        with _recursion_room(recursion_room(self.limits)):
            final = self._body(body, root, env, start, span)
        if final is None:
            raise SpecError(f"network '{name}' has no layers", span)
        if not any(o not in g.train_outputs for o in g.outputs):
            g.outputs = {"out": final, **g.outputs}
            g.implicit_output = True
        g.scopes[""].output = final
        _mark_train_only(g)
        return g

    # ------------------------------------------------------------ statements
    def entered(self, frame: Frame, span: A.Span) -> _Entered:
        """Make `frame` the current naming scope while a body runs; bodies nest up to max_depth.

        with self.entered(sub, t.span):
            out = ...           # @refs and `in` resolve in sub; the caller's frame returns after
        """
        return _Entered(self, frame, span)

    def _expand(self, stmts: tuple[A.Stmt, ...], env: Env) -> Iterator[tuple[A.Stmt, Env]]:
        """Carry out let, for, repeat and if; yield every other statement with the env it runs in.

        The one place where control statements are expanded: plain bodies, the
        branches of `concat {}` / `add {}` / `mul {}` and `dense {}` bodies all read
        their statements through it, so all accept the same ones. The expansion is a
        stack of iterators, not recursion: nested loops cost no Python frames. Each
        statement is one unit of max_work; each iteration counts against max_iterations.

            for i in range(2) { conv 8 }   ->  (conv 8, {i: 0}), (conv 8, {i: 1})
        """
        meter = self.meter
        stack: list[Iterator[tuple[A.Stmt, Env]]] = [zip(stmts, repeat(env))]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            s, e = step
            meter.work += 1
            if meter.work > meter.max_work:
                meter.spend(0, s.span)
            if isinstance(s, A.LayerStmt):
                yield step
            elif isinstance(s, A.Let):
                e.vars[s.name] = evaluate(s.value, e)
            elif isinstance(s, A.For):
                stack.append(self._for(s, e))
            elif isinstance(s, A.Repeat):
                stack.append(self._repeat(s, e))
            elif isinstance(s, A.If):
                branch = s.then if truth(evaluate(s.cond, e), s.cond.span) else s.other
                stack.append(zip(branch, repeat(e.child())))
            else:
                yield step

    def _for(self, s: A.For, env: Env) -> Iterator[tuple[A.Stmt, Env]]:
        for item in iterate(evaluate(s.source, env), s.source.span):
            self.meter.iteration(s.span)
            inner = env.child(bind_targets(s.targets, item, s.span))
            for b in s.body:
                yield b, inner

    def _repeat(self, s: A.Repeat, env: Env) -> Iterator[tuple[A.Stmt, Env]]:
        n = evaluate(s.count, env)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpecError(f"repeat needs a count >= 0, got {type_name(n)} {fmt_value(n)}", s.count.span)
        left = self.limits.max_iterations - self.meter.iterations
        if n > left:
            raise LimitError(
                "max_iterations",
                f"repeat {n:,} would run more than {self.limits.max_iterations:,} iterations in all",
                s.count.span,
            )
        for _ in range(n):
            self.meter.iteration(s.span)
            inner = env.child()
            for b in s.body:
                yield b, inner

    def _body(self, stmts: tuple[A.Stmt, ...], frame: Frame, env: Env, cur: str | None, span: A.Span) -> str | None:
        with self.entered(frame, span):
            for s, e in self._expand(stmts, env):
                cur = self._stmt(s, frame, e, cur)
        return cur

    def _stmt(self, s: A.Stmt, frame: Frame, env: Env, cur: str | None) -> str | None:
        if isinstance(s, A.LayerStmt):
            return self._layer(s, frame, env, cur)
        if isinstance(s, A.Input):
            return self._input(s, frame, env, cur)
        if isinstance(s, A.Output):
            return self._output(s, frame, env, cur)
        if isinstance(s, A.Init):
            self._init(s, frame, env)
            return cur
        raise SpecError("unsupported statement", s.span)  # pragma: no cover

    def _input(self, s: A.Input, frame: Frame, env: Env, cur: str | None) -> str:
        g = self._g()
        if frame.embedded is not None:
            return self._embedded_input(s, frame, frame.embedded)
        if frame.path or frame.block_input is not None:
            raise SpecError("'input' belongs at the top of a network, not inside a block", s.span)
        if g.input_shape != ():
            raise SpecError("the network already has an input", s.span)
        dims = []
        for d in s.dims:
            v = evaluate(d, env)
            if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 1 << 16:
                raise SpecError(f"input sizes must be integers from 1 to 65536, got {v!r}", d.span)
            dims.append(v)
        shape = self.input_override or tuple(dims)
        return self._make_input(shape, s.span)

    def _make_input(self, shape: Shape, span: A.Span) -> str:
        g = self._g()
        g.input_shape = tuple(shape)
        g.nodes[Graph.INPUT] = Node(Graph.INPUT, _input_op(), (), tuple(shape), span)
        return Graph.INPUT

    def _output(self, s: A.Output, frame: Frame, env: Env, cur: str | None) -> str | None:
        g = self._g()
        if (frame.path or frame.block_input is not None) and frame.embedded is None:
            raise SpecError("'output' belongs in a network, not inside a block", s.span)
        if s.layer.label is None:
            raise SpecError("an output needs a name", s.span, hint="write 'output out: ...' or 'output aux: @x -> ...'")
        name = evaluate(s.layer.label, env)
        if s.layer.cond is not None and not truth(evaluate(s.layer.cond, env), s.layer.cond.span):
            return cur
        outputs = g.outputs if frame.embedded is None else frame.embedded.outputs
        if name in outputs:
            raise SpecError(f"duplicate output '{name}'", s.layer.label.span)
        result = self._layer(s.layer, frame, env, cur)
        if result is None:
            raise SpecError(f"output '{name}' has no value", s.span)
        if frame.embedded is not None:  # a network inside another: its outputs are named layers there
            if not s.train_only:
                outputs[name] = result
            return cur
        g.outputs[name] = result
        if s.train_only:
            g.train_outputs.add(name)
        return cur

    def _init(self, s: A.Init, frame: Frame, env: Env) -> None:
        cls = OPS.get(s.kind)
        if cls is None or not issubclass(cls, ParamOp):
            weighted = sorted(k for k, c in OPS.items() if issubclass(c, ParamOp))
            raise SpecError(
                f"'init' needs an op with weights, not '{s.kind}'",
                s.kind_span,
                hint=did_you_mean(s.kind, weighted) or f"one of: {', '.join(weighted)}",
            )
        found: dict[str, Init | None] = {"weight": None, "bias": None}
        for kw in s.kwargs:
            if kw.name not in found:
                raise SpecError(f"unknown init target '{kw.name}'", kw.span, hint="use weight=... or bias=...")
            value = evaluate(kw.value, env)
            if value is not None and not isinstance(value, Init):
                raise SpecError(
                    f"{kw.name}= needs an init scheme such as kaiming_normal(), got {type_name(value)}", kw.value.span
                )
            found[kw.name] = value
        self._count_scope(s.span)
        self._g().inits.append(InitRule(frame.path, s.kind, found["weight"], found["bias"], s.span))

    # ------------------------------------------------------------ layers and chains
    def _layer(self, s: A.LayerStmt, frame: Frame, env: Env, cur: str | None) -> str | None:
        if s.cond is not None and not truth(evaluate(s.cond, env), s.cond.span):
            return cur
        label = _label(s.label, env) if s.label is not None else None
        return self._chain(s.chain, frame, env, cur, label, s)

    def _chain(
        self, chain: A.Chain, frame: Frame, env: Env, cur: str | None, label: str | None, s: A.LayerStmt
    ) -> str | None:
        layers = [t for t in chain.terms if not isinstance(t, A.RefTerm)]
        names = [_label(x, env) if x is not None else None for x in chain.labels] or [None] * len(chain.terms)
        if label is not None and len(layers) > 1:
            sub = self._open(frame, label, "seq", "", s.span, cur)
            with self.entered(sub, s.span):
                for t, n in zip(chain.terms, names, strict=True):
                    cur = self._link(t, sub, env, cur, n)
            return self._close(frame, label, sub, cur)
        first = layers[0] if layers else None
        for t, n in zip(chain.terms, names, strict=True):
            if t is first and label is not None and n is not None:
                raise SpecError(f"layer named twice, '{label}' and '{n}'", t.span, hint="keep one of the names")
            cur = self._link(t, frame, env, cur, label if t is first and n is None else n)
        if label is not None and not layers:
            self._claim(frame, label, s.span)
            frame.names[label] = _need(cur, s.span)
        return cur

    def _link(self, t: A.Term, frame: Frame, env: Env, cur: str | None, name: str | None) -> str | None:
        """One term of a chain; a name given after '->' names a reference too (`@x -> y: @z`)."""
        if isinstance(t, A.RefTerm) and name is not None:
            node = self._ref(t.path, t.span)
            self._claim(frame, name, t.span)
            frame.names[name] = node
            return node
        return self._term(t, frame, env, cur, name)

    def _term(self, t: A.Term, frame: Frame, env: Env, cur: str | None, name: str | None) -> str | None:
        if isinstance(t, A.RefTerm):
            return self._ref(t.path, t.span)
        if isinstance(t, A.OpCall):
            if t.name in self.blocks:
                return self._block(t, frame, env, cur, name)
            if t.name in OPS:
                return self._op(t, frame, env, cur, name)
            if t.name in self.networks:
                return self._network(t, frame, env, cur, name)
            hint = did_you_mean(t.name, near(t.name, [*OPS, *self.blocks, *self.networks.names()]))
            synonyms = {a: kind for kind, cls in OPS.items() for a in cls.aliases}  # other frameworks' names
            alike = difflib.get_close_matches(t.name.lower(), synonyms, n=1, cutoff=0.75)
            if alike and (hint is None or t.name.lower() in synonyms):
                hint = f"did you mean '{synonyms[alike[0]]}'?"
            raise SpecError(f"unknown op or block '{t.name}'", t.name_span, hint=hint or "see 'netspec ops'")
        if isinstance(t, A.Seq):
            label = self._claim(frame, name, t.span)
            sub = self._open(frame, label, "seq", "", t.span, cur, claimed=True)
            out = self._body(t.body, sub, env.child(), cur, t.span)
            return self._close(frame, label, sub, out)
        if isinstance(t, A.Parallel):
            return self._parallel(t, frame, env, cur, name)
        if isinstance(t, A.Residual):
            return self._residual(t, frame, env, cur, name)
        if isinstance(t, A.Dense):
            return self._dense(t, frame, env, cur, name)
        raise SpecError("unsupported layer", t.span)  # pragma: no cover

    # ------------------------------------------------------------ scopes and names
    def _claim(self, frame: Frame, name: str | None, span: A.Span) -> str:
        """Take the next position in a frame; return the given name or the position."""
        pos = frame.counter
        frame.counter += 1
        label = name if name is not None else str(pos)
        nid = frame.child_id(label)
        g = self._g()
        if nid in g.nodes or nid in g.scopes or label in frame.names:
            first = g.nodes[nid].span if nid in g.nodes else g.scopes[nid].span if nid in g.scopes else None
            where = f"first defined at line {first.line}" if first else "already used in this scope"
            raise SpecError(
                f"duplicate name '{label}'",
                span,
                path=nid,
                notes=[where],
                hint="give each layer in a scope its own name",
            )
        return label

    def _open(
        self,
        frame: Frame,
        label: str,
        kind: str,
        name: str,
        span: A.Span,
        cur: str | None,
        claimed: bool = False,
        block_root: bool = False,
    ) -> Frame:
        if not claimed:
            label = self._claim(frame, label, span)
        path = frame.child_id(label)
        self._count_scope(span)
        self._g().scopes[path] = Scope(path, kind, name, span, input=cur)
        if block_root:
            return Frame(path, cur)
        return Frame(path, frame.block_input, parent=frame)

    def _count_scope(self, span: A.Span) -> None:
        self.meter.spend(COST["scope"], span)
        g = self._g()
        if len(g.scopes) + len(g.inits) >= self.limits.max_scopes:
            raise LimitError(
                "max_scopes", f"the network has more than {self.limits.max_scopes:,} scopes and init rules", span
            )

    def _close(self, frame: Frame, label: str, sub: Frame, out: str | None) -> str | None:
        self._g().scopes[sub.path].output = out
        if out is not None:
            frame.names[label] = out
        return out

    def _ref(self, path: str, span: A.Span) -> str:
        frame = self.frame
        assert frame is not None
        head, _, rest = path.partition(".")
        if path == "in":
            return _need(
                frame.block_input if frame.block_input is not None else self._net_input(span),
                span,
                "there is no input here yet",
            )
        f: Frame | None = frame
        while f is not None:
            if head in f.names:
                if not rest:
                    return f.names[head]
                full = f"{f.child_id(head)}.{rest}"
                g = self._g()
                if full in g.nodes:
                    return full
                if full in g.scopes and g.scopes[full].output is not None:
                    return g.scopes[full].output  # type: ignore[return-value]
                inside = [
                    p[len(f.child_id(head)) + 1 :]
                    for p in [*g.scopes, *g.nodes]
                    if p.startswith(f.child_id(head) + ".")
                ]
                raise SpecError(f"'{head}' has no part '{rest}'", span, hint=did_you_mean(rest, near(rest, inside)))
            f = f.parent
        visible = self._visible_names(frame)
        raise SpecError(
            f"undefined reference '@{path}'",
            span,
            hint=did_you_mean(head, near(head, visible))
            or "refer to a named layer defined earlier in this block or network",
        )

    def _visible_names(self, frame: Frame) -> list[str]:
        names: list[str] = ["in"]
        f: Frame | None = frame
        while f is not None:
            names.extend(f.names)
            f = f.parent
        return names

    def _net_input(self, span: A.Span) -> str:
        if Graph.INPUT not in self._g().nodes:
            raise SpecError("there is no input yet", span, hint="declare 'input CxHxW' first")
        return Graph.INPUT

    def _tensor_value(self, path: str, span: A.Span) -> Tensor:
        nid = self._ref(path, span)
        return Tensor(nid, self._g().nodes[nid].shape)

    def _g(self) -> Graph:
        assert self.graph is not None
        return self.graph

    # ------------------------------------------------------------ ops
    def _op(self, t: A.OpCall, frame: Frame, env: Env, cur: str | None, name: str | None) -> str:
        cls = OPS[t.name]
        params, tensors = self._op_args(cls, t, env)
        op, key = self._validate(cls, params, t)
        inputs = ([cur] if cur is not None else []) + [x.node for x in tensors]
        if not inputs:
            raise SpecError(
                f"'{t.name}' has no input", t.name_span, hint="declare 'input CxHxW' before the first layer"
            )
        lo, hi = cls.inputs
        if len(inputs) < lo or (hi is not None and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            raise SpecError(
                f"'{t.name}' takes {want} inputs, got {len(inputs)}",
                t.span,
                hint="pass extra inputs as @name, e.g. 'concat @skip'",
            )
        label = self._claim(frame, name, t.span)
        return self._add_node(frame.child_id(label), op, key, inputs, t, frame, label)

    def _op_args(self, cls: type[Op], t: A.OpCall, env: Env) -> tuple[dict[str, Any], list[Tensor]]:
        params: dict[str, Any] = {}
        tensors: list[Tensor] = []
        positional = iter(cls.positional)
        for a in t.args:
            if isinstance(a, A.Name) and a.id in _param_names(cls) and not env.has(a.id):
                raise SpecError(
                    f"'{a.id}' needs a value", a.span, hint=f"parameters are written name=value: '{a.id}=...'"
                )
            v = evaluate(a, env)
            if isinstance(v, Tensor) and cls.inputs != (1, 1):
                tensors.append(v)
                continue
            key = next(positional, None)
            if key is None:
                raise SpecError(
                    f"'{t.name}' takes {len(cls.positional) or 'no'} positional parameter(s)",
                    a.span,
                    hint=_param_hint(cls),
                )
            params[key] = v
        for kw in t.kwargs:
            v = evaluate(kw.value, env)
            if isinstance(v, Tensor):
                raise SpecError(
                    f"parameter '{kw.name}' cannot be a tensor",
                    kw.span,
                    hint="pass extra inputs positionally: 'concat @skip'",
                )
            if kw.name in params or _alias_of(cls, kw.name) in params:
                raise SpecError(f"parameter '{kw.name}' given twice", kw.span)
            params[kw.name] = v
        return params, tensors

    def _validate(self, cls: type[Op], params: dict[str, Any], t: A.OpCall | A.Term) -> tuple[Op, Any]:
        """The op for these parameters, and its cache key; validated once per distinct typed key.

        The key pairs each value with its type (values.typed_key), so `k=3.0` after `k=3`,
        or `bias=1` after `bias=true`, is validated on its own and refused like the first.
        """
        for v in params.values():
            if type(v) is tuple:
                self.meter.items(v, t.span)  # building and hashing the key walks every item
        key = (cls, tuple([(k, typed_key(v)) for k, v in params.items()]))
        try:
            cached = self._op_cache.get(key)
        except TypeError:  # an unhashable value: validate and report below
            cached = None
        if cached is not None:
            return cached
        try:
            op = cls(**params)
        except ValidationError as err:
            if not isinstance(t, A.OpCall):  # pragma: no cover - merges take no parameters
                raise SpecError(f"'{cls.kind}': {err}", t.span) from None
            raise _param_error(cls, err, t) from None
        try:
            self._op_cache[key] = (op, key)
        except TypeError:
            pass
        return op, key

    def _add_node(
        self, nid: str, op: Op, key: Any, inputs: list[str], t: A.OpCall | A.Term, frame: Frame, label: str
    ) -> str:
        g = self._g()
        if len(g.nodes) > self.limits.max_nodes:  # the input node is not a layer
            raise LimitError("max_nodes", f"the network has more than {self.limits.max_nodes:,} layers", t.span)
        self.meter.spend(COST["layer"] + COST["edge"] * len(inputs), t.span)
        self.edges += len(inputs)
        if self.edges > self.limits.max_edges:
            raise LimitError(
                "max_edges",
                f"the layers' inputs total more than {self.limits.max_edges:,} (this one takes {len(inputs):,})",
                t.span,
            )
        ins = [g.nodes[i] for i in inputs]
        shapes = tuple(n.shape for n in ins)
        key = (key, shapes)
        hit = self._shape_cache.get(key)
        if hit is None:
            try:
                out = op.infer(list(shapes))
            except MergeMismatch as err:
                raise self._merge_error(err, ins, t, nid, frame) from None
            except ShapeError as err:
                raise SpecError(
                    f"{op.kind}: {err.message}" if not err.message.startswith(op.kind) else err.message,
                    t.span,
                    hint=err.hint,
                    path=nid,
                    notes=[f"input shape {fmt_shape(s)}" for s in shapes],
                ) from None
            if max(out, default=0) > self.limits.max_int:  # sizes that double per layer grow without end
                raise LimitError(
                    "max_int",
                    f"{op.kind}: output size {max(out):.3g} is larger than {self.limits.max_int:,}",
                    t.span,
                    path=nid,
                )
            hit = (out, op.count_params(list(shapes), out), op.count_macs(list(shapes), out))
            self._shape_cache[key] = hit
        node = Node(nid, op, tuple(inputs), hit[0], t.span, hit[1], hit[2])
        g.nodes[nid] = node
        frame.names[label] = nid
        return nid

    def _merge_error(self, err: MergeMismatch, ins: list[Node], t: A.Term, nid: str, frame: Frame) -> SpecError:
        def origin(n: Node) -> str:
            if n.id == frame.block_input:
                return "the block input"
            if n.id == Graph.INPUT:
                return "the network input"
            return f"'{n.id}' ({n.op.kind}, line {n.span.line})"

        a, b = ins[err.i], ins[err.j]
        msg = f"{err.kind}: {fmt_shape(a.shape)} from {origin(a)} vs {fmt_shape(b.shape)} from {origin(b)}"
        return SpecError(msg, t.span, hint=err.hint, path=nid)

    def _merge(self, kind: str, inputs: list[str], frame: Frame, t: A.Term) -> str:
        label = self._claim(frame, None, t.span)
        op, key = self._validate(OPS[kind], {}, t)
        return self._add_node(frame.child_id(label), op, key, inputs, t, frame, label)

    # ------------------------------------------------------------ composite layers
    def _parallel(self, t: A.Parallel, frame: Frame, env: Env, cur: str | None, name: str | None) -> str:
        if t.merge not in ("concat", "add", "mul"):
            raise SpecError(
                f"'{t.merge} {{ ... }}' is not a merge",
                t.merge_span,
                hint=did_you_mean(t.merge, ["concat", "add", "mul"]) or "use concat, add or mul",
            )
        x = _need(cur, t.span)
        target = self._open(frame, name, "seq", "", t.span, cur) if name is not None else frame
        outs: list[str] = []
        g = self._g()
        with self.entered(target, t.span):
            for s, e in self._expand(t.branches, env.child()):
                layer = _only_layers(s, "among branches")
                if layer.cond is not None and not truth(evaluate(layer.cond, e), layer.cond.span):
                    continue  # a false `if` removes the branch; it is not an identity branch
                before = len(g.nodes)
                y = self._layer(layer, target, e, x)
                if y is not None and (y != x or len(g.nodes) == before):  # a branch may be `identity` or `@in`
                    outs.append(y)
        if not outs:
            raise SpecError(
                f"'{t.merge}' has no branches", t.span, hint="every branch is missing or its 'if' condition is false"
            )
        # A merge over one remaining branch is that branch: `add { a if false; b }` is `b`.
        out = outs[0] if len(outs) == 1 else self._merge(t.merge, outs, target, t)
        if name is not None:
            self._close(frame, name, target, out)
        return out

    def _residual(self, t: A.Residual, frame: Frame, env: Env, cur: str | None, name: str | None) -> str | None:
        x = _need(cur, t.span)
        target = self._open(frame, name, "seq", "", t.span, cur) if name is not None else frame
        inner = env.child()
        y = self._body(t.body, target, inner, x, t.span)
        enabled = t.when is None or truth(evaluate(t.when, inner), t.when.span)
        if enabled:
            shortcut = x
            if t.shortcut is not None:
                with self.entered(target, t.span):
                    shortcut = _need(self._layer(t.shortcut, target, inner, x), t.span)
            y = self._merge("add", [_need(y, t.span), shortcut], target, t)
        if name is not None:
            return self._close(frame, name, target, y)
        return y

    def _dense(self, t: A.Dense, frame: Frame, env: Env, cur: str | None, name: str | None) -> str:
        """Each layer reads the concat of the block input and every earlier layer's output.

        n layers make n - 1 concats of 2..n inputs: the edges grow as n^2 / 2, and each
        concat's inputs count against max_edges before the concat is made.
        """
        x = _need(cur, t.span)
        target = self._open(frame, name, "seq", "", t.span, cur) if name is not None else frame
        features = [x]
        with self.entered(target, t.span):
            for s, e in self._expand(t.body, env.child()):
                layer = _only_layers(s, "in a dense block")
                if layer.cond is not None and not truth(evaluate(layer.cond, e), layer.cond.span):
                    continue
                joined = features[0] if len(features) == 1 else self._merge("concat", features, target, t)
                features.append(_need(self._layer(layer, target, e, joined), s.span))
        out = self._merge("concat", features, target, t) if len(features) > 1 else x
        if name is not None:
            return self._close(frame, name, target, out) or out
        return out

    # ------------------------------------------------------------ blocks
    def _block(self, t: A.OpCall, frame: Frame, env: Env, cur: str | None, name: str | None) -> str | None:
        entry = self.blocks[t.name]
        d = entry.defn
        if d.name in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(d.name) :], d.name])
            raise SpecError(
                f"block '{d.name}' uses itself ({chain})",
                t.name_span,
                hint="blocks cannot be recursive; use a loop with a depth parameter",
            )
        self.meter.iteration(t.span)  # a call that makes no layer still costs a step
        self.meter.spend(COST["call"], t.span)
        label = self._claim(frame, name, t.span)
        path = frame.child_id(label)
        sub = Frame(path, cur)
        g = self._g()
        self._count_scope(t.span)
        scope = Scope(path, "block", d.name, t.span, input=cur)
        g.scopes[path] = scope
        benv = Env({}, entry.env, tensor=self._tensor_value, meter=self.meter)
        self._bind(d, t, env, benv, sub, scope)
        self.stack.append(d.name)
        try:
            out = self._body(d.body, sub, benv, cur, t.span)
        except SpecError as err:
            raise err.with_path(path) from None
        finally:
            self.stack.pop()
        scope.output = out
        if out is not None:
            frame.names[label] = out
        return out

    # ------------------------------------------------------------ networks inside networks
    def _network(self, t: A.OpCall, frame: Frame, env: Env, cur: str | None, name: str | None) -> str:
        """A network called like a block: `backbone: resnet50(taps=["layer3", "layer4"])`.

        Its layers keep their names under the caller's label (`backbone.layer4.2.conv3`). Its
        first `input` is the current value; later inputs are passed by name (`boxes=@rois`).
        `taps` names values inside it (dotted paths); everything no tap needs is dropped, as
        torchvision's IntermediateLayerGetter drops what follows its last layer, and the call's
        value is the last tap. Without taps the value is its `out` output (or first output, or
        last layer), and layers feeding only its other outputs are dropped.
        """
        if t.name in self.stack:
            chain = " -> ".join([*self.stack[self.stack.index(t.name) :], t.name])
            raise SpecError(
                f"network '{t.name}' uses itself ({chain})", t.name_span, hint="networks cannot be recursive"
            )
        self.meter.iteration(t.span)
        self.meter.spend(COST["call"], t.span)
        given, tensors, taps = self._network_args(t, env)
        call = self.networks.resolve(t.name, given)
        label = self._claim(frame, name, t.span)
        path = frame.child_id(label)
        d = call.defn
        inputs = [x for x in d.body if isinstance(x, A.Input)]
        named = [_input_name(x) for x in inputs[1:]]
        for key in tensors:
            if key not in named:
                raise SpecError(
                    f"network '{t.name}' has no input '{key}'",
                    t.span,
                    hint=f"its later inputs: {', '.join(n for n in named if n) or 'none'}",
                )
        missing = [n for n in named if n and n not in tensors]
        if missing:
            raise SpecError(
                f"network '{t.name}' needs its input '{missing[0]}'", t.span, hint=f"pass {missing[0]}=@..."
            )
        if cur is None and inputs:
            raise SpecError(
                f"network '{t.name}' has no input here", t.span, hint="call it after a layer, or after @x ->"
            )
        sub = Frame(path, cur, embedded=Embedded(t.name, tensors))
        self._count_scope(t.span)
        g = self._g()
        scope = Scope(path, "block", d.name, t.span, input=cur)
        g.scopes[path] = scope
        nenv = call.env.child()
        nenv.tensor, nenv.meter = self._tensor_value, self.meter
        args = bind_params(d.params, call.args, nenv, f"network '{t.name}'", t.span)
        scope.args.update(args)
        saved = self.blocks, self.networks
        self.blocks, self.networks = call.blocks, call.networks
        self.stack.append(t.name)
        try:
            out = self._body(d.body, sub, nenv, cur, t.span)
            assert sub.embedded is not None
            results = sub.embedded.outputs
            value = results.get("out") or next(iter(results.values()), None) or out
            if taps:
                with self.entered(sub, t.span):
                    tapped = [self._ref(tap, span) for tap, span in taps]
            else:
                tapped = [_need(value, t.span, f"network '{t.name}' has no layers")]
        except SpecError as err:
            raise err.with_path(path) from None
        finally:
            self.stack.pop()
            self.blocks, self.networks = saved
        self._prune(path, tapped)
        scope.output = tapped[-1]
        frame.names[label] = tapped[-1]
        return tapped[-1]

    def _network_args(self, t: A.OpCall, env: Env) -> tuple[dict[str, Any], dict[str, str], list[tuple[str, A.Span]]]:
        """A network call's parameters, its inputs passed by name, and its taps."""
        params = self.networks.params(t.name)
        names = {p.name for p in params}
        if len(t.args) > len(params):
            raise SpecError(
                f"network '{t.name}' takes {len(params)} parameters, got {len(t.args)}",
                t.args[len(params)].span,
                hint=f"usage: {t.name}({', '.join(p.name + '=...' for p in params)})",
            )
        given: dict[str, Any] = {p.name: evaluate(a, env) for p, a in zip(params, t.args, strict=False)}
        tensors: dict[str, str] = {}
        taps: list[tuple[str, A.Span]] = []
        for kw in t.kwargs:
            value = evaluate(kw.value, env)
            if kw.name in given or kw.name in tensors or (kw.name == "taps" and taps):
                raise SpecError(f"parameter '{kw.name}' given twice", kw.span)
            if kw.name == "taps" and "taps" not in names:
                items = value if isinstance(value, tuple) else (value,)
                if not items or not all(isinstance(x, str) for x in items):
                    raise SpecError(
                        f"taps= names layers inside '{t.name}', got {fmt_value(value)}",
                        kw.value.span,
                        hint='e.g. taps=["layer3", "layer4"]',
                    )
                taps = [(x, kw.value.span) for x in items]
            elif isinstance(value, Tensor):
                tensors[kw.name] = value.node
            elif kw.name not in names:
                raise SpecError(
                    f"network '{t.name}' has no parameter '{kw.name}'",
                    kw.span,
                    hint=did_you_mean(kw.name, names)
                    or f"parameters: {', '.join(sorted(names)) or 'none'}; taps=[...]",
                )
            else:
                given[kw.name] = value
        return given, tensors, taps

    def _embedded_input(self, s: A.Input, frame: Frame, e: Embedded) -> str:
        """An `input` of a network called inside another: the first is the call's current value."""
        if not e.seen_input:
            e.seen_input = True
            return _need(frame.block_input, s.span)
        name = _input_name(s)
        if name is None or name not in e.inputs:
            raise SpecError("a second input needs a name: 'input boxes: Kx5'", s.span)
        frame.names[name] = e.inputs[name]
        return e.inputs[name]

    def _prune(self, path: str, roots: list[str]) -> None:
        """Drop the layers under `path` that no root needs, and the scopes left empty."""
        g = self._g()
        prefix = path + "."
        keep: set[str] = set()
        stack = list(roots)
        while stack:
            nid = stack.pop()
            if nid in keep or not nid.startswith(prefix):
                continue
            keep.add(nid)
            stack.extend(g.nodes[nid].inputs)
        for nid in [n for n in g.nodes if n.startswith(prefix) and n not in keep]:
            del g.nodes[nid]
        live = {nid.rpartition(".")[0] for nid in keep}
        for nid in list(live):
            while "." in nid:
                nid = nid.rpartition(".")[0]
                live.add(nid)
        for sp in [p for p in g.scopes if p.startswith(prefix) and p not in live]:
            del g.scopes[sp]

    def _bind(self, d: A.BlockDef, t: A.OpCall, env: Env, benv: Env, sub: Frame, scope: Scope) -> None:
        params = {p.name: p for p in d.params}
        given: dict[str, tuple[Any, A.Span]] = {}
        if len(t.args) > len(d.params):
            raise SpecError(
                f"block '{d.name}' takes {len(d.params)} parameters, got {len(t.args)}",
                t.args[len(d.params)].span,
                hint=_block_sig(d),
            )
        for p, a in zip(d.params, t.args, strict=False):  # caller's frame: @refs are the caller's
            given[p.name] = (evaluate(a, env), a.span)
        for kw in t.kwargs:
            if kw.name not in params:
                raise SpecError(
                    f"block '{d.name}' has no parameter '{kw.name}'",
                    kw.span,
                    hint=did_you_mean(kw.name, params) or _block_sig(d),
                )
            if kw.name in given:
                raise SpecError(f"parameter '{kw.name}' given twice", kw.span)
            given[kw.name] = (evaluate(kw.value, env), kw.span)
        for p in d.params:
            if p.name in given:
                value, span = given[p.name]
            elif p.default is not None:
                with self.entered(sub, t.span):  # defaults see the block's own input as `in`
                    value, span = evaluate(p.default, benv), p.default.span
            else:
                raise SpecError(f"block '{d.name}' needs parameter '{p.name}'", t.span, hint=_block_sig(d))
            _check_type(p, value, span)
            benv.vars[p.name] = value
            if isinstance(value, Tensor):
                sub.names[p.name] = value.node
            else:
                scope.args[p.name] = value


# ---------------------------------------------------------------- helpers


def _label(expr: A.Expr, env: Env) -> str:
    label = evaluate(expr, env)
    if not isinstance(label, str) or not _IDENT.match(label):
        raise SpecError(f"'{label}' is not a valid layer name", expr.span, hint="names use letters, digits and '_'")
    return label


def _input_name(s: A.Input) -> str | None:
    return getattr(s, "name", None)


def _only_layers(s: A.Stmt, where: str) -> A.LayerStmt:
    if not isinstance(s, A.LayerStmt):
        raise SpecError(f"only layers, let, for, repeat and if may appear {where}", s.span)
    return s


def _input_shape(shape: Any, span: A.Span) -> Shape:
    """Check an input shape given from outside (`--input`, `input=`): 1 or 3 ints in 1..65536."""
    dims = tuple(shape) if isinstance(shape, (tuple, list)) and len(shape) <= 3 else ()
    if len(dims) not in (1, 3) or not all(type(d) is int and 0 < d <= 1 << 16 for d in dims):
        raise SpecError(
            f"an input shape is 1 or 3 integers from 1 to 65536, got {fmt_value(shape)}",
            span,
            hint="e.g. input=(3, 224, 224) or --input 3x224x224",
        )
    return dims


@contextmanager
def _recursion_room(frames: int) -> Iterator[None]:
    """Let Python nest `frames` deep while evaluating; the limits bound the real depth."""
    old = sys.getrecursionlimit()
    if old < frames:
        sys.setrecursionlimit(frames)
    try:
        yield
    finally:
        if old < frames:
            sys.setrecursionlimit(old)


def _need(node: str | None, span: A.Span, why: str = "this layer has no input") -> str:
    if node is None:
        raise SpecError(why, span, hint="declare 'input CxHxW' before the first layer")
    return node


_INPUT_OP: Op | None = None


def _input_op() -> Op:
    global _INPUT_OP
    if _INPUT_OP is None:
        _INPUT_OP = OPS["identity"]()
    return _INPUT_OP


@cache  # op classes never change; model_fields is slow to read per layer
def _alias_of(cls: type[Op], name: str) -> str:
    for fname, f in cls.model_fields.items():
        if f.alias == name:
            return fname
        if fname == name and f.alias:
            return f.alias
    return name


@cache
def _param_names(cls: type[Op]) -> tuple[str, ...]:
    names = []
    for fname, f in cls.model_fields.items():
        names.append(fname)
        if f.alias:
            names.append(f.alias)
    return tuple(names)


def _param_hint(cls: type[Op]) -> str:
    pos = " ".join(cls.positional)
    return f"usage: {cls.kind} {pos} " + " ".join(
        f"{f.alias or n}=..."
        for n, f in cls.model_fields.items()
        if n not in cls.positional and n not in ("init", "bias_init")
    )


def _param_error(cls: type[Op], err: ValidationError, t: A.OpCall) -> SpecError:
    e = err.errors()[0]
    field_name = str(e["loc"][0]) if e["loc"] else ""
    span = t.span
    for kw in t.kwargs:
        if kw.name == field_name or _alias_of(cls, kw.name) == field_name:
            span = kw.span
    if field_name in cls.positional and cls.positional.index(field_name) < len(t.args):
        span = t.args[cls.positional.index(field_name)].span
    if e["type"] == "extra_forbidden":
        hint = did_you_mean(field_name, _param_names(cls)) or _param_hint(cls)
        return SpecError(f"'{cls.kind}' has no parameter '{field_name}'", span, hint=hint)
    if e["type"] == "missing":
        return SpecError(f"'{cls.kind}' needs parameter '{field_name}'", t.span, hint=_param_hint(cls))
    value = e.get("input")
    shown = "tensor" if isinstance(value, Tensor) else f"{type_name(value)} {fmt_value(value)}"
    msg = e["msg"][0].lower() + e["msg"][1:]
    return SpecError(f"'{cls.kind}' parameter '{field_name}': {msg}; got {shown}", span, hint=_param_hint(cls))


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, tuple),
    "tensor": lambda v: isinstance(v, Tensor),
    "init": lambda v: isinstance(v, Init) or v is None,
    "any": lambda v: True,
}


def _check_type(p: A.Param, value: Any, span: A.Span) -> None:
    if p.type is None:
        return
    test = _TYPES.get(p.type)
    if test is None:
        raise SpecError(
            f"unknown type '{p.type}'", p.span, hint=did_you_mean(p.type, _TYPES) or f"one of {', '.join(_TYPES)}"
        )
    if not test(value):
        raise SpecError(f"parameter '{p.name}' must be {p.type}, got {type_name(value)} {fmt_value(value)}", span)


def _block_sig(d: A.BlockDef) -> str:
    return f"usage: {d.name}({', '.join(p.name + ('=...' if p.default else '') for p in d.params)})"


def bind_params(
    params: tuple[A.Param, ...], given: dict[str, Any], env: Env, what: str, span: A.Span
) -> dict[str, Any]:
    """Bind network parameters: given values override defaults; check names and types."""
    names = {p.name for p in params}
    for key in given:
        if key not in names:
            raise SpecError(
                f"{what} has no parameter '{key}'",
                span,
                hint=did_you_mean(key, names) or f"parameters: {', '.join(sorted(names)) or 'none'}",
            )
    out: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            value = admit(given[p.name], env.meter, span)
        elif p.default is not None:
            value = evaluate(p.default, env)
        else:
            raise SpecError(f"{what} needs parameter '{p.name}'", span, hint=f"pass --set {p.name}=...")
        _check_type(p, value, span)
        env.vars[p.name] = value
        out[p.name] = value
    return out


def _mark_train_only(g: Graph) -> None:
    """Nodes that feed only training outputs (auxiliary heads) are train-only."""
    keep: set[str] = set()
    stack = [g.outputs[o] for o in g.outputs if o not in g.train_outputs]
    while stack:
        nid = stack.pop()
        if nid in keep:
            continue
        keep.add(nid)
        stack.extend(g.nodes[nid].inputs)
    if not g.train_outputs:
        return
    train: set[str] = set()
    stack = [g.outputs[o] for o in g.train_outputs]
    while stack:
        nid = stack.pop()
        if nid in train or nid in keep:
            continue
        train.add(nid)
        stack.extend(g.nodes[nid].inputs)
    for nid in train:
        g.nodes[nid].train_only = True
