"""Names the generated torch code cannot give a layer, checked when a spec is checked.

A layer named `forward`, `training`, `state_dict` or `to` would replace an attribute of
torch.nn.Module in the compiled model, so `compile` refuses it; `check` refuses it too,
with the same located error, from this static list (the front end never imports torch).
tests/test_hostile_io.py checks that the list covers `dir(torch.nn.Module())` and the
attributes of nn.Sequential for the torch installed.

A block may not take the name of an op either: it would replace the op everywhere the
file (or a file importing it) writes that op.
"""

from __future__ import annotations

import re

from . import ast as A
from .errors import SpecError
from .graph import Graph

# dir(nn.Sequential()) | dir(nn.Module()) | vars(nn.Module()), torch 2.14 (a test keeps it current).
MODULE_ATTRIBUTES = frozenset(
    """
    T_destination __add__ __annotations__ __call__ __class__ __delattr__ __delitem__ __dict__ __dir__
    __doc__ __eq__ __format__ __ge__ __getattr__ __getattribute__ __getitem__ __getstate__ __gt__ __hash__
    __iadd__ __imul__ __init__ __init_subclass__ __iter__ __le__ __len__ __lt__ __module__ __mul__ __ne__
    __new__ __reduce__ __reduce_ex__ __repr__ __rmul__ __setattr__ __setitem__ __setstate__ __sizeof__
    __str__ __subclasshook__ __weakref__ _apply _backward_hooks _backward_pre_hooks _buffers _call_impl
    _compiled_call_impl _forward_hooks _forward_hooks_always_called _forward_hooks_with_kwargs
    _forward_pre_hooks _forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks
    _get_item_by_idx _get_name _is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
    _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook _register_state_dict_hook
    _replicate_for_data_parallel _save_to_state_dict _slow_forward _state_dict_hooks _state_dict_pre_hooks
    _version _wrapped_call_impl add_module append apply bfloat16 buffers call_super_init children compile
    cpu cuda double dump_patches eval extend extra_repr float forward get_buffer get_extra_state
    get_parameter get_submodule half insert ipu load_state_dict modules mtia named_buffers named_children
    named_modules named_parameters parameters pop register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
    register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu
    zero_grad
    """.split()
)
_PART = re.compile(r"[A-Za-z0-9_]+")


def check_part(part: str) -> str | None:
    """Why `part` cannot name a torch submodule, or None when it can."""
    if not _PART.fullmatch(part):
        return "names use letters, digits and '_'"
    if part in MODULE_ATTRIBUTES or part.startswith("__"):  # `self.__x` is name-mangled in a class body
        return f"the name '{part}' is taken by torch.nn.Module itself"
    return None


def check_names(graph: Graph) -> None:
    """Refuse a layer or scope whose name (any dotted part of its path) the torch module cannot hold."""
    seen: set[str] = set()
    for nid, node in graph.nodes.items():
        if nid == graph.INPUT:
            continue
        parts = nid.split(".")
        for i, part in enumerate(parts):
            if part in seen:
                continue
            why = check_part(part)
            if why is None:
                seen.add(part)
                continue
            scope = graph.scopes.get(".".join(parts[: i + 1]))
            span = scope.span if scope is not None and i < len(parts) - 1 else node.span
            if why.startswith("names"):
                raise SpecError(f"{part!r} cannot name a torch submodule", span, path=nid, hint=why)
            raise SpecError(why, span, path=nid, hint=f"rename the layer, e.g. '{part}_'")


def check_block_names(module: A.Module) -> None:
    """Refuse a block named like an op: `block conv(c) {...}` would silently replace conv."""
    from .ops import OPS

    for b in module.blocks:
        if dict.__contains__(OPS, b.name):
            raise SpecError(
                f"block '{b.name}' has the name of the op '{b.name}'",
                b.span,
                hint=f"a block may not replace an op; call it e.g. '{b.name}_block'",
            )
