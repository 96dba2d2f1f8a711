"""Pretrained weights by name: the records agree with torchvision, and loading works by tag, file and URL.

Nothing here downloads: each test makes its checkpoint (a freshly built torchvision model's
state_dict) and saves it in a temporary torch hub cache under the exact name torchvision's
URL gives it, which is where torch.hub.load_state_dict_from_url looks first.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.cli import main
from netspec.library import library_index
from netspec.weights import IMAGENET_MEAN, IMAGENET_STD, find, hub_dir, parse_source, records, weights_for

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = json.loads((ROOT / "tests/reference/torchvision.json").read_text())


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------- the records (front end, no torch)


def test_records_name_library_networks_and_one_default_each() -> None:
    library = library_index()
    assert len(records()) >= 34
    for network, found in records().items():
        assert network in library, network
        assert sum(w.default for w in found) == 1
        for w in found:
            assert re.fullmatch(r"[\w.-]+-[0-9a-f]{8,}\.pth", w.file_name), w.url  # the hash torch checks


def test_optional_scopes_are_the_aux_heads_torchvision_builds() -> None:
    """A record's optional scopes exist in torchvision's model with the aux heads on, and only there."""
    for network, found in records().items():
        for w in found:
            for scope in w.optional:
                keys = REFERENCE["models"][f"{network}_aux"]["state_dict"]
                plain = REFERENCE["models"][network]["state_dict"]
                assert any(k.startswith(scope + ".") for k in keys), (network, scope)
                assert not any(k.startswith(scope + ".") for k in plain), (network, scope)


def test_find_and_parse_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find("resnet50", "DEFAULT").tag == "IMAGENET1K_V2"
    assert find("resnet50", "IMAGENET1K_V1").url.endswith("/resnet50-0676ba61.pth")
    assert parse_source("resnet50", "IMAGENET1K_V1") == find("resnet50", "IMAGENET1K_V1")
    assert parse_source("resnet50", "r50.pth") == Path("r50.pth")
    assert parse_source("resnet50", "ckpt/r50") == Path("ckpt/r50")
    assert parse_source("resnet50", tmp_path / "x") == tmp_path / "x"
    assert parse_source("resnet50", "file:///tmp/my%20w.pth") == Path("/tmp/my w.pth")
    assert parse_source("resnet50", "https://example.org/w.pth") == "https://example.org/w.pth"
    monkeypatch.chdir(tmp_path)
    Path("weights").write_bytes(b"")  # an existing file wins over a tag of that name
    assert parse_source("resnet50", "weights") == Path("weights")

    assert find("resnet50", "imagenet1k_v1").tag == "IMAGENET1K_V1" and find("resnet50", "default").default
    with pytest.raises(netspec.SpecError, match="has no weights 'IMAGENET_V2'") as err:
        find("resnet50", "IMAGENET_V2")
    assert err.value.hint == "did you mean 'IMAGENET1K_V2'? resnet50 has: IMAGENET1K_V1, IMAGENET1K_V2 (or DEFAULT)"
    with pytest.raises(netspec.SpecError, match="no pretrained weights are recorded for 'unet'"):
        parse_source("unet", "DEFAULT")
    with pytest.raises(netspec.SpecError, match="only https://, http:// and file://"):
        parse_source("resnet50", "s3://bucket/w.pth")
    with pytest.raises(netspec.SpecError, match="on this machine"):
        parse_source("resnet50", "file://server/w.pth")


def test_pretrained_cfg_reads_like_timms() -> None:
    cfg = find("resnet50", "IMAGENET1K_V2").pretrained_cfg()
    assert cfg["input_size"] == (3, 224, 224) and cfg["crop_pct"] == pytest.approx(224 / 232)
    assert cfg["mean"] == IMAGENET_MEAN and cfg["std"] == IMAGENET_STD and cfg["interpolation"] == "bilinear"
    assert cfg["num_classes"] == 1000 and cfg["url"].endswith("resnet50-11ad3fa6.pth")
    seg = find("fcn_resnet50", "DEFAULT").pretrained_cfg()
    assert seg["crop"] is None and "input_size" not in seg and seg["resize"] == 520 and seg["num_classes"] == 21


def test_cli_weights_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, _ = _cli("weights")
    assert code == 0 and re.search(r"^resnet50\s+IMAGENET1K_V1, IMAGENET1K_V2\*$", out, re.MULTILINE)
    code, out, _ = _cli("weights", "resnet50")
    assert code == 0 and out.startswith("resnet50 IMAGENET1K_V1\n")
    assert "resnet50 IMAGENET1K_V2*" in out and "resize 232, crop 224, bilinear" in out
    assert f"{tmp_path}/hub/checkpoints/resnet50-11ad3fa6.pth (fetched on first use)" in out
    (tmp_path / "hub/checkpoints").mkdir(parents=True)
    (tmp_path / "hub/checkpoints/resnet50-11ad3fa6.pth").write_bytes(b"")
    assert "resnet50-11ad3fa6.pth (present)" in _cli("weights", "resnet50")[1]
    code, out, _ = _cli("weights", "googlenet", "--json")
    (g,) = json.loads(out)["googlenet"]
    assert code == 0 and g["mean"] == [0.5, 0.5, 0.5] and g["optional"] == ["aux1", "aux2"]
    code, _, err = _cli("weights", "unet")
    assert code == 1 and "error: no pretrained weights are recorded for 'unet'" in err

    code, out, _ = _cli("list", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["resnet50"]["weights"] == ["IMAGENET1K_V1", "IMAGENET1K_V2"]
    assert rows["resnet50"]["default_weights"] == "IMAGENET1K_V2"
    assert rows["unet"]["weights"] == [] and rows["unet"]["default_weights"] is None
    assert "[weights: IMAGENET1K_V1, IMAGENET1K_V2*]" in _cli("list")[1]


def test_a_malformed_record_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "weights.toml").write_text('[[resnet50]]\ntag = "X"\nsource = "torchvision"\nurl = "ftp://x"\n')
    monkeypatch.setattr("netspec.library.library_dir", lambda: tmp_path)
    records.cache_clear()
    try:
        with pytest.raises(netspec.SpecError, match=r"a \[\[resnet50\]\] record is malformed"):
            records()
    finally:
        records.cache_clear()


# ---------------------------------------------------------------- against torchvision

pytorch = pytest.mark.torch


def _torchvision_record(network: str, member: Any, default: Any) -> dict[str, Any]:
    """What our record should say, read off torchvision's enum member and its transforms preset."""
    import inspect

    kw = dict(member.transforms.keywords)
    defaults = {k: p.default for k, p in inspect.signature(member.transforms.func).parameters.items()}
    (dataset, metrics), *_ = member.meta["_metrics"].items()
    usable = {k: v for k, v in metrics.items() if not math.isnan(v)}
    cats = member.meta["categories"]
    interp = kw.get("interpolation", defaults["interpolation"])
    return {
        "tag": member.name,
        "default": member is default,
        "source": "torchvision",
        "url": member.url,
        "num_classes": len(cats) if cats else 0,
        "resize": kw.get("resize_size", defaults["resize_size"]),
        "crop": kw.get("crop_size"),
        "interpolation": interp.value,
        "mean": tuple(kw.get("mean", defaults["mean"])),
        "std": tuple(kw.get("std", defaults["std"])),
        "dataset": dataset if usable else None,
        "metrics": usable,
    }


# torchvision's GoogLeNet weights come with transform_input=True: the model itself turns
# ImageNet-normalised inputs into [-1, 1] ones. The spec has no such step, so the record
# normalises to [-1, 1] directly (test_googlenet_record_folds_transform_input proves it).
FOLDED = {"googlenet": {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}}


@pytorch
def test_records_agree_with_torchvision() -> None:
    """Every library network torchvision has weights for has exactly torchvision's records."""
    from torchvision.models import get_model_weights, list_models

    networks = sorted(set(library_index()) & set(list_models()))
    assert networks and set(networks) <= set(records())
    for network in networks:
        enum = get_model_weights(network)
        want = [{**_torchvision_record(network, m, enum.DEFAULT), **FOLDED.get(network, {})} for m in enum]
        got = [w.model_dump(include=set(want[0])) for w in weights_for(network)]
        assert got == want, network
    extra = set(records()) - set(networks)
    assert not {n for n in extra for w in weights_for(n) if w.source == "torchvision"}


@pytorch
def test_googlenet_record_folds_transform_input() -> None:
    import torch
    import torchvision

    raw = torch.rand(2, 3, 8, 8)
    imagenet = (raw - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    tv = torchvision.models.googlenet(weights=None, transform_input=True, aux_logits=False, init_weights=False)
    w = find("googlenet", "DEFAULT")
    ours = (raw - torch.tensor(w.mean)[:, None, None]) / torch.tensor(w.std)[:, None, None]
    torch.testing.assert_close(tv._transform_input(imagenet), ours)


# ---------------------------------------------------------------- loading


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary torch hub cache (TORCH_HOME), empty; yields its checkpoints folder."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # as if torch.hub.set_dir was never called
    assert Path(torch.hub.get_dir()) == hub_dir() == tmp_path / "torch/hub"
    checkpoints = tmp_path / "torch/hub/checkpoints"
    checkpoints.mkdir(parents=True)
    yield checkpoints


def _plant(hub: Path, network: str, state: dict[str, Any], tag: str = "DEFAULT") -> Path:
    import torch

    path = hub / find(network, tag).file_name
    torch.save(state, path)
    return path


def _same(a: dict[str, Any], b: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    import torch

    assert set(a) == set(b)
    for k in a:
        if not k.startswith(skip):
            assert torch.equal(a[k], b[k]), k


@pytorch
def test_load_by_tag_path_and_file_url(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet18().eval()
    path = _plant(hub, "resnet18", tv.state_dict(), "IMAGENET1K_V1")
    for weights in ("IMAGENET1K_V1", "DEFAULT", str(path), path, path.as_uri()):
        model = netspec.compile("resnet18", weights=weights)
        _same(model.state_dict(), tv.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), tv(x), rtol=0, atol=0)
    assert not hasattr(model, "pretrained_cfg")  # a file is no record
    by_tag = netspec.compile("resnet18", weights="DEFAULT")
    assert by_tag.pretrained_cfg == find("resnet18", "IMAGENET1K_V1").pretrained_cfg()
    assert capsys.readouterr().out == ""  # nothing downloaded: torch.hub found the cached file

    # torchvision itself finds the same file in the same cache
    again = torchvision.models.resnet18(weights="IMAGENET1K_V1")
    _same(again.state_dict(), tv.state_dict())


@pytorch
def test_a_changed_head_keeps_its_init_and_says_so(hub: Path, caplog: pytest.LogCaptureFixture) -> None:
    import torch
    import torchvision

    from netspec.compiler.weights import load_weights

    tv = torchvision.models.resnet18()
    _plant(hub, "resnet18", tv.state_dict())
    torch.manual_seed(1)
    fresh = netspec.compile("resnet18", num_classes=10)
    torch.manual_seed(1)
    with caplog.at_level(logging.WARNING, logger="netspec"):
        model = netspec.compile("resnet18", num_classes=10, weights="DEFAULT")
    (record,) = caplog.records
    assert "fc.weight (model (10, 512), weights (1000, 512)), fc.bias (model (10), weights (1000))" in record.message
    _same(model.state_dict(), {**tv.state_dict(), "fc.weight": fresh.fc.weight, "fc.bias": fresh.fc.bias})
    report = load_weights(model, "DEFAULT", "resnet18")
    assert [k for k, _, _ in report.skipped] == ["fc.weight", "fc.bias"] and report.loaded == len(tv.state_dict()) - 2


@pytorch
def test_other_mismatches_are_errors(hub: Path, tmp_path: Path) -> None:
    import torch
    import torchvision

    r18 = torchvision.models.resnet18().state_dict()
    _plant(hub, "resnet34", r18)  # resnet18's tensors where resnet34's should be
    with pytest.raises(netspec.SpecError, match="do not fit resnet34") as err:
        netspec.compile("resnet34", weights="DEFAULT")
    assert err.value.notes[0].startswith("80 keys of the network are not in the weights: layer1.2.conv1.weight")
    assert err.value.notes[0].endswith("... and 72 more")

    extra = tmp_path / "extra.pth"
    torch.save({**r18, "head.weight": torch.zeros(3)}, extra)
    with pytest.raises(netspec.SpecError, match="do not fit resnet18") as err:
        netspec.compile("resnet18", weights=extra)
    assert err.value.notes == ["1 key of the weights is not in the network: head.weight"]


@pytorch
def test_checkpoint_wrappers_and_bad_files(tmp_path: Path) -> None:
    import torch
    import torchvision

    tv = torchvision.models.resnet18().state_dict()
    wrapped = tmp_path / "wrapped.pth"
    torch.save({"epoch": 90, "state_dict": {f"module.{k}": v for k, v in tv.items()}}, wrapped)
    _same(netspec.compile("resnet18", weights=wrapped).state_dict(), tv)

    cases = {
        "missing.pth": (None, "no such checkpoint file"),
        "list.pth": ([1, 2], "holds no state_dict"),
        "text.pth": (b"not a checkpoint", "cannot read the checkpoint"),
        "pickle.pth": ({"model": torchvision.models.resnet18()}, "cannot read the checkpoint"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            torch.save(content, path)
        with pytest.raises(netspec.SpecError, match=message):
            netspec.compile("resnet18", weights=path)


@pytorch
def test_densenet_old_key_layout_is_renamed(hub: Path) -> None:
    """torchvision's DenseNet checkpoints predate its key names (`norm.1`) and BatchNorm's counters."""
    import torchvision

    tv = torchvision.models.densenet121().state_dict()
    old = {
        re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k): v
        for k, v in tv.items()
        if not k.endswith("num_batches_tracked")
    }
    assert "features.denseblock1.denselayer1.norm.1.weight" in old
    _plant(hub, "densenet121", old)
    model = netspec.compile("densenet121", weights="DEFAULT")
    _same(model.state_dict(), tv, skip=())


@pytorch
def test_optional_aux_heads(hub: Path) -> None:
    """GoogLeNet's checkpoint has the auxiliary classifiers: dropped without aux_logits, loaded with it."""
    import torchvision

    from netspec.compiler.weights import load_weights

    tv = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False).state_dict()
    _plant(hub, "googlenet", tv)
    plain = netspec.compile("googlenet", init_weights=False)
    report = load_weights(plain, "DEFAULT", "googlenet")
    assert report.dropped == ["aux1", "aux2"] and report.skipped == []
    assert "left out the weights of aux1, aux2" in report.notes()[0]
    _same(plain.state_dict(), {k: v for k, v in tv.items() if not k.startswith("aux")})
    with_aux = netspec.compile("googlenet", aux_logits=True, init_weights=False, weights="DEFAULT")
    _same(with_aux.state_dict(), tv)


@pytorch
def test_fetch_errors(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(netspec.SpecError, match="cannot download http://127.0.0.1:9/w-0123abcd.pth") as err:
        netspec.compile("resnet18", weights="http://127.0.0.1:9/w-0123abcd.pth")  # nothing listens on port 9
    assert err.value.hint and str(hub / "w-0123abcd.pth") in err.value.hint

    monkeypatch.setitem(sys.modules, "torchvision", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "torchvision.models", None)
    with pytest.raises(netspec.SpecError, match="torchvision is not installed") as err:
        netspec.compile("resnet18", weights="DEFAULT")
    assert err.value.hint and "pip install torchvision" in err.value.hint
    assert "--weights https://download.pytorch.org/models/resnet18-f37072fd.pth" in err.value.hint


@pytorch
def test_cli_compile_with_weights(hub: Path, tmp_path: Path) -> None:
    import torch
    import torchvision

    tv = torchvision.models.resnet18().state_dict()
    _plant(hub, "resnet18", tv)
    out = tmp_path / "r18.pt"
    code, stdout, err = _cli("compile", "resnet18", "--weights", "IMAGENET1K_V1", "-o", str(out))
    assert code == 0 and err == ""
    assert stdout.startswith(f"wrote {out}: state_dict of resnet18 with the weights IMAGENET1K_V1 (torchvision: ")
    _same(torch.load(out, weights_only=True), tv)

    code, stdout, err = _cli("compile", "resnet18", "--set", "num_classes=10", "--weights", str(out), "-o", str(out))
    assert code == 0 and err.startswith("note: kept the fresh initialisation of 2 tensors") and "fc.bias" in err

    code, _, err = _cli("compile", "resnet18", "--weights", "IMAGENET1K_V1", "-o", str(tmp_path / "m.py"))
    assert code == 1 and "error: --weights needs a state_dict to write into" in err
    code, _, err = _cli("compile", "resnet18", "--weights", "IMAGENET1K_V9", "-o", str(out))
    assert code == 1 and "error: 'resnet18' has no weights 'IMAGENET1K_V9'" in err
    code, _, err = _cli("compile", "resnet18", "--weights", "IMAGENET1K_V1", "-o", "-")
    assert code == 2 and "needs a file" in err


def test_weights_records_need_no_torch() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['torchvision'] = None\n"
        "from netspec.cli import main\n"
        "sys.exit(main(['weights', 'resnet50']))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0 and "IMAGENET1K_V2*" in run.stdout, run.stderr
