"""`netspec fmt`: one canonical layout, comments kept, idempotent, the same graph.

The library is already formatted, so it is its own golden file: a library file whose
layout is scrambled (indentation, spaces, blank lines, redundant `;`) formats back to
the committed text, and the scrambled file checks to the same graph, network by
network. Random specs (hypothesis) format idempotently to the same syntax tree, the
same comments and the same graph or error.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import LIMITS, mutated

import netspec.library as library
from netspec import SpecError, load_text
from netspec import ast as A
from netspec.cli import main
from netspec.fmt_spec import _aligns, _space, _tokens, _tree_parser, format_text
from netspec.graph import Graph
from netspec.parse import parse

SPECS = sorted(library.library_dir().glob("*.net"))
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers


def tree_of(text: str) -> Any:
    """The syntax tree with every span (and the source text) left out: what the text means."""
    return _strip(parse(text))


def _strip(node: Any) -> Any:
    if isinstance(node, A.Span):
        return None
    if isinstance(node, tuple):
        return tuple(_strip(n) for n in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        skip = ("source", "path")
        fields = (f.name for f in dataclasses.fields(node) if f.name not in skip)
        return (type(node).__name__, *(_strip(getattr(node, name)) for name in fields))
    return node


def graph_key(g: Graph) -> Any:
    """Everything a checked graph says, spans aside: node ids, ops, inputs, shapes, params, MACs, outputs."""
    nodes = [
        (n.id, n.op.model_dump(mode="json"), n.inputs, n.shape, n.params, n.macs, n.train_only)
        for n in g.nodes.values()
    ]
    scopes = [(s.path, s.kind, s.name, s.output, s.input, sorted(s.args)) for s in g.scopes.values()]
    inits = [(r.prefix, r.kind, repr(r.weight), repr(r.bias)) for r in g.inits]
    return (g.name, g.input_shape, nodes, g.outputs, sorted(g.train_outputs), scopes, inits, g.free_params)


def comments(text: str) -> list[str]:
    """The comments of a file, in order (strings in these files never hold a '#')."""
    return [c.rstrip() for c in re.findall(r"#[^\n]*", text)]


def networks(text: str) -> list[str]:
    return [n.name for n in parse(text).networks]


def scramble(text: str, rng: random.Random) -> str:
    """The same tokens with another layout: only changes `fmt` must undo.

    Every line gets a random indent and trailing blanks; spaces around `=`, `->`,
    operators and before `, ; : ) ]` grow or shrink (never where a column may be
    aligned, see fmt_spec._aligns, nor where tokens would merge); lines at
    bracket depth 0 may end in a redundant `;`; the first line of a body and the line
    before a closing brace may get blank lines before them.
    """
    toks = _tokens(_tree_parser().parse(text))
    out: list[str] = []
    pos, depth = 0, 0
    for i, tok in enumerate(toks):
        gap = text[pos : tok.start]
        prev = toks[i - 1] if i else None
        if "\n" in gap or "#" in gap:
            if depth == 0 and prev is not None and prev.text not in ("->", ",") and rng.random() < 0.3:
                out.append(";")
            gap = _scramble_lines(gap, rng, closing=tok.text == "}", opened=prev is not None and prev.text == "{")
        elif prev is not None:
            gap = _scramble_space(prev, tok, gap, rng)
        out.append(gap + tok.text)
        depth += (tok.text in ("(", "[")) - (tok.text in (")", "]"))
        pos = tok.end
    out.append(text[pos:])
    return "".join(out)


def _scramble_lines(gap: str, rng: random.Random, closing: bool, opened: bool) -> str:
    lines = gap.split("\n")
    lines = [line + " " * rng.randint(0, 2) if j < len(lines) - 1 else line for j, line in enumerate(lines)]
    lines[1:] = [" " * rng.randint(0, 7) + line.lstrip(" ") for line in lines[1:]]
    if (closing or opened) and rng.random() < 0.5:
        lines.insert(len(lines) - 1 if closing else 1, " " * rng.randint(0, 3))
    return "\n".join(lines)


_MERGING = {"**", "//", "->", "==", "!=", "<=", ">=", "*-"}


def _scramble_space(prev: Any, tok: Any, gap: str, rng: random.Random) -> str:
    canonical = _space(prev, tok)
    if gap != " " * canonical or _aligns(prev, tok):
        return gap  # an aligned column, kept as written
    if canonical == 0:
        if tok.text in (",", ";", ")", "]") or (tok.text == ":" and prev.type != "NAME_TEMPLATE"):
            return " " * rng.randint(0, 2)
        return gap
    operatorish = not (prev.text[-1].isalnum() or prev.text[-1] in "_\"'") or not (
        tok.text[0].isalnum() or tok.text[0] in "_\"'@"
    )
    if operatorish and prev.text[-1] + tok.text[0] not in _MERGING and prev.text not in ("{",) and tok.text != "}":
        return " " * rng.randint(0, 3)
    return " " * rng.randint(1, 3)


# ---------------------------------------------------------------- the library


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_library_is_formatted(path: Path) -> None:
    text = path.read_text()
    assert format_text(text, str(path)) == text, f"run: netspec fmt {path}"


def test_scrambled_library_formats_back_and_checks_to_the_same_graphs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(13)
    originals = {p.name: p.read_text() for p in SPECS}
    for name, text in originals.items():
        scrambled = scramble(text, rng)
        assert scrambled != text
        assert format_text(scrambled) == text, name
        (tmp_path / name).write_text(scrambled)
    count = 0
    for name, text in originals.items():
        for net in networks(text):
            want = graph_key(library.load(f"{library.library_dir() / name}:{net}"))
            with monkeypatch.context() as m:
                m.setattr(library, "library_dir", lambda: tmp_path)  # `import common` finds the scrambled one
                got = graph_key(library.load(f"{tmp_path / name}:{net}"))
            assert got == want, f"{name}:{net}"
            count += 1
    assert count >= 50


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SPECS), st.randoms(use_true_random=False))
def test_any_scramble_of_a_library_file_formats_back(path: Path, rng: random.Random) -> None:
    text = path.read_text()
    scrambled = scramble(text, rng)
    assert tree_of(scrambled) == tree_of(text)
    assert format_text(scrambled) == text


# ---------------------------------------------------------------- the rules, one by one

CASES = {
    "indent and spaces": (
        "block b(c){\nconv c k = 3 p=1->bn  ->relu\n    }\n",
        "block b(c) {\n  conv c k=3 p=1 -> bn -> relu\n}\n",
    ),
    "= in let, typed defaults, aliases and residual options; tight in arguments": (
        "let a=1\nblock b(c:int=3, d = 2) { residual(shortcut=conv c, when=d>1) { f(1, k = 2) } }\n"
        "network n=m(x = 1)\n",
        "let a = 1\nblock b(c: int = 3, d=2) { residual(shortcut = conv c, when = d > 1) { f(1, k=2) } }\n"
        "network n = m(x=1)\n",
    ),
    "operators: tight in an op's keyword value, spaced elsewhere; ** hugs simple operands": (
        "block b(c) { conv c * 2 k = 2 * c p=( c - 1 )//2 d=2 ** c\n  linear 2 ** sum([1, 2]) + -c }\n",
        "block b(c) { conv c * 2 k=2*c p=(c - 1)//2 d=2**c\n  linear 2 ** sum([1, 2]) + -c }\n",
    ),
    "calls, indexes, attributes, unary signs": (
        "let a = f( a ) [ 0 ] . x\nlet b = - a\nlet c = not a\nlet d = in . channels\n",
        "let a = f(a)[0].x\nlet b = -a\nlet c = not a\nlet d = in.channels\n",
    ),
    "a continued chain is indented 4; brackets: visual or hanging": (
        "network n(a,\nb) {\ninput 3x8x8\nx: conv 8 ->\nrelu ->\nbn\nlet l = [\n1,\n  2,\n]\nlet m = [1,\n2]\n}\n",
        "network n(a,\n          b) {\n  input 3x8x8\n  x: conv 8 ->\n      relu ->\n      bn\n  let l = [\n    1,\n"
        "    2,\n  ]\n  let m = [1,\n           2]\n}\n",
    ),
    "a brace after a continued bracket counts from the statement": (
        "network n(a,\n          b) {\nrelu\n}\n",
        "network n(a,\n          b) {\n  relu\n}\n",
    ),
    "bodies inside brackets and continued chains": (
        "block b() {\n  x: [relu, concat {\nrelu\n  bn\n}]\n  @x ->\n concat {\n relu\n }\n}\n",
        "block b() {\n  x: [relu, concat {\n    relu\n    bn\n  }]\n"
        "  @x ->\n      concat {\n        relu\n      }\n}\n",
    ),
    "semicolons that separate nothing go": (
        "block b() {; relu;;bn;\n  relu ; }\n;\n",
        "block b() { relu; bn\n  relu }\n",
    ),
    "blank lines: at most 2 at the top, 1 inside, none at a body's ends or the file's": (
        "\n\n\nlet a = 1\n\n\n\n\nblock b() {\n\n  relu\n\n\n\n  bn\n\n}\n\n\n",
        "let a = 1\n\n\nblock b() {\n  relu\n\n  bn\n}\n",
    ),
    "comments: kept, trailing ones at least 2 spaces out, own-line ones indented": (
        "# head\nblock b() { # open\n# inside\n  relu # r\n        # before the close\n}   # end\n",
        "# head\nblock b() {  # open\n  # inside\n  relu  # r\n  # before the close\n}   # end\n",
    ),
    "aligned columns are kept": (
        "block b() {\n  f(  64,    96)\n  conv 8;   relu\n  a:   relu\n  relu     # aligned\n}\n",
        "block b() {\n  f(  64,    96)\n  conv 8;   relu\n  a:   relu\n  relu     # aligned\n}\n",
    ),
    "trailing whitespace, tabs, CRLF and a missing final newline": (
        "block b() {\r\n\trelu   \r\n\tbn\t}",
        "block b() {\n  relu\n  bn }\n",
    ),
    "a backslash continuation is kept (and the `;` before one); one alone on a line goes": (
        "block b() {\n  conv 8 \\\n k=3; \\\nrelu\n\\\n  bn\n}\n",
        "block b() {\n  conv 8 \\\n      k=3; \\\n      relu\n  bn\n}\n",
    ),
    "empty body, empty file, a file of comments": ("block b() {   }\n", "block b() {}\n"),
    "empty file": ("\n\n", ""),
    "only comments": ("  # a\n\n\n\n# b", "# a\n\n\n# b\n"),
    "templates, strings, dims and floats stay as written": (
        "block b() {\n  l{i+1}: relu\n  'q{i}': relu\n  dropout .5 ; lrn 5 alpha=1e-4\n}\n",
        "block b() {\n  l{i+1}: relu\n  'q{i}': relu\n  dropout .5; lrn 5 alpha=1e-4\n}\n",
    ),
    "a number's attribute keeps its space": ("let a = 3 .real\n", "let a = 3 .real\n"),
}


@pytest.mark.parametrize("source, expected", list(CASES.values()), ids=list(CASES))
def test_rule(source: str, expected: str) -> None:
    assert format_text(source) == expected
    assert format_text(expected) == expected
    if source.strip():
        assert tree_of(source) == tree_of(expected)


def test_a_syntax_error_is_located() -> None:
    with pytest.raises(SpecError) as err:
        format_text("block b() {\n  relu\n", "x.net")
    assert err.value.span is not None and err.value.span.file == "x.net"


# ---------------------------------------------------------------- random specs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_any_spec_that_parses_formats_to_the_same_meaning(text: str) -> None:
    try:
        before = tree_of(text)
    except SpecError:
        with pytest.raises(SpecError):
            format_text(text)
        return
    out = format_text(text)
    assert format_text(out) == out
    assert tree_of(out) == before
    assert comments(out) == comments(text)
    for name in networks(text)[:2]:
        assert _outcome(out, name) == _outcome(text, name)


def _outcome(text: str, name: str) -> Any:
    try:
        return graph_key(load_text(text, name=name, file="fuzz.net", limits=LIMITS))
    except SpecError as err:  # the same error; the blank lines it counts past may differ
        return re.sub(r"line \d+", "line N", err.message)
    except RecursionError:
        return "recursion"


def _space_in(draw: st.DrawFn, template: str, newline_ok: bool = False) -> str:
    """Fill a template: `_` spaces (or `\\` newline), `~` any spaces, `%` spaces or (in brackets) a line break."""
    out = []
    for ch in template:
        if ch == "_":
            out.append(draw(st.sampled_from([" ", "  ", "   ", " \\\n  "])))
        elif ch == "~":
            out.append(" " * draw(st.integers(0, 2)))
        elif ch == "%":
            out.append(draw(st.sampled_from(["", " ", "\n", "\n    ", "  # c\n"])))
        else:
            out.append(ch)
    return "".join(out)


LAYERS = [
    "conv_{c}_k~=~3_p~=~1",
    "conv_{c}~*~2_k~=~1",
    "bn",
    "relu~->~bn~->~relu",
    "maxpool_3_s=~1_p~=~1",
    "res(~)",
    "concat_{%conv_4_k=1\nconv_{c}_k=3_p=1%}",
    "[~conv_{c}~,%relu~,%bn~]",
    "blk(~{c}~,%s~=~1~)",
    "for_i_in_range(~2~)_{_conv_w[~i~]_k=3_p=1_}",
    "if_{c}~>~4_{_relu_}_else_{_bn_}",
    "x{n}~:_conv_{c}_k=1",
]


@st.composite
def layouts(draw: st.DrawFn) -> str:
    """A small valid network, its statements drawn from LAYERS, in a random layout with comments."""
    parts = [_space_in(draw, "let_w~=~[~8~,%16~]"), "\n" * draw(st.integers(1, 4))]
    parts.append(_space_in(draw, "block_blk(~c~,%s~=~1~)_{\n~conv_c_k=3_p=~s\n~relu~}"))
    parts.append(_space_in(draw, "\nblock_res()_{_residual~{~conv_in.channels_k=3_p=~(~3~-~1~)~//~2~;~bn~}_}"))
    parts.append("\n" * draw(st.integers(1, 4)))
    parts.append(_space_in(draw, "network_n(~)_{"))
    parts.append(draw(st.sampled_from(["\n", " # net\n", ";"])))
    parts.append(_space_in(draw, "~input_3x16x16\n"))
    for n in range(draw(st.integers(1, 8))):
        template = draw(st.sampled_from(LAYERS)).replace("{c}", str(draw(st.sampled_from([4, 8]))))
        template = template.replace("{n}", str(n))
        parts.append(" " * draw(st.integers(0, 6)) + _space_in(draw, template))
        parts.append(draw(st.sampled_from(["\n", "\n\n\n", ";", " ; ", "; \\\n", "  # note\n", "\n  # own line\n"])))
    parts.append(draw(st.sampled_from(["}", "\n}", "  }\n", "\n\n}\n\n"])))
    return "".join(parts)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_random_layouts_format_to_the_same_graph(text: str) -> None:
    out = format_text(text)
    assert format_text(out) == out
    assert tree_of(out) == tree_of(text)
    assert comments(out) == comments(text)
    assert all(line == line.rstrip() for line in out.splitlines())
    assert _outcome(out, "n") == _outcome(text, "n")
    assert isinstance(_outcome(text, "n"), tuple)  # the layouts are valid networks


# ---------------------------------------------------------------- the command


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


UGLY = "block b(){\n conv 8 k = 3\n}\n"
PRETTY = "block b() {\n  conv 8 k=3\n}\n"


def test_fmt_rewrites_in_place_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a.net"
    f.write_text(UGLY)
    f.chmod(0o640)
    (tmp_path / "ok.net").write_text(PRETTY)
    code, out, err = run(["fmt", str(tmp_path)], capsys)
    assert (code, out) == (0, "")
    assert err == f"reformatted {f}\n"
    assert f.read_text() == PRETTY
    assert stat.S_IMODE(f.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.net", "ok.net"]  # no temporary file left
    assert run(["fmt", str(f)], capsys) == (0, "", "")


def test_fmt_check_lists_files_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ugly, pretty = tmp_path / "u.net", tmp_path / "p.net"
    ugly.write_text(UGLY)
    pretty.write_text(PRETTY)
    assert run(["fmt", "--check", str(ugly), str(pretty)], capsys) == (1, "", f"would reformat {ugly}\n")
    assert ugly.read_text() == UGLY
    assert run(["fmt", "--check", str(pretty)], capsys) == (0, "", "")


def test_fmt_diff_prints_a_unified_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "u.net"
    f.write_text(UGLY)
    code, out, err = run(["fmt", "--diff", str(f)], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[:2] == [f"--- {f} (original)", f"+++ {f} (formatted)"]
    assert out.endswith("@@ -1,3 +1,3 @@\n-block b(){\n- conv 8 k = 3\n+block b() {\n+  conv 8 k=3\n }\n")
    assert f.read_text() == UGLY


def test_fmt_stdin_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(UGLY))
    assert run(["fmt", "-"], capsys) == (0, PRETTY, "")


def test_fmt_leaves_a_broken_file_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken, ugly = tmp_path / "broken.net", tmp_path / "u.net"
    broken.write_text("block b() {\n  conv 8 k=\n}\n")
    ugly.write_text(UGLY)
    before = broken.stat().st_mtime_ns
    code, out, err = run(["fmt", str(broken), str(ugly)], capsys)
    assert (code, out) == (1, "")
    assert f"{broken}:2:12: error: statement ends too early" in err and "^" in err  # located, with a caret
    assert broken.read_text() == "block b() {\n  conv 8 k=\n}\n" and broken.stat().st_mtime_ns == before
    assert ugly.read_text() == PRETTY  # the other files are still formatted
    code, _, err = run(["fmt", str(tmp_path / "missing.net")], capsys)
    assert code == 1 and "error: no such spec file" in err and "missing.net" in err  # read as every spec is read


def test_fmt_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "netspec", "fmt", "-"], input=UGLY, capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert (done.returncode, done.stdout) == (0, PRETTY)
