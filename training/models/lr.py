"""Logistic regression: the classic coarse ranker, kept as a baseline in every evaluation.

One weight per categorical value (an embedding of width one per head) plus a linear term on
the numeric features, one sigmoid per head: no feature crossing, no sequence.
"""
from __future__ import annotations

import torch
from torch import nn


class LogisticRegression(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int):
        super().__init__()
        self.weights = nn.ModuleList(nn.Embedding(v, n_heads) for v in vocab)
        self.linear = nn.Linear(n_num, n_heads)

    def forward(self, cat: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
        logit = self.linear(num)
        for i, w in enumerate(self.weights):
            logit = logit + w(cat[:, i])
        return torch.sigmoid(logit)
