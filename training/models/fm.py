"""A factorisation machine (Rendle 2010) as a pre-ranker: first-order weights plus every
pairwise interaction of the field embeddings, <v_i, v_j>, in O(fields x dim).

Fields are the categorical features and each numeric feature as a learned vector scaled by
its value; no sequence, no MLP: the classic coarse ranker that crosses features, cheaper
than the distilled MLP. Multi-task: the interaction vector maps linearly to the heads.
"""
from __future__ import annotations

import torch
from torch import nn


class FactorizationMachine(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, emb: int = 8):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, emb) for v in vocab)
        self.first_order = nn.ModuleList(nn.Embedding(v, n_heads) for v in vocab)
        self.num_linear = nn.Linear(n_num, n_heads)
        self.num_vectors = nn.Parameter(torch.randn(n_num, emb) * 0.01)
        self.fm_out = nn.Linear(emb, n_heads, bias=False)
        # Small embeddings, zero first-order weights: with PyTorch's unit-variance default the
        # pairwise sum starts in the thousands and the sigmoids saturate.
        for t in self.tables:
            nn.init.normal_(t.weight, std=0.01)
        for w in self.first_order:
            nn.init.zeros_(w.weight)

    def forward(self, cat: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
        v = torch.stack([t(cat[:, i]) for i, t in enumerate(self.tables)], dim=1)   # [B, F, E]
        v = torch.cat([v, num.unsqueeze(-1) * self.num_vectors], dim=1)
        fm = 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1))
        logit = self.num_linear(num) + self.fm_out(fm)
        for i, w in enumerate(self.first_order):
            logit = logit + w(cat[:, i])
        return torch.sigmoid(logit)
