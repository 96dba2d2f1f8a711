"""The parser's own guarantees: spans, deep nesting, and where the LALR table cache may live."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from netspec import SpecError, lex
from netspec import ast as A
from netspec import parse as P
from netspec.ast import Span


def _let(text: str) -> A.Expr:
    return P.parse(f"let x = {text}\n", "s.net").lets[0].value


# ---------------------------------------------------------------- spans


def test_spans_cover_keywords_and_brackets() -> None:
    mod = P.parse("network n() {\n  input 3x8x8\n  residual { relu }\n}\n", "s.net")
    net = mod.networks[0]
    assert net.span == Span("s.net", 1, 1, 4, 2)
    res = net.body[1].chain.terms[0]
    assert isinstance(res, A.Residual)
    assert res.span == Span("s.net", 3, 3, 3, 20)


def test_a_bracketed_operand_widens_its_parent_but_keeps_its_own_span() -> None:
    cmp = _let("(1) < 2")
    assert isinstance(cmp, A.Compare)
    assert cmp.span == Span("s.net", 1, 9, 1, 16)  # from the '('
    assert cmp.first.span == Span("s.net", 1, 10, 1, 11)  # the 1 alone
    kw = P.parse("network n() {\n  conv 4 k=(3)\n}\n", "s.net").networks[0].body[0].chain.terms[0].kwargs[0]
    assert kw.span == Span("s.net", 2, 10, 2, 15)  # k=(3), closing bracket included


# ---------------------------------------------------------------- nesting


@pytest.mark.parametrize("opener,closer", [("(", ")"), ("[", "]")])
def test_deep_nesting_is_a_located_error(opener: str, closer: str) -> None:
    depth = 100_000
    with pytest.raises(SpecError, match=f"nested deeper than {lex.MAX_NESTING}") as info:
        _let(opener * depth + "1" + closer * depth)
    span = info.value.span
    assert span is not None and (span.line, span.col) == (1, 9 + lex.MAX_NESTING)


def test_deep_blocks_are_a_located_error() -> None:
    text = "network n() {\n  input 3x8x8\n  " + "{" * 100_000 + "relu" + "}" * 100_000 + "\n}\n"
    with pytest.raises(SpecError, match="nested deeper") as info:
        P.parse(text, "s.net")
    assert info.value.span is not None and info.value.span.line == 3


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    text = "# " + "(" * 200 + '\nlet x = "' + "[" * 200 + '"\n'
    assert P.parse(text, "s.net").lets[0].value.value == "[" * 200


def test_parser_itself_does_not_recurse(monkeypatch: pytest.MonkeyPatch) -> None:
    """The LALR parse is a loop: with the bound lifted, depth costs no Python stack."""
    monkeypatch.setattr(lex, "MAX_NESTING", 10**6)
    assert _let("(" * 100_000 + "1" + ")" * 100_000).value == 1
    nested = _let("[" * 200 + "1" + "]" * 200)
    for _ in range(200):
        assert isinstance(nested, A.ListExpr)
        nested = nested.items[0]
    assert isinstance(nested, A.Const)


def test_deep_expression_in_a_name_or_setting_is_a_spec_error() -> None:
    span = Span("<--set>", 1, 1, 1, 2)
    with pytest.raises(SpecError, match="nested deeper"):
        P._parse_expr("(" * 100_000 + "1" + ")" * 100_000, span)


# ---------------------------------------------------------------- table cache


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_cache_lives_in_a_private_folder(home: Path) -> None:
    path = P._cache_path("grammar")
    assert isinstance(path, str) and Path(path).parent == home / ".cache" / "netspec"
    assert _mode(home / ".cache" / "netspec") == 0o700
    assert os.lstat(home / ".cache" / "netspec").st_uid == os.getuid()


def test_absolute_xdg_cache_home_is_used(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = P._cache_path("grammar")
    assert isinstance(path, str) and Path(path).parent == tmp_path / "xdg" / "netspec"


def test_relative_xdg_cache_home_is_ignored(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    path = P._cache_path("grammar")
    assert isinstance(path, str) and Path(path).parent == home / ".cache" / "netspec"
    assert not (tmp_path / "relative").exists()


def test_a_folder_others_can_write_turns_the_cache_off(home: Path) -> None:
    folder = home / ".cache" / "netspec"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert P._cache_path("grammar") is False
    folder.chmod(0o770)
    assert P._cache_path("grammar") is False


def test_a_parent_others_can_write_turns_the_cache_off(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared))
    assert P._cache_path("grammar") is False
    shared.chmod(0o1777)  # sticky, as /tmp: others cannot move our folder
    assert isinstance(P._cache_path("grammar"), str)


def test_a_folder_of_ours_that_only_we_can_write_is_tightened(home: Path) -> None:
    folder = home / ".cache" / "netspec"
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    assert isinstance(P._cache_path("grammar"), str)
    assert _mode(folder) == 0o700


def test_a_folder_owned_by_someone_else_turns_the_cache_off(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (home / ".cache" / "netspec").mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.lstat(home).st_uid + 1)
    assert P._cache_path("grammar") is False


def test_a_symlinked_folder_turns_the_cache_off(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (home / ".cache").mkdir()
    (home / ".cache" / "netspec").symlink_to(target)
    assert P._cache_path("grammar") is False


def test_no_home_means_no_cache_not_the_temp_folder(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "")
    assert P._cache_path("grammar") is False
    monkeypatch.setenv("HOME", str(home))
    (home / ".cache").write_text("a file where the folder should be")
    assert P._cache_path("grammar") is False


def test_a_run_writes_its_cache_only_there(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    code = "import netspec.parse as p; p.parse('let x = 1'); print(p._cache_path(''))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    folder = tmp_path / "xdg" / "netspec"
    assert out.stdout.startswith(str(folder))
    assert _mode(folder) == 0o700
    assert [p.name.startswith("grammar-") for p in folder.iterdir()] == [True]


# ---------------------------------------------------------------- lexer

PROBES = [
    "import",
    "block",
    "blocks",
    "network",
    "let",
    "for",
    "in",
    "inx",
    "init",
    "input",
    "output",
    "repeat",
    "residual",
    "dense",
    "if",
    "else",
    "not",
    "and",
    "or",
    "when",
    "shortcut",
    "train",
    "trainer",
    "x",
    "name(",
    "name (",
    "if(",
    "a{i}:",
    "a{i} :",
    "a{i}",
    "3x224x224",
    "3x",
    "12",
    "1.5",
    ".5",
    "1e3",
    "1.",
    '"s"',
    "'s'",
    '"open',
    "@a.b",
    "@",
    "->",
    "-",
    "+",
    "**",
    "*",
    "//",
    "/",
    "%",
    "==",
    "!=",
    "<=",
    "<",
    ">",
    "=",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ":",
    ".",
    "$",
    "?",
    "# c\nx",
    "\\\nx",
    "\n\n x",
    " \t x",
    "",
]


def _tokens(lex_fn: object, state: int, text: str) -> object:
    from lark.lexer import LexerState
    from lark.utils import TextSlice

    class Parser:
        position = state

    out: list[object] = []
    try:
        for tok in lex_fn(LexerState(TextSlice.cast_from(text)), Parser()):  # type: ignore[operator]
            out.append((tok.type, tok.value, tok.line, tok.column, tok.end_line, tok.end_column, tok.end_pos))
            if len(out) == 3:
                break
    except Exception as e:  # the same error, with the same expectations
        out.append((type(e).__name__, str(e)))
    return out


def test_shared_scanner_gives_each_states_own_tokens() -> None:
    from lark.lexer import ContextualLexer

    lexer = P._parser().parser.lexer.lexer
    assert isinstance(lexer, lex.SharedScannerLexer)
    for state in lexer.accepts:
        for text in PROBES:
            stock = _tokens(lambda s, p: ContextualLexer.lex(lexer, s, p), state, text)
            assert _tokens(lexer.lex, state, text) == stock, (state, text)


_TRICKY = """\
block basic(c, block: int = 2) { conv c k=3; relu }  # a keyword as a name
network n(w=8) {
  input 3x32x32
  block: conv w k=3 p=1 -> bn -> relu
  x{w}y: [conv (w +
     2) k=3, relu]
  residual(shortcut=conv w k=1) { conv w k=3 p=1 -> bn }
  for i in range(2) { conv w k=3 p=1 }
  let z = [a * 2 for a in [1, 2] if a > 1]
  repeat 2 { relu }; relu ->
    relu
}
"""


def _both_ways(monkeypatch: pytest.MonkeyPatch, text: str, file: str) -> tuple[A.Module, A.Module]:
    fast = P.parse(text, file)

    def refuse(self: object, text: str, start: str) -> None:
        raise P.Fallback

    with monkeypatch.context() as m:
        m.setattr(P.FastParser, "parse", refuse)
        slow = P.parse(text, file)
    return fast, slow


def test_fast_loop_builds_what_lark_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    """netspec/lalr.py drives lark's tables itself; every library spec gives lark's AST, spans included."""
    specs = sorted(Path(P.__file__).parent.parent.joinpath("specs").glob("*.net"))
    assert len(specs) > 10
    for path in specs:
        fast, slow = _both_ways(monkeypatch, path.read_text(), str(path))
        assert repr(fast) == repr(slow), path  # AST nodes compare by identity; their reprs show every field
    fast, slow = _both_ways(monkeypatch, _TRICKY, "t.net")
    assert repr(fast) == repr(slow)
    assert fast.blocks[0].params[1].name == "block"


def test_fast_loop_leaves_errors_to_lark() -> None:
    for text, message in [
        ("network n() { input 3x8x8; conv 8 k= }", "unexpected"),
        ("network n() { input 3x8x8; relu", "missing .}. before end of file"),
        ("network n() { input 3x8x8; relu $ }", "unexpected character"),
        ("let x = " + "(" * 70 + "1" + ")" * 70, "nested deeper"),
    ]:
        with pytest.raises(SpecError, match=message):
            P.parse(text)
