"""Support code for the region ops (netspec/ops/region.py): torchvision.ops behind a clear message.

Boxes are a (K,5) tensor of rows (batch_index, x1, y1, x2, y2) in image coordinates, as
torchvision.ops.roi_align takes them; each function returns one pooled map per box.
torchvision does the pooling; where it is not installed the first call says to install it.
`netspec compile -o model.py` copies these into the file, which then needs torch and
torchvision.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def require_torchvision() -> None:
    """Raise an ImportError that says what to install when torchvision is missing."""
    try:
        import torchvision  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "this model pools boxes with torchvision.ops (roi_align, roi_pool, ...), "
            "but torchvision is not installed: pip install torchvision"
        ) from e


def roi_pool(
    x: torch.Tensor, boxes: torch.Tensor, output_size: int | tuple[int, int], spatial_scale: float = 1.0
) -> torch.Tensor:
    """Fast R-CNN RoI max pooling: (N,C,H,W), (K,5) -> (K,C,h,w)."""
    require_torchvision()
    import torchvision.ops  # type: ignore[import-untyped]

    out: torch.Tensor = torchvision.ops.roi_pool(x, boxes, output_size, spatial_scale)
    return out


def roi_align(
    x: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> torch.Tensor:
    """RoIAlign (Mask R-CNN): (N,C,H,W), (K,5) -> (K,C,h,w)."""
    require_torchvision()
    import torchvision.ops

    out: torch.Tensor = torchvision.ops.roi_align(x, boxes, output_size, spatial_scale, sampling_ratio, aligned)
    return out


def ps_roi_align(
    x: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
) -> torch.Tensor:
    """Position-sensitive RoIAlign (R-FCN): (N,C,H,W), (K,5) -> (K,C/(h*w),h,w)."""
    require_torchvision()
    import torchvision.ops

    out: torch.Tensor = torchvision.ops.ps_roi_align(x, boxes, output_size, spatial_scale, sampling_ratio)
    return out


def roi_spp(
    x: torch.Tensor, boxes: torch.Tensor, levels: tuple[int, ...] = (6, 3, 2, 1), spatial_scale: float = 1.0
) -> torch.Tensor:
    """SPP-net pooling of each box: an n x n RoI max pool per level, flattened, concatenated: (K, C*sum(n*n))."""
    require_torchvision()
    import torchvision.ops

    return torch.cat([torchvision.ops.roi_pool(x, boxes, n, spatial_scale).flatten(1) for n in levels], 1)


def box_levels(
    boxes: torch.Tensor, k_min: int, k_max: int, canonical_scale: int = 224, canonical_level: int = 4, eps: float = 1e-6
) -> torch.Tensor:
    """Each box's FPN level, 0 for the finest map (torchvision's LevelMapper, the FPN paper's eq. 1)."""
    s = torch.sqrt((boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2]))
    levels = torch.floor(canonical_level + torch.log2(s / canonical_scale) + torch.tensor(eps, dtype=s.dtype))
    return torch.clamp(levels, min=k_min, max=k_max).to(torch.int64) - k_min


def multiscale_roi_align(
    *inputs: torch.Tensor,
    output_size: int | tuple[int, int],
    sampling_ratio: int,
    scales: tuple[float, ...],
    canonical_scale: int = 224,
    canonical_level: int = 4,
    eps: float = 1e-6,
) -> torch.Tensor:
    """RoIAlign of each box on its FPN level: maps finest first, then boxes (K,5) -> (K,C,h,w).

    Computes what torchvision.ops.MultiScaleRoIAlign computes once it has inferred `scales`
    from the image size.
    """
    *features, boxes = inputs
    require_torchvision()
    import torchvision.ops

    if len(features) == 1:
        out: torch.Tensor = torchvision.ops.roi_align(features[0], boxes, output_size, scales[0], sampling_ratio)
        return out
    k_min, k_max = round(-math.log2(scales[0])), round(-math.log2(scales[-1]))
    levels = box_levels(boxes, k_min, k_max, canonical_scale, canonical_level, eps)
    size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    first = features[0]
    result = first.new_zeros((boxes.shape[0], first.shape[1], *size))
    for level, (feature, scale) in enumerate(zip(features, scales, strict=True)):
        index = torch.where(levels == level)[0]
        pooled = torchvision.ops.roi_align(feature, boxes[index], size, scale, sampling_ratio)
        result[index] = pooled.to(result.dtype)
    return result


class MultiScaleRoIAlign(nn.Module):
    """`multiscale_roi_align` as a module (torchvision's `box_roi_pool`); it holds no weights.

    Args:
        output_size: pooled height and width.
        sampling_ratio: samples per bin side (<= 0: adaptive).
        scales: each feature map's scale, 2**-level, finest first.
        canonical_scale, canonical_level, eps: the level rule (FPN eq. 1).
    """

    def __init__(
        self,
        output_size: int | tuple[int, int],
        sampling_ratio: int,
        scales: tuple[float, ...],
        canonical_scale: int = 224,
        canonical_level: int = 4,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        require_torchvision()  # say now, not at the first forward, that torchvision is needed
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.scales = tuple(scales)
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.eps = eps

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return multiscale_roi_align(
            *inputs,
            output_size=self.output_size,
            sampling_ratio=self.sampling_ratio,
            scales=self.scales,
            canonical_scale=self.canonical_scale,
            canonical_level=self.canonical_level,
            eps=self.eps,
        )


NEEDS = {
    "roi_pool": ("require_torchvision",),
    "roi_align": ("require_torchvision",),
    "ps_roi_align": ("require_torchvision",),
    "roi_spp": ("require_torchvision",),
    "multiscale_roi_align": ("require_torchvision", "box_levels"),
    "MultiScaleRoIAlign": ("multiscale_roi_align",),
}
