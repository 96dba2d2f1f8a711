"""Where `netspec summary resnet152` spends its time beyond importing its libraries.

    .venv/bin/python bench/bench_startup.py [--runs N]

Each run is a fresh interpreter that goes through the command's stages one at a
time and times each (CPU time of the process, which a busy machine disturbs less
than wall time; wall time is printed too). The table gives the median of each
stage over the runs. Run it from the repository whose netspec you want to measure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

STAGES = r"""
import json, sys, time
marks = []
def mark(name):
    marks.append((name, time.process_time(), time.perf_counter()))
mark("start")
from pydantic import BaseModel; import lark
mark("libraries: from pydantic import BaseModel; import lark")
import netspec.ast
mark("import netspec, netspec.errors, netspec.ast (difflib)")
import netspec.parse
mark("import netspec.lex, netspec.parse (importlib.resources)")
import pydantic.fields, pydantic.types, annotated_types
mark("pydantic modules the ops import beyond BaseModel")
from pydantic.plugin._loader import get_plugins
list(get_plugins())
mark("pydantic plugin scan (importlib.metadata), at the first schema build")
import netspec.ops
OPS = netspec.ops.OPS
mark(f"import netspec.ops (Init, Op, ParamOp, forms and {len(OPS)} op classes)")
extra = [type(f"Probe{i}", (OPS["conv"],), {"__module__": __name__}) for i in range(10)]
mark("  10 more op classes (subclasses of conv): the per-class cost")
import netspec.evaluate, netspec.values, netspec.graph, netspec.lint
mark("import evaluate, values, graph, lint")
import netspec.library, netspec.table, netspec.cli
mark("import library, table, cli (argparse, json)")
netspec.parse._parser()
mark("grammar: LALR tables from the private cache")
used = ("conv", "bn", "relu", "maxpool", "add", "global_pool", "avgpool", "flatten", "linear")
for kind in used:
    if kind in OPS:
        params, _ = OPS[kind].example
        OPS[kind](**params)
mark("first validation of each op class resnet152 uses (schema build)")
from netspec.library import Loader, resolve, build
path, name = resolve("resnet152")
mark("find resnet152 in the library (scan of specs/)")
loaded = Loader().load(path)
mark("parse resnet.net and common.net, evaluate their lets")
g = build(loaded, name, {})
mark(f"evaluate + shape-check resnet152 ({len(g.layers())} layers)")
text = netspec.table.table(g, None)
mark("summary table (receptive fields included)")
args = netspec.cli.build_parser().parse_args(["summary", "resnet152", "--sizes"])
sizes = netspec.cli._sizes(args, g)
mark("input sizes the network accepts (netspec.sizes; summary --sizes only)")
print(json.dumps(marks))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    # As installed: bytecode cached (a first run writes it) and the table cache warm.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "netspec", "check", "resnet152"], check=True, stdout=subprocess.DEVNULL, env=env
    )
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", STAGES], check=True, capture_output=True, text=True, env=env)
        runs.append(json.loads(out.stdout.splitlines()[-1]))
    names = [m[0] for m in runs[0]][1:]
    print(f"median of {args.runs} fresh processes")
    print("| stage | CPU ms | wall ms |\n|---|---:|---:|")
    total_cpu = total_wall = 0.0
    for i, name in enumerate(names, start=1):
        cpu = statistics.median((r[i][1] - r[i - 1][1]) * 1000 for r in runs)
        wall = statistics.median((r[i][2] - r[i - 1][2]) * 1000 for r in runs)
        if i > 1 and not name.startswith("  "):
            total_cpu, total_wall = total_cpu + cpu, total_wall + wall
        print(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    print(f"| everything after the libraries | {total_cpu:.1f} | {total_wall:.1f} |")


if __name__ == "__main__":
    main()
