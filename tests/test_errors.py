"""Golden tests: every mistake renders as file:line:col, the source line, a caret and a hint.

Each tests/errors/NAME.net has tests/errors/NAME.txt with the exact stderr of
`netspec check NAME.net`. Regenerate after an intended change with
NETSPEC_UPDATE_GOLDEN=1 pytest tests/test_errors.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from netspec.cli import main

HERE = Path(__file__).parent / "errors"
CASES = sorted(p.stem for p in HERE.glob("*.net"))


@pytest.mark.parametrize("name", CASES)
def test_error_golden(name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(HERE)
    code = main(["check", f"{name}.net"])
    err = capsys.readouterr().err
    golden = HERE / f"{name}.txt"
    if os.environ.get("NETSPEC_UPDATE_GOLDEN"):
        golden.write_text(err)
    assert code == 1
    assert err == golden.read_text()
    first = err.splitlines()[0]
    assert ": error: " in first and first.count(":") >= 3, first  # file:line:col: error: ...
    assert "Traceback" not in err


def test_every_error_kind_has_a_case() -> None:
    kinds = {
        "syntax_brace", "syntax_paren", "syntax_eq", "badchar", "unknown_op", "unknown_param", "undef_name",
        "wrong_type", "missing_param", "dup_name", "undef_ref", "add_mismatch", "concat_mismatch", "shrink",
        "groups", "recursive", "cyc_a", "bignum", "loops", "nested", "many_nodes",
    }
    assert kinds <= set(CASES)


def test_caret_sits_under_the_span(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(HERE)
    main(["check", "unknown_param.net"])
    lines = capsys.readouterr().err.splitlines()
    src, caret = lines[1], lines[2]
    start = caret.index("^")
    assert src[start:start + caret.count("^")] == "strde=2"
