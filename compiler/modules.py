"""Small torch modules for the ops torch.nn has no single class for.

Each class stores every constructor argument as an attribute of the same name,
so the code generator can write the constructor call back out
(`Upsample(2.0, None, 'bilinear', False)`), and each class is self-contained
(torch only), so `netspec compile -o model.py` can copy its source into a file
that runs without netspec.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels at every position (ConvNeXt's LayerNorm2d); plain on (N, F).

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
        if x.dim() == 2:
            return F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
        x = x.permute(0, 2, 3, 1)  # channels last, where layer_norm normalises
        x = F.layer_norm(x, (self.channels,), self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


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


class Elementwise(nn.Module):
    """Sum ('add') or product ('mul') of any number of broadcastable tensors.

    With `inplace`, a sum accumulates into its first input (torchvision's `out += identity`);
    the compiler sets it only where nothing else reads that tensor.
    """

    def __init__(self, kind: str, inplace: bool = False) -> None:
        super().__init__()
        if kind not in ("add", "mul"):
            raise ValueError(f"Elementwise kind must be 'add' or 'mul', not {kind!r}")
        self.kind = kind
        self.inplace = inplace

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        if self.inplace and self.kind == "add":
            for x in xs[1:]:
                out = out.add_(x)
            return out
        for x in xs[1:]:
            out = out + x if self.kind == "add" else out * x
        return out

    def extra_repr(self) -> str:
        return repr(self.kind) + (", inplace=True" if self.inplace else "")


class Concat(nn.Module):
    """Concatenate any number of tensors on the channel dimension."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=1)


class Upsample(nn.Module):
    """Resize by `scale`, to a fixed `size`, or to the height and width of a second input.

    Args:
        scale: multiplier for height and width (output floor(h * scale)).
        size: fixed (height, width).
        mode: 'nearest' or 'bilinear'.
        align_corners: for bilinear, as in F.interpolate.
    """

    def __init__(self, scale: float | None = None, size: tuple[int, int] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None) -> None:
        super().__init__()
        self.scale = scale
        self.size = size
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        if ref is not None:
            return F.interpolate(x, size=ref.shape[-2:], mode=self.mode, align_corners=self.align_corners)
        if self.size is not None:
            return F.interpolate(x, size=self.size, mode=self.mode, align_corners=self.align_corners)
        return F.interpolate(x, scale_factor=self.scale, mode=self.mode, align_corners=self.align_corners)


class Crop(nn.Module):
    """Crop x to ref's height and width: centred, or with its top-left corner at `offset` (FCN)."""

    def __init__(self, offset: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        th, tw = ref.shape[-2], ref.shape[-1]
        if self.offset is None:
            top, left = (x.shape[-2] - th) // 2, (x.shape[-1] - tw) // 2
        else:
            top, left = self.offset
        return x[..., top:top + th, left:left + tw]


class Pad(nn.Module):
    """Pad the borders by (left, right, top, bottom), as F.pad orders them."""

    def __init__(self, amounts: tuple[int, int, int, int], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.amounts = tuple(amounts)
        self.mode = mode
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "constant":
            return F.pad(x, self.amounts, mode="constant", value=self.value)
        return F.pad(x, self.amounts, mode=self.mode)


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
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        size = [x.shape[0]] + [1] * (x.dim() - 1) if self.mode == "row" else [1] * x.dim()
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
