"""Diagram speed: `netspec render densenet201` at the default depth (target < 2 s), and more.

    .venv/bin/python bench/bench_render.py [--quick]

Each row is the median of several runs, split into loading the spec (parse, evaluate,
shape-check), choosing the view (depth, folding, edges), and laying it out with
`dot` into SVG. The whole `netspec render` process is timed as well, since that is
what a user waits for.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

import netspec
from netspec.compiler.diagram_view import View
from netspec.compiler.to_graphviz import Diagram, make_view

ROWS = [("densenet201", None), ("efficientnet_b7", None), ("resnet50", None), ("googlenet", 1),
        ("densenet201", "full"), ("efficientnet_b7", "full")]
TARGET_S = 2.0
T = TypeVar("T")


def timed(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    """Median seconds of `repeat` calls, and the last result."""
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls), out


def draw_svg(view: View) -> bytes:
    return Diagram(view).pipe("svg")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one run per row")
    args = ap.parse_args()
    repeat = 1 if args.quick else 5
    print("| network | depth | boxes | edges | load s | view s | dot (svg) s | total s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, depth in ROWS:
        t_load, g = timed(partial(netspec.load, name), repeat)
        t_view, view = timed(partial(make_view, g, depth), repeat)
        t_dot, _ = timed(partial(draw_svg, view), repeat)
        shown = "full" if view.depth is None else f"{view.depth}" + (" (default)" if depth is None else "")
        print(f"| {name} | {shown} | {len(view.boxes)} | {len(view.edges)} | {t_load:.3f} | {t_view:.3f} | "
              f"{t_dot:.3f} | {t_load + t_view + t_dot:.3f} |")

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "netspec", "render", "densenet201", "-o", str(Path(tmp) / "d.svg")]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm the grammar cache
        wall, _ = timed(partial(subprocess.run, cmd, check=True, stdout=subprocess.DEVNULL), repeat)
    verdict = "ok" if wall < TARGET_S else "SLOW"
    print(f"\n`netspec render densenet201 -o d.svg` (whole process, default depth): {wall:.2f} s "
          f"(target < {TARGET_S:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
