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


@settings(max_examples=int(os.environ.get("NETSPEC_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
