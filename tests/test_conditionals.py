"""Conditional layers vanish when false, in every body; keywords as labels; expression functions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netspec import SpecError, load_text
from netspec.parse import KEYWORDS


def net(body: str, **params: object):
    return load_text(f"network n(flag=false, w=8) {{\n  input 8x8x8\n{body}\n}}\n", **params)


def kinds(g) -> list[str]:
    return [n.kind for n in g.layers()]


@pytest.mark.parametrize("merge", ["add", "mul", "concat"])
def test_false_branch_of_a_merge_disappears(merge: str) -> None:
    # Once a false branch became an identity branch: add(x, conv(x)) checked and summed wrongly.
    g = net(f"  {merge} {{ conv 8 k=1 if false; conv 8 k=1 }}")
    assert kinds(g) == ["conv"]  # one conv and no merge: a merge over one branch is that branch


@pytest.mark.parametrize("merge", ["add", "mul", "concat"])
def test_merge_inputs_are_exactly_the_live_branches(merge: str) -> None:
    g = net(f"  {merge} {{\n a: conv 8 k=1\n b: conv 8 k=1 if flag\n c: conv 8 k=1\n d: conv 8 if w > 8\n }}")
    (node,) = [n for n in g.layers() if n.kind == merge]
    assert node.inputs == ("a", "c")
    g = net(f"  {merge} {{\n a: conv 8 k=1\n b: conv 8 k=1 if flag\n c: conv 8 k=1\n }}", flag=True)
    (node,) = [n for n in g.layers() if n.kind == merge]
    assert node.inputs == ("a", "b", "c")


def test_identity_branch_still_counts_and_statement_if_matches() -> None:
    g = net("  add { identity; conv 8 if false; conv 8 }")
    (node,) = [n for n in g.layers() if n.kind == "add"]
    assert len(node.inputs) == 2
    g2 = net("  add { @in; conv 8 if false; conv 8 }")
    (node2,) = [n for n in g2.layers() if n.kind == "add"]
    assert node2.inputs[0] == "input"
    g3 = net("  add { if false { conv 8 }; conv 8 }")
    assert kinds(g3) == ["conv"]


def test_named_merge_over_one_branch_names_that_branch() -> None:
    g = net("  m: add { conv 8 if false; b: conv 8 }\n  @m -> relu")
    assert kinds(g) == ["conv", "relu"] and g.layers()[1].inputs == ("m.b",)


def test_merge_with_every_branch_false_is_a_located_error() -> None:
    with pytest.raises(SpecError) as e:
        net("  add { conv 8 if false; conv 8 if flag }")
    assert "has no branches" in e.value.message and e.value.span.line == 3
    assert "condition is false" in (e.value.hint or "")


@pytest.mark.parametrize("body", ["[conv 8, bn if flag]", "[conv 8, bn if flag, relu]", "conv 8 -> [bn if flag]"])
def test_conditional_items_in_a_list_vanish(body: str) -> None:
    assert "bn" not in kinds(net(f"  {body}"))
    assert "bn" in kinds(net(f"  {body}", flag=True))


def test_reserved_words_in_the_docs_are_the_grammars() -> None:
    root = Path(__file__).parent.parent
    grammar = re.sub(r"//[^\n]*", "", (root / "netspec" / "grammar.lark").read_text())
    words = set(re.findall(r'"([a-z_]+)"', grammar))
    docs = (root / "docs" / "language.md").read_text()
    listed = re.search(r"<!-- keywords:begin -->\n`([^`]*)`\n<!-- keywords:end -->", docs)
    assert listed is not None
    assert listed.group(1).split() == sorted(words)
    assert set(KEYWORDS.values()) <= words and {k.lower() for k in KEYWORDS} == set(KEYWORDS.values())


# `input` is the network input's node id, so a top-level layer named so is a duplicate.
@pytest.mark.parametrize("word", sorted(set(KEYWORDS.values()) - {"input"} | {"else", "and", "or", "when", "shortcut"}))
def test_a_keyword_may_name_a_layer(word: str) -> None:
    g = net(f"  {word}: conv 8 k=1\n  @{word} -> relu")
    assert [n.id for n in g.layers()] == [word, "1"]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("conv 16 s=2 if flag else 1", "s=(2 if flag else 1)"),
        ("conv 16 k=3 s=2 if flag else 1 p=1; relu", "s=(2 if flag else 1)"),
        ("if flag else 1", "if c { ... }"),
        ("conv 8 block=3", "'block' is a reserved word here"),
    ],
)
def test_syntax_hints(body: str, hint: str) -> None:
    with pytest.raises(SpecError) as e:
        net(f"  {body}")
    assert hint in (e.value.hint or "") and e.value.span.line == 3


def value(expr: str) -> object:
    return load_text(f"network n(v={expr}) {{\n  input 3x8x8\n  relu\n}}\n").args["v"]


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("log(1)", 0.0),
        ("log(8, 2)", 3.0),
        ("log2(1024)", 10.0),
        ("sqrt(16)", 4.0),
        ("exp(0)", 1.0),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("round(2.5)", 2),
        ("round(3.14159, 2)", 3.14),
        ("min(3, 1, 2)", 1),
        ("max([3, 1, 2])", 3),
        ("abs(-4)", 4),
        ("int(log2(64))", 6),
        ("2 ** ceil(log2(100))", 128),
    ],
)
def test_math_functions(expr: str, want: object) -> None:
    got = value(expr)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("log(0)", "log(): math domain error"),
        ("log(-1)", "log(): math domain error"),
        ("log(8, 1)", "log(): float division by zero"),
        ("log2(0)", "log2(): math domain error"),
        ("sqrt(-1)", "sqrt(): math domain error"),
        ("exp(1000)", "exp(): math range error"),
        ("exp(700)", "out of range"),
        ("ceil(1e300)", "larger than"),
        ("floor(-1e300)", "larger than"),
        ("round(1e300)", "larger than"),
        ("abs(-10 ** 15 - 1)", "larger than"),
        ("min([])", "min(): "),
        ("log('a')", "log(): "),
    ],
)
def test_math_errors_are_located(expr: str, message: str) -> None:
    with pytest.raises(SpecError) as e:
        value(expr)
    assert message in e.value.message and e.value.span.line == 1 and e.value.span.col > 1


def test_labels_anywhere_in_a_chain() -> None:
    g = net("  x: conv 8\n  @x -> xb: conv 8 k=1 -> relu\n  @xb -> bn")
    assert [n.id for n in g.layers()] == ["x", "xb", "2", "3"]
    assert g.nodes["3"].inputs == ("xb",)
    g = net("  a: conv 8 -> b: relu -> bn\n  @a.b -> relu")
    assert [n.id for n in g.layers()] == ["a.0", "a.b", "a.2", "1"] and g.nodes["1"].inputs == ("a.b",)
    g = net("  conv 8 -> y{1 + 1}: relu\n  @in -> r: @y2 -> bn")
    assert g.nodes["3"].inputs == ("y2",)  # the name `r` takes position 2, as `r: @y2` would


def test_a_layer_named_twice_is_an_error() -> None:
    with pytest.raises(SpecError) as e:
        net("  a: @in -> b: conv 8")
    assert "named twice" in e.value.message and (e.value.span.line, e.value.span.col) == (3, 16)
