"""Files, imports and the spec library: resolve `resnet50` or `a.net:name` to a checked Graph.

load("resnet50")                      # a library network
load("specs/unet.net:unet", num_classes=3)
load("my.net", input=(3, 64, 64))
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import ast as A
from .errors import SpecError, did_you_mean
from .evaluate import BlockEntry, Evaluator, Limits, bind_params
from .graph import Graph
from .limits import LimitError, Meter
from .lint import lint
from .ops import Shape
from .parse import MAX_FILE_BYTES, parse
from .values import Env, evaluate

_NETWORK_RE = re.compile(r"^\s*network\s+([A-Za-z_]\w*)", re.MULTILINE)


def library_dir() -> Path:
    """The shipped specs: inside the installed package, or the repository's specs/."""
    packaged = Path(str(resources.files("netspec"))) / "_specs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "specs"


@dataclass
class LoadedFile:
    """One parsed file with what it defines and imports."""

    path: Path
    module: A.Module
    env: Env
    blocks: dict[str, BlockEntry] = field(default_factory=dict)
    networks: dict[str, tuple[A.NetworkDef | A.NetworkAlias, LoadedFile]] = field(default_factory=dict)


class Loader:
    """Reads files once, follows imports, detects cycles; file-level lets count against `limits`."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.files: dict[Path, LoadedFile] = {}
        self.loading: list[Path] = []
        self.limits = limits or Limits()
        self.meter = Meter(self.limits)

    def load(self, path: Path, span: A.Span | None = None) -> LoadedFile:
        path = path.resolve()
        if path in self.files:
            return self.files[path]
        if path in self.loading:
            cycle = " -> ".join(p.name for p in [*self.loading[self.loading.index(path) :], path])
            raise SpecError(f"import cycle: {cycle}", span, hint="move the shared blocks into a file both import")
        if len(self.loading) >= self.limits.max_import_depth:
            raise LimitError("max_import_depth", f"imports nested deeper than {self.limits.max_import_depth}", span)
        if not path.is_file():
            raise SpecError(f"no such spec file: {_display(path)}", span)
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SpecError(f"{_display(path)} is larger than {MAX_FILE_BYTES >> 20} MiB", span)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SpecError(f"{_display(path)} is not UTF-8 text", span) from None
        display = _display(path)
        module = parse(text, display)
        self.loading.append(path)
        try:
            loaded = LoadedFile(path, module, Env(meter=self.meter))
            for imp in module.imports:
                self._import(loaded, imp)
            for let in module.lets:
                loaded.env.vars[let.name] = evaluate(let.value, loaded.env)
            for b in module.blocks:
                if b.name in loaded.blocks and loaded.blocks[b.name].defn.span.file == display:
                    raise SpecError(f"duplicate block '{b.name}'", b.span)
                loaded.blocks[b.name] = BlockEntry(b, loaded.env)
            for n in module.networks:
                if n.name in loaded.networks and loaded.networks[n.name][1] is loaded:
                    raise SpecError(f"duplicate network '{n.name}'", n.span)
                loaded.networks[n.name] = (n, loaded)
        finally:
            self.loading.pop()
        self.files[path] = loaded
        return loaded

    def _import(self, into: LoadedFile, imp: A.Import) -> None:
        if imp.is_path:
            target = into.path.parent / imp.target
        else:
            target = library_dir() / f"{imp.target}.net"
            if not target.is_file():
                names = [p.stem for p in library_dir().glob("*.net")]
                raise SpecError(f"no library file '{imp.target}'", imp.span, hint=did_you_mean(imp.target, names))
        dep = self.load(target, imp.span)
        into.env.vars.update(dep.env.vars)
        into.blocks.update(dep.blocks)
        into.networks.update(dep.networks)


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@lru_cache(maxsize=1)
def library_index() -> dict[str, Path]:
    """Network name -> library file, found by a quick scan (no parsing)."""
    index: dict[str, Path] = {}
    for path in sorted(library_dir().glob("*.net")):
        for name in _NETWORK_RE.findall(path.read_text(encoding="utf-8")):
            index.setdefault(name, path)
    return index


def resolve(spec: str) -> tuple[Path, str | None]:
    """`resnet50`, `file.net` or `file.net:network` -> (file, network name or None)."""
    file, sep, name = (
        spec.rpartition(":") if spec.count(":") and not re.match(r"^[A-Za-z]:\\", spec) else ("", "", spec)
    )
    if sep:
        return Path(file), name or None
    if spec.endswith(".net") or "/" in spec or Path(spec).is_file():
        return Path(spec), None
    index = library_index()
    if spec in index:
        return index[spec], spec
    raise SpecError(
        f"no network or file named '{spec}'",
        None,
        hint=did_you_mean(spec, index) or "see 'netspec list' for the library",
    )


def network_params(
    entry: A.NetworkDef | A.NetworkAlias, owner: LoadedFile, seen: tuple[str, ...] = ()
) -> list[A.Param]:
    """The parameters a network (or alias) accepts, with defaults."""
    if isinstance(entry, A.NetworkDef):
        return list(entry.params)
    if entry.name in seen:
        raise SpecError(f"network alias cycle: {' -> '.join([*seen, entry.name])}", entry.span)
    if len(seen) >= Limits.max_depth:
        raise LimitError("max_depth", f"network aliases nested deeper than {Limits.max_depth}", entry.span)
    target, tfile = _target(entry, owner)
    params = network_params(target, tfile, (*seen, entry.name))
    bound = {k.name for k in entry.kwargs} | {p.name for p, _ in zip(params, entry.args, strict=False)}
    return [p for p in params if p.name not in bound]


def _target(alias: A.NetworkAlias, owner: LoadedFile) -> tuple[A.NetworkDef | A.NetworkAlias, LoadedFile]:
    if alias.target not in owner.networks:
        raise SpecError(
            f"unknown network '{alias.target}'", alias.span, hint=did_you_mean(alias.target, owner.networks)
        )
    return owner.networks[alias.target]


def build(
    loaded: LoadedFile,
    name: str | None,
    params: dict[str, Any],
    input_shape: Shape | None = None,
    limits: Limits | None = None,
) -> Graph:
    """Expand network `name` of a loaded file into a checked Graph."""
    own = {n: v for n, v in loaded.networks.items() if v[1] is loaded}
    if name is None:
        if len(own) != 1:
            names = ", ".join(own) or "none"
            raise SpecError(
                f"{_display(loaded.path)} defines {len(own)} networks ({names})",
                None,
                hint=f"pick one: {_display(loaded.path)}:NAME",
            )
        name = next(iter(own))
    if name not in loaded.networks:
        raise SpecError(
            f"{_display(loaded.path)} has no network '{name}'",
            None,
            hint=did_you_mean(name, loaded.networks) or f"networks: {', '.join(own)}",
        )
    entry, owner = loaded.networks[name]
    free = tuple(p.name for p in network_params(entry, owner))
    given = dict(params)
    seen: list[str] = []
    while isinstance(entry, A.NetworkAlias):
        if entry.name in seen:
            raise SpecError(f"network alias cycle: {' -> '.join([*seen, entry.name])}", entry.span)
        seen.append(entry.name)
        target, towner = _target(entry, owner)
        tparams = network_params(target, towner)
        if len(entry.args) > len(tparams):
            raise SpecError(f"too many arguments for '{entry.target}'", entry.span)
        for p, a in zip(tparams, entry.args, strict=False):
            given.setdefault(p.name, evaluate(a, owner.env))
        for kw in entry.kwargs:
            if kw.name in params:
                raise SpecError(
                    f"'{entry.name}' fixes parameter '{kw.name}'",
                    None,
                    hint=f"use '{entry.target}' to choose {kw.name}",
                )
            given.setdefault(kw.name, evaluate(kw.value, owner.env))
        entry, owner = target, towner
    env = owner.env.child()
    args = bind_params(entry.params, given, env, f"network '{name}'", entry.span)
    evaluator = Evaluator(owner.blocks, limits)
    graph = evaluator.run(name, entry.span.file, entry.body, env, args, input_shape, entry.span)
    graph.warnings = lint(graph)
    graph.free_params = free
    graph.rebuild = lambda changed: build(loaded, name, {**params, **changed}, input_shape, limits)
    return graph


def load(spec: str, input: Shape | None = None, limits: Limits | None = None, **params: Any) -> Graph:
    """Check a spec and return its Graph: `load("resnet50", num_classes=10)`."""
    with _no_gc():
        path, name = resolve(spec)
        loaded = Loader(limits).load(path)
        return build(loaded, name, params, tuple(input) if input is not None else None, limits)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic GC: parse trees and graphs are acyclic-ish and large, and full
    collections while they grow make checking big specs superlinear."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_text(
    text: str,
    name: str | None = None,
    file: str = "<string>",
    input: Shape | None = None,
    limits: Limits | None = None,
    **params: Any,
) -> Graph:
    """Check spec source text (imports resolve relative to the current directory)."""
    loader = Loader(limits)
    module = parse(text, file)
    loaded = LoadedFile(Path.cwd() / file, module, Env(meter=loader.meter))
    for imp in module.imports:
        loader._import(loaded, imp)
    for let in module.lets:
        loaded.env.vars[let.name] = evaluate(let.value, loaded.env)
    for b in module.blocks:
        loaded.blocks[b.name] = BlockEntry(b, loaded.env)
    for n in module.networks:
        loaded.networks[n.name] = (n, loaded)
    return build(loaded, name, params, tuple(input) if input is not None else None, limits)
