"""Every body takes the same statements; the graph's shared helpers answer the same everywhere.

Plain bodies, the branches of `concat {}` / `add {}` / `mul {}` and `dense {}` bodies all
read their statements through one expander (Evaluator._expand), so let, for, repeat and
if work the same in each.
"""

from __future__ import annotations

import pytest

import netspec
from netspec import SpecError
from netspec.fmt import fmt_count, fmt_int, fmt_shape


def net(body: str, head: str = "") -> netspec.Graph:
    return netspec.load_text(f"{head}\nnetwork n() {{\n  input 4x8x8\n{body}\n}}\n")


CONTROL = {
    "let": "let c = 2\n conv c k=1\n conv c k=1",
    "for": "for c in [2, 2] { conv c k=1 }",
    "repeat": "repeat 2 { conv 2 k=1 }",
    "if": "if true { let c = 2\n conv c k=1\n conv c k=1 } else { conv 99 k=1 }",
    "nested": "for i in range(1) { repeat 2 { if i == 0 { let c = 2\n conv c k=1 } } }",
}


@pytest.mark.parametrize("control", CONTROL)
def test_every_body_accepts_every_control_statement(control: str) -> None:
    stmts = CONTROL[control]
    plain = net(f"{{\n {stmts}\n}}")
    assert [n.shape for n in plain.layers()] == [(2, 8, 8), (2, 8, 8)]

    cat = net(f"concat {{\n {stmts}\n}}")  # two branches, each a 1x1 conv on the input
    assert cat.layers()[-1].kind == "concat" and cat.layers()[-1].shape == (4, 8, 8)
    assert [len(n.inputs) for n in cat.layers()] == [1, 1, 2]

    add = net(f"add {{\n {stmts}\n}}")
    assert add.layers()[-1].kind == "add" and add.layers()[-1].shape == (2, 8, 8)

    dense = net(f"dense {{\n {stmts}\n}}")  # 4 + 2 + 2 channels; the second conv reads a concat of 6
    assert dense.layers()[-1].shape == (8, 8, 8)
    assert sorted(n.shape[0] for n in dense.layers() if n.kind == "concat") == [6, 8]


def test_a_let_in_a_dense_if_lives_for_the_rest_of_the_branch() -> None:
    g = net("dense {\n if true {\n let d = 3\n conv d k=1\n conv d k=1\n }\n}")
    assert g.layers()[-1].shape == (4 + 3 + 3, 8, 8)


def test_repeat_counts_and_names_in_branches() -> None:
    g = net("mul {\n identity\n repeat 2 { [global_pool, conv 4 k=1, sigmoid] }\n}")
    assert g.layers()[-1].kind == "mul" and len(g.layers()[-1].inputs) == 3
    assert {"1.0", "2.0"} <= {n.id.partition(".")[0] + "." + n.id.split(".")[1] for n in g.layers() if "." in n.id}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("concat {\n input 3x8x8\n}", "among branches"),
        ("dense {\n output o: relu\n}", "in a dense block"),
        ("add {\n init conv weight=zeros()\n}", "among branches"),
    ],
)
def test_only_layers_and_control_among_branches(body: str, where: str) -> None:
    with pytest.raises(SpecError, match=f"only layers, let, for, repeat and if may appear {where}"):
        net(body)


def test_frames_come_back_after_every_kind_of_body() -> None:
    head = "block b(c) { x: conv c k=1\n residual { conv c k=1 } }"
    g = net("a: conv 4 k=1\nconcat { b(4); repeat 2 { b(4) } }\ndense { b(2) }\nconcat @a", head=head)
    assert g.layers()[-1].kind == "concat" and g.layers()[-1].inputs[1] == "a"


# ---------------------------------------------------------------- shared helpers


def test_fmt_helpers() -> None:
    assert fmt_shape((64, 56, 56)) == "(N,64,56,56)"
    assert fmt_shape((64, 56, 56), sep=", ") == "(N, 64, 56, 56)"
    assert fmt_shape((64, 56, 56), batch=False) == "64x56x56"
    assert fmt_shape((), batch=False) == "scalar"
    assert [fmt_count(n) for n in (999, 25_557_032, 4_100_000_000, 3 * 10**12)] == ["999", "25.56M", "4.10G", "3.00T"]
    assert fmt_count(-2_500) == "-2.50K"
    assert fmt_int(25_557_032) == "25,557,032"


def test_consumers_and_scopes() -> None:
    g = net("a: conv 4 k=1\nb: { conv 4 k=1; relu }\nadd @a\nadd @a @a")
    users = g.consumers()
    assert users["a"] == ("b.0", "2", "3", "3")  # one entry per edge, in graph order
    assert users["b.1"] == ("2",) and users["3"] == ()
    assert set(users) == set(g.nodes)
    assert g.consumers() is users  # cached
    assert g.scope_of("b.0") == "b" and g.scope_of("a") == "" and g.scope_of("b") == ""
    assert g.enclosing_scopes("b.0") == ["b", ""]
    groups = g.by_scope()
    assert groups["b"] == ["b.0", "b.1"] and groups[""] == [n.id for n in g.layers()]


def test_by_scope_nests() -> None:
    g = netspec.load("resnet18")
    groups = g.by_scope()
    assert groups["layer1.0"][0] == "layer1.0.conv1"
    assert set(groups["layer1.0"]) < set(groups["layer1"])
    assert all(g.scope_of(nid) == "layer1.0" for nid in groups["layer1.0"])
    assert g.enclosing_scopes("layer1.0.conv1") == ["layer1.0", "layer1", ""]
