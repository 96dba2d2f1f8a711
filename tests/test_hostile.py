"""Hostile inputs: the spec is untrusted, so every way to make checking slow or huge must fail fast.

Each case is a generated spec (deep, wide or huge in one way) or a Python call, with
what must happen: a located SpecError naming the limit that stops it (`limit`), another
located SpecError (`error`), or plain acceptance. Every case must also finish within
a time and memory bound, with the default Limits. bench/bench_hostile.py runs the same
cases as whole processes and records the worst times in docs/benchmarks.md.

Cases that are cheap by construction run in-process (timed, then again under
tracemalloc for memory); the ones that take a second or more, mostly those that run a
counter up to its default limit (a million loop iterations, 100,000 layers...), run in
a subprocess, which measures their CPU time and peak RSS and shields the test run from
a regression that would make them explode.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec import SpecError
from netspec.cli import main as cli_main
from netspec.limits import WHAT, LimitError, Limits

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 5.0  # CPU seconds any case may take with the default limits
MIB = 300  # peak memory any case may use (tracemalloc peak in-process, RSS growth in a subprocess)


def spec(body: str, head: str = "") -> str:
    return f"{head}\nnetwork n(w=8) {{\n  input 3x8x8\n{body}\n}}\n"


def blocks_calling_twice(k: int) -> str:
    """b0 calls b1 twice, ..., b{k-1} calls b{k} twice; b{k} is empty: 2**k calls, no layers."""
    lines = [f"block b{k}() {{ }}"] + [f"block b{i}() {{ b{i + 1}(); b{i + 1}() }}" for i in range(k)]
    return "\n".join(lines)


def nested_blocks(n: int, inner: str = "relu") -> str:
    return "\n".join([f"block b{i}() {{ b{i + 1}() }}" for i in range(n)] + [f"block b{n}() {{ {inner} }}"])


@dataclass
class Case:
    """One hostile input. `run` builds and checks it; `limit` / `error` say how it must fail."""

    name: str
    run: Callable[[], Any]
    limit: str | None = None  # the Limits field named by the LimitError
    error: str | None = None  # a fragment of another SpecError's message
    located: bool = True  # the error points into a spec file
    heavy: bool = False  # takes a second or more (a counter run up to its default limit): measured in a subprocess

    def __repr__(self) -> str:
        return self.name


def text(body: str, head: str = "", **kw: Any) -> Callable[[], Any]:
    source = spec(body, head)
    return lambda: netspec.load_text(source, file="hostile.net", **kw)


def raw(source: str, **kw: Any) -> Callable[[], Any]:
    return lambda: netspec.load_text(source, file="hostile.net", **kw)


def cli(*argv: str) -> Callable[[], Any]:
    """Load a graph the way the `netspec` command does, `--set` and `--input` included."""
    from netspec.cli import build_parser, load_graph

    return lambda: load_graph(build_parser().parse_args(list(argv)))


def _summary_json_is_strict() -> None:
    """Receptive fields overflow a float after ~64 large strides; --json must stay strict JSON."""
    import io
    from contextlib import redirect_stdout

    path = Path(__file__).parent / "_hostile_rf.net"
    path.write_text(spec("repeat 80 { maxpool 1 s=65536 }"))
    try:
        out = io.StringIO()
        with redirect_stdout(out):
            assert cli_main(["summary", str(path), "--json"]) == 0
    finally:
        path.unlink()

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON constant {token}")

    data = json.loads(out.getvalue(), parse_constant=refuse)
    fields = [r["rf"] for r in data["nodes"] if r["rf"]]
    assert max(max(f["size"]) for f in fields) <= 64  # capped at the input
    assert {j for f in fields for j in f["jump"] if isinstance(j, str)} == {"inf"}  # named, not Infinity


def _imports(depth: int) -> Callable[[], Any]:
    def run() -> Any:
        folder = Path(__file__).parent / "_hostile_imports"
        folder.mkdir(exist_ok=True)
        try:
            for i in range(depth):
                (folder / f"f{i}.net").write_text(f'import "f{i + 1}.net"\n')
            (folder / f"f{depth}.net").write_text(spec("relu"))
            return netspec.load(str(folder / "f0.net") + ":n")
        finally:
            for p in folder.glob("*.net"):
                p.unlink()
            folder.rmdir()

    return run


def _nested(depth: int) -> list[Any]:
    x: list[Any] = []
    for _ in range(depth):
        x = [x]
    return x


LOTS_OF_LETS = "\n".join(f"let v{i} = {i}" for i in range(5000))

CASES = [
    # ------------------------------------------------ comprehensions count as loop iterations
    Case("comprehension_bomb", text("let x = [[i for i in range(100000)] for j in range(100000)]"), "max_list"),
    Case(
        "comprehension_filtered_away",
        text("let r = range(2000)\nlet x = [[0 for i in r if false] for j in r]"),
        "max_iterations",
        heavy=True,
    ),
    Case(
        "comprehension_in_loop",
        text("let r = range(1000)\nfor j in r { for k in r { let x = [i for i in r] } }"),
        "max_iterations",
        heavy=True,
    ),
    # ------------------------------------------------ values are bounded before they are built
    Case("list_multiplication_nest", text("let x = [[[0] * 1000] * 1000] * 1000"), "max_list"),
    Case("list_multiplication_shared", text("let a = [0] * 100000\nlet b = [a] * 100000"), "max_list"),
    Case("list_multiplication_of_a_nest", text("let a = [[0] * 1000] * 99\nlet b = a * 2"), "max_list"),
    Case(
        "list_concat_doubling",
        text("let a0 = [0]\n" + "\n".join(f"let a{i + 1} = a{i} + a{i}" for i in range(64))),
        "max_list",
    ),
    Case("str_of_huge_list", text("let s = str([[0] * 1000] * 99)"), "max_str"),
    Case("str_of_range", text("let s = str(range(20000))"), "max_str"),
    Case("string_concat", text("let s = str(range(1500))\nlet t = s + s + s"), "max_str"),
    Case("sum_of_lists_is_linear", text("let x = sum([[0]] * 50000, [])\nconv len(x) // 10000"), None),
    Case("sum_of_lists_too_long", text("let x = sum([[0] * 1000] * 99, [0] * 2000)"), "max_list"),
    Case("enumerate_of_huge", text("let x = enumerate(range(60000))"), "max_list"),
    Case("zip_of_huge", text("let x = zip(range(60000), range(60000))"), "max_list"),
    Case("round_huge_negative_digits", text("conv 1 + round(123, -10**15)"), None),
    Case("round_huge_negative_digits_float", text("conv 1 + int(round(123.5, -10**15))"), None),
    Case("int_of_long_digit_string", text("let x = int(str(10**15) + str(10**15))"), "max_int"),
    Case("power_tower", text("let x = 2 ** 2 ** 2 ** 2 ** 2"), "max_int"),
    Case("big_literal", text("conv 999999999999999999999999999 k=1"), "max_int"),
    Case(
        "compare_huge_lists_in_a_loop",
        text("let a = [0] * 100000\nfor i in range(1000) { let t = a == a + [] }"),
        "max_work",
    ),
    Case(
        "max_of_nested_lists_in_a_loop",
        text("let a = [[0] * 999] * 99\nfor i in range(10000) { let m = max(a) }"),
        "max_work",
    ),
    # ------------------------------------------------ block calls count, even ones that make no layer
    Case("empty_block_calls_2_to_the_21", text("b0()\nrelu", head=blocks_calling_twice(21)), "max_scopes", heavy=True),
    Case(
        "empty_block_calls_in_loops",
        text("for i in range(1000) { for j in range(1000) { e() } }", head="block e() { }"),
        "max_scopes",
        heavy=True,
    ),
    # ------------------------------------------------ graph size: nodes, scopes, edges
    Case("dense_thousands_of_layers", text("dense { for i in range(3000) { conv 1 k=1 } }"), "max_edges", heavy=True),
    Case("dense_doubling_channels", text("dense { repeat 3000 { relu } }"), "max_int"),
    Case("concat_doubling_channels", text("repeat 100000 { concat { relu; relu } }"), "max_int"),
    Case("nodes_million", text("repeat 1000 { repeat 1000 { relu } }"), "max_nodes", heavy=True),
    Case(
        "layers_with_many_arguments",
        text("repeat 1000 { repeat 1000 { conv 4 k=3 s=1 p=1 d=1 groups=1 bias=false } }"),
        "max_work",
        heavy=True,
    ),
    Case(
        "block_calls_with_defaults",
        text(
            "repeat 1000 { repeat 1000 { b(4, 3, 1) } }",
            head="block b(c, k=3, s=1, p=(k - 1) // 2) { conv c k=k s=s p=p }",
        ),
        "max_work",
        heavy=True,
    ),
    Case(
        "init_rules_flood", text("repeat 1000 { repeat 1000 { init conv weight=zeros() } }"), "max_scopes", heavy=True
    ),
    Case("wide_op_parameter", text("let L = [1] * 99999\nrepeat 100000 { conv 8 k=L }"), error="'conv' parameter"),
    Case(
        "statements_in_a_long_loop",
        text("for i in range(1000) { for j in range(1000) { " + "; ".join(["let a = 1"] * 50) + " } }"),
        "max_work",
        heavy=True,
    ),
    Case(
        "expression_nodes_in_a_long_loop",
        text("for i in range(1000) { for j in range(1000) { let a = " + " + ".join(["1"] * 90) + " } }"),
        "max_work",
        heavy=True,
    ),
    # ------------------------------------------------ nesting: expressions, bodies, blocks, imports
    Case("expression_chain_2000", text("let x = " + "+".join(["1"] * 2000)), "max_expr_depth"),
    Case(
        "expression_nest_in_lists",
        text("let x = " + "[" * 60 + "1" + "]" * 60 + "\nlet y = " + " + ".join(["x"] * 150)),
        "max_expr_depth",
    ),
    Case("blocks_nested_60", text("b0()", head=nested_blocks(60)), "max_depth"),
    Case(
        "blocks_nested_with_deep_bodies",
        text("b0()", head=nested_blocks(40, inner="residual { " * 40 + "relu" + " }" * 40)),
        "max_depth",
    ),
    Case(
        "loops_nested_in_many_blocks",
        text(
            "b0()",
            head="\n".join(f"block b{i}() {{ {'if true { ' * 50}b{i + 1}(){' }' * 50} }}" for i in range(40))
            + "\nblock b40() { relu }",
        ),
        None,
    ),
    Case(
        "list_nesting_via_lets",
        text("let a0 = [0]\n" + "\n".join(f"let a{i + 1} = [a{i}]" for i in range(500))),
        "max_expr_depth",
    ),
    Case("import_chain", _imports(40), "max_import_depth"),
    # ------------------------------------------------ numbers and values from outside the language
    Case("api_huge_int", text("conv w", w=10**100000), "max_int"),
    Case("api_shared_nested_list", text("relu", w=[[0] * 100000] * 100000), "max_list"),
    Case("api_deeply_nested_list", lambda: text("relu", w=_nested(100_000))(), "max_expr_depth"),
    Case("api_object", text("relu", w=object()), error="not a spec value"),
    Case("api_input_shape", text("relu", input=(10**100, 1, 1)), error="input shape"),
    Case("cli_set_huge_int", cli("check", "resnet18", "--set", "num_classes=" + "9" * 29), "max_int"),
    Case("cli_set_huge_list", cli("check", "resnet18", "--set", "num_classes=[[0] * 1000] * 1000"), "max_list"),
    Case("unicode_digits_int", text('conv int("٣")'), error="ASCII"),
    Case(
        "unicode_digits_cli_input", cli("check", "resnet18", "--input", "٣x٢٢٤x٢٢٤"), error="--input", located=False
    ),  # a command-line argument has no file position; the message quotes it
    Case("unicode_digits_float", text('dropout float("٠.٥")'), error="ASCII"),
    # ------------------------------------------------ validation does not depend on earlier lines
    Case("float_kernel_after_int_kernel", text("conv 8 k=3\nconv 8 k=3.0"), error="valid integer"),
    Case("int_bias_after_bool_bias", text("conv 8 bias=true\nconv 8 bias=1"), error="valid boolean"),
    # ------------------------------------------------ the Python API
    Case("alias_cycle", raw("network a = b()\nnetwork b = a()\n", name="a"), error="alias cycle"),
    Case(
        "alias_chain",
        raw(
            spec("relu").replace("network n(", "network a0(")
            + "\n".join(f"network a{i + 1} = a{i}()" for i in range(3000)),
            name="a3000",
        ),
        "max_depth",
    ),
    Case("summary_json_is_strict", _summary_json_is_strict, None, heavy=True),  # summary scans input sizes ~2 s
    Case(
        "lint_warnings_in_a_big_file",
        text("repeat 20000 { conv_transpose 4 k=3 s=2 p=1 op=1; maxpool 2 }", head="#" + "x" * 2_000_000),
        None,
        heavy=True,
    ),
    Case(
        "many_names_in_scope",
        text("repeat 5000 { conv out k=1 }", head=LOTS_OF_LETS + "\nlet out = 3"),
        None,
        heavy=True,
    ),
    Case(
        "typo_among_many_names", text("conv v4999 + vv4998 k=1", head=LOTS_OF_LETS), error="undefined name", heavy=True
    ),
]


def _expect(case: Case, run: Callable[[], Any]) -> None:
    """Run a case and check that it fails as it must (or passes)."""
    if case.limit is None and case.error is None:
        run()
        return
    with pytest.raises(SpecError) as info:
        run()
    err = info.value
    first = err.render().splitlines()[0]
    if case.located:
        assert err.span is not None, f"{case.name}: the error has no location: {err}"
        assert ": error: " in first and first.count(":") >= 3, first
    if case.limit is not None:
        assert isinstance(err, LimitError), f"{case.name}: expected the {case.limit} limit, got: {err}"
        assert err.limit == case.limit, f"{case.name}: expected {case.limit}, got {err.limit}: {err}"
        assert f"(limit {case.limit})" in first
    else:
        assert case.error in err.message, f"{case.name}: {err.message}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.heavy], ids=repr)
def test_hostile_input_fails_fast(case: Case) -> None:
    cpu = time.process_time()
    _expect(case, case.run)
    cpu = time.process_time() - cpu
    assert cpu < SECONDS / 5, f"{case.name}: {cpu:.1f} s of CPU"  # the heavy cases run in a subprocess
    tracemalloc.start()  # again, for memory: tracing makes allocation-heavy code several times slower
    try:
        _expect(case, case.run)
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert peak < MIB, f"{case.name}: {peak:.0f} MiB at peak"


def measure_in_subprocess(name: str, timeout: float = 60) -> dict[str, Any]:
    """Run one case by name in a fresh interpreter: its outcome, wall and CPU seconds, and peak RSS.

    `rss_mib` is how much the peak grew while the case ran (netspec and pydantic already
    imported: about 60 MiB); `peak_rss_mib` is the whole process's peak.
    """
    code = (
        "import json, resource, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "import test_hostile as h\n"
        "case = next(c for c in h.CASES if c.name == sys.argv[1])\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "wall, cpu = time.perf_counter(), time.process_time()\n"
        "try:\n"
        "    case.run(); outcome = 'accepted'\n"
        "except h.SpecError as err:\n"
        "    outcome = getattr(err, 'limit', None) or 'error: ' + err.message\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = {'outcome': outcome, 'wall': time.perf_counter() - wall, 'cpu': time.process_time() - cpu,\n"
        "       'rss_mib': (peak - base) / 1024, 'peak_rss_mib': peak / 1024}\n"
        "print(json.dumps(out))\n"
    )
    limit_as = f"{3 << 30}"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit_as}, {limit_as}))\n" + code,
            name,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.heavy], ids=repr)
def test_hostile_input_at_the_default_limits(case: Case) -> None:
    got = measure_in_subprocess(case.name)
    expected = case.limit or ("accepted" if case.error is None else "error: ")
    assert got["outcome"].startswith(expected) and (case.error or "") in got["outcome"], got
    assert got["cpu"] < SECONDS, got
    assert got["rss_mib"] < MIB, got


LOWERED = ("max_iterations", "max_work", "max_nodes", "max_scopes", "max_edges")


@pytest.mark.parametrize("case", [c for c in CASES if c.heavy and c.limit in LOWERED], ids=repr)
def test_heavy_inputs_stop_at_lowered_limits(case: Case) -> None:
    """The same inputs under the counting limits a hundred times lower: the same limit stops them, quickly."""
    small = Limits(max_iterations=5_000, max_work=20_000, max_nodes=1_000, max_scopes=500, max_edges=10_000)
    original = netspec.load_text

    def load_text(*args: Any, **kw: Any) -> Any:
        return original(*args, **{**kw, "limits": small})

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(netspec, "load_text", load_text)
        _expect(case, case.run)


def test_every_limit_has_a_case_and_a_doc_row() -> None:
    fields = set(Limits.__dataclass_fields__)
    assert fields == set(WHAT)
    assert fields <= {c.limit for c in CASES}
    doc = (ROOT / "docs" / "language.md").read_text()
    for name in fields:
        assert f"`{name}`" in doc, f"docs/language.md does not list {name}"


def test_limits_can_be_raised() -> None:
    source = spec("repeat 300 { relu }")
    with pytest.raises(LimitError, match="max_nodes"):
        netspec.load_text(source, limits=Limits(max_nodes=100))
    assert len(netspec.load_text(source, limits=Limits(max_nodes=400)).layers()) == 300
    x = "let x = [[0] * 1000] * 200\nconv len(x) // 100 k=1"
    with pytest.raises(LimitError, match="max_list"):
        netspec.load_text(spec(x))
    assert netspec.load_text(spec(x), limits=Limits(max_list=300_000)).layers()[0].shape[0] == 2


def test_limits_are_positive_ints() -> None:
    with pytest.raises(ValueError, match="max_nodes"):
        Limits(max_nodes=0)


def test_unicode_digits_in_the_source_are_not_numbers() -> None:
    with pytest.raises(SpecError):
        netspec.load_text(spec("conv ٣ k=1"))


def test_a_long_unary_chain_is_a_located_error() -> None:  # the parser bounds it (nesting)
    with pytest.raises(SpecError) as info:
        netspec.load_text(spec("let x = " + "-" * 5000 + "1"))
    assert info.value.span is not None


def test_rusage_is_available() -> None:  # the subprocess measurement relies on it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
