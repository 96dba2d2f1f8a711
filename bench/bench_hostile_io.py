"""Hostile inputs to the back ends: the worst time `netspec render` takes on pathological graphs.

    .venv/bin/python bench/bench_hostile_io.py [--repeat 3] [-k NAME]

Each case is a whole `netspec` process (check, choose the view, lay out with `dot`,
write), run in a fresh interpreter and timed with its children (dot), slowest of
`--repeat` runs kept. The specs come from tests/test_hostile_io.py: one tensor read by
140 layers in a row (the fan: dot once ran over ten minutes), 140 layers concatenated
at the end (fan-in), blocks nested 14 deep (16,384 layers: the default depth once took a
view per depth, and the page one per level), and a 2,000-layer chain at full depth
(refused before layout). The figures go to docs/benchmarks.md ("Hostile inputs").
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]  # this checkout, not an installed netspec

from test_hostile_io import chain_spec, fan_in_spec, fan_spec, nested_spec  # noqa: E402


def residual_spec(n: int) -> str:
    """n residual blocks in a row: at full depth 3n + 2 boxes (333: 1,001 boxes, at the cap)."""
    return "block r(c) { residual { conv c k=3 p=1; relu } }\nnetwork res() {\n  input 8x8x8\n" + "  r(8)\n" * n + "}\n"


# name, spec text, output suffix, extra arguments
CASES: list[tuple[str, str, str, list[str]]] = [
    ("fan 140: svg, depth full", fan_spec(140), "svg", ["--depth", "full"]),
    ("fan 400: svg, depth full", fan_spec(400), "svg", ["--depth", "full"]),
    ("fan-in 140: svg, depth full", fan_in_spec(140), "svg", ["--depth", "full"]),
    ("nested 14 (16,384 layers): check", nested_spec(14), "check", []),
    ("nested 14: svg, default depth", nested_spec(14), "svg", []),
    ("nested 14: svg, depth full (refused)", nested_spec(14), "svg", ["--depth", "full"]),
    ("nested 13 (8,192 layers): html page", nested_spec(13), "html", []),
    ("nested 14: html page (refused)", nested_spec(14), "html", []),
    ("chain 2,000: svg, depth full (refused)", chain_spec(2000), "svg", ["--depth", "full"]),
    ("chain 990: svg, depth full", chain_spec(990), "svg", ["--depth", "full"]),
    ("residual 332 (998 boxes): svg, depth full", residual_spec(332), "svg", ["--depth", "full"]),
]


# Runs the command given as its arguments and prints its exit code, wall and CPU seconds (the
# command's own children, dot, included) and the largest peak RSS among them, in KiB.
PROBE = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True); "
    "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(p.returncode, time.perf_counter() - t, r.ru_utime + r.ru_stime, r.ru_maxrss); "
    "sys.stdout.write(p.stderr)"
)


def run(spec: str, suffix: str, extra: list[str], timeout: float) -> tuple[int, float, float, float, str]:
    """One whole process: exit code, wall and CPU seconds (with dot), peak RSS MiB, its first error line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case.net"
        path.write_text(spec)
        if suffix == "check":
            cmd = [sys.executable, "-m", "netspec", "check", str(path)]
        else:
            cmd = [sys.executable, "-m", "netspec", "render", str(path), "-o", str(Path(tmp) / f"out.{suffix}"), *extra]
        out = subprocess.run(
            [sys.executable, "-c", PROBE, *cmd], capture_output=True, text=True, timeout=timeout, cwd=HERE.parent
        ).stdout
    head, _, stderr = out.partition("\n")
    code, wall, cpu, rss = head.split()
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    return int(code), float(wall), float(cpu), float(rss) / 1024, errors[0][7:70] if errors else ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; the slowest is kept")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    rows = []
    for name, spec, suffix, extra in CASES:
        if args.k not in name:
            continue
        runs = [run(spec, suffix, extra, args.timeout) for _ in range(args.repeat)]
        code, wall, cpu, rss, error = max(runs, key=lambda r: r[1])
        outcome = "ok" if code == 0 else f"exit {code}: {error}"
        rows.append((name, outcome, wall, cpu, rss))
        print(f"{name}: {outcome}, {wall:.2f} s", file=sys.stderr)
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| case | outcome | wall s | CPU s (with dot) | peak RSS MiB |\n|---|---|---:|---:|---:|")
    for name, outcome, wall, cpu, rss in rows:
        print(f"| {name} | {outcome} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
