"""Fuzz: mutated specs must fail with a SpecError (or check fine), never a Python traceback."""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netspec import SpecError, load_text
from netspec.evaluate import Limits
from netspec.library import library_dir

ROOT = Path(__file__).parent
CORPUS = sorted(
    [*library_dir().glob("*.net"), *(ROOT / "data").glob("*.net"), *(ROOT / "errors").glob("*.net")],
    key=lambda p: p.name,
)
TEXTS = [p.read_text() for p in CORPUS if "import" not in p.read_text()]
PIECES = ["{", "}", "(", ")", "[", "]", ",", ";", ":", "->", "@", "@in", "=", "\n", "#", '"', "'", "x",
          "if", "else", "for", "in", "repeat", "let", "residual", "dense", "concat", "add", "output", "input",
          "train", "init", "block", "network", "-1", "0", "10**9", "1e308", "3.5", "true", "none", "in.channels",
          "{i}", "conv", "bn", "relu", "linear", "flatten", "upsample", "crop", "k=", "s=0", "groups=7", "**"]
# Pieces of the hostile inputs (tests/test_hostile.py): each must still end in a SpecError or a graph.
HOSTILE = ["[0] * 100000", "range(100000)", "str(range(9999))", "round(5, -10**15)", 'int("٣")', "sum(",
           "enumerate(", "zip(", "10**15", "[[0] * 999] * 99", "repeat 9999 {", "dense { repeat 99 { relu } }",
           "[i for i in range(999)]", "max(", "e()", "block e() { }"]
PIECES += HOSTILE
LIMITS = Limits(max_nodes=5_000, max_iterations=20_000, max_depth=24, max_work=200_000)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace_number", "duplicate_line"]))
        if action == "insert":
            text = text[:pos] + draw(st.sampled_from(PIECES)) + text[pos:]
        elif action == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)):]
        elif action == "replace_number":
            numbers = list(re.finditer(r"\d+", text))
            if numbers:
                m = numbers[draw(st.integers(0, len(numbers) - 1))]
                new = draw(st.sampled_from(["0", "-1", "1", "2", "7", "100000", "999999999999"]))
                text = text[: m.start()] + new + text[m.end():]
        else:
            lines = text.splitlines()
            if lines:
                i = draw(st.integers(0, len(lines) - 1))
                lines.insert(i, lines[i])
                text = "\n".join(lines)
    return text


def _check(text: str) -> None:
    names = re.findall(r"^\s*network\s+([A-Za-z_]\w*)", text, re.MULTILINE) or [None]
    for name in names[:3]:
        try:
            load_text(text, name=name, file="fuzz.net", limits=LIMITS)
        except SpecError as err:
            rendered = err.render()
            assert "error:" in rendered


@settings(
    max_examples=int(os.environ.get("NETSPEC_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_mutated_specs_only_raise_spec_errors(text: str) -> None:
    _check(text)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, " ", "a", "1", "n"]), max_size=30).map(" ".join))
def test_token_soup_only_raises_spec_errors(soup: str) -> None:
    _check("network n() {\n  input 3x16x16\n  " + soup + "\n}\n")
    _check(soup)


def test_corpus_is_not_empty() -> None:
    assert len(TEXTS) >= 3


# ---------------------------------------------------------------- grammar-aware: deep, wide and huge
#
# Specs built from the grammar's own shapes, scaled up: nesting (brackets, parentheses, blocks,
# braces), width (list items, arguments, layers, references) and size (numbers, strings,
# products). With the default limits each must end in a graph or a located SpecError, within
# CPU_S of CPU and MIB of memory (tracemalloc peak), whatever the size drawn.

CPU_S, MIB = 20.0, 300


def _deep(kind: str, n: int) -> str:
    body = {
        "parens": "let x = " + "(" * n + "1" + ")" * n,
        "lists": "let x = " + "[" * n + "]" * n,
        "unary": "let x = " + "-" * n + "1",
        "braces": "network n() {\n input 3x8x8\n" + "repeat 1 {\n" * n + "relu\n" + "}\n" * n + "}",
        "blocks": "\n".join(["block b0(c) { relu }"] + [f"block b{i}(c) {{ b{i - 1}(c); b{i - 1}(c) }}"
                                                         for i in range(1, n + 1)])
        + f"\nnetwork n() {{\n input 3x8x8\n b{n}(8)\n}}",
        "calls": "let x = " + "max(" * n + "1" + ")" * n,
    }[kind]
    return body if "network" in body else body + "\nnetwork n() {\n input 3x8x8\n relu\n}"


def _wide(kind: str, n: int) -> str:
    net = "network n() {\n input 3x8x8\n"
    return {
        "list": f"let x = [{', '.join(['1'] * n)}]\n{net} relu\n}}",
        "args": f"{net} conv 8 {' '.join(f'a{i}=1' for i in range(n))}\n}}",
        "layers": net + " relu\n" * n + "}",
        "refs": net + " x: relu\n concat " + " ".join(["@x"] * n) + "\n}",
        "lets": "".join(f"let v{i} = {i}\n" for i in range(n)) + f"{net} relu\n}}",
        "loop": f"{net} for i in range({n}) {{ relu }}\n}}",
    }[kind]


def _huge(kind: str, n: int) -> str:
    net = "network n() {\n input 3x8x8\n"
    return {
        "number": f"let x = {'9' * n}\n{net} relu\n}}",
        "power": f"let x = 10**{n}\n{net} relu\n}}",
        "string": f'let x = "{"a" * n}"\n{net} relu\n}}',
        "product": f"let x = [0] * {n} * {n}\n{net} relu\n}}",
        "channels": f"{net} conv {n}\n conv {n}\n}}",
        "input": f"network n() {{\n input 3x{n}x{n}\n conv 8 k=3\n}}",
    }[kind]


@st.composite
def scaled(draw: st.DrawFn) -> str:
    family = draw(st.sampled_from(["deep", "wide", "huge"]))
    n = draw(st.sampled_from([10, 1_000, 5_000, 20_000]))
    if family == "deep":
        kind = draw(st.sampled_from(["parens", "lists", "unary", "braces", "blocks", "calls"]))
        return _deep(kind, min(n, 60) if kind == "blocks" else n)
    if family == "wide":
        return _wide(draw(st.sampled_from(["list", "args", "layers", "refs", "lets", "loop"])), n)
    return _huge(draw(st.sampled_from(["number", "power", "string", "product", "channels", "input"])), n)


@settings(max_examples=int(os.environ.get("NETSPEC_FUZZ_SCALED", "15")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scaled())
def test_deep_wide_and_huge_specs_end_in_bounded_time_and_memory(text: str) -> None:
    import time
    import tracemalloc

    tracemalloc.start()
    cpu = time.process_time()
    try:
        try:
            load_text(text, file="scaled.net")
        except SpecError as err:
            assert "error:" in err.render()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    cpu = time.process_time() - cpu
    assert cpu < CPU_S, f"{cpu:.1f} s of CPU for {text[:80]!r}..."
    assert peak < MIB, f"{peak:.0f} MiB for {text[:80]!r}..."
