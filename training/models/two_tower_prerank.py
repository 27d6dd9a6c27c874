"""The two-tower pre-ranker: a user vector once per request, item vectors precomputed per
version, the score of a candidate one dot product per head.

The user tower reads the user's fields (region, age, gender, device, hour) and the behaviour
sequence (mean of all steps and of the last few, items and categories); the item tower reads
the item's fields (id, author, category, region, duration) and its popularity. Neither sees
the other's side, which is the point: the item side depends on the item alone, so a version
ships every item's vector (`item_vectors`) and serving runs only the user tower, once, then
multiplies. The user x item cross features the other pre-rankers read (follows the author,
the share of the sequence in the candidate's category) are out of reach by construction.

Per head h: logit = <u_h, v_h> + b_user_h + b_item_h, with both biases folded into the
vectors ([u_h, b_user_h, 1] . [v_h, 1, b_item_h]), so the served score is a plain dot product
and a sigmoid, and the heads fuse with the manifest's weights like every other pre-ranker's.
The sequence's items and categories share the item tower's tables, so history and candidate
live in one space.
"""
from __future__ import annotations

import torch
from torch import nn

from core.rank.features import CAT_FEATURES, CATEGORY_COL, ITEM_COL, NUM_FEATURES, RECENT_LEN

USER_FEATURES = ("user_region", "user_age", "user_gender", "device", "hour")
ITEM_FEATURES = ("item", "author", "category", "item_region", "duration_bucket")
ITEM_NUM_FEATURES = ("item_log_pop",)
USER_COLS = [CAT_FEATURES.index(f) for f in USER_FEATURES]
ITEM_COLS = [CAT_FEATURES.index(f) for f in ITEM_FEATURES]
ITEM_NUM_COLS = [NUM_FEATURES.index(f) for f in ITEM_NUM_FEATURES]


def _pooled(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).float()
    return (values * m).sum(1) / m.sum(1).clamp(min=1.0)


class UserTower(nn.Module):
    """(cat, seq_items, seq_cats) -> [B, H, dim + 2] = [u_h, b_user_h, 1] per head: what the
    served ONNX graph computes (it reads only the user's columns of `cat`)."""

    def __init__(self, user_tables: nn.ModuleList, item_table: nn.Embedding, category_table: nn.Embedding,
                 n_heads: int, dim: int, hidden: int):
        super().__init__()
        self.tables, self.item_table, self.category_table = user_tables, item_table, category_table
        emb = item_table.embedding_dim
        self.n_heads, self.dim = n_heads, dim
        self.mlp = nn.Sequential(nn.Linear(len(USER_COLS) * emb + 4 * emb, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_heads * (dim + 1)))

    def forward(self, cat: torch.Tensor, seq_items: torch.Tensor, seq_cats: torch.Tensor) -> torch.Tensor:
        fields = [t(cat[:, c]) for t, c in zip(self.tables, USER_COLS)]
        mask = seq_items != 0
        items, cats = self.item_table(seq_items), self.category_table(seq_cats)
        recent = mask[:, :RECENT_LEN]
        x = torch.cat(fields + [_pooled(items, mask), _pooled(cats, mask),
                                _pooled(items[:, :RECENT_LEN], recent), _pooled(cats[:, :RECENT_LEN], recent)], 1)
        out = self.mlp(x).view(-1, self.n_heads, self.dim + 1)
        return torch.cat([out, torch.ones_like(out[..., :1])], dim=-1)


class ItemTower(nn.Module):
    """(cat, num) -> [B, H, dim + 2] = [v_h, 1, b_item_h] per head, from the item's columns."""

    def __init__(self, item_tables: nn.ModuleList, n_heads: int, dim: int, hidden: int):
        super().__init__()
        self.tables = item_tables
        emb = item_tables[0].embedding_dim
        self.n_heads, self.dim = n_heads, dim
        self.mlp = nn.Sequential(nn.Linear(len(ITEM_COLS) * emb + len(ITEM_NUM_COLS), hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_heads * (dim + 1)))

    def forward(self, cat: torch.Tensor, num: torch.Tensor) -> torch.Tensor:
        x = torch.cat([t(cat[:, c]) for t, c in zip(self.tables, ITEM_COLS)] + [num[:, ITEM_NUM_COLS]], 1)
        out = self.mlp(x).view(-1, self.n_heads, self.dim + 1)
        return torch.cat([out[..., :self.dim], torch.ones_like(out[..., :1]), out[..., self.dim:]], dim=-1)


class TwoTowerPreRanker(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, emb: int = 8, dim: int = 16, hidden: int = 64):
        super().__init__()
        tables = nn.ModuleList(nn.Embedding(v, emb) for v in vocab)
        self.user_tower = UserTower(nn.ModuleList(tables[c] for c in USER_COLS), tables[ITEM_COL],
                                    tables[CATEGORY_COL], n_heads, dim, hidden)
        self.item_tower = ItemTower(nn.ModuleList(tables[c] for c in ITEM_COLS), n_heads, dim, hidden)

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        """Per-head probabilities [B, H]: the same computation serving splits in two."""
        logits = (self.user_tower(cat, seq_items, seq_cats) * self.item_tower(cat, num)).sum(-1)
        return torch.sigmoid(logits)
