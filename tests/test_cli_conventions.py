"""Command-line conventions: --version, `-o -` for stdout, --strict, colour only on a terminal
(NO_COLOR, FORCE_COLOR), usage errors exit 2, and everything but compile works without torch."""

from __future__ import annotations

import ast
import io
import json
import os
import pty
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import netspec
from netspec.cli import main
from netspec.errors import use_color

ROOT = Path(__file__).resolve().parent.parent
CHECKERBOARD = "network g() {\n  input 16x4x4\n  conv_transpose 8 k=3 s=2\n}\n"


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _run(*argv: str, prelude: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`netspec ARGV` in a fresh interpreter (from this checkout), after running `prelude`."""
    code = f"import sys\n{prelude}\nfrom netspec.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture
def no_color_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- --version


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main([flag])
    assert exit.value.code == 0 and capsys.readouterr().out == f"netspec {netspec.__version__}\n"


# ---------------------------------------------------------------- -o - (stdout)


def test_render_to_stdout(tmp_path: Path) -> None:
    code, out, err = _cli("render", "resnet18", "-o", "-")
    assert code == 0 and err == "" and out.startswith("digraph resnet18 {") and out.endswith("}\n")
    code, out, _ = _cli("render", "resnet18", "-o", "-", "--format", "html")
    assert code == 0 and out.lstrip().lower().startswith("<!doctype html>") and "cytoscape" in out
    code, out, _ = _cli("render", "resnet18", "-o", "-", "--format", "svg")
    assert code == 0 and "<svg" in out and "wrote" not in out
    code, _, err = _cli("render", "resnet18", "-o", "-", "--format", "png")
    assert code == 2 and "netspec render: error: -o - writes text" in err

    # --format names the format when the file name does not
    code, out, _ = _cli("render", "resnet18", "-o", str(tmp_path / "r.txt"), "--format", "dot")
    assert code == 0 and (tmp_path / "r.txt").read_text().startswith("digraph resnet18")


def test_summary_and_diff_write_json_to_stdout_or_a_file(tmp_path: Path) -> None:
    code, out, _ = _cli("summary", "resnet18", "--json", "-o", "-")
    assert code == 0 and json.loads(out)["params"] == 11689512
    target = tmp_path / "s.json"
    code, out, _ = _cli("summary", "resnet18", "--json", "-o", str(target))
    assert code == 0 and out == "" and json.loads(target.read_text())["params"] == 11689512
    code, out, _ = _cli("summary", "resnet18", "-o", str(tmp_path / "s.txt"))
    assert code == 0 and out == "" and "11,689,512" in (tmp_path / "s.txt").read_text()

    target = tmp_path / "d.json"
    code, out, _ = _cli("diff", "resnet18", "resnet34", "--json", "-o", str(target))
    assert code == 1 and out == "" and json.loads(target.read_text())["identical"] is False
    code, out, _ = _cli("diff", "resnet18", "resnet18", "--json", "-o", "-")
    assert code == 0 and json.loads(out)["identical"] is True
    code, _, err = _cli("diff", "resnet18", "resnet34", "-o", str(tmp_path / "no/such/dir/d.txt"))
    assert code == 2 and "error: cannot write" in err


@pytest.mark.torch
def test_compile_source_to_stdout(tmp_path: Path) -> None:
    code, out, err = _cli("compile", "resnet18", "-o", "-")
    assert code == 0 and err == "" and "wrote" not in out
    tree = ast.parse(out)  # the whole of stdout is the module
    assert any(isinstance(n, ast.ClassDef) and n.name == "Resnet18" for n in tree.body)
    code, _, err = _cli("compile", "resnet18", "-o", "-", "--format", "pt")
    assert code == 2 and "netspec compile: error: -o - writes Python source" in err
    code, out, _ = _cli("compile", "resnet18", "-o", str(tmp_path / "model"), "--format", "py")
    assert code == 0 and (tmp_path / "model").read_text() == _cli("compile", "resnet18", "-o", "-")[1]
    code, _, err = _cli("compile", "resnet18", "-o", str(tmp_path / "model.onnx"))
    assert code == 1 and "don't know how to write 'model.onnx'" in err


# ---------------------------------------------------------------- --strict


def test_strict_makes_lint_warnings_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_color_env: None) -> None:
    monkeypatch.chdir(tmp_path)
    Path("gan.net").write_text(CHECKERBOARD)
    code, out, err = _cli("check", "gan.net")
    assert code == 0 and out.startswith("ok: g:") and "warning:" in err and "[checkerboard]" in err
    code, out, err = _cli("check", "gan.net", "--strict")
    assert code == 1 and out == ""
    assert "gan.net:3:3: warning: conv_transpose kernel 3 is not a multiple of its stride 2 [checkerboard]" in err
    assert err.rstrip().endswith("error: 1 lint warning, and --strict makes them errors")
    for command in (["summary"], ["render", "-o", "g.dot"], ["compile", "-o", "g.py"]):
        code, out, err = _cli(command[0], "gan.net", *command[1:], "--strict")
        assert code == 1 and "--strict makes them errors" in err, command
    assert not Path("g.dot").exists() and not Path("g.py").exists()
    assert _cli("check", "resnet18", "--strict")[0] == 0  # no warnings, no error


# ---------------------------------------------------------------- colour


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_use_color(monkeypatch: pytest.MonkeyPatch, no_color_env: None) -> None:
    assert use_color(_Terminal()) and not use_color(io.StringIO())
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")  # NO_COLOR wins, as in CPython's own colouring
    assert not use_color(_Terminal()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "")  # an empty value does not count
    assert use_color(io.StringIO())
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not use_color(_Terminal())


def test_errors_are_coloured_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_color_env: None
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.net").write_text("network n() {\n  input 3x8x8\n  bachnorm\n}\n")
    plain = _cli("check", "bad.net")[2]
    assert plain.startswith("bad.net:3:3: error: unknown op or block 'bachnorm'") and "\033[" not in plain
    monkeypatch.setenv("FORCE_COLOR", "1")
    code, _, colored = _cli("check", "bad.net")
    assert code == 1
    assert colored.startswith(
        "\033[1mbad.net:3:3:\033[0m \033[1;31merror:\033[0m \033[1munknown op or block 'bachnorm'\033[0m"
    )
    assert "\033[31m^^^^^^^^\033[0m" in colored and "\033[1;36mhint:\033[0m" in colored
    strip = re.sub(r"\033\[[0-9;]*m", "", colored)
    assert strip == plain  # colour adds escapes, never text

    Path("gan.net").write_text(CHECKERBOARD)
    warned = _cli("check", "gan.net")[2]
    assert "\033[1;33mwarning:\033[0m" in warned


def test_colour_on_a_real_terminal(tmp_path: Path) -> None:
    (tmp_path / "bad.net").write_text("network n() {\n  input 3x8x8\n  bachnorm\n}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")} | {"TERM": "xterm"}
    primary, secondary = pty.openpty()
    code = "import sys\nfrom netspec.cli import main\nsys.exit(main(sys.argv[1:]))"
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", code, "check", "bad.net"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        env=env,
        timeout=300,
    )
    os.close(secondary)
    err = os.read(primary, 65536).decode()
    os.close(primary)
    assert proc.returncode == 1 and "\033[1;31merror:\033[0m" in err
    env["NO_COLOR"] = "1"
    piped = subprocess.run(
        [sys.executable, "-c", code, "check", "bad.net"], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert piped.returncode == 1 and "error: unknown op" in piped.stderr and "\033[" not in piped.stderr


# ---------------------------------------------------------------- without torch


def test_everything_but_compile_works_without_torch(tmp_path: Path) -> None:
    no_torch = "sys.modules['torch'] = None  # `import torch` now raises ImportError"
    for argv in (
        ["check", "resnet18"],
        ["summary", "resnet18", "--depth", "0"],
        ["diff", "resnet18", "resnet18"],
        ["render", "resnet18", "-o", str(tmp_path / "r.dot")],
        ["render", "resnet18", "-o", str(tmp_path / "r.svg")],
        ["render", "resnet18", "-o", str(tmp_path / "r.html")],
        ["weights", "resnet18"],
        ["list"],
    ):
        run = _run(*argv, prelude=no_torch)
        assert run.returncode == 0, (argv, run.stderr)
    assert (tmp_path / "r.svg").read_text().lstrip().startswith(("<?xml", "<svg"))

    run = _run("compile", "resnet18", "-o", str(tmp_path / "r.py"), prelude=no_torch)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr == (
        "error: netspec compile needs torch, which is not installed\nhint: pip install 'netspec[torch]'\n"
    )

    api = "import netspec\ntry:\n    netspec.compile('resnet18')\nexcept ImportError as e:\n    print(e)"
    run = subprocess.run([sys.executable, "-c", f"import sys\n{no_torch}\n{api}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.stdout == "netspec.compile needs torch: pip install 'netspec[torch]'\n", run.stderr


# ---------------------------------------------------------------- documentation


def test_docs_cover_installation_and_extras() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "pip install netspec" in readme and "pip install 'netspec[torch]'" in readme
    assert "make demo" in readme and "make test" in readme
    compiler = (ROOT / "docs/compiler.md").read_text()
    assert "pip install 'netspec[onnx]'" in compiler and "--weights" in compiler
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License\n\nCopyright (c) 2026 netspec contributors\n")
