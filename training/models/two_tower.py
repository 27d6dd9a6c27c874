"""Two-tower retrieval model.

The user tower reads the recent behaviour sequence and the profile, so it can be re-run
online on the user's fresh sequence (exported to ONNX, run by the recall service). The item
tower reads id and metadata, so an item the id table has never seen still gets a vector
from its metadata. Both towers end L2-normalised: the score is a cosine.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class UserTower(nn.Module):
    """Pools the recent sequence three ways (item ids, their categories, their authors; mean
    and recency-weighted) and mixes in the profile. The item -> category/author lookups are
    buffers inside the model, so the ONNX graph needs only the item ids; category and author
    embeddings generalise across the many items each id table sees too rarely."""

    def __init__(self, n_items: int, n_regions: int, item_category: torch.Tensor,
                 item_author: torch.Tensor, dim: int = 32, emb: int = 32):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, emb, padding_idx=0)
        # Row 0 (padding) maps to category/author 0 (unknown).
        self.register_buffer("item_category", torch.cat([torch.zeros(1, dtype=torch.int64),
                                                         item_category.long()]))
        self.register_buffer("item_author", torch.cat([torch.zeros(1, dtype=torch.int64),
                                                       item_author.long()]))
        self.category = nn.Embedding(int(item_category.max()) + 1, 16)
        self.author = nn.Embedding(int(item_author.max()) + 1, 16)
        self.region = nn.Embedding(n_regions + 1, 8)
        self.age = nn.Embedding(7, 4)
        self.gender = nn.Embedding(3, 4)
        width = 2 * (emb + 32) + 16
        self.mlp = nn.Sequential(nn.Linear(width, 128), nn.ReLU(), nn.Linear(128, dim))

    def forward(self, seq_items: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
        """seq_items [B, L] (dense index + 1, 0 = pad, most recent first); profile [B, 3]
        (region, age_bucket, gender). Returns [B, dim] unit vectors."""
        mask = (seq_items != 0).float().unsqueeze(-1)
        e = torch.cat([self.items(seq_items), self.category(self.item_category[seq_items]),
                       self.author(self.item_author[seq_items])], dim=-1)
        mean = (e * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        # Recency-weighted pooling: the last few items say most about what comes next.
        decay = torch.pow(0.8, torch.arange(seq_items.shape[1], dtype=e.dtype)).view(1, -1, 1)
        recent = (e * mask * decay).sum(1) / (mask * decay).sum(1).clamp(min=1e-6)
        x = torch.cat([mean, recent, self.region(profile[:, 0]), self.age(profile[:, 1]),
                       self.gender(profile[:, 2])], dim=1)
        return F.normalize(self.mlp(x), dim=-1)


class ItemTower(nn.Module):
    def __init__(self, n_items: int, n_authors: int, n_categories: int, n_regions: int,
                 n_duration_buckets: int, dim: int = 32, emb: int = 32):
        super().__init__()
        self.items = nn.Embedding(n_items + 1, emb, padding_idx=0)
        self.author = nn.Embedding(n_authors + 1, 16)
        self.category = nn.Embedding(n_categories + 1, 16)
        self.region = nn.Embedding(n_regions + 1, 4)
        self.duration = nn.Embedding(n_duration_buckets, 4)
        self.mlp = nn.Sequential(nn.Linear(emb + 40, 64), nn.ReLU(), nn.Linear(64, dim))

    def forward(self, meta: torch.Tensor) -> torch.Tensor:
        """meta [B, 5]: item (dense index + 1, 0 = new/unknown), author, category, region,
        duration bucket. Returns [B, dim] unit vectors."""
        x = torch.cat([self.items(meta[:, 0]), self.author(meta[:, 1]), self.category(meta[:, 2]),
                       self.region(meta[:, 3]), self.duration(meta[:, 4])], dim=1)
        return F.normalize(self.mlp(x), dim=-1)


def sampled_softmax_loss(user_vec: torch.Tensor, item_vec: torch.Tensor, item_ids: torch.Tensor,
                         log_q: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """In-batch negatives with log-Q correction (Yi et al., RecSys 2019).

    Popular items appear as in-batch negatives more often than they should; subtracting the
    log of each item's sampling probability removes that bias. Other rows holding the same
    item are not negatives for each other and are masked out.
    """
    logits = user_vec @ item_vec.T / temperature - log_q.unsqueeze(0)
    same = item_ids.unsqueeze(0) == item_ids.unsqueeze(1)
    eye = torch.eye(same.shape[0], dtype=torch.bool)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))
