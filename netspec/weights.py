"""Pretrained weights by name: the records of `specs/weights.toml` (no torch needed).

    for w in weights_for("resnet50"):
        print(w.tag, w.url, w.crop, w.mean)       # IMAGENET1K_V2 https://... 224 (0.485, 0.456, 0.406)
    find("resnet50", "DEFAULT").tag                # 'IMAGENET1K_V2'
    parse_source("resnet50", "IMAGENET1K_V1")      # a Weights record
    parse_source("resnet50", "r50.pth")            # Path('r50.pth')

A record says where a checkpoint lives and how its inputs were prepared, like timm's
`pretrained_cfg` (`Weights.pretrained_cfg()` gives that dict). Loading is the back
end's (`netspec.compiler.weights`): it needs torch, and torchvision for `torchvision`
records.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SpecError, did_you_mean

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "weights.toml"
_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")


class Weights(BaseModel):
    """One checkpoint that fits a library network, with its preprocessing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str
    tag: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    source: Literal["torchvision", "url"]
    url: str = Field(pattern=r"^https://\S+/[^/\s]+$")
    default: bool = False
    num_classes: int = Field(default=1000, ge=0)
    resize: int = Field(default=256, gt=0)
    crop: int | None = Field(default=None, gt=0)
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dataset: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    optional: tuple[str, ...] = ()
    rename: tuple[tuple[str, str], ...] = ()
    note: str | None = None

    @field_validator("rename")
    @classmethod
    def _compiles(cls, pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        for pattern, _ in pairs:
            re.compile(pattern)
        return pairs

    @property
    def file_name(self) -> str:
        """The checkpoint's name in torch's hub cache: the last part of its URL (`resnet50-11ad3fa6.pth`)."""
        return PurePosixPath(urlsplit(self.url).path).name

    def pretrained_cfg(self) -> dict[str, Any]:
        """The record as timm's `pretrained_cfg` (what `timm.data.resolve_data_config(model=m)` reads)."""
        cfg: dict[str, Any] = {
            "architecture": self.network,
            "tag": self.tag,
            "source": self.source,
            "url": self.url,
            "num_classes": self.num_classes,
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
            "resize": self.resize,
            "crop": self.crop,
        }
        if self.crop is not None:
            cfg["input_size"] = (3, self.crop, self.crop)
            cfg["crop_pct"] = self.crop / self.resize
            cfg["crop_mode"] = "center"
        return cfg


@lru_cache(maxsize=1)
def records() -> dict[str, tuple[Weights, ...]]:
    """Network name -> its checkpoints, in the order of the library's weights.toml."""
    from .library import library_dir

    path = library_dir() / WEIGHTS_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SpecError(f"cannot read the weights records {path}: {err}", None) from None
    out: dict[str, tuple[Weights, ...]] = {}
    for network, entries in data.items():
        if not isinstance(entries, list):
            raise SpecError(f"{path}: '{network}' must be a list of [[{network}]] tables", None)
        try:
            found = [Weights(network=network, **entry) for entry in entries]
        except (ValidationError, TypeError, re.error) as err:
            raise SpecError(f"{path}: a [[{network}]] record is malformed: {err}", None) from None
        defaults = [w.tag for w in found if w.default]
        tags = [w.tag for w in found]
        if len(defaults) != 1 or len(set(tags)) != len(tags):
            raise SpecError(f"{path}: [[{network}]] needs distinct tags and exactly one default", None)
        out[network] = tuple(found)
    return out


def weights_for(network: str) -> tuple[Weights, ...]:
    """The checkpoints recorded for a network; empty when there are none."""
    return records().get(network, ())


def find(network: str, tag: str) -> Weights:
    """The record `tag` of `network` (any case; `DEFAULT` is the one marked default), or a SpecError."""
    known = weights_for(network)
    if not known:
        raise SpecError(
            f"no pretrained weights are recorded for '{network}'",
            None,
            hint="pass a checkpoint file or URL instead (--weights path.pth); 'netspec weights' lists the records",
        )
    for w in known:  # tags are upper case; `imagenet1k_v2` and `default` find theirs
        if w.tag == tag.upper() or (tag.upper() == "DEFAULT" and w.default):
            return w
    tags = ", ".join(w.tag for w in known)
    near = did_you_mean(tag, [w.tag for w in known])
    raise SpecError(
        f"'{network}' has no weights '{tag}'",
        None,
        hint=f"{near + ' ' if near else ''}{network} has: {tags} (or DEFAULT)",
    )


WeightsSource = Weights | Path | str
"""A record, a local checkpoint file, or an http(s) URL."""


def parse_source(network: str, text: str | os.PathLike[str]) -> WeightsSource:
    """What `--weights TEXT` names: a tag of `network`'s records, a file, or a URL.

    `https://...` and `http://...` are URLs (fetched into torch's hub cache); `file://...`
    and anything that looks like a path (a `/`, a checkpoint suffix, an existing file) is
    a file; anything else is a tag (`IMAGENET1K_V2`, `DEFAULT`).
    """
    if isinstance(text, os.PathLike):
        return Path(text)
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return text
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise SpecError(f"cannot read '{text}': a file:// URL must name a file on this machine", None)
        return Path(unquote(parts.path))
    if len(scheme) > 1:
        raise SpecError(f"cannot fetch '{text}': only https://, http:// and file:// URLs are supported", None)
    if "/" in text or os.sep in text or text.lower().endswith(_SUFFIXES) or Path(text).is_file():
        return Path(text)
    return find(network, text)


def hub_dir() -> Path:
    """torch's hub folder as torch.hub.get_dir() finds it from the environment ($TORCH_HOME/hub,
    else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub); checkpoints go to its `checkpoints/`."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))) / "hub"


def table(network: str | None = None) -> str:
    """`netspec weights [NET]`: one network's records in full, or every network's tags."""
    if network is None:
        rows = [(name, ", ".join(_tag(w) for w in ws)) for name, ws in records().items()]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name.ljust(width)}  {tags}" for name, tags in rows]
        return "\n".join([*lines, "(* = DEFAULT; 'netspec weights NET' shows a network's records in full)"])
    known = weights_for(network)
    if not known:
        find(network, "DEFAULT")  # raises the error with its hint
    cache = hub_dir() / "checkpoints"
    out = []
    for w in known:
        cached = (cache / w.file_name).is_file()
        prep = f"resize {w.resize}" + (f", crop {w.crop}" if w.crop else "") + f", {w.interpolation}"
        lines = [
            f"{network} {_tag(w)}",
            f"  source       {w.source}: {w.url}",
            f"  cache        {cache / w.file_name}" + (" (present)" if cached else " (fetched on first use)"),
            f"  classes      {w.num_classes or 'none (no usable head)'}",
            f"  input        {prep}",
            f"  normalise    mean {_floats(w.mean)}, std {_floats(w.std)}",
        ]
        if w.metrics:
            scores = ", ".join(f"{k} {v:g}" for k, v in w.metrics.items())
            lines.append(f"  scores       {scores}" + (f" on {w.dataset}" if w.dataset else ""))
        if w.optional:
            lines.append(f"  optional     {', '.join(w.optional)} (dropped when the network leaves them out)")
        if w.note:
            lines.append(f"  note         {w.note}")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _tag(w: Weights) -> str:
    return f"{w.tag}*" if w.default else w.tag


def _floats(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
