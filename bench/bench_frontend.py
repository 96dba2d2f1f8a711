"""Front-end speed: `netspec summary` as a whole process, and checking cost vs network size.

    .venv/bin/python bench/bench_frontend.py [--quick]

Prints a markdown table; figures go to docs/benchmarks.md. If torchinfo is installed
in the venv, its summary of resnet50 is measured in the same run as the reference.
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
NETSPEC = [PY, "-m", "netspec"]


def run_process(cmd: list[str], repeat: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MiB) of a whole process (the launcher adds ~20 ms)."""
    walls, rss = [], 0.0
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, "
             "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    for _ in range(repeat):
        t = time.perf_counter()
        out = subprocess.run([PY, "-c", probe, *cmd], check=True, capture_output=True, text=True)
        walls.append(time.perf_counter() - t)
        rss = max(rss, float(out.stdout.split()[-1]))
    return statistics.median(walls), rss / 1024


def flat_spec(n: int) -> str:
    lines = ["network big() {", "  input 16x32x32"]
    for i in range(n // 2):
        lines += [f"  c{i}: conv 16 k=3 p=1", f"  r{i}: relu"]
    return "\n".join([*lines, "}"]) + "\n"


def loop_spec(n: int) -> str:
    return f"network big() {{\n  input 16x32x32\n  repeat {n // 2} {{ conv 16 k=3 p=1; relu }}\n}}\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats, skip 100k flat file")
    args = ap.parse_args()
    repeat = 3 if args.quick else 5
    rows = []
    subprocess.run([*NETSPEC, "check", "resnet152"], check=True, stdout=subprocess.DEVNULL)  # warm grammar cache
    wall, rss = run_process([*NETSPEC, "summary", "resnet152"], repeat)
    rows.append(("netspec summary resnet152 (process)", wall, rss))
    code = ("import torchvision, torchinfo; torchinfo.summary(torchvision.models.resnet50(), "
            "input_size=(1, 3, 224, 224), verbose=0)")
    if subprocess.run([PY, "-c", "import torchinfo"], capture_output=True).returncode == 0:
        wall_ti, rss_ti = run_process([PY, "-c", code], max(1, repeat - 2))
        rows.append(("torchinfo summary resnet50 (process, reference)", wall_ti, rss_ti))
    with tempfile.TemporaryDirectory() as tmp:
        for n in (10_000, 100_000):
            for kind, text in (("loop", loop_spec(n)), ("flat", flat_spec(n))):
                if kind == "flat" and n > 10_000 and args.quick:
                    continue
                path = Path(tmp) / f"{kind}{n}.net"
                path.write_text(text)
                wall, rss = run_process([*NETSPEC, "check", str(path)], 1 if n > 10_000 else repeat)
                rows.append((f"check {n:,}-layer spec ({kind}, {len(text) // 1024} KiB)", wall, rss))
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| measurement | wall s | peak RSS MiB |\n|---|---:|---:|")
    for name, wall, rss in rows:
        print(f"| {name} | {wall:.3f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
