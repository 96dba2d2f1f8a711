"""Highlighting: the Pygments lexer and the TextMate grammar say what the language says.

Both are made from one table (netspec/pygments_lexer.py); these tests hold that table
to the grammar's keywords, the parser's constants, the op registry and the evaluator's
functions, the committed TextMate file to the table, and the lexer to the library.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import import_module
from pathlib import Path

import pytest
from pygments import lex
from pygments.token import Error

import netspec.pygments_lexer as P
from netspec.fmt_spec import grammar_keywords
from netspec.library import library_dir
from netspec.parse import _CONSTS

ROOT = Path(__file__).resolve().parent.parent
GROUPS = (P.DECLARATIONS, P.IMPORTS, P.CONTROL, P.STATEMENTS, P.CONSTRUCTS, P.OPERATOR_WORDS)
SPECS = sorted([*library_dir().glob("*.net"), *(ROOT / "tests" / "data").glob("*.net")], key=lambda p: p.name)


def test_the_lexer_knows_exactly_the_grammars_keywords() -> None:
    listed = [w for group in GROUPS for w in group]
    assert len(listed) == len(set(listed)), "a keyword sits in two groups"
    assert set(listed) == grammar_keywords(), "add the new keyword to one group in netspec/pygments_lexer.py"
    assert set(P.CONSTANTS) == set(_CONSTS)


def test_the_word_lists_are_generated_from_the_registry() -> None:
    source = Path(P.__file__).read_text()
    assert P.render_source(source) == source, "run: python -m netspec.pygments_lexer --write"
    assert P.words() == {"OPS": P.OPS, "FUNCTIONS": P.FUNCTIONS}


def test_the_committed_textmate_grammar_is_the_generated_one() -> None:
    assert P.TEXTMATE.read_text() == P.textmate_json(), "run: python -m netspec.pygments_lexer --write"


def test_the_textmate_grammar_knows_exactly_the_grammars_keywords() -> None:
    grammar = json.loads(P.TEXTMATE.read_text())
    assert grammar["scopeName"] == "source.netspec" and grammar["fileTypes"] == ["net"]
    words: set[str] = set()
    for pattern in grammar["patterns"]:
        scopes = [pattern.get("name", "")] + [c["name"] for c in pattern.get("captures", {}).values()]
        if not any(s.startswith(("keyword.", "storage.type.")) for s in scopes):
            continue
        for alternation in re.findall(r"\\b\(\??:?([a-z|]+)\)", pattern["match"]):
            words.update(alternation.split("|"))
    assert words == grammar_keywords()
    constants = [p for p in grammar["patterns"] if p.get("name") == "constant.language.netspec"]
    assert re.findall(r"[a-z]+", constants[0]["match"].replace("\\b", "")) == sorted(P.CONSTANTS, key=len)[::-1]


def test_every_rule_compiles_as_a_textmate_pattern_would() -> None:
    # Oniguruma and Python agree on everything these patterns use; no Python-only syntax.
    for pattern in json.loads(P.TEXTMATE.read_text())["patterns"]:
        re.compile(pattern["match"])
        assert "(?P" not in pattern["match"] and "(?<" not in pattern["match"]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_library_spec_lexes_without_errors(path: Path) -> None:
    text = path.read_text()
    tokens = list(lex(text, P.NetspecLexer()))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text


def kinds(text: str) -> list[tuple[str, str]]:
    return [(str(t).removeprefix("Token."), v) for t, v in lex(text, P.NetspecLexer()) if v.strip()]


def test_tokens_of_a_small_spec() -> None:
    got = kinds('block up(c, skip: tensor, block="x") {\n  "u{i}": conv 2*c k=3 -> relu if not in.channels\n}')
    assert got == [
        ("Keyword.Declaration", "block"), ("Name.Function", "up"), ("Punctuation", "("), ("Name", "c"),
        ("Punctuation", ","), ("Name.Label", "skip"), ("Punctuation", ":"), ("Name", "tensor"),
        ("Punctuation", ","), ("Name.Attribute", "block"), ("Operator", "="), ("Literal.String.Double", '"x"'),
        ("Punctuation", ")"), ("Punctuation", "{"), ("Name.Label", '"u{i}"'), ("Punctuation", ":"),
        ("Name.Builtin", "conv"), ("Literal.Number.Integer", "2"), ("Operator", "*"), ("Name", "c"),
        ("Name.Attribute", "k"), ("Operator", "="), ("Literal.Number.Integer", "3"), ("Operator", "->"),
        ("Name.Builtin", "relu"), ("Keyword", "if"), ("Operator.Word", "not"), ("Name.Builtin.Pseudo", "in"),
        ("Punctuation", "."), ("Name", "channels"), ("Punctuation", "}"),
    ]  # fmt: skip


def test_tokens_of_control_and_values() -> None:
    text = (
        "network n = m(x=1)\nlet a = [ceil(2.5), 1e-3, true]\n"
        "network m(x) {  # netspec: ignore[plain-chain]\n  input 3x8x8\n"
        "  residual(shortcut = conv 8, when = x > 1) { output train o: @a.b -> basic(8) }\n}\n"
    )
    got = dict((v, t) for t, v in kinds(text))
    assert got["network"] == got["let"] == "Keyword.Declaration"
    assert got["n"] == "Name.Class" and got["a"] == "Name.Variable"
    assert got["ceil"] == "Name.Builtin" and got["basic"] == "Name.Function"
    assert got["2.5"] == got["1e-3"] == "Literal.Number.Float" and got["3x8x8"] == "Literal.Number.Integer"
    assert got["true"] == "Keyword.Constant"
    assert got["# netspec: ignore[plain-chain]"] == "Comment.Special"
    assert got["input"] == got["output"] == got["train"] == "Keyword.Reserved"
    assert got["residual"] == got["shortcut"] == got["when"] == "Keyword"
    assert got["@a.b"] == "Name.Variable" and got["o"] == "Name.Label"


def test_the_lexer_is_registered_as_an_entry_point() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    target = project["entry-points"]["pygments.lexers"]["netspec"]
    module, _, name = target.partition(":")
    assert getattr(import_module(module), name) is P.NetspecLexer
    assert "pygments" in " ".join(project["optional-dependencies"]["test"])

