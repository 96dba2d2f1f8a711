"""Compiled netspec models on a CUDA GPU against torchvision: equality and speed in one short run.

    python bench/bench_gpu.py                     # all checks (a few minutes on one GPU)
    python bench/bench_gpu.py --models resnet50 --no-compile

For each model, torchvision's weights are loaded strictly into the compiled module, then:
outputs are compared in fp32, under bf16 autocast and in channels_last; eval latency is
timed with CUDA events, netspec and torchvision interleaved call by call (median of
`--repeat`, batch 1 and 8, fp32 and bf16); a few AMP training steps must lower the loss;
and `torch.compile(fullgraph=True)` is timed for `--compile-models`. Prints markdown
for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchvision

import netspec

MODELS = ["resnet50", "densenet121", "efficientnet_b0", "googlenet", "vgg16"]
TV_KWARGS: dict[str, dict[str, object]] = {"googlenet": {"aux_logits": False, "init_weights": True}}


def pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    ref = getattr(torchvision.models, name)(weights=None, **TV_KWARGS.get(name, {})).eval().cuda()
    ours = netspec.compile(name).eval().cuda()
    ours.load_state_dict(ref.state_dict(), strict=True)
    return ours, ref


def interleaved(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor, repeat: int) -> tuple[float, float]:
    """Median milliseconds of a(x) and b(x), alternating call by call after warm-up."""
    for _ in range(5):
        a(x)
        b(x)
    torch.cuda.synchronize()
    times: dict[int, list[float]] = {0: [], 1: []}
    for r in range(repeat):
        for k in (0, 1) if r % 2 == 0 else (1, 0):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            (a if k == 0 else b)(x)
            end.record()
            torch.cuda.synchronize()
            times[k].append(start.elapsed_time(end))
    return statistics.median(times[0]), statistics.median(times[1])


def equality(ours: torch.nn.Module, ref: torch.nn.Module) -> tuple[float, float, float]:
    x = torch.randn(2, 3, 224, 224, device="cuda")
    with torch.no_grad():
        fp32 = (ours(x) - ref(x)).abs().max().item()
        with torch.autocast("cuda", torch.bfloat16):
            bf16 = (ours(x).float() - ref(x).float()).abs().max().item()
        cl = ours.to(memory_format=torch.channels_last)
        last = (cl(x.to(memory_format=torch.channels_last)) - ref(x)).abs().max().item()
        ours.to(memory_format=torch.contiguous_format)
    return fp32, bf16, last


def train_steps(name: str, steps: int = 5) -> tuple[float, float]:
    model = netspec.compile(name).cuda().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(16, 3, 224, 224, device="cuda")
    y = torch.randint(0, 1000, (16,), device="cuda")
    losses = []
    for _ in range(steps):
        with torch.autocast("cuda", torch.bfloat16):
            out = model(x)
            out = out["out"] if isinstance(out, dict) else out
            loss = torch.nn.functional.cross_entropy(out.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--compile-models", nargs="*", default=["resnet50"])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    torch.backends.cudnn.benchmark = True
    print(f"machine: {torch.cuda.get_device_name()}, torch {torch.__version__}, torchvision "
          f"{torchvision.__version__}, {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    rows, checks, trains = [], [], []
    for name in args.models:
        ours, ref = pair(name)
        checks.append((name, *equality(ours, ref)))
        with torch.inference_mode():
            for batch in (1, 8):
                x = torch.randn(batch, 3, 224, 224, device="cuda")
                a, b = interleaved(ours, ref, x, args.repeat)
                rows.append((name, "eager fp32", batch, a, b))
                with torch.autocast("cuda", torch.bfloat16):
                    a, b = interleaved(ours, ref, x, args.repeat)
                rows.append((name, "eager bf16", batch, a, b))
                print(f"  {name} b{batch} done", flush=True)
        del ours, ref
        trains.append((name, *train_steps(name)))
    if not args.no_compile:
        for name in args.compile_models:
            ours, ref = pair(name)
            t = time.perf_counter()
            co, cr = torch.compile(ours, fullgraph=True), torch.compile(ref, fullgraph=True)
            x = torch.randn(8, 3, 224, 224, device="cuda")
            with torch.inference_mode():
                diff = (co(x) - cr(x)).abs().max().item()
                a, b = interleaved(co, cr, x, args.repeat)
            rows.append((name, f"compile fp32 (max diff {diff:.1e})", 8, a, b))
            print(f"  {name} compiled in {time.perf_counter() - t:.0f} s", flush=True)
    print("\nEquality with torchvision (max abs difference of the logits, batch 2)\n")
    print("| model | fp32 | bf16 autocast | channels_last |\n|---|---:|---:|---:|")
    for name, a, b, c in checks:
        print(f"| {name} | {a:.1e} | {b:.1e} | {c:.1e} |")
    print("\nEval latency, 224x224, median of interleaved calls (ms)\n")
    print("| model | mode | batch | netspec | torchvision | ratio |\n|---|---|---:|---:|---:|---:|")
    for name, mode, batch, a, b in rows:
        print(f"| {name} | {mode} | {batch} | {a:.2f} | {b:.2f} | {a / b:.3f} |")
    print("\nAMP (bf16) training, 5 SGD steps on one batch of 16\n")
    print("| model | first loss | last loss |\n|---|---:|---:|")
    for name, first, last in trains:
        print(f"| {name} | {first:.3f} | {last:.3f} |")


if __name__ == "__main__":
    main()
