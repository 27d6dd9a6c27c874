"""The ranker: target attention over the behaviour sequence (DIN) + an MLP over every
feature, with one sigmoid head per task (like, complete, share, follow).

Inputs are the tensors `core.rank.features.assemble` builds; outputs are per-head
probabilities [B, H]. The service fuses heads with the manifest's weights.
"""
from __future__ import annotations

import torch
from torch import nn

from core.rank.features import CATEGORY_COL, ITEM_COL


class Ranker(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 16,
                 use_sequence: bool = True, emb_init_std: float | None = None):
        super().__init__()
        self.embs = nn.ModuleList(nn.Embedding(v, emb) for v in vocab)
        if emb_init_std is not None:  # None: PyTorch's unit variance, as the first ranker trained
            for e in self.embs:
                nn.init.normal_(e.weight, std=emb_init_std)
        # Position in the sequence (0 = most recent): lets attention tell the interest of the
        # moment from long-standing taste.
        self.position = nn.Parameter(torch.zeros(1, seq_len, emb))
        self.use_sequence = use_sequence
        self.attn = nn.Sequential(nn.Linear(4 * emb, 32), nn.ReLU(), nn.Linear(32, 1))
        width = len(vocab) * emb + n_num + (emb if use_sequence else 0)
        self.mlp = nn.Sequential(nn.Linear(width, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.heads = nn.Linear(64, n_heads)

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        fields = [emb(cat[:, i]) for i, emb in enumerate(self.embs)]
        parts = fields + [num]
        if self.use_sequence:
            item_emb, cat_emb = self.embs[ITEM_COL], self.embs[CATEGORY_COL]
            query = fields[ITEM_COL] + fields[CATEGORY_COL]             # [B, E]
            keys = item_emb(seq_items) + cat_emb(seq_cats) + self.position  # [B, L, E]
            q = query.unsqueeze(1).expand_as(keys)
            score = self.attn(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
            mask = seq_items != 0
            weights = torch.softmax(score.masked_fill(~mask, -1e4), dim=1) * mask.float()
            parts.append((weights.unsqueeze(-1) * keys).sum(1))
        return torch.sigmoid(self.heads(self.mlp(torch.cat(parts, dim=1))))
