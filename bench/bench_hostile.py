"""Hostile inputs: the worst time and memory any spec can cost `netspec check`.

    .venv/bin/python bench/bench_hostile.py [--repeat 3] [--parser]

Runs every case of tests/test_hostile.py (comprehension bombs, list multiplication
nests, 2**21 empty block calls, dense blocks of thousands of layers, ...) in a fresh
interpreter with the default Limits, and prints a markdown table, slowest first: the
limit that stopped it (or "accepted"), wall and CPU seconds, and peak RSS. The figures
go to docs/benchmarks.md ("Hostile inputs"). With --parser it also times parsing a
1 MiB file of `let` lines, the cost the parser (not the evaluator) sets.
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

import test_hostile  # noqa: E402


def parser_row() -> tuple[str, str, float, float, float]:
    """Parse-and-check a 1 MiB file of lets as a whole `netspec check` process."""
    lines = [f"let value_{i} = {i}" for i in range(60_000)]
    text = "\n".join(lines) + "\nnetwork n() {\n  input 3x8x8\n  relu\n}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lets.net"
        path.write_text(text)
        probe = (
            "import resource, subprocess, sys, time; t = time.perf_counter(); "
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
            "r = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "print(time.perf_counter() - t, r.ru_utime + r.ru_stime, r.ru_maxrss)"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe, sys.executable, "-m", "netspec", "check", str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE.parent,
        )
    wall, cpu, rss = (float(x) for x in out.stdout.split())
    return (f"parse a {len(text) >> 10} KiB file of lets (whole process)", "accepted", wall, cpu, rss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="runs per case; the slowest is kept")
    ap.add_argument("--parser", action="store_true", help="also time a 1 MiB file through the parser")
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args()
    rows = []
    for case in test_hostile.CASES:
        if args.k not in case.name:
            continue
        runs = [test_hostile.measure_in_subprocess(case.name, timeout=300) for _ in range(args.repeat)]
        worst = max(runs, key=lambda r: r["cpu"])
        rows.append((case.name, worst["outcome"], worst["wall"], worst["cpu"], worst["peak_rss_mib"]))
        print(f"{case.name}: {worst}", file=sys.stderr)
    if args.parser:
        rows.append(parser_row())
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| case | stopped by | wall s | CPU s | peak RSS MiB |\n|---|---|---:|---:|---:|")
    for name, outcome, wall, cpu, rss in sorted(rows, key=lambda r: -r[3]):
        shown = outcome if not outcome.startswith("error: ") else "error: " + outcome[7:50]
        print(f"| {name} | {shown} | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
