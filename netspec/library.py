"""Files, imports and the spec library: resolve `resnet50` or `a.net:name` to a checked Graph.

load("resnet50")                      # a library network
load("specs/unet.net:unet", num_classes=3)
load("my.net", input=(3, 64, 64))
load(Path("my.net"), params={"input": 3}, import_roots=["vendor/blocks"])

A bare word (`resnet50`) always names a library network; a file is named by a path
(`my.net`, `./resnet50`, `dir/x.net`) or an os.PathLike. Files are read and imports
resolved by `files` (regular UTF-8 files inside the allowed roots only).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from . import ast as A
from .arguments import brief, network_args
from .errors import SpecError, did_you_mean
from .evaluate import BlockEntry, Evaluator, Limits, NetworkCall, bind_params
from .files import MAX_FILE_BYTES, ImportRoots, as_path, read_spec, real
from .graph import Graph
from .limits import LimitError, Meter
from .lint import lint
from .names import check_block_names, check_names
from .ops import Shape
from .parse import parse
from .values import Env, evaluate

_NETWORK_RE = re.compile(r"^\s*network\s+([A-Za-z_]\w*)", re.MULTILINE)
_BARE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
Roots = Iterable[str | os.PathLike[str]]


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
    """Reads files once, follows imports (inside the allowed roots), detects cycles; file-level
    lets count against `limits`.

    Args:
        limits: the evaluator's resource limits.
        roots: where imports may lead; by default the folder of the first file loaded,
            the library, and `import_roots`.
        import_roots: more folders imports may read (`--import-root`).
    """

    def __init__(
        self, limits: Limits | None = None, *, roots: ImportRoots | None = None, import_roots: Roots = ()
    ) -> None:
        self.files: dict[Path, LoadedFile] = {}
        self.loading: list[Path] = []
        self.limits = limits or Limits()
        self.meter = Meter(self.limits)
        self.roots = roots
        self.import_roots = tuple(import_roots)

    def load(self, path: Path, span: A.Span | None = None) -> LoadedFile:
        path = real(path)
        if self.roots is None:  # the spec named by the user: its folder is where its imports may read
            self.roots = ImportRoots.make(path.parent, extra=self.import_roots)
        if path in self.files:
            return self.files[path]
        if path in self.loading:
            cycle = " -> ".join(p.name for p in [*self.loading[self.loading.index(path) :], path])
            raise SpecError(f"import cycle: {cycle}", span, hint="move the shared blocks into a file both import")
        if len(self.loading) >= self.limits.max_import_depth:
            raise LimitError("max_import_depth", f"imports nested deeper than {self.limits.max_import_depth}", span)
        text = read_spec(path, span, MAX_FILE_BYTES)
        display = _display(path)
        module = parse(text, display)
        check_block_names(module)
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
        if self.roots is None:
            self.roots = ImportRoots.make(into.path.parent, extra=self.import_roots)
        if imp.is_path:
            target = self.roots.check(into.path.parent / imp.target, imp.span, imp.target)
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
    """The file name spans carry: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


@lru_cache(maxsize=1)
def library_index() -> dict[str, Path]:
    """Network name -> library file, found by a quick scan (no parsing)."""
    index: dict[str, Path] = {}
    for path in sorted(library_dir().glob("*.net")):
        for name in _NETWORK_RE.findall(path.read_text(encoding="utf-8")):
            index.setdefault(name, path)
    return index


def resolve(spec: str | os.PathLike[str]) -> tuple[Path, str | None]:
    """`resnet50`, `file.net`, `file.net:network` or a Path -> (file, network name or None).

    A bare word names a library network, even when a file of that name is in the current
    folder (`./resnet50` names the file); anything else is a path.
    """
    if isinstance(spec, os.PathLike):
        return Path(as_path(spec)), None
    spec = as_path(spec)
    if _BARE_WORD.fullmatch(spec):
        index = library_index()
        if spec in index:
            return index[spec], spec
        hint = did_you_mean(spec, index) or "see 'netspec list' for the library"
        if os.path.isfile(spec):
            hint = f"a bare word names a library network; for the file, write ./{spec}"
        raise SpecError(f"no network named '{spec}' in the library", None, hint=hint)
    file, sep, name = (
        spec.rpartition(":") if spec.count(":") and not re.match(r"^[A-Za-z]:\\", spec) else ("", "", spec)
    )
    if sep:
        return Path(file), name or None
    return Path(spec), None


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


def unalias(
    entry: A.NetworkDef | A.NetworkAlias, owner: LoadedFile, params: Mapping[str, Any]
) -> tuple[A.NetworkDef, LoadedFile, dict[str, Any]]:
    """Follow aliases to the network definition: (definition, its file, `params` plus what aliases fix).

    `network resnet50 = resnet(block="bottleneck", layers=[3, 4, 6, 3])` with {"num_classes": 10}
    -> (resnet, resnet.net, {"num_classes": 10, "block": "bottleneck", "layers": (3, 4, 6, 3)})
    """
    given = dict(params)
    seen: list[str] = []
    while isinstance(entry, A.NetworkAlias):
        if entry.name in seen:
            raise SpecError(f"network alias cycle: {' -> '.join([*seen, entry.name])}", entry.span)
        if len(seen) >= Limits.max_depth:
            raise LimitError("max_depth", f"network aliases nested deeper than {Limits.max_depth}", entry.span)
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
    return entry, owner, given


class NetworkTable:
    """The networks a file sees, as the evaluator calls them inside another network (`backbone: resnet50()`)."""

    def __init__(self, networks: dict[str, tuple[A.NetworkDef | A.NetworkAlias, LoadedFile]]) -> None:
        self.networks = networks

    def __contains__(self, name: object) -> bool:
        return name in self.networks

    def names(self) -> list[str]:
        return list(self.networks)

    def params(self, name: str) -> list[A.Param]:
        """The parameters a call may give (an alias's free ones), in order."""
        entry, owner = self.networks[name]
        return network_params(entry, owner)

    def resolve(self, name: str, given: dict[str, Any]) -> NetworkCall:
        """The definition, the environment and blocks of its file, and the parameters it accepts."""
        entry, owner = self.networks[name]
        defn, home, args = unalias(entry, owner, given)
        return NetworkCall(defn, home.env, home.blocks, NetworkTable(home.networks), args)


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
    defn, owner, given = unalias(entry, owner, params)
    env = owner.env.child()
    args = bind_params(defn.params, given, env, f"network '{name}'", defn.span)
    evaluator = Evaluator(owner.blocks, limits, networks=NetworkTable(owner.networks))
    graph = evaluator.run(name, defn.span.file, defn.body, env, args, input_shape, defn.span)
    check_names(graph)
    graph.warnings = lint(graph)
    graph.free_params = free
    graph.rebuild = lambda changed: build(loaded, name, {**params, **changed}, input_shape, limits)
    return graph


def load(
    spec: str | os.PathLike[str],
    /,
    *,
    input: Shape | None = None,
    limits: Limits | None = None,
    import_roots: Roots = (),
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Graph:
    """Check a spec and return its Graph: `load("resnet50", num_classes=10)`.

    Args:
        spec: a library name, a file (`my.net`, `./x`, a Path) or `file.net:network`.
        input: the input shape, (C, H, W) or (C,), instead of the declared one.
        limits: the evaluator's resource limits.
        import_roots: more folders the spec's imports may read.
        params, kwargs: network parameters; a parameter named like one of the options
            above goes in `params` (`params={"input": 3}`).
    """
    shape = _screen_input(input)  # checked, at the network's location, by the evaluator
    values = network_args(params, kwargs)
    roots = _roots(import_roots)
    _check_limits(limits)
    with _no_gc():
        path, name = resolve(spec)
        loader = Loader(limits, import_roots=roots)
        graph = build(loader.load(path), name, values, shape, limits)
        graph.files = tuple(str(p) for p in loader.files)
        return graph


def _roots(folders: Roots) -> list[Path]:
    """`import_roots=`: folders (one str or Path is taken as a list of one), each an existing folder."""
    from .files import check_root

    if isinstance(folders, (str, os.PathLike)):
        folders = [folders]
    try:
        return [check_root(f) for f in folders]
    except TypeError:
        raise SpecError(f"import_roots must be a list of folders, got {type(folders).__name__}") from None


def _screen_input(shape: Any) -> Any:
    """Refuse an `input=` holding an integer too long to print (str() fails beyond 4,300 digits),
    which the evaluator's located check would try to quote; anything else goes on to that check."""
    if isinstance(shape, (tuple, list)) and len(shape) <= 3:
        for d in shape:
            if isinstance(d, int) and d.bit_length() > 4096:
                raise SpecError(
                    f"an input shape is 1 or 3 integers from 1 to 65536, got {brief(d)}",
                    hint="e.g. input=(3, 224, 224) or --input 3x224x224",
                )
    return shape


def _check_limits(limits: Any) -> None:
    if limits is not None and not isinstance(limits, Limits):
        raise SpecError(f"limits must be a netspec Limits, got {type(limits).__name__}")


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
    *,
    file: str = "<string>",
    input: Shape | None = None,
    limits: Limits | None = None,
    import_roots: Roots = (),
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Graph:
    """Check spec source text; imports resolve relative to, and stay inside, the current folder
    (and `import_roots`). Arguments as `load`."""
    if not isinstance(text, str):
        raise SpecError(f"load_text expects the spec as a str, got {type(text).__name__}")
    shape = _screen_input(input)  # checked, at the network's location, by the evaluator
    values = network_args(params, kwargs)
    _check_limits(limits)
    file = as_path(file, "file")
    loader = Loader(limits, roots=ImportRoots.make(Path.cwd(), extra=_roots(import_roots)))
    module = parse(text, file)
    check_block_names(module)
    loaded = LoadedFile(Path.cwd() / file, module, Env(meter=loader.meter))
    for imp in module.imports:
        loader._import(loaded, imp)
    for let in module.lets:
        loaded.env.vars[let.name] = evaluate(let.value, loaded.env)
    for b in module.blocks:
        loaded.blocks[b.name] = BlockEntry(b, loaded.env)
    for n in module.networks:
        loaded.networks[n.name] = (n, loaded)
    graph = build(loaded, name, values, shape, limits)
    graph.files = tuple(str(p) for p in loader.files)
    return graph
