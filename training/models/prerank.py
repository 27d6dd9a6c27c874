"""The pre-ranker: small and fast, to cut ~1000 candidates to ~200 before the ranker.

Embeddings of the categorical features (narrow) and the numeric features into a small MLP,
no sequence attention; the same heads as the ranker, so the service fuses them with the
same weights. Trained by distillation: its targets blend the logged labels with the ranker's
probabilities, so it learns to agree with the stage it feeds.
"""
from __future__ import annotations

import torch
from torch import nn


class PreRanker(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, emb: int = 8):
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(v, emb) for v in vocab)
        self.mlp = nn.Sequential(nn.Linear(len(vocab) * emb + n_num, 64), nn.ReLU(),
                                 nn.Linear(64, n_heads))

    def forward(self, cat: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
        x = torch.cat([emb(cat[:, i]) for i, emb in enumerate(self.embs)] + [num], dim=1)
        return torch.sigmoid(self.mlp(x))
