"""DeepFM: a factorisation machine and an MLP over the same field embeddings (Guo et al. 2017).

The FM part models every pairwise interaction of fields (first order + <v_i, v_j>), the deep
part the higher orders; both read one set of embeddings, so neither needs hand-made crosses.
Fields are the categorical features, each numeric feature as a learned vector scaled by its
value (the paper's treatment of dense features), and the behaviour sequence mean-pooled into
one more field (a multi-valued field, as DeepFM implementations pool them). Multi-task: the
FM's interaction vector and the MLP each get a linear map to the heads.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import FieldEmbedding, masked_mean, mlp


class DeepFM(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 16,
                 hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        self.fields = FieldEmbedding(vocab, emb)
        self.first_order = nn.ModuleList(nn.Embedding(v, n_heads) for v in vocab)
        self.num_linear = nn.Linear(n_num, n_heads)
        self.num_vectors = nn.Parameter(torch.randn(n_num, emb) * 0.01)
        n_fields = len(vocab) + n_num + 1
        self.deep = mlp(n_fields * emb, hidden)
        self.deep_out = nn.Linear(self.deep.out, n_heads)
        self.fm_out = nn.Linear(emb, n_heads, bias=False)
        # Zero first-order weights at the start (the field embeddings start small, blocks.py):
        # the FM term sums every pair of fields, and unit-variance starts would begin with
        # logits in the thousands and saturated sigmoids that never recover.
        for w in self.first_order:
            nn.init.zeros_(w.weight)

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        fields = self.fields(cat)
        history = masked_mean(self.fields.sequence(seq_items, seq_cats), seq_items != 0)
        v = torch.stack(fields + [history], dim=1)                               # [B, F+1, E]
        v = torch.cat([v, num.unsqueeze(-1) * self.num_vectors], dim=1)          # [B, F+1+N, E]
        fm = 0.5 * (v.sum(1) ** 2 - (v ** 2).sum(1))                             # [B, E]
        first = self.num_linear(num)
        for i, w in enumerate(self.first_order):
            first = first + w(cat[:, i])
        logit = first + self.fm_out(fm) + self.deep_out(self.deep(v.flatten(1)))
        return torch.sigmoid(logit)
