"""Attention: multihead self-attention on a (L, E) token sequence.

self_attention: multihead_attention 12      # torchvision ViT's EncoderBlock.self_attention
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from .base import Bool, Family, Op, Pos, Shape, ShapeError, fmt_shape, register
from .form import Module


@register
class MultiheadAttention(Op):
    """Self-attention (`nn.MultiheadAttention`, batch_first): the (N, L, E) input is query, key and value.

    E (embed_dim) is inferred and `heads` must divide it; only the attention output is
    returned (need_weights=False). The module is a subclass of nn.MultiheadAttention, so
    its state_dict keys are torch's: `in_proj_weight`, `in_proj_bias`, `out_proj.weight`,
    `out_proj.bias`. Its weights keep torch's own initialisation (no `init` targets).
    """

    kind: ClassVar[str] = "multihead_attention"
    aliases: ClassVar[tuple[str, ...]] = ("mha", "self_attention", "attention")
    family: ClassVar[Family] = Family.ATTENTION
    positional: ClassVar[tuple[str, ...]] = ("heads",)
    doc: ClassVar[str] = (
        "multihead self-attention on a (L,E) sequence (nn.MultiheadAttention, batch_first); heads must divide E"
    )
    example: ClassVar[tuple[dict[str, Any], list[Shape]]] = ({"heads": 2}, [(5, 8)])
    heads: Pos = Field(description="num_heads; each head attends with E/heads dims")
    dropout: float = Field(0.0, ge=0, le=1, description="dropout on the attention weights in training")
    bias: Bool = True

    def infer(self, ins: list[Shape]) -> Shape:
        if len(ins[0]) != 2:
            raise ShapeError(
                f"multihead_attention needs a (N,L,E) token sequence but got {fmt_shape(ins[0])}",
                hint="turn a (C,H,W) map into tokens first: flatten it and permute, "
                "e.g. 'reshape [C, -1]' then 'permute [2, 1]'",
            )
        if ins[0][1] % self.heads:
            raise ShapeError(
                f"multihead_attention heads={self.heads} does not divide the embedding size {ins[0][1]}",
                hint="embed_dim must be a multiple of the number of heads",
            )
        return ins[0]

    def count_params(self, ins: list[Shape], out: Shape) -> int:
        e = ins[0][1]
        return 4 * e * e + (4 * e if self.bias else 0)

    def count_macs(self, ins: list[Shape], out: Shape) -> int:
        length, e = ins[0]
        # q, k, v and output projections, then scores (q @ k^T) and their weighted sum of v, over all heads.
        return 4 * length * e * e + 2 * length * length * e

    def label(self) -> str:
        return f"multihead_attention {self.heads} heads"

    def module(self, ins: list[Shape]) -> Module:
        return Module(
            "netspec.compiler.modules:SelfMultiheadAttention",
            (ins[0][1], self.heads),
            (("dropout", self.dropout), ("bias", self.bias)),
        )
