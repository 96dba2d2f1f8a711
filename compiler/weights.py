"""Load pretrained weights into a compiled network: by tag, from a file, or from a URL.

    model = netspec.compile("resnet50")
    report = load_weights(model, "IMAGENET1K_V2", network="resnet50")   # torchvision's checkpoint
    load_weights(model, "r50.pth", network="resnet50")                  # a local state_dict
    print(report.loaded, report.skipped)      # 320 [] ; a changed head: [('fc.weight', (10, 2048), (1000, 2048)), ...]

Tags name the records of `specs/weights.toml` (`netspec.weights`). A torchvision record is
fetched through torchvision's weight enum (`get_model_weights(network)[tag].url`) and torch's
hub cache (`torch.hub.get_dir()/checkpoints`, the hash in the file name checked on download),
exactly where `torchvision.models.resnet50(weights=...)` puts it, so either finds the other's
download. Files and URLs are read with `torch.load(weights_only=True)`: plain tensors only.

Loading is strict except for one thing: a tensor whose shape differs from the model's (the head
of a network built with `num_classes=10`) keeps its fresh initialisation, and the report lists
it. A key the checkpoint lacks, or one the model lacks, is a SpecError that names them; a
record's `optional` scopes (auxiliary heads) are dropped when the network leaves them out.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import sys
import urllib.error
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netspec.errors import SpecError
from netspec.weights import Weights, WeightsSource, parse_source

_WRAPPERS = ("state_dict", "model", "model_state_dict", "module", "net")
_LISTED = 8  # keys quoted in a message before "... and N more"


@dataclass
class LoadReport:
    """What `load_weights` did: where the tensors came from, what loaded and what did not."""

    source: str
    record: Weights | None = None
    loaded: int = 0
    skipped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """Plain-words lines for what did not load as is (empty when everything did)."""
        out = []
        if self.skipped:
            keys = [f"{k} (model {_shape(m)}, weights {_shape(w)})" for k, m, w in self.skipped]
            out.append(f"kept the fresh initialisation of {_tensors_text(keys)} the weights: {_some(keys)}")
        if self.dropped:
            out.append(f"left out the weights of {', '.join(self.dropped)}, which this network does not build")
        return out


def load_weights(model: nn.Module, weights: str | os.PathLike[str] | Weights, network: str) -> LoadReport:
    """Load `weights` (a tag of `network`'s records, a file, a URL, or a record) into `model`.

    Sets `model.pretrained_cfg` (timm's convention: url, mean, std, crop, ...) for a record.
    Raises SpecError when the checkpoint cannot be had or does not fit.
    """
    source = weights if isinstance(weights, Weights) else parse_source(network, weights)
    state, where = fetch(source)
    record = source if isinstance(source, Weights) else None
    report = LoadReport(where, record)
    if record is not None:
        state = _rename(state, record.rename)
    own = model.state_dict()
    if record is not None:
        for scope in record.optional:
            if not any(k.startswith(scope + ".") for k in own) and any(k.startswith(scope + ".") for k in state):
                state = _keep(state, [k for k in state if not k.startswith(scope + ".")])
                report.dropped.append(scope)
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise _mismatch(network, where, missing, unexpected)
    for key, value in own.items():
        theirs = state.get(key)
        if theirs is not None and tuple(theirs.shape) != tuple(value.shape):
            report.skipped.append((key, tuple(value.shape), tuple(theirs.shape)))
    skipped = {k for k, _, _ in report.skipped}
    state = _keep(state, [k for k in state if k not in skipped])
    result = model.load_state_dict(state, strict=False)
    left = [k for k in result.missing_keys if k not in skipped]
    if left or result.unexpected_keys:  # torch's own view agrees with ours unless a module is unusual
        raise _mismatch(network, where, left, list(result.unexpected_keys))
    report.loaded = len(state)
    if record is not None:
        model.pretrained_cfg = record.pretrained_cfg()  # type: ignore[assignment]
    return report


def fetch(source: WeightsSource) -> tuple[dict[str, torch.Tensor], str]:
    """The state_dict a source names (CPU tensors) and a description of where it came from."""
    if isinstance(source, Weights):
        url = _torchvision_url(source) if source.source == "torchvision" else source.url
        return _tensors(_from_hub(url), url), f"{source.tag} ({source.source}: {Path(url).name})"
    if isinstance(source, Path):
        return _tensors(_from_file(source), str(source)), str(source)
    return _tensors(_from_hub(source), source), source


def _torchvision_url(record: Weights) -> str:
    try:
        import torchvision  # type: ignore[import-untyped]
        from torchvision.models import get_model_weights  # type: ignore[import-untyped]
    except ImportError:
        raise SpecError(
            f"'{record.tag}' names torchvision's {record.network} weights, and torchvision is not installed",
            None,
            hint=f"pip install torchvision (or pip install 'netspec[torch]'); or pass the URL: --weights {record.url}",
        ) from None
    try:
        return str(get_model_weights(record.network)[record.tag].url)
    except (KeyError, ValueError):
        raise SpecError(
            f"torchvision {torchvision.__version__} has no {record.network} weights '{record.tag}'",
            None,
            hint=f"upgrade torchvision, or pass the URL: --weights {record.url}",
        ) from None


def _from_hub(url: str) -> Any:
    """torch.hub's cached download (checked against the hash in its name), logged to stderr."""
    name = Path(url.split("?")[0]).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    try:
        with contextlib.redirect_stdout(sys.stderr):  # torch prints "Downloading ..." to stdout
            return torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", None) or err
        raise SpecError(
            f"cannot download {url}: {reason}",
            None,
            hint=f"fetch it elsewhere and put it at {cached} (torch's hub cache), or pass a file: --weights FILE.pth",
        ) from None
    except RuntimeError as err:
        if "invalid hash" in str(err):
            raise SpecError(f"the download of {url} is corrupt: {err}", None, hint="try again") from None
        raise _unreadable(cached, err) from None
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as err:
        raise _unreadable(cached, err) from None


def _from_file(path: Path) -> Any:
    if not path.is_file():
        raise SpecError(f"no such checkpoint file: {path}", None)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise _unreadable(path, err) from None


def _unreadable(path: Path, err: BaseException) -> SpecError:
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return SpecError(
        f"cannot read the checkpoint {path}: {first}",
        None,
        hint="netspec reads state_dicts saved with torch.save (plain tensors; torch.load(weights_only=True))",
    )


def _tensors(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """The state_dict inside a checkpoint: unwrapped from {"state_dict": ...} and the like, with
    DataParallel's `module.` prefix removed; keeps `_metadata` (BatchNorm versions) for torch."""
    if isinstance(obj, Mapping) and not _all_tensors(obj):
        inner = [obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping) and _all_tensors(obj[k])]
        if len(inner) == 1:
            obj = inner[0]
    if not isinstance(obj, Mapping) or not obj or not _all_tensors(obj):
        raise SpecError(
            f"{where} holds no state_dict (a mapping of names to tensors)",
            None,
            hint="save one with torch.save(model.state_dict(), 'weights.pth')",
        )
    state: dict[str, torch.Tensor] = OrderedDict(obj)
    if all(k.startswith("module.") for k in state):
        state = _keep(state, list(state), lambda k: k.removeprefix("module."))
    elif getattr(obj, "_metadata", None) is not None:
        setattr(state, "_metadata", getattr(obj, "_metadata"))  # noqa: B009, B010  (torch reads the attribute)
    return state


def _all_tensors(obj: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _rename(state: dict[str, torch.Tensor], pairs: tuple[tuple[str, str], ...]) -> dict[str, torch.Tensor]:
    """Apply a record's [regex, replacement] pairs to the keys (DenseNet's old `norm.1` -> `norm1`)."""
    if not pairs:
        return state
    compiled = [(re.compile(p), r) for p, r in pairs]

    def new(key: str) -> str:
        for pattern, repl in compiled:
            key = pattern.sub(repl, key)
        return key

    return _keep(state, list(state), new)


def _keep(state: dict[str, torch.Tensor], keys: list[str], rename: Any = None) -> dict[str, torch.Tensor]:
    """A copy of `state` with only `keys` (renamed), carrying its `_metadata` along."""
    out: dict[str, torch.Tensor] = OrderedDict((rename(k) if rename else k, state[k]) for k in keys)
    meta = getattr(state, "_metadata", None)
    if meta is not None:
        setattr(out, "_metadata", meta)  # noqa: B010
    return out


def _mismatch(network: str, where: str, missing: list[str], unexpected: list[str]) -> SpecError:
    notes = []
    if missing:
        notes.append(f"{_keys(missing)} of the network {_are(missing)} not in the weights: {_some(missing)}")
    if unexpected:
        notes.append(f"{_keys(unexpected)} of the weights {_are(unexpected)} not in the network: {_some(unexpected)}")
    return SpecError(
        f"the weights {where} do not fit {network}",
        None,
        notes=notes,
        hint="a different architecture or parameters (only tensors whose shapes differ, as a new head, are left out)",
    )


def _tensors_text(keys: list[str]) -> str:
    if len(keys) == 1:
        return "1 tensor whose shape differs from"
    return f"{len(keys)} tensors whose shapes differ from"


def _keys(keys: list[str]) -> str:
    return f"{len(keys)} key{'s' if len(keys) != 1 else ''}"


def _are(keys: list[str]) -> str:
    return "are" if len(keys) != 1 else "is"


def _some(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f", ... and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"


def cache_path(record: Weights) -> Path:
    """Where torch's hub cache keeps a record's checkpoint (the same place torchvision uses)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / record.file_name
