"""DCN-v2 (Wang et al. 2021): a cross network for explicit bounded-degree feature crossing
beside (parallel) or under (stacked) an MLP, with an optional low-rank cross.

Input x0 = every field's embedding, the numeric features and the behaviour sequence pooled
against the target (DIN's target attention by default; `sequence="mean"` for the paper's
plain model).
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import CrossSequenceBottom, mlp

STRUCTURES = ("parallel", "stacked")


class DCNv2(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 16,
                 cross_layers: int = 3, low_rank: int | None = None, structure: str = "parallel",
                 hidden: tuple[int, ...] = (128, 64), sequence: str = "attention"):
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure {structure!r}: expected one of {STRUCTURES}")
        self.structure = structure
        self.bottom = CrossSequenceBottom(vocab, n_num, seq_len, emb, cross_layers, low_rank, sequence)
        self.deep = mlp(self.bottom.out, hidden)
        width = self.deep.out + (self.bottom.out if structure == "parallel" else 0)
        self.heads = nn.Linear(width, n_heads)

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        x0 = self.bottom.inputs(cat, num, seq_items, seq_cats)
        crossed = self.bottom.cross(x0)
        if self.structure == "stacked":
            top = self.deep(crossed)
        else:
            top = torch.cat([crossed, self.deep(x0)], dim=1)
        return torch.sigmoid(self.heads(top))
