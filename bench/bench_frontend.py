"""Front-end speed: whole processes measured side by side with `import torch`.

    .venv/bin/python bench/bench_frontend.py [--quick] [--repeat N]

Run it from the repository whose netspec you want to measure (`python -m netspec`
imports the netspec of the current directory); `--before DIR` also runs every
netspec command from DIR (e.g. `git archive main | tar -x -C /tmp/before`), in the
same rounds, for a before/after comparison.

Every round runs each command once, in turn, so machine load hits all of them
alike; the table gives medians over the rounds of wall time and of CPU time (user
+ system, from the child's own rusage: steadier than wall time on a shared
machine), peak RSS, and both ratios to `import torch` from the same rounds.
netspec's own cost is `summary resnet152` minus the bare import of the libraries
it is built on (pydantic, lark, networkx), as the targets in docs/benchmarks.md
define it; the same figure minus pydantic and lark only is printed too, since the
command never imports networkx.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
# As installed: bytecode cached (the warm-up run writes it), whatever this shell says.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
NETSPEC = [PY, "-m", "netspec"]
LIBS = "from pydantic import BaseModel; import lark, networkx"
LIBS_USED = "from pydantic import BaseModel; import lark"


def run_once(cmd: list[str], cwd: str | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def flat_spec(n: int) -> str:
    """n layer lines, each written out: `c0: conv 16 k=3 p=1`, `r0: relu`, ..."""
    lines = ["network big() {", "  input 16x32x32"]
    for i in range(n // 2):
        lines += [f"  c{i}: conv 16 k=3 p=1", f"  r{i}: relu"]
    return "\n".join([*lines, "}"]) + "\n"


def loop_spec(n: int) -> str:
    return f"network big() {{\n  input 16x32x32\n  repeat {n // 2} {{ conv 16 k=3 p=1; relu }}\n}}\n"


Command = tuple[list[str], str | None]  # argv, working directory (None: here)


def measure(commands: dict[str, Command], rounds: dict[str, int]) -> dict[str, list[tuple[float, float, float]]]:
    """Round-robin: round r runs every command that still wants a run, in turn."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for r in range(max(rounds.values())):
        for name, (cmd, cwd) in commands.items():
            if r < rounds[name]:
                runs[name].append(run_once(cmd, cwd))
        print(f"round {r + 1} done", file=sys.stderr)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="3 rounds, no 100,000-line files")
    ap.add_argument("--repeat", type=int, default=None, help="rounds for the short commands (default 9)")
    ap.add_argument("--before", metavar="DIR", help="also run every netspec command from DIR (an older checkout)")
    args = ap.parse_args()
    repeat = args.repeat or (3 if args.quick else 9)
    big = 1 if args.quick else max(3, repeat // 3)
    # Warm up: writes bytecode and the LALR table cache, as a first run after installing would.
    trees = {"": None} if args.before is None else {"": None, f" [before: {args.before}]": args.before}
    for cwd in trees.values():
        subprocess.run([*NETSPEC, "check", "resnet152"], check=True, stdout=subprocess.DEVNULL, env=ENV, cwd=cwd)
    with tempfile.TemporaryDirectory() as tmp:
        commands: dict[str, Command] = {
            "python -c pass": ([PY, "-c", "pass"], None),
            "import torch": ([PY, "-c", "import torch"], None),
            f"bare library import ({LIBS})": ([PY, "-c", LIBS], None),
            f"libraries summary imports ({LIBS_USED})": ([PY, "-c", LIBS_USED], None),
        }
        for tag, cwd in trees.items():
            commands[f"netspec summary resnet152{tag}"] = ([*NETSPEC, "summary", "resnet152"], cwd)
        rounds = dict.fromkeys(commands, repeat)
        sizes = (10_000,) if args.quick else (10_000, 100_000)
        for n in sizes:
            for kind, text in (("flat", flat_spec(n)), ("loop", loop_spec(n))):
                path = Path(tmp) / f"{kind}{n}.net"
                path.write_text(text)
                for tag, cwd in trees.items():
                    name = f"check {n:,}-layer spec ({kind}, {len(text) // 1024} KiB){tag}"
                    commands[name] = ([*NETSPEC, "check", str(path)], cwd)
                    rounds[name] = big if n > 10_000 else repeat
        runs = measure(commands, rounds)

    med = {name: tuple(statistics.median(x[i] for x in rs) for i in range(3)) for name, rs in runs.items()}
    torch_wall, torch_cpu, _ = med["import torch"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, load average at end "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    print("| measurement | runs | wall s | CPU s | peak RSS MiB | wall / torch | CPU / torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (wall, cpu, rss) in med.items():
        print(
            f"| {name} | {len(runs[name])} | {wall:.3f} | {cpu:.3f} | {rss:.0f} | "
            f"{wall / torch_wall:.3f} | {cpu / torch_cpu:.3f} |"
        )
    for tag in trees:
        summary = med[f"netspec summary resnet152{tag}"]
        for label, libs in (("bare library import", LIBS), ("pydantic + lark only", LIBS_USED)):
            key = next(k for k in med if k.endswith(f"({libs})"))
            own_wall, own_cpu = summary[0] - med[key][0], summary[1] - med[key][1]
            print(
                f"netspec's own cost in summary resnet152{tag} (minus {label}): {own_wall * 1000:.0f} ms wall = "
                f"{own_wall / torch_wall:.3f}x import torch; {own_cpu * 1000:.0f} ms CPU = {own_cpu / torch_cpu:.3f}x"
            )


if __name__ == "__main__":
    main()
