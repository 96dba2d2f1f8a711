"""Lint warnings: each rule fires where it should, only there, and can be silenced."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import netspec
from netspec.cli import main as cli_main
from netspec.library import library_dir
from netspec.lint import CODES, LintWarning, lint


def warnings(text: str, **params: object) -> list[LintWarning]:
    return netspec.load_text(text, file="lint_case.net", **params).warnings


def codes(text: str) -> list[str]:
    return [w.code for w in warnings(text)]


def convs(n: int) -> str:
    return "\n".join("  conv 8 k=3 p=1 -> relu" for _ in range(n))


# ---------------------------------------------------------------- checkerboard


@pytest.mark.parametrize(("k", "s", "warn"), [(3, 2, True), (4, 2, False), (2, 2, False), (5, 4, True),
                                              (1, 1, False), (16, 8, False), ("[4, 3]", 2, True)])
def test_checkerboard(k: object, s: int, warn: bool) -> None:
    ws = warnings(f"network n() {{\n  input 3x8x8\n  up: conv_transpose 4 k={k} s={s}\n}}")
    assert [w.code for w in ws] == (["checkerboard"] if warn else [])
    if warn:
        assert ws[0].path == "up" and ws[0].span is not None and ws[0].span.line == 3


# ---------------------------------------------------------------- conv bias before bn


def test_conv_bias_then_bn() -> None:
    ws = warnings("network n() {\n  input 3x8x8\n  c1: conv 8 k=3\n  bn\n  relu\n}")
    assert [(w.code, w.path) for w in ws] == [("conv-bias-bn", "c1")]
    assert (ws[0].span.line, ws[0].span.col) == (3, 7)  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [
    "conv 8 k=3 bias=false\n  bn",                  # no bias
    "conv 8 k=3\n  relu\n  bn",                      # something between
    "x: conv 8 k=3\n  bn\n  add @x",                 # the biased value is also used elsewhere
    "conv 8 k=3",                                     # no bn at all
])
def test_conv_bias_without_bn_right_after_is_fine(body: str) -> None:
    assert codes(f"network n() {{\n  input 3x8x8\n  {body}\n}}") == []


def test_transposed_and_deformable_convs_count_too() -> None:
    text = "network n() {\n  input 3x8x8\n  conv_transpose 4 k=2 s=2 -> bn\n  deform_conv 4 k=3 p=1 -> bn\n}"
    assert codes(text) == ["conv-bias-bn", "conv-bias-bn"]


def test_a_block_line_is_flagged_once() -> None:
    text = "block cb() {\n  conv 8 k=1\n  bn\n}\nnetwork n() {\n  input 3x8x8\n  cb(); cb(); cb()\n}"
    ws = warnings(text)
    assert [(w.code, w.span.line) for w in ws] == [("conv-bias-bn", 2)]  # type: ignore[union-attr]
    assert ws[0].notes == ["and 2 more uses of this line"]


# ---------------------------------------------------------------- linear on a feature map


@pytest.mark.parametrize(("body", "warn"), [
    ("linear 10", True),                                # the classic missing flatten: legal, acts on the width
    ("flatten\n  linear 10", False),
    ("global_pool keepdim=false\n  linear 10", False),
    ("reshape [3, -1]\n  linear 10", False),           # a (L, E) sequence: per token, as meant
    ("linear 10  # netspec: ignore[linear-map]", False),
])
def test_linear_on_a_map(body: str, warn: bool) -> None:
    ws = warnings(f"network n() {{\n  input 3x8x8\n  {body}\n}}")
    assert [w.code for w in ws] == (["linear-map"] if warn else [])
    if warn:
        assert ws[0].message == "linear on the (N,3,8,8) map acts on its last dim (width) only"
        assert ws[0].hint is not None and "flatten" in ws[0].hint


def test_linear_on_a_map_still_checks_as_torch_does() -> None:
    g = netspec.load_text("network n() {\n  input 3x8x8\n  linear 10\n}", file="lint_case.net")
    assert g.output_shapes() == {"out": (3, 8, 10)}


# ---------------------------------------------------------------- plain chains


@pytest.mark.parametrize(("n", "warn"), [(20, False), (21, True), (30, True)])
def test_plain_chain(n: int, warn: bool) -> None:
    ws = warnings(f"network n() {{\n  input 3x8x8\n{convs(n)}\n}}")
    assert [w.code for w in ws] == (["plain-chain"] if warn else [])
    if warn:
        assert ws[0].span.line == 2 + 21  # type: ignore[union-attr]  # reported once, at the 21st
        assert ws[0].path == "40"  # positions 0..40: conv, relu pairs
        assert ws[0].notes == ["the chain starts at '0' (line 3)"]


def test_plain_chain_counts_through_loops_and_blocks() -> None:
    text = ("block two() {\n  conv 8 k=3 p=1\n  relu\n  conv 8 k=3 p=1\n}\n"
            "network n() {\n  input 3x8x8\n  repeat 11 { two() }\n}")
    ws = warnings(text)
    assert [w.code for w in ws] == ["plain-chain"]
    assert ws[0].path == "10.0"


def test_residuals_break_the_chain() -> None:
    text = ("network n() {\n  input 3x8x8\n  conv 8 k=1\n"
            "  repeat 15 { residual { conv 8 k=3 p=1; relu; conv 8 k=3 p=1 } }\n}")
    assert codes(text) == []


def test_a_merge_ends_a_chain() -> None:
    text = f"network n() {{\n  input 3x8x8\n{convs(15)}\n  concat {{ conv 8 k=1; conv 8 k=3 p=1 }}\n{convs(15)}\n}}"
    assert codes(text) == []


def test_size_inputs_do_not_break_a_chain() -> None:
    # upsample @in reads only the size of its second input: the chain goes on.
    text = f"network n() {{\n  input 3x8x8\n{convs(10)}\n  upsample @in\n{convs(11)}\n}}"
    assert codes(text) == ["plain-chain"]


def test_yolov1_is_a_plain_chain_silenced_in_the_library() -> None:
    assert netspec.load("yolov1").warnings == []
    text = (library_dir() / "yolo.net").read_text().replace("# netspec: ignore[plain-chain]", "")
    ws = netspec.load_text(text, "yolov1", file="yolo_copy.net").warnings
    assert [(w.code, w.path) for w in ws] == [("plain-chain", "features.24.0")]


# ---------------------------------------------------------------- silencing


BIASED = "network n() {{{net}\n  input 3x8x8\n  c: conv 8 k=3{line}\n  bn\n}}"


@pytest.mark.parametrize(("net", "line", "silenced"), [
    ("", "", False),
    ("", "  # netspec: ignore[conv-bias-bn]", True),
    ("", "  # netspec: ignore", True),
    ("", "  #netspec:ignore[checkerboard, conv-bias-bn]", True),
    ("", "  # netspec: ignore[checkerboard]", False),
    ("", "  # the bias is wanted here", False),
    ("  # netspec: ignore[conv-bias-bn]", "", True),
    ("  # netspec: ignore[plain-chain]", "", False),
])
def test_silencing(net: str, line: str, silenced: bool) -> None:
    assert codes(BIASED.format(net=net, line=line)) == ([] if silenced else ["conv-bias-bn"])


def test_silence_at_the_block_call() -> None:
    text = ("block cb() {\n  conv 8 k=1\n  bn\n}\nnetwork n() {\n  input 3x8x8\n"
            "  a: cb()  # netspec: ignore[conv-bias-bn]\n  b: cb()\n}")
    assert [w.path for w in warnings(text)] == ["b.0"]


def test_silence_in_a_named_sequence() -> None:
    text = "network n() {\n  input 3x8x8\n  stem: {  # netspec: ignore[conv-bias-bn]\n    conv 8 k=1\n    bn\n  }\n}"
    assert codes(text) == []


# ---------------------------------------------------------------- rendering and the CLI


def test_render_looks_like_an_error() -> None:
    (w,) = warnings("network n() {\n  input 3x8x8\n  up: conv_transpose 4 k=3 s=2\n}")
    assert w.render().splitlines()[:4] == [
        "lint_case.net:3:7: warning: conv_transpose kernel 3 is not a multiple of its stride 2 [checkerboard]",
        " 3 |   up: conv_transpose 4 k=3 s=2",
        "   |       ^^^^^^^^^^^^^^^^^^^^^^^^",
        "  at: up",
    ]
    assert w.render().splitlines()[-1].startswith("hint: ")


def test_cli_check_prints_warnings_to_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("gan.net").write_text("network g() {\n  input 16x4x4\n  conv_transpose 8 k=3 s=2\n  conv 8 k=3 -> bn\n}\n")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        assert cli_main(["check", "gan.net"]) == 0
    assert out.getvalue().startswith("ok: g:")
    lines = err.getvalue().splitlines()
    assert [x for x in lines if ": warning: " in x] == [
        "gan.net:3:3: warning: conv_transpose kernel 3 is not a multiple of its stride 2 [checkerboard]",
        "gan.net:4:3: warning: conv has a bias but bn follows [conv-bias-bn]",
    ]


def test_lint_is_a_pure_function_of_the_graph() -> None:
    g = netspec.load_text("network n() {\n  input 3x8x8\n  conv 8 k=3 -> bn\n}", file="lint_case.net")
    assert [w.code for w in lint(g)] == [w.code for w in g.warnings] == ["conv-bias-bn"]
    assert set(CODES) == {"checkerboard", "conv-bias-bn", "linear-map", "plain-chain"}
