"""Compiled modules are ordinary torch modules: compile, export, trace, ONNX, autocast, channels_last, DDP.

Nothing in the generated code fixes a device or dtype, branches on data or
leaves Python objects in the graph, so every torch tool sees plain tensor code.
torch.compile runs with fullgraph=True (any graph break fails) on the eager and
aot_eager backends, which trace exactly what inductor would, minus the C++
build time.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from test_codegen import ZOO

import netspec
from netspec.compiler.to_torch import compile_graph

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`

TINY = """
block res(c) {
  residual { conv1: conv c k=3 p=1; bn1: bn; relu; conv2: conv c k=3 p=1; bn2: bn }
  relu
}
network tiny(n=2, classes=10) {
  input 3x16x16
  stem: conv 8 k=3 p=1 -> bn -> relu
  for i in range(n) { res(8) }
  se: mul { identity; [global_pool, conv 8 k=1, sigmoid] }
  output train aux: @stem -> global_pool keepdim=false -> linear classes
  global_pool keepdim=false
  fc: linear classes
}
"""

NETS = {
    "tiny": lambda: netspec.load_text(TINY),
    "zoo": lambda: netspec.load_text(ZOO, name="zoo"),
    "resnet18": lambda: netspec.load("resnet18", input=(3, 32, 32)),
}


def build(name: str) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    graph = NETS[name]()
    model = compile_graph(graph).eval()
    return model, torch.randn(2, *graph.input_shape, generator=torch.Generator().manual_seed(1))


def same(a, b, tol: float = 1e-5) -> None:
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same(a[k], b[k], tol)
        return
    torch.testing.assert_close(a, b, rtol=tol, atol=tol * max(1.0, b.abs().max().item()))


@pytest.mark.parametrize(("name", "training"), [("tiny", False), ("tiny", True), ("zoo", False), ("zoo", True),
                                              ("resnet18", False)])
def test_torch_compile_fullgraph(name: str, training: bool) -> None:
    """No graph breaks; eval on the eager backend, training (dict output, backward) on aot_eager."""
    model, x = build(name)
    model.train(training)
    torch._dynamo.reset()
    if training:
        torch.manual_seed(3)
        want = model(x)
        compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
        torch.manual_seed(3)
        got = compiled(x)
        _main(got).sum().backward()
        assert all(p.grad is not None for p in model.parameters())
    else:
        with torch.no_grad():
            want = model(x)
            got = torch.compile(model, fullgraph=True, backend="eager")(x)
    same(got, want, 1e-4)


@pytest.mark.parametrize("name", ["tiny", "zoo", "resnet18"])
def test_torch_export(name: str) -> None:
    model, x = build(name)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        same(program.module()(x), model(x))


def test_torch_export_dynamic_batch() -> None:
    model, x = build("resnet18")
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    x5 = torch.randn(5, *x.shape[1:])
    with torch.no_grad():
        same(program.module()(x5), model(x5))


@pytest.mark.parametrize("name", ["tiny", "zoo"])
def test_jit_trace(name: str) -> None:
    model, x = build(name)
    with torch.no_grad():
        traced = torch.jit.trace(model, (x,), strict=False)
        same(traced(x), model(x))


@pytest.mark.parametrize("name", ["tiny", "zoo"])
def test_onnx_export(name: str, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="the onnx extra: pip install -e '.[onnx]'")
    model, x = build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress notes
        program = torch.onnx.export(model, (x,), dynamo=True)
    program.save(str(tmp_path / "model.onnx"))
    proto = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(proto, full_check=True)
    out = proto.graph.output[0].type.tensor_type.shape
    with torch.no_grad():
        want = model(x)
    want = want["out"] if isinstance(want, dict) else want
    assert [d.dim_value for d in out.dim] == list(want.shape)


@pytest.mark.parametrize("name", ["tiny", "zoo", "resnet18"])
def test_autocast_bfloat16(name: str) -> None:
    model, x = build(name)
    with torch.no_grad():
        want = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = model(x)
    for a, b in ((got, want),) if not isinstance(want, dict) else ((got[k], want[k]) for k in want):
        assert a.dtype in (torch.bfloat16, torch.float32)
        assert torch.isfinite(a).all()
        assert (a.float() - b).abs().max() <= 0.1 * b.abs().max() + 0.05


@pytest.mark.parametrize("name", ["tiny", "zoo", "resnet18"])
def test_channels_last_and_double(name: str) -> None:
    model, x = build(name)
    with torch.no_grad():
        want = _main(model(x))
        model.to(memory_format=torch.channels_last)
        same(_main(model(x.to(memory_format=torch.channels_last))), want, 1e-4)
        got = _main(model.double()(x.double()))
    assert got.dtype == torch.float64
    same(got.float(), want, 1e-4)


def _main(out):
    return out["out"] if isinstance(out, dict) else out


def test_meta_device_then_materialise() -> None:
    with torch.device("meta"):
        model = compile_graph(netspec.load("resnet50"))
    assert all(p.is_meta for p in model.parameters())
    model = model.to_empty(device="cpu")
    assert model.fc.weight.device.type == "cpu" and model.fc.weight.shape == (1000, 2048)


# ---------------------------------------------------------------- DistributedDataParallel

DDP_SPEC = """
network small(classes=3) {
  input 3x8x8
  conv 6 k=3 p=1 -> relu
  residual { conv 6 k=3 p=1; relu; conv 6 k=1 }
  global_pool keepdim=false
  fc: linear classes
}
"""


def _step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(4)
    return torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 3, (8,), generator=gen)


def _ddp_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = torch.nn.parallel.DistributedDataParallel(compile_graph(netspec.load_text(DDP_SPEC)))
        x, y = _data()
        _step(model, x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4])
        torch.save(model.module.state_dict(), f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_distributed_data_parallel_gloo(tmp_path: Path) -> None:
    """Two CPU processes, each on half the batch, take the step one process takes on the whole batch."""
    mp.spawn(_ddp_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    model = compile_graph(netspec.load_text(DDP_SPEC))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _step(model, *_data())
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for k, v in model.state_dict().items():
        assert torch.equal(ranks[0][k], ranks[1][k])
        torch.testing.assert_close(ranks[0][k], v, rtol=1e-5, atol=1e-6)
    assert not torch.equal(before["fc.weight"], model.state_dict()["fc.weight"])
