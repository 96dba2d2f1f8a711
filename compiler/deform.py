"""Deformable convolution (Dai et al. 2017; modulated, Zhu et al. 2019) in plain torch.

`deform_conv2d` computes what `torchvision.ops.deform_conv2d` computes, with the
same argument layout, using only gathers and a matmul, so it runs on any device,
on the meta device, under torch.compile, torch.export and ONNX export, and
without torchvision. Offsets are (dy, dx) pairs per kernel tap and offset group:

    dy = offset[:, g*2*kh*kw + 2*k]      dx = offset[:, g*2*kh*kw + 2*k + 1]     k = i*kw + j

A tap at (y, x) reads the bilinear interpolation of the input, where any corner
outside the image counts as zero.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _pair2(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable 2-D convolution, numerically equal to torchvision.ops.deform_conv2d.

    Args:
        x: input (B, C, H, W).
        offset: (B, 2*OG*kh*kw, Ho, Wo) sampling offsets; OG, the offset groups, divides C.
        weight: (Cout, C/groups, kh, kw); groups = C // weight.shape[1].
        bias: (Cout,) or None.
        stride, padding, dilation: as for a convolution.
        mask: (B, OG*kh*kw, Ho, Wo) modulation (DCNv2), used as given; None means 1.

    Returns:
        (B, Cout, Ho, Wo).
    """
    (sh, sw), (ph, pw), (dh, dw) = _pair2(stride), _pair2(padding), _pair2(dilation)
    b, c, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    groups = c // c_per_group
    taps = kh * kw
    ho, wo = offset.shape[-2], offset.shape[-1]
    og = offset.shape[1] // (2 * taps)

    # Sampling positions (B, OG, K, Ho, Wo): the regular grid plus the learned offsets.
    # Positions in at least float32: half precision cannot hold pixel coordinates above 2048 (bf16: 256).
    pos = torch.promote_types(offset.dtype, torch.float32)
    off = offset.reshape(b, og, taps, 2, ho, wo).to(pos)
    ky = (torch.arange(kh, device=x.device, dtype=pos) * dh).repeat_interleave(kw)
    kx = (torch.arange(kw, device=x.device, dtype=pos) * dw).repeat(kh)
    oy = torch.arange(ho, device=x.device, dtype=pos) * sh - ph
    ox = torch.arange(wo, device=x.device, dtype=pos) * sw - pw
    ys = off[:, :, :, 0] + ky.view(1, 1, taps, 1, 1) + oy.view(1, 1, 1, ho, 1)
    xs = off[:, :, :, 1] + kx.view(1, 1, taps, 1, 1) + ox.view(1, 1, 1, 1, wo)

    # Bilinear interpolation as four gathers; corners outside the image contribute zero.
    y0, x0 = ys.floor(), xs.floor()
    ly, lx = ys - y0, xs - x0
    flat = x.reshape(b, og, (c // og), h * w)
    n = taps * ho * wo
    cols = x.new_zeros(())
    for dy, dx, wt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
        yc, xc = y0 + dy, x0 + dx
        inside = (yc >= 0) & (yc <= h - 1) & (xc >= 0) & (xc <= w - 1)
        index = (yc.clamp(0, h - 1) * w + xc.clamp(0, w - 1)).to(torch.int64).reshape(b, og, 1, n)
        corner = flat.gather(3, index.expand(b, og, c // og, n))
        cols = cols + corner * (wt * inside).to(x.dtype).reshape(b, og, 1, n)
    if mask is not None:
        cols = cols * mask.reshape(b, og, 1, n).to(cols.dtype)

    # Grouped matmul of the (C*K, Ho*Wo) columns with the (Cout, C/groups*K) weight.
    cols = cols.reshape(b, groups, c_per_group * taps, ho * wo)
    wmat = weight.reshape(groups, c_out // groups, c_per_group * taps)
    out = torch.einsum("gok,bgkl->bgol", wmat, cols).reshape(b, c_out, ho, wo)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


class OffsetConv(nn.Module):
    """The zero-initialised conv that predicts offsets or masks (not an nn.Conv2d, so init rules skip it)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, *kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class DeformConv2d(nn.Module):
    """A deformable conv whose offsets (and DCNv2 mask) come from a conv on the same input.

    Holds `weight` and `bias` like nn.Conv2d, plus `offset`, a conv giving
    2*offset_groups*kh*kw channels, and, if `modulated`, `mask`, a conv giving
    offset_groups*kh*kw channels passed through a sigmoid. Both start at zero, so
    a fresh layer is a plain convolution (with the mask at 0.5).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        offset_groups: int = 1,
        bias: bool = True,
        modulated: bool = False,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups or in_channels % offset_groups:
            raise ValueError("groups must divide the input and output channels, offset_groups the input")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair2(kernel_size)
        self.stride = _pair2(stride)
        self.padding = _pair2(padding)
        self.dilation = _pair2(dilation)
        self.groups = groups
        self.offset_groups = offset_groups
        self.modulated = modulated
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()
        geometry = (self.kernel_size, self.stride, self.padding, self.dilation)
        self.offset = OffsetConv(in_channels, 2 * offset_groups * kh * kw, *geometry)
        self.mask = OffsetConv(in_channels, offset_groups * kh * kw, *geometry) if modulated else None

    def reset_parameters(self) -> None:
        """torch's Conv2d default: kaiming_uniform(a=sqrt(5)), bias U(+-1/sqrt(fan_in))."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.weight.shape[2] * self.weight.shape[3]
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask(x).sigmoid() if self.mask is not None else None
        return deform_conv2d(x, self.offset(x), self.weight, self.bias, self.stride, self.padding, self.dilation, mask)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"offset_groups={self.offset_groups}, bias={self.bias is not None}, modulated={self.modulated}"
        )


NEEDS: dict[str, tuple[str, ...]] = {"DeformConv2d": ("_pair2", "deform_conv2d", "OffsetConv")}
