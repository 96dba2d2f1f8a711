"""Compiled netspec models against torchvision: forward latency, construction time, meta construction.

    .venv/bin/python bench/bench_torch.py                      # everything (slow on a small CPU)
    .venv/bin/python bench/bench_torch.py --quick              # fewer repeats, eager only
    .venv/bin/python bench/bench_torch.py --models resnet50 --batches 1 --device cuda

Both sides run the same weights (torchvision's state_dict loaded into ours) in
eval mode under torch.inference_mode. Latency is the fastest of `--repeat` timed
forwards after warm-up, alternating between the two; `ratio` is netspec / torchvision (1.00 = the same).
Construction times build fresh models with random init on CPU; the netspec
figures split the front end (`netspec.load`), code generation + class creation
and the constructor itself. Prints markdown tables; figures go to
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import torch
import torchvision

import netspec
from netspec.compiler.to_torch import compile_graph, module_class

MODELS = ["resnet50", "densenet121", "efficientnet_b0", "googlenet", "vgg16"]
# torchvision's builders with the settings the library specs mirror (googlenet: no aux heads).
TV_KWARGS: dict[str, dict[str, object]] = {"googlenet": {"aux_logits": False, "init_weights": True}}


def alternating(fns: dict[str, Callable[[], object]], repeat: int, warmup: int,
                sync: Callable[[], None]) -> dict[str, float]:
    """Fastest seconds of each function over `repeat` rounds that alternate between them.

    Alternating call by call (and taking the minimum) lets both sides see the
    same machine load, which matters on a small shared CPU.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeat):
        for k in keys if r % 2 == 0 else keys[::-1]:
            t = time.perf_counter()
            fns[k]()
            sync()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def best(fn: Callable[[], object], repeat: int) -> float:
    """Fastest of `repeat` runs (for one-shot costs such as construction)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def pair(name: str, device: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    ref = getattr(torchvision.models, name)(weights=None, **TV_KWARGS.get(name, {})).eval().to(device)
    ours = compile_graph(netspec.load(name)).eval().to(device)
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def latency(args: argparse.Namespace) -> list[tuple]:
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    modes = args.modes
    rows = []
    for name in args.models:
        ours, ref = pair(name, args.device)
        for mode in modes:
            torch._dynamo.reset()
            runs = {"netspec": ours, "torchvision": ref}
            if mode == "compile":
                runs = {k: torch.compile(m, fullgraph=True) for k, m in runs.items()}
            for batch in args.batches:
                x = torch.randn(batch, 3, args.size, args.size, device=args.device)
                with torch.inference_mode():
                    got = alternating({k: (lambda m=m, x=x: m(x)) for k, m in runs.items()}, args.repeat, args.warmup,
                                      sync)
                rows.append((name, mode, batch, got["netspec"] * 1e3, got["torchvision"] * 1e3,
                             got["netspec"] / got["torchvision"]))
                print(f"  {name} {mode} b{batch}: netspec {got['netspec'] * 1e3:.1f} ms, "
                      f"torchvision {got['torchvision'] * 1e3:.1f} ms", flush=True)
        del ours, ref
    return rows


def construction(args: argparse.Namespace) -> list[tuple]:
    rows = []
    for name in args.models:
        builder = getattr(torchvision.models, name)
        graph = netspec.load(name)
        cls = module_class(graph)
        kw = TV_KWARGS.get(name, {})
        tv = best(lambda b=builder, kw=kw: b(weights=None, **kw), args.build_repeat)
        front = best(lambda n=name: netspec.load(n), args.build_repeat)
        gen = best(lambda g=graph: module_class(g), args.build_repeat)
        inst = best(cls, args.build_repeat)
        rows.append((name, tv * 1e3, front * 1e3, gen * 1e3, inst * 1e3, (front + gen + inst) / tv, inst / tv))
        print(f"  {name}: torchvision {tv * 1e3:.0f} ms, netspec {(front + gen + inst) * 1e3:.0f} ms", flush=True)
    return rows


def meta(args: argparse.Namespace) -> list[tuple]:
    rows = []
    for name in ("resnet152",):
        graph = netspec.load(name)
        cls = module_class(graph)
        with torch.device("meta"):
            tv = best(lambda n=name: getattr(torchvision.models, n)(weights=None), args.build_repeat)
            inst = best(cls, args.build_repeat)
            full = best(lambda g=graph: compile_graph(g), args.build_repeat)
        rows.append((name, tv * 1e3, inst * 1e3, full * 1e3))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--build-repeat", type=int, default=3)
    ap.add_argument("--modes", nargs="+", choices=["eager", "compile"], default=["eager", "compile"],
                    help="torch.compile costs minutes of C++ builds per model on a CPU")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads; 1 gives steadier figures on a small shared CPU")
    ap.add_argument("--quick", action="store_true", help="--repeat 3 --warmup 1 --modes eager")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-construction", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.warmup, args.modes = 3, 1, ["eager"]
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = (torch.cuda.get_device_name() if args.device == "cuda"
              else f"{platform.machine()} CPU, {os.cpu_count()} cores")
    print(f"machine: {device}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"threads {torch.get_num_threads()}, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    lat = [] if args.skip_latency else latency(args)
    cons = [] if args.skip_construction else construction(args)
    met = [] if args.skip_construction else meta(args)
    if lat:
        print(f"\nForward latency, eval, {args.size}x{args.size}, {args.device}, best of {args.repeat} (ms)\n")
        print("| model | mode | batch | netspec | torchvision | ratio |\n|---|---|---:|---:|---:|---:|")
        for name, mode, b, ours, ref, ratio in lat:
            print(f"| {name} | {mode} | {b} | {ours:.1f} | {ref:.1f} | {ratio:.2f} |")
    if not cons:
        return
    print("\nConstruction on CPU with random init, best of "
          f"{args.build_repeat} (ms)\n")
    print("| model | torchvision | netspec load | codegen + exec | constructor | total / torchvision "
          "| constructor / torchvision |\n|---|---:|---:|---:|---:|---:|---:|")
    for name, tv, front, gen, inst, r_all, r_inst in cons:
        print(f"| {name} | {tv:.0f} | {front:.0f} | {gen:.0f} | {inst:.0f} | {r_all:.2f} | {r_inst:.2f} |")
    print("\nConstruction on the meta device (ms)\n")
    print("| model | torchvision | netspec constructor | netspec graph -> module |\n|---|---:|---:|---:|")
    for name, tv, inst, full in met:
        print(f"| {name} | {tv:.1f} | {inst:.1f} | {full:.1f} |")


if __name__ == "__main__":
    main()
