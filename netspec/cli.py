"""The `netspec` command: list, ops, check, summary, compile, render.

Every user mistake prints a SpecError (file:line:col, source line, caret, hint)
and exits 1; nothing prints a Python traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .errors import SpecError
from .graph import Graph


def _parse_set(items: list[str]) -> dict[str, Any]:
    """`--set num_classes=10 --set block="basic"` -> values, read by our expression parser."""
    from .ast import Span
    from .limits import LimitError
    from .parse import _parse_expr
    from .values import Env, evaluate

    out: dict[str, Any] = {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or not name.isidentifier():
            raise SpecError(f"--set expects NAME=VALUE, got '{item}'", None, hint="e.g. --set num_classes=10")
        span = Span("<--set>", 1, 1, 1, len(text) + 1)
        try:
            out[name] = evaluate(_parse_expr(text, span), Env())
        except LimitError:
            raise
        except SpecError:
            out[name] = text  # a bare word is a string
    return out


def _parse_input(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:  # int() would also read other scripts' digits ('٣'): ASCII only
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x")) if text.isascii() else ()
    except ValueError:
        dims = ()
    if len(dims) not in (1, 3) or not all(0 < d <= 1 << 16 for d in dims):
        raise SpecError(f"--input expects CxHxW (e.g. 3x224x224), got '{text}'", None)
    return dims


def load_graph(args: argparse.Namespace) -> Graph:
    from .library import load

    return load(args.spec, input=_parse_input(args.input), **_parse_set(args.set))


def cmd_list(args: argparse.Namespace) -> int:
    from .library import Loader, library_dir, network_params

    loader = Loader()
    entries = []
    for path in sorted(library_dir().glob("*.net")):
        loaded = loader.load(path)
        for name, (entry, owner) in loaded.networks.items():
            if owner is not loaded:
                continue
            params = {p.name: _default_text(p) for p in network_params(entry, owner)}
            entries.append({"name": name, "file": path.name, "params": params})
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(e["name"]) for e in entries) if entries else 0
    for e in entries:
        params = ", ".join(f"{k}={v}" if v is not None else k for k, v in e["params"].items())
        print(f"{e['name'].ljust(width)}  {e['file']:<22} {params}")
    return 0


def _default_text(p: Any) -> str | None:
    from .ast import Const

    if p.default is None:
        return None
    if isinstance(p.default, Const):
        v = p.default.value
        return "true" if v is True else "false" if v is False else repr(v) if isinstance(v, str) else str(v)
    s = p.default.span
    from .errors import SOURCES

    lines = SOURCES.get(s.file, "").splitlines()
    if s.line == s.end_line and 0 < s.line <= len(lines):
        return lines[s.line - 1][s.col - 1: s.end_col - 1]
    return "..."


def cmd_ops(args: argparse.Namespace) -> int:
    from .docgen import type_text
    from .ops import OPS

    kinds = [args.name] if args.name else sorted(OPS)
    for kind in kinds:
        if kind not in OPS:
            from .errors import did_you_mean

            raise SpecError(f"unknown op '{kind}'", None, hint=did_you_mean(kind, OPS))
        cls = OPS[kind]
        print(f"{kind}: {cls.doc}")
        for name, f in cls.model_fields.items():
            alias = f" ({f.alias})" if f.alias else ""
            default = "required" if f.is_required() else f"default {f.default!r}"
            pos = " [positional]" if name in cls.positional else ""
            print(f"    {name}{alias}: {type_text(f.annotation).replace(chr(92), '')}, {default}{pos}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .fmt import fmt_shape

    g = load_graph(args)
    for w in g.warnings:
        print(w.render() if hasattr(w, "render") else str(w), file=sys.stderr)
    outs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in g.output_shapes().items())
    print(f"ok: {g.name}: input {fmt_shape(g.input_shape)} -> {outs}; "
          f"{len(g.layers())} layers, {g.params:,} params, {g.macs / 1e9:.3f} GMACs")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from .summary import table, to_json

    g = load_graph(args)
    if args.json:
        print(to_json(g, args.depth))
    else:
        print(table(g, args.depth))
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    from netspec.compiler.to_torch import compile_cli

    return compile_cli(load_graph(args), args)


def cmd_render(args: argparse.Namespace) -> int:
    from netspec.compiler.to_graphviz import render_cli

    return render_cli(load_graph(args), args)


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="a library name (resnet50), a file (my.net) or file.net:network")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a network parameter")
    p.add_argument("--input", metavar="CxHxW", help="override the input shape, e.g. 3x512x512")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netspec", description="Check, summarize, render and compile CNN specs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the networks in the spec library")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("ops", help="show ops with their parameters")
    p.add_argument("name", nargs="?")
    p.set_defaults(fn=cmd_ops)

    p = sub.add_parser("check", help="check a spec and print a one-line verdict")
    _spec_args(p)
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("summary", help="per-layer table: shapes, params, MACs, receptive field")
    _spec_args(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--depth", type=int, default=None, help="group rows by scope depth (0 = top level)")
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("compile", help="compile to a torch module; -o model.py writes standalone source")
    _spec_args(p)
    p.add_argument("-o", "--output", required=True, help="model.py (source) or model.pt (state_dict)")
    p.add_argument("--class-name", default=None)
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("render", help="draw the architecture (svg, png, pdf or dot)")
    _spec_args(p)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--depth", default=None, help="0 = blocks as boxes; 'full' opens everything")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB")
    p.set_defaults(fn=cmd_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fn: Callable[[argparse.Namespace], int] = args.fn
    try:
        return fn(args)
    except SpecError as err:
        print(err.render(), file=sys.stderr)
        return 1
    except RecursionError:
        print("error: the spec is nested too deeply", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
