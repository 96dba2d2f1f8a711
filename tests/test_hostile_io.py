"""Hostile specs, everything outside the evaluator: files, paths, outputs, terminals, the API.

Each test is an attack that once printed a traceback, misread a spec, disclosed a file or
left a broken output behind. Each now gives a located error (or a clear one for a path or
an option) and an exit code, and never a Python traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.errors import SpecError

NET = "network n() {\n  input 3x8x8\n  conv 4\n}\n"


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the command line in-process; return its exit code, stdout and stderr."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "Traceback" not in out
    return code, out, err


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# ---------------------------------------------------------------- the lexer


def test_a_keyword_never_matches_inside_a_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "t.net", "network n() {\n  input 3x8x8\n  output training_: conv 4\n  trainer: conv 4\n}\n")
    code, out, _ = cli(capsys, "check", str(spec))
    assert code == 0 and "training_ (N,4,8,8)" in out and " ing" not in out
    g = netspec.load_text("network n() {\n  input 3x8x8\n  x: conv 4\n  output train aux: conv 2\n  @x -> relu\n}\n")
    assert g.train_outputs == {"aux"}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("conv \u0663", "ASCII digits"),  # ARABIC-INDIC DIGIT THREE
        ("conv \uff13", "ASCII digits"),  # FULLWIDTH DIGIT THREE
        ("n\uff4e: conv 4", "ASCII letters"),  # `nｎ` folds to `nn` in Python (NFKC)
    ],
)
def test_names_and_numbers_are_ascii(text: str, hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SpecError) as e:
        netspec.load_text(f"network n() {{\n  input 3x8x8\n  {text}\n}}\n")
    assert e.value.span is not None and e.value.span.line == 3
    assert hint in (e.value.hint or "")


def test_a_block_parameter_cannot_fold_into_a_generated_name() -> None:
    with pytest.raises(SpecError) as e:
        netspec.load_text("block b(n\uff4e) { conv n\uff4e }\nnetwork n() {\n  input 3x8x8\n  b(4)\n}\n")
    assert e.value.span is not None and (e.value.span.line, e.value.span.col) == (1, 10)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "bom.net", b"\xef\xbb\xbf" + NET.encode())
    code, out, _ = cli(capsys, "check", str(spec))
    assert code == 0 and out.startswith("ok: n:")
    bad = write(tmp_path / "bom2.net", b"\xef\xbb\xbf" + NET.replace("conv 4", "conv x").encode())
    code, _, err = cli(capsys, "check", str(bad))
    assert code == 1 and ":3:8: error:" in err  # columns count from after the mark


# ---------------------------------------------------------------- Trojan source and terminals

TROJANS = ["\u202e", "\u2066", "\u2069", "\u200b", "\u200f", "\u2028", "\u2029", "\ufeff", "\x1b", "\x85", "\x00"]


@pytest.mark.parametrize("char", TROJANS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["string", "comment", "name"])
def test_control_and_bidi_characters_are_located_errors(
    char: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = {
        "string": f'  upsample 2 mode="bi{char}linear"',
        "comment": f"  conv 4  # admin{char} only",
        "name": f"  co{char}nv 4",
    }[where]
    spec = write(tmp_path / "t.net", f"network n() {{\n  input 3x8x8\n{line}\n}}\n")
    code, _, err = cli(capsys, "check", str(spec))
    col = line.index(char) + 1
    assert code == 1 and f"t.net:3:{col}: error: " in err and f"U+{ord(char):04X}" in err
    assert char not in err  # shown escaped
    assert not any(c in err for c in "\x1b\x85\x00\u202e\u2066")


def test_control_characters_never_reach_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "evil\x1b[2J\x07.net"
    spec = write(tmp_path / name, NET.replace("conv 4", "conv x"))
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "evil\\x1b[2J\\x07.net:3:8: error:" in err and "\x1b" not in err
    code, _, err = cli(capsys, "check", str(tmp_path / "a\x1b]0;title\x07.net"))
    assert code == 1 and "\x1b" not in err and "\x07" not in err and "\\x1b]0;title" in err


def test_set_values_with_control_characters_or_bad_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "s.net", 'network n(tag="") {\n  input 3x8x8\n  conv 4\n}\n')
    for value in ("\x1b[31mred", "\udcff\udcfe", "a\u202eb", "x\ny"):
        code, _, err = cli(capsys, "check", str(spec), "--set", f"tag={value}")
        assert code == 1 and "--set" in err and "\x1b" not in err and "\u202e" not in err
        assert err.isprintable() or set(err) - set(err.replace("\n", "")) == {"\n"}


def test_lines_are_counted_as_the_lexer_counts_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A form feed is blank space to the lexer but a line break to str.splitlines().
    spec = write(tmp_path / "ff.net", "network n() {  # page\x0cbreak\n  input 3x8x8\n  conv x\n}\n")
    code, _, err = cli(capsys, "check", str(spec))
    assert code == 1 and "ff.net:3:8:" in err and " 3 |   conv x" in err


def test_a_long_line_is_shown_around_the_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write(tmp_path / "long.net", "let pad = [" + "1, " * 20000 + "oops]\n" + NET)
    code, _, err = cli(capsys, "check", str(spec))
    src, caret = err.splitlines()[1:3]
    assert code == 1 and len(src) < 300 and src.startswith(" 1 | ...")
    start = caret.index("^")
    assert src[start : start + 4] == "oops"


def test_an_ignore_comment_inside_a_string_does_not_count() -> None:
    text = (
        'block b(c, tag="") { conv c k=3 p=1 }\n'
        "network n() {\n  input 3x8x8\n"
        '  up: conv_transpose 4 k=3 s=2 p=1 op=1 -> b(4, tag="# netspec: ignore")\n}\n'
    )
    assert [w.code for w in netspec.load_text(text).warnings] == ["checkerboard"]
    quiet = text.replace('ignore")', 'ignore")  # netspec: ignore[checkerboard]')
    assert netspec.load_text(quiet).warnings == []
