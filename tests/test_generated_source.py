"""Generated code reads like a hand-written torchvision model, and stays that way.

Golden files pin the whole `compile -o` output of resnet50 and googlenet; regenerate
them after an intended change with:

    python tests/test_generated_source.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import netspec
from netspec.compiler.to_torch import module_class, to_source
from netspec.library import library_index

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
PINNED = ("resnet50", "googlenet")

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("name", PINNED)
def test_source_matches_golden_file(name: str) -> None:
    want = (GOLDEN / f"{name}.py").read_text()
    assert to_source(netspec.load(name)) == want, f"regenerate: python {Path(__file__).name}"


def test_one_class_per_spec_block() -> None:
    classes = {name: re.findall(r"^class (\w+)\(", to_source(netspec.load(name)), re.M) for name in PINNED}
    assert classes["resnet50"] == ["Bottleneck", "Resnet50"]
    assert classes["googlenet"] == ["BasicConv", "Inception", "Googlenet"]
    efficient = re.findall(r"^class (\w+)\(", to_source(netspec.load("efficientnet_b0")), re.M)
    assert efficient == ["StochasticDepth", "ConvBnAct", "Se", "Mbconv", "EfficientnetB0"]


def test_every_library_source_passes_ruff(tmp_path: Path) -> None:
    """The project's own ruff settings accept every generated file."""
    for name in sorted(library_index()):
        (tmp_path / f"{name}.py").write_text(to_source(netspec.load(name)))
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config",
                          str(ROOT / "pyproject.toml"), str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_network_parameters_are_constructor_arguments() -> None:
    cls = module_class(netspec.load("resnet50"))
    with torch.device("meta"):
        small = cls(num_classes=10)
    assert small.fc.out_features == 10
    assert "def __init__(self, num_classes=1000):" in to_source(netspec.load("resnet50"))
    # A parameter that shapes the structure or the init stays fixed (regenerate with --set).
    assert "width_per_group" not in to_source(netspec.load("resnet50")).split("class Resnet50")[1]


def test_in_memory_and_file_modules_print_alike(tmp_path: Path) -> None:
    graph = netspec.load("googlenet")
    path = tmp_path / "g.py"
    path.write_text(to_source(graph))
    ns: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)  # noqa: S102  (the file under test)
    with torch.device("meta"):
        from_file = ns["Model"]()  # type: ignore[operator]
        in_memory = module_class(graph)()
    assert repr(from_file) == repr(in_memory)
    assert list(from_file.state_dict()) == list(in_memory.state_dict())


if __name__ == "__main__":
    GOLDEN.mkdir(exist_ok=True)
    for name in PINNED:
        (GOLDEN / f"{name}.py").write_text(to_source(netspec.load(name)))
        print(f"wrote {GOLDEN / name}.py")
