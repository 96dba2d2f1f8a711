"""The summary's totals against torchinfo's, on every network of the library.

torchinfo hooks the compiled module and counts what runs. Parameters must agree
exactly. Activation memory is defined differently, so it is compared on torchinfo's
definition: its "Forward/backward pass size" is 2 x the output bytes of the leaf
modules that hold parameters (torchinfo 1.8, ModelStatistics); netspec computes the
same sum from its rows (layers with parameters), which must come within 10%. Its own
figure (every layer's output, netspec.table) is larger, and is printed for the record.
"""

from __future__ import annotations

import pytest
import torchinfo
from test_receptive import SLOW, small_input

import netspec
from netspec.library import library_index
from netspec.table import Summary

pytestmark = pytest.mark.torch  # builds torch modules: left out of `make test-fast`


def _networks() -> list[object]:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(library_index())]


@pytest.mark.parametrize("name", _networks())
def test_totals_match_torchinfo(name: str) -> None:
    g = netspec.load(name)
    g = netspec.load(name, input=small_input(g))
    model = netspec.compile(g).eval()
    stats = torchinfo.summary(model, input_size=(2, *g.input_shape), verbose=0, device="cpu")
    s = Summary(g, batch=2)
    totals = s.totals()
    assert totals["params"] == stats.total_params == g.params
    assert totals["trainable_params"] == stats.trainable_params
    # torchinfo's "Params size" sums leaf modules only, missing a deformable conv's own weight
    # (its module holds the offset conv): compare with its parameter count instead
    assert totals["param_bytes"] == 4 * stats.total_params
    if name not in ("deform_resnet", "deform_resnet50"):
        assert totals["param_bytes"] == stats.total_param_bytes
    assert 0 <= stats.total_input - totals["input_bytes"] <= 256  # torchinfo adds the tensor object's size
    weighted = sum(r["activation_bytes"] for r in s.as_json()["nodes"] if r["params"] > 0)
    assert abs(weighted - stats.total_output_bytes) <= 0.10 * stats.total_output_bytes, (
        weighted,
        stats.total_output_bytes,
    )
    print(
        f"{name} {g.input_shape}: params {g.params:,}; forward/backward MB torchinfo "
        f"{stats.total_output_bytes / 1e6:.2f}, netspec on its definition {weighted / 1e6:.2f}, "
        f"netspec (every layer) {totals['activation_bytes'] / 1e6:.2f}; "
        f"mult-adds torchinfo {stats.total_mult_adds / 2:,.0f} per sample, netspec {g.macs:,}"
    )
