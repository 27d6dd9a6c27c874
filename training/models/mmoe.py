"""MMoE, multi-gate mixture of experts (Ma et al. 2018), on the crossing + sequence bottom.

Experts are small MLPs over the shared bottom (a cross network over the field embeddings,
the numeric features and the target-attended sequence); each task mixes the experts with its
own softmax gate and has its own tower, so tasks that disagree (a like vs a follow) can lean
on different experts instead of fighting over one shared layer.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import CrossSequenceBottom, mlp, tower


class MMoE(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 16,
                 cross_layers: int = 2, low_rank: int | None = 32, experts: int = 4,
                 expert_hidden: tuple[int, ...] = (64,), tower_hidden: tuple[int, ...] = (32,),
                 sequence: str = "attention"):
        super().__init__()
        self.bottom = CrossSequenceBottom(vocab, n_num, seq_len, emb, cross_layers, low_rank, sequence)
        self.experts = nn.ModuleList(mlp(self.bottom.out, expert_hidden) for _ in range(experts))
        width = self.experts[0].out
        self.gates = nn.ModuleList(nn.Linear(self.bottom.out, experts) for _ in range(n_heads))
        self.towers = nn.ModuleList(tower(width, tower_hidden) for _ in range(n_heads))

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        x = self.bottom(cat, num, seq_items, seq_cats)
        experts = torch.stack([e(x) for e in self.experts], dim=1)            # [B, X, W]
        logits = []
        for gate, top in zip(self.gates, self.towers):
            mix = (torch.softmax(gate(x), dim=1).unsqueeze(-1) * experts).sum(1)
            logits.append(top(mix))
        return torch.sigmoid(torch.cat(logits, dim=1))
