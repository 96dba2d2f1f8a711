"""Enabling plugins: `--plugin MODULE`, installed entry points, register_op; and their errors.

Each test writes its plugin module into a temporary folder on sys.path; a fixture
removes the ops and modules it added and forgets that installed plugins were loaded.
No torch here (the end-to-end test of a plugin op is test_plugin_op.py).
"""

from __future__ import annotations

import importlib.metadata
import io
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import pytest

import netspec
from netspec import plugins
from netspec.cli import build_parser, main
from netspec.compiler.to_graphviz import FAMILY_COLORS
from netspec.docgen import DOC, op_table, render, schema_type, value_text
from netspec.ops import OPS, Family, Op, RegistryError
from netspec.ops.base import is_builtin, unregister

HALVE = """
from typing import ClassVar
from netspec.ops import Family, Op, register
from netspec.ops.form import Call, In

@register
class Halve(Op):
    kind: ClassVar[str] = "{kind}"
    family: ClassVar[Family] = Family.ACTIVATION
    doc: ClassVar[str] = "x / 2"
    def call(self, ins):
        return Call("torch.mul", (In(0), 0.5))
"""

SPEC = "network n() {{\n  input 3x8x8\n  conv 4 k=3 -> {kind}\n}}\n"


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Undo what a test registers or imports, and whether installed plugins were loaded."""
    kinds, modules, loaded = set(OPS), set(sys.modules), plugins._installed_loaded
    yield
    for kind in set(dict.keys(OPS)) - kinds:
        unregister(kind)
    for name in set(sys.modules) - modules:
        if name.startswith("plug_"):
            del sys.modules[name]
    plugins._installed_loaded = loaded


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for plugin modules; the working directory, holding the spec."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def write_plugin(folder: Path, module: str, text: str) -> None:
    (folder / f"{module}.py").write_text(text)
    importlib.invalidate_caches()


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [])
    plugins.reset_installed()


# ---------------------------------------------------------------- --plugin MODULE


def test_plugin_option_registers_the_modules_ops(plugin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_entry_points(monkeypatch)
    write_plugin(plugin_dir, "plug_halve", HALVE.format(kind="halve"))
    Path("n.net").write_text(SPEC.format(kind="halve"))
    code, _, err = run_cli("check", "n.net")
    assert code == 1 and "unknown op or block 'halve'" in err  # a spec never imports Python by itself
    code, out, _ = run_cli("check", "n.net", "--plugin", "plug_halve")
    assert code == 0 and out.startswith("ok: n: input (N,3,8,8) -> out (N,4,6,6)")
    assert OPS["halve"].__module__ == "plug_halve"


def test_plugin_option_is_repeatable_and_on_every_spec_command() -> None:
    parser = build_parser()
    for argv in (
        ["check", "x"],
        ["summary", "x"],
        ["render", "x", "-o", "x.svg"],
        ["compile", "x", "-o", "x.py"],
        ["diff", "a", "b"],
        ["view", "x"],
        ["ops"],
    ):
        args = parser.parse_args([*argv, "--plugin", "a.ops", "--plugin", "b"])
        assert args.plugin == ["a.ops", "b"], argv


@pytest.mark.parametrize(
    ("text", "expected", "hint"),
    [
        (None, "error: cannot import plugin 'plug_missing': ModuleNotFoundError", "is 'plug_missing' installed"),
        ("import plug_no_such_dependency\n", "No module named 'plug_no_such_dependency'", None),
        ("x = 1 / 0\n", "cannot import plugin 'plug_missing': ZeroDivisionError: division by zero", None),
        (
            HALVE.format(kind="conv"),
            "op 'conv' is already defined by netspec.ops.conv.Conv",
            "give the plugin's op another kind",
        ),
        (HALVE.format(kind="residual"), "op kind 'residual' is a keyword of the language", None),
    ],
    ids=["missing", "missing-dependency", "raises", "clash", "keyword"],
)
def test_a_broken_plugin_is_a_clean_error(plugin_dir: Path, text: str | None, expected: str, hint: str | None) -> None:
    if text is not None:
        write_plugin(plugin_dir, "plug_missing", text)
    code, out, err = run_cli("check", "resnet18", "--plugin", "plug_missing")
    assert (code, out) == (1, "")
    assert expected in err and "Traceback" not in err
    if hint is not None:
        assert f"hint: {hint}" in err
    assert is_builtin(OPS["conv"])


def test_diff_reports_a_broken_plugin_as_trouble(plugin_dir: Path) -> None:
    code, _, err = run_cli("diff", "resnet18", "resnet34", "--plugin", "plug_missing")
    assert code == 2 and "cannot import plugin" in err


def test_ops_lists_plugin_ops(plugin_dir: Path) -> None:
    write_plugin(plugin_dir, "plug_halve", HALVE.format(kind="halve"))
    code, out, _ = run_cli("ops", "--plugin", "plug_halve")
    assert code == 0
    assert "halve: x / 2\n    family activation; 1 input; from plug_halve\n" in out


# ---------------------------------------------------------------- installed plugins (entry points)


def install(folder: Path, entry_points: str) -> None:
    """A distribution `plug-dist` on sys.path declaring these entry points."""
    info = folder / "plug_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plug-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{entry_points}\n")
    importlib.invalidate_caches()


def test_entry_point_module_loads_on_the_first_unknown_op(plugin_dir: Path) -> None:
    write_plugin(plugin_dir, "plug_halve", HALVE.format(kind="halve"))
    install(plugin_dir, "halve = plug_halve")
    plugins.reset_installed()
    assert "plug_halve" not in sys.modules
    netspec.load("resnet18")  # known ops only: nothing is loaded
    assert "plug_halve" not in sys.modules
    g = netspec.load_text(SPEC.format(kind="halve"))
    assert g.nodes["1"].kind == "halve" and "plug_halve" in sys.modules
    unregister("halve")
    del sys.modules["plug_halve"]
    plugins.reset_installed()
    Path("n.net").write_text(SPEC.format(kind="halve"))
    code, out, _ = run_cli("check", "n.net")  # the command line too, with no --plugin
    assert code == 0 and out.startswith("ok: n:")


def test_entry_point_may_name_an_op_class(plugin_dir: Path) -> None:
    write_plugin(plugin_dir, "plug_cls", HALVE.format(kind="halve").replace("@register\n", ""))
    install(plugin_dir, "halve = plug_cls:Halve")
    plugins.reset_installed()
    assert netspec.load_text(SPEC.format(kind="halve")).nodes["1"].op.__module__ == "plug_cls"


def test_entry_points_are_scanned_once_and_only_for_unknown_names(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: calls.append(kw) or [])
    plugins.reset_installed()
    netspec.load("resnet18")
    assert calls == []  # checking a spec of built-in ops never scans the installed distributions
    for _ in range(2):
        with pytest.raises(netspec.SpecError, match="unknown op or block 'halve'"):
            netspec.load_text(SPEC.format(kind="halve"))
    assert calls == [{"group": "netspec.ops"}]


def test_a_broken_entry_point_is_a_clean_error(plugin_dir: Path) -> None:
    write_plugin(plugin_dir, "plug_bad", "raise RuntimeError('plugin is broken')\n")
    install(plugin_dir, "bad = plug_bad\nworse = plug_nowhere:Op")
    plugins.reset_installed()
    Path("n.net").write_text(SPEC.format(kind="halve"))
    code, out, err = run_cli("check", "n.net")
    assert (code, out) == (1, "")
    assert "error: cannot import plugin 'plug_bad' (entry point 'bad' of plug-dist" in err
    assert "RuntimeError: plugin is broken" in err and "raised at " in err
    assert "note: also: cannot import plugin 'plug_nowhere:Op' (entry point 'worse'" in err
    assert "hint: fix or uninstall the package that declares it" in err and "Traceback" not in err


# ---------------------------------------------------------------- register_op


class Twice(Op):
    kind: ClassVar[str] = "twice"
    doc: ClassVar[str] = "x * 2"


def test_register_op_checks_the_class() -> None:
    assert netspec.register_op(Twice) is Twice and OPS["twice"] is Twice
    with pytest.raises(RegistryError, match="already defined by test_plugins.Twice"):
        netspec.register_op(type("Twice2", (Twice,), {}))
    with pytest.raises(RegistryError, match="is built in"):
        unregister("conv")
    bad: list[tuple[dict[str, Any], str]] = [
        ({"kind": "Bad"}, "lowercase ASCII identifier"),
        ({"kind": "for"}, "keyword of the language"),
        ({"kind": "odd", "family": "conv"}, "must be one of Family.CONV"),
        ({"kind": "odd", "positional": ("size",)}, "positional names size"),
    ]
    for attrs, message in bad:
        annotations = {k: ClassVar[Any] for k in attrs}
        cls = type("Odd", (Op,), {"__annotations__": annotations, "__module__": __name__, **attrs})
        with pytest.raises(RegistryError, match=message):
            netspec.register_op(cls)
    with pytest.raises(RegistryError, match="not an op class"):
        netspec.register_op(int)  # type: ignore[type-var]


# ---------------------------------------------------------------- docs and diagrams read declarations


def test_docs_table_holds_builtin_ops_only() -> None:
    netspec.register_op(Twice)
    assert "| `twice` |" in op_table()
    text = DOC.read_text()
    assert render(text) == text  # a registered plugin never leaks into docs/language.md


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ({"type": "integer", "exclusiveMinimum": 0, "maximum": 65536}, "int>0"),
        ({"type": "integer", "minimum": 0}, "int>=0"),
        ({"type": "number", "minimum": 0, "maximum": 1}, "0<=float<=1"),
        ({"type": "number", "minimum": -1e6, "maximum": 1e6}, "float"),
        ({"anyOf": [{"type": "null"}, {"type": "boolean"}]}, "bool | none"),
        ({"enum": ["same", "valid"], "type": "string"}, '"same" | "valid"'),
        ({"type": "array", "prefixItems": [{"type": "integer"}] * 2, "minItems": 2, "maxItems": 2}, "[int, int]"),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 6}, "[int, ...] (1-6 items)"),
        ({}, "any"),
    ],
)
def test_schema_type(schema: dict[str, Any], words: str) -> None:
    assert schema_type(schema) == words


def test_value_text_is_dotnet_syntax() -> None:
    assert [value_text(v) for v in (True, None, "same", [1, 2], 1e-5, 3)] == [
        "true",
        "none",
        '"same"',
        "[1, 2]",
        "1e-05",
        "3",
    ]


def test_every_family_has_a_colour() -> None:
    assert list(FAMILY_COLORS) == list(Family)
    assert len(set(FAMILY_COLORS.values())) == len(Family)


def test_declared_facts_replace_name_tables() -> None:
    assert [k for k in sorted(OPS) if OPS[k].size_only_inputs] == ["crop", "expand", "max_unpool", "upsample"]
    assert [k for k in sorted(OPS) if OPS[k].absorbs_bias] == ["bn", "instance_norm"]
    assert {k for k in OPS if OPS[k].associative} == {"add", "concat", "mul"}
    assert all(isinstance(OPS[k], type) and issubclass(OPS[k], Op) for k in OPS)
    aliases = [a for k in OPS for a in OPS[k].aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(OPS)  # each names one op
