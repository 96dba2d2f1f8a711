"""Support code for the ops torch has no single module or function for.

Ops name these objects in their torch form (`netspec.compiler.modules:crop`).
Each is self-contained (torch only), so `netspec compile -o model.py` copies
the source of those it uses into the file, which then runs without netspec;
`NEEDS` lists what an object calls, so that is copied too.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels (dim 1) at every position (ConvNeXt's LayerNorm2d); plain on (N, F).

    Args:
        channels: C, the size normalised over.
        eps: added to the variance.
        affine: learn a per-channel weight and bias.
    """

    def __init__(self, channels: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.affine = affine
        self.weight = nn.Parameter(torch.ones(channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(channels)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.movedim(1, -1)  # channels last, where layer_norm normalises
        x = F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
        return x.movedim(-1, 1)


class GlobalPool(nn.Module):
    """Average or max over height and width: (N,C,H,W) -> (N,C,1,1), or (N,C) without keepdim."""

    def __init__(self, mode: str = "avg", keepdim: bool = True) -> None:
        super().__init__()
        if mode not in ("avg", "max"):
            raise ValueError(f"GlobalPool mode must be 'avg' or 'max', not {mode!r}")
        self.mode = mode
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "max":
            return x.amax(dim=(2, 3), keepdim=self.keepdim)
        return x.mean(dim=(2, 3), keepdim=self.keepdim)


def crop(x: torch.Tensor, ref: torch.Tensor, offset: tuple[int, int] | None = None) -> torch.Tensor:
    """Crop x to ref's height and width: centred, or with its top-left corner at `offset` (FCN)."""
    th, tw = ref.shape[-2], ref.shape[-1]
    if offset is None:
        top, left = (x.shape[-2] - th) // 2, (x.shape[-1] - tw) // 2
    else:
        top, left = offset
    return x[..., top : top + th, left : left + tw]


def stochastic_depth(x: torch.Tensor, p: float, mode: str = "row", training: bool = True) -> torch.Tensor:
    """Randomly drop the whole input per sample ('row') or per batch ('batch') in training.

    The same computation, and the same random draws, as torchvision.ops.stochastic_depth:
    survivors are scaled by 1 / (1 - p); in eval mode, or with p = 0, it is the identity.
    """
    if not training or p == 0.0:
        return x
    survival = 1.0 - p
    size = [x.shape[0]] + [1] * (x.dim() - 1) if mode == "row" else [1] * x.dim()
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
    if survival > 0.0:
        noise.div_(survival)
    return x * noise


def slice_along(
    x: torch.Tensor, dim: int, start: int | None = None, stop: int | None = None, step: int = 1
) -> torch.Tensor:
    """x[..., start:stop:step] on dimension `dim` (torch's slicing rules: negative ends count from the end)."""
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, stop, step)
    return x[tuple(index)]


def channel_affine(
    x: torch.Tensor, scale: tuple[float, ...] | None = None, shift: tuple[float, ...] | None = None
) -> torch.Tensor:
    """x * scale + shift with fixed per-channel (dim 1) constants: one value per channel, or one for all.

    The constants are literals of the generated code, not buffers, so the state_dict is unchanged.
    """
    view = (1, -1) + (1,) * (x.dim() - 2)
    if scale is not None:
        x = x * torch.tensor(scale, dtype=x.dtype, device=x.device).view(view)
    if shift is not None:
        x = x + torch.tensor(shift, dtype=x.dtype, device=x.device).view(view)
    return x


class SelfMultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention on one (N, L, E) input as query, key and value; returns only the output.

    A subclass, not a wrapper, so its state_dict keys are nn.MultiheadAttention's own
    (`in_proj_weight`, `out_proj.weight`, ...), as in torchvision's ViT `self_attention`.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


def fan_uniform_(tensor: torch.Tensor, weight: torch.Tensor, mode: str = "fan_in") -> torch.Tensor:
    """U(-1/sqrt(fan), 1/sqrt(fan)) with the fan of `weight`: torch's default bias init."""
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    fan = weight.shape[1 if mode == "fan_in" else 0] * receptive
    bound = 1 / math.sqrt(fan) if fan > 0 else 0.0
    return nn.init.uniform_(tensor, -bound, bound)


class StochasticDepth(nn.Module):
    """Randomly drop the whole input per sample ('row') or per batch ('batch') in training.

    The same computation, and the same random draws, as torchvision.ops.stochastic_depth:
    survivors are scaled by 1 / (1 - p); in eval mode, or with p = 0, it is the identity.
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability must be in [0, 1], got {p}")
        if mode not in ("row", "batch"):
            raise ValueError(f"mode must be 'row' or 'batch', not {mode!r}")
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return stochastic_depth(x, self.p, self.mode, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


NEEDS: dict[str, tuple[str, ...]] = {"StochasticDepth": ("stochastic_depth",)}
