"""The `netspec` command: list, ops, check, summary, compile, render, diff, view, weights, fmt.

Every user mistake prints a SpecError (file:line:col, source line, caret, hint)
and exits 1; a bad combination of options exits 2, as argparse does for its own
usage errors; nothing prints a Python traceback. Diagnostics are coloured on a
terminal only (NO_COLOR turns colour off, FORCE_COLOR on); `-o -` writes to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TypedDict

from . import TORCH_HINT, __version__
from .ast import Const, Param
from .errors import SOURCES, SpecError, use_color
from .graph import Graph


class UsageError(Exception):
    """Options that cannot go together (exit 2, like argparse's own usage errors)."""


class StrictError(Exception):
    """`--strict` and the spec has lint warnings (exit 1)."""


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

    params, shape = _parse_set(args.set), _parse_input(args.input)
    try:
        g = load(args.spec, input=shape, **params)
    except SpecError as err:
        if shape is not None:
            _size_hint(err, args.spec, params, shape)
        raise
    if getattr(args, "strict", False) and g.warnings:
        _print_warnings(g)
        n = len(g.warnings)
        raise StrictError(f"{n} lint warning{'s' if n > 1 else ''}, and --strict makes them errors")
    return g


def _print_warnings(g: Graph) -> None:
    color = use_color(sys.stderr)
    for w in g.warnings:
        print(w.render(color=color) if hasattr(w, "render") else str(w), file=sys.stderr)


def _size_hint(err: SpecError, spec: str, params: dict[str, Any], shape: tuple[int, ...]) -> None:
    """An --input size that fails: hint at the nearest sizes that work (the op's own hint becomes a note)."""
    from .sizes import suggest

    hint = suggest(spec, params, shape)
    if hint is not None:
        if err.hint:
            err.notes.append(err.hint)
        err.hint = hint


def cmd_list(args: argparse.Namespace) -> int:
    from .library import Loader, library_dir, network_params
    from .weights import weights_for

    loader = Loader()
    entries: list[ListEntry] = []
    for path in sorted(library_dir().glob("*.net")):
        loaded = loader.load(path)
        for name, (entry, owner) in loaded.networks.items():
            if owner is not loaded:
                continue
            params = [_param_entry(p, loaded.env) for p in network_params(entry, owner)]
            known = weights_for(name)
            default = next((w.tag for w in known if w.default), None)
            entries.append(
                {
                    "name": name,
                    "file": path.name,
                    "params": params,
                    "weights": [w.tag for w in known],
                    "default_weights": default,
                }
            )
    if args.json:
        print(json.dumps({"schema_version": SCHEMA_VERSION, "networks": entries}, indent=2, allow_nan=False))
        return 0
    width = max(len(e["name"]) for e in entries) if entries else 0
    for e in entries:
        text = ", ".join(p["name"] if p["required"] else f"{p['name']}={p['text']}" for p in e["params"])
        marked = [t + ("*" if t == e["default_weights"] else "") for t in e["weights"]]
        tags = f"  [weights: {', '.join(marked)}]" if marked else ""
        print(f"{e['name'].ljust(width)}  {e['file']:<22} {text}{tags}")
    return 0


SCHEMA_VERSION = 1  # of every --json output; raised when a field changes meaning or goes


class ParamEntry(TypedDict):
    """A network parameter in `netspec list --json`: its default as a JSON value and as written."""

    name: str
    required: bool
    default: Any  # the value (numbers as numbers), or null when required or not a constant
    text: str | None  # the default as the spec writes it (`1e-5`, `"basic"`, `cfg_d`)


class ListEntry(TypedDict):
    """One row of `netspec list --json`: a network, its file, its parameters, and the tags of its
    pretrained weights (`netspec weights`) with the one `DEFAULT` names."""

    name: str
    file: str
    params: list[ParamEntry]
    weights: list[str]
    default_weights: str | None


def _param_entry(p: Param, env: Any) -> ParamEntry:
    """A parameter's default, evaluated where the spec can be (its file's constants)."""
    from .table import jsonable
    from .values import evaluate

    value = None
    if p.default is not None:
        try:
            value = jsonable(evaluate(p.default, env))
        except SpecError:
            value = None  # it reads another parameter: only the text says what it is
    return {"name": p.name, "required": p.default is None, "default": value, "text": _default_text(p)}


def _default_text(p: Param) -> str | None:
    """A parameter's default as written in the spec (`1e-5`, `"basic"`), or None without one."""
    if p.default is None:
        return None
    if isinstance(p.default, Const):
        v = p.default.value
        return "true" if v is True else "false" if v is False else repr(v) if isinstance(v, str) else str(v)
    s = p.default.span
    lines = SOURCES.get(s.file, "").splitlines()
    if s.line == s.end_line and 0 < s.line <= len(lines):
        return lines[s.line - 1][s.col - 1 : s.end_col - 1]
    return "..."


def cmd_ops(args: argparse.Namespace) -> int:
    from .docgen import op_text
    from .ops import OPS
    from .plugins import load_installed

    load_installed()  # list the installed plugins' ops too
    kinds = [args.name] if args.name else sorted(OPS)
    for kind in kinds:
        if kind not in OPS:
            from .errors import did_you_mean

            raise SpecError(f"unknown op '{kind}'", None, hint=did_you_mean(kind, OPS))
    if args.json:
        from .docgen import op_json

        ops = [op_json(OPS[kind]) for kind in kinds]
        print(json.dumps({"schema_version": SCHEMA_VERSION, "ops": ops}, indent=2, allow_nan=False))
        return 0
    for kind in kinds:
        print(op_text(OPS[kind]))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .fmt import fmt_shape

    if args.json:
        return _check_json(args)
    g = load_graph(args)
    _print_warnings(g)
    outs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in g.output_shapes().items())
    print(
        f"ok: {g.name}: input {fmt_shape(g.input_shape)} -> {outs}; "
        f"{len(g.layers())} layers, {g.params:,} params, {g.macs / 1e9:.3f} GMACs"
    )
    if args.sizes:
        print(_sizes(args, g).text())
    return 0


def _check_json(args: argparse.Namespace) -> int:
    """`check --json`: the verdict, or the error, as one JSON object on stdout (exit 0 or 1)."""
    try:
        g = load_graph(args)
        sizes = _sizes(args, g).as_json() if args.sizes else None
    except SpecError as err:
        data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "ok": False, "error": _diagnostic(err, "error")}
        print(json.dumps(data, indent=2, allow_nan=False))
        return 1
    data = {
        "schema_version": SCHEMA_VERSION,
        "ok": True,
        "network": g.name,
        "file": g.file,
        "input": [1, *g.input_shape],
        "outputs": {k: {"shape": [1, *v], "train_only": k in g.train_outputs} for k, v in g.output_shapes().items()},
        "layers": len(g.layers()),
        "params": g.params,
        "macs": g.macs,
        "warnings": [_diagnostic(w, "warning") for w in g.warnings],
    }
    if sizes is not None:
        data["input_sizes"] = sizes
    print(json.dumps(data, indent=2, allow_nan=False))
    return 0


def _diagnostic(d: Any, severity: str) -> dict[str, Any]:
    """A SpecError or lint warning as JSON: where (1-based, end exclusive), what, and the rendered text."""
    span = d.span
    where = (
        {"file": span.file, "line": span.line, "col": span.col, "end_line": span.end_line, "end_col": span.end_col}
        if span is not None
        else {"file": None, "line": None, "col": None, "end_line": None, "end_col": None}
    )
    return {
        "severity": severity,
        "code": getattr(d, "code", None),
        "message": d.message,
        **where,
        "path": d.path,
        "hint": d.hint,
        "notes": list(d.notes),
        "text": d.render(),
    }


def _sizes(args: argparse.Namespace, g: Graph) -> Any:
    """The input-size rule of the spec `args` names (`check --sizes`, the `summary` line)."""
    from .sizes import Prober, analyze

    params, shape = _parse_set(args.set), _parse_input(args.input)
    return analyze(args.spec, prober=Prober(args.spec, params, shape, graph=g))


def cmd_summary(args: argparse.Namespace) -> int:
    from .table import Summary, parse_columns, parse_depth

    g = load_graph(args)
    s = Summary(g, parse_depth(args.depth), parse_columns(args.columns), args.batch, args.dtype)
    sizes = _sizes(args, g) if args.sizes else None  # ~0.2 s on resnet152: asked for, not by default
    if args.json:
        data = s.as_json()
        if sizes is not None:
            data["input_sizes"] = sizes.as_json()
        text = json.dumps(data, allow_nan=False)
    else:
        text = s.text() + (f"\n{sizes.short()}" if sizes is not None else "")
    _emit(args.output, text)
    return 0


def _emit(output: str, text: str) -> None:
    """Print `text` (`-o -`, the default) or write it to a file."""
    if output == "-":
        print(text)
        return
    from pathlib import Path

    try:
        Path(output).write_text(text + "\n", encoding="utf-8")
    except OSError as err:
        raise SpecError(f"cannot write {output}: {err.strerror}", None) from None


def cmd_compile(args: argparse.Namespace) -> int:
    if args.output == "-" and (args.format == "pt" or args.weights is not None):
        raise UsageError("-o - writes Python source; a state_dict (--format pt, --weights) needs a file: -o model.pt")
    g = load_graph(args)
    try:
        from netspec.compiler.to_torch import compile_cli
    except ModuleNotFoundError as err:
        if err.name != "torch":
            raise
        raise SpecError("netspec compile needs torch, which is not installed", None, hint=TORCH_HINT) from None
    return compile_cli(g, args)


def cmd_weights(args: argparse.Namespace) -> int:
    """`netspec weights [NET]`: the pretrained checkpoints recorded for the library's networks."""
    from .weights import records, table, weights_for

    if args.json:
        chosen = {args.network: weights_for(args.network)} if args.network else records()
        if args.network and not chosen[args.network]:
            table(args.network)  # raises the located "no weights" error
        dump = {name: [w.model_dump(mode="json") for w in ws] for name, ws in chosen.items()}
        print(json.dumps(dump, indent=2))
        return 0
    print(table(args.network))
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    if args.output == "-" and args.format in ("png", "pdf"):
        raise UsageError(f"-o - writes text (dot, svg or html); write {args.format} to a file: -o net.{args.format}")
    from netspec.compiler.to_graphviz import render_cli

    g = load_graph(args)
    if args.diff is None:
        return render_cli(g, args)
    from .diff import highlight
    from .library import load

    base = load(args.diff, input=_parse_input(args.input), **_parse_set(args.diff_set))
    return render_cli(g, args, highlight=highlight(base, g, args.diff))


def cmd_diff(args: argparse.Namespace) -> int:
    """Exit 0 when the graphs are the same, 1 when they differ, 2 when either cannot be loaded."""
    from .diff import as_json, diff, text
    from .library import load

    try:
        both = _parse_set(args.set)
        ga = load(args.a, input=_parse_input(args.input_a or args.input), **{**both, **_parse_set(args.set_a)})
        gb = load(args.b, input=_parse_input(args.input_b or args.input), **{**both, **_parse_set(args.set_b)})
    except SpecError as err:
        print(err.render(color=use_color(sys.stderr)), file=sys.stderr)
        return 2
    d = diff(ga, gb, args.a, args.b)
    try:
        _emit(args.output, json.dumps(as_json(d), indent=2, allow_nan=False) if args.json else text(d))
    except SpecError as err:
        print(err.render(color=use_color(sys.stderr)), file=sys.stderr)
        return 2
    return 0 if d.identical else 1


def cmd_view(args: argparse.Namespace) -> int:
    from .view import view_cli

    return view_cli(
        args.spec, _parse_input(args.input), _parse_set(args.set), args.depth, args.rankdir, args.port, not args.no_open
    )


# ---- fmt (netspec/fmt_spec.py)
def cmd_fmt(args: argparse.Namespace) -> int:
    from .fmt_spec import fmt_cli

    return fmt_cli(args)


def _fmt_parser(sub: Any) -> None:
    p = sub.add_parser("fmt", help="lay out .net files the canonical way (comments kept); --check for CI")
    p.add_argument("files", nargs="+", metavar="FILE", help="a .net file, a folder of them, or - for stdin -> stdout")
    p.add_argument(
        "--check", action="store_true", help="write nothing; list the files that would change; exit 1 if any"
    )
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    p.set_defaults(fn=cmd_fmt)


# ---- end fmt


def _spec_args(p: argparse.ArgumentParser, strict: bool = True) -> None:
    p.add_argument("spec", help="a library name (resnet50), a file (my.net) or file.net:network")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a network parameter")
    p.add_argument("--input", metavar="CxHxW", help="override the input shape, e.g. 3x512x512")
    if strict:
        p.add_argument("--strict", action="store_true", help="treat lint warnings as errors (exit 1)")
    _plugin_arg(p)


def _plugin_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a Python module that registers ops (repeatable; see docs/ops.md)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netspec", description="Check, summarize, render and compile CNN specs.")
    parser.add_argument("-V", "--version", action="version", version=f"netspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the networks in the spec library")
    p.add_argument("--json", action="store_true", help="machine-readable output (strict JSON, schema_version 1)")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("ops", help="show ops with their parameters")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output (strict JSON, schema_version 1)")
    _plugin_arg(p)
    p.set_defaults(fn=cmd_ops)

    p = sub.add_parser("check", help="check a spec and print a one-line verdict")
    _spec_args(p)
    p.add_argument(
        "--sizes",
        action="store_true",
        help="also work out which input heights and widths run, and which lose no pixels",
    )
    p.add_argument("--json", action="store_true", help="the verdict or the error as JSON on stdout (schema_version 1)")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("summary", help="per-layer table: shapes, params, MACs, receptive field")
    _spec_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output (strict JSON, schema_version 1)")
    p.add_argument("--depth", default=None, help="group rows by scope depth (0 = top level); 'full': every layer")
    p.add_argument(
        "--columns",
        default=None,
        metavar="COLS",
        help="comma-separated, in order: op,in,out,kernel,params,trainable,macs,rf,param_mb,act_mb, or all "
        "(default op,out,params,macs,rf)",
    )
    p.add_argument("--batch", type=int, default=None, help="batch size for shapes and memory (default: N, memory of 1)")
    p.add_argument("--dtype", default="float32", help="float32 (default), float16, bfloat16 or float64, for memory")
    p.add_argument("--sizes", action="store_true", help="also print which input sizes run (as check --sizes)")
    p.add_argument("-o", "--output", default="-", metavar="FILE", help="write the table or JSON here (- = stdout)")
    p.set_defaults(fn=cmd_summary)

    p = sub.add_parser("compile", help="compile to a torch module; -o model.py writes standalone source")
    _spec_args(p)
    p.add_argument("-o", "--output", required=True, help="model.py (source; - = stdout) or model.pt (state_dict)")
    p.add_argument("--format", choices=["py", "pt"], help="what to write (default: from the -o suffix)")
    p.add_argument(
        "--weights",
        metavar="TAG|FILE|URL",
        help="load pretrained weights into the state_dict: a tag (netspec weights NET), a file or a URL",
    )
    p.add_argument("--class-name", default=None)
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("render", help="draw the architecture (svg, png, pdf, dot, or an interactive .html page)")
    _spec_args(p)
    p.add_argument("-o", "--output", required=True, help="net.svg, .png, .pdf, .dot or .html; - = stdout")
    p.add_argument(
        "--format",
        choices=["svg", "png", "pdf", "dot", "html"],
        help="what to write (default: from the -o suffix; dot for -o -)",
    )
    p.add_argument("--depth", default=None, help="0 = blocks as boxes; 'full' opens everything")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB")
    p.add_argument(
        "--layout",
        choices=["auto", "chain"],
        default="auto",
        help="auto: encoder-decoders (U-Net, FCN) as a U, each down stage beside its up stage; chain: one column",
    )
    p.add_argument("--diff", metavar="BASE", help="colour what SPEC adds (green) or changes (amber) against BASE")
    p.add_argument("--diff-set", action="append", default=[], metavar="NAME=VALUE", help="a parameter of BASE")
    p.set_defaults(fn=cmd_render)

    p = sub.add_parser("diff", help="compare two networks layer by layer (exit 0 same, 1 different, 2 trouble)")
    p.add_argument("a", metavar="A", help="the old network: a library name, a file or file.net:network")
    p.add_argument("b", metavar="B", help="the new network")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a parameter of both")
    p.add_argument("--set-a", action="append", default=[], metavar="NAME=VALUE", help="a parameter of A")
    p.add_argument("--set-b", action="append", default=[], metavar="NAME=VALUE", help="a parameter of B")
    p.add_argument("--input", metavar="CxHxW", help="the input shape of both")
    p.add_argument("--input-a", metavar="CxHxW", help="the input shape of A")
    p.add_argument("--input-b", metavar="CxHxW", help="the input shape of B")
    p.add_argument("--json", action="store_true", help="machine-readable output (strict JSON, schema_version 1)")
    p.add_argument("-o", "--output", default="-", metavar="FILE", help="write the report here (- = stdout)")
    _plugin_arg(p)
    p.set_defaults(fn=cmd_diff)

    p = sub.add_parser("view", help="serve the interactive diagram on localhost, redrawn when the spec is saved")
    _spec_args(p, strict=False)  # a live page shows warnings and errors as they come
    p.add_argument("--depth", default=None, help="the level shown first: 0 = blocks as boxes; 'full' opens everything")
    p.add_argument("--rankdir", choices=["TB", "LR"], default="TB")
    p.add_argument("--port", type=int, default=0, help="default: any free port")
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.set_defaults(fn=cmd_view)

    p = sub.add_parser("weights", help="pretrained weights recorded for the library's networks (tags, preprocessing)")
    p.add_argument("network", nargs="?", help="one network's records in full (default: every network's tags)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_weights)

    _fmt_parser(sub)
    return parser


def _load_plugins(modules: list[str]) -> None:
    """Import the `--plugin` modules, in order; their `@register`s add their ops."""
    if modules:
        from .plugins import load_module

        for module in modules:
            load_module(module)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    fn: Callable[[argparse.Namespace], int] = args.fn
    color = use_color(sys.stderr)
    try:
        _load_plugins(args.plugin if "plugin" in args else [])
    except SpecError as err:
        print(err.render(color=color), file=sys.stderr)
        return 2 if fn is cmd_diff else 1  # for diff, 1 means "different"
    try:
        return fn(args)
    except UsageError as err:
        print(f"netspec {args.command}: error: {err}", file=sys.stderr)
        return 2
    except StrictError as err:
        print(SpecError(str(err)).render(color=color), file=sys.stderr)
        return 1
    except SpecError as err:
        print(err.render(color=color), file=sys.stderr)
        return 1
    except RecursionError:
        print("error: the spec is nested too deeply", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
