"""User-defined ops: register ops from your own Python package.

A spec never imports Python. Ops come from netspec itself or from a plugin that
the user enables, in one of three ways:

    # 1. installed: your package's pyproject.toml declares an entry point
    [project.entry-points."netspec.ops"]
    mypkg = "mypkg.ops"                # a module whose import registers ops (@register)
    mylayer = "mypkg.ops:MyLayerOp"    # or one Op class, registered when loaded

    # 2. per command
    netspec check my.net --plugin mypkg.ops

    # 3. in Python
    netspec.register_op(MyLayerOp)     # or just `import mypkg.ops`

Installed plugins load lazily: the op registry loads them once, the first time a
spec (or `netspec ops`) names an op it does not know, so a spec made only of
built-in ops never pays for scanning the installed distributions.

A plugin that fails to import, or that names an op netspec already has, is a
PluginError (a SpecError: the command line prints it and exits 1).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, TypeVar

from .errors import SpecError
from .ops.base import Op, RegistryError, register

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "netspec.ops"
_OpT = TypeVar("_OpT", bound=Op)
_RENAME = "give the plugin's op another kind (built-in ops cannot be replaced)"

_installed_loaded = False  # set before loading, so a plugin's own lookups do not recurse


class PluginError(SpecError):
    """A plugin that cannot be imported, or whose ops cannot be registered."""


def register_op(cls: type[_OpT]) -> type[_OpT]:
    """Register a user-defined op class so specs can name it: `netspec.register_op(MyOp)`.

    The same as decorating the class with `@netspec.ops.register`. Raises RegistryError
    when the class is not a valid op or its `kind` is taken by another op (built-in
    ops cannot be replaced). Registering the same class twice is harmless.
    """
    return register(cls)


def load_module(name: str, what: str | None = None) -> None:
    """Import a plugin module by dotted name (`--plugin mypkg.ops`); its `@register`s add its ops."""
    what = what or f"plugin '{name}'"
    try:
        importlib.import_module(name)
    except RegistryError as err:
        raise PluginError(f"{what}: {err}", hint=_RENAME) from None
    except ModuleNotFoundError as err:
        hint = None
        if err.name is not None and (name + ".").startswith(err.name + "."):
            hint = f"is '{name}' installed, or on PYTHONPATH? (PYTHONPATH=. for a module in this folder)"
        raise PluginError(f"cannot import {what}: {_describe(err)}", hint=hint) from None
    except Exception as err:  # any error inside the plugin's own code
        raise PluginError(f"cannot import {what}: {_describe(err)}", notes=_where(err)) from None


def load_installed() -> None:
    """Load the installed plugins (entry points of group `netspec.ops`), once per process.

    Every entry point is tried; the failures are reported together as one PluginError.
    """
    global _installed_loaded
    if _installed_loaded:
        return
    _installed_loaded = True
    from importlib.metadata import entry_points

    failures: list[PluginError] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = f" of {ep.dist.name}" if ep.dist is not None else ""
        what = f"plugin '{ep.value}' (entry point '{ep.name}'{dist}, group {ENTRY_POINT_GROUP})"
        try:
            _load_entry_point(ep, what)
        except PluginError as err:
            failures.append(err)
    if failures:
        first = failures[0]
        first.notes += [f"also: {f.message}" for f in failures[1:]]
        first.hint = first.hint or "fix or uninstall the package that declares it"
        raise first


def _load_entry_point(ep: EntryPoint, what: str) -> None:
    """An entry point names a module (its import registers ops) or one Op class (registered here)."""
    load_module(ep.module, what)
    if not ep.attr:
        return
    try:
        obj = ep.load()
    except Exception as err:
        raise PluginError(f"cannot load {what}: {_describe(err)}") from None
    if not (isinstance(obj, type) and issubclass(obj, Op)):
        raise PluginError(f"{what} names {type(obj).__name__} '{ep.attr}', not a module or an Op class")
    try:
        register(obj)
    except RegistryError as err:
        raise PluginError(f"{what}: {err}", hint=_RENAME) from None


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _where(err: BaseException) -> list[str]:
    """The innermost source line of the failure, so a plugin author can find it without a traceback."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return []
    return [f"raised at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"]


def reset_installed() -> None:
    """Forget that the installed plugins were loaded (for tests that install one)."""
    global _installed_loaded
    _installed_loaded = False


__all__ = ["ENTRY_POINT_GROUP", "PluginError", "load_installed", "load_module", "register_op", "reset_installed"]
