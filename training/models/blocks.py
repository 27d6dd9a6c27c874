"""Building blocks every ranking architecture of the zoo shares.

All rankers take the same four tensors (`core.rank.features.assemble`: cat, num, seq_items,
seq_cats) and return per-head probabilities [B, H]; these blocks are the parts they have in
common: the field embeddings, the behaviour sequence pooled against the target item (DIN's
target attention) or by a plain mean, the DCN-v2 cross network, and MLPs.
"""
from __future__ import annotations

import torch
from torch import nn

from core.rank.features import CATEGORY_COL, ITEM_COL

# Embeddings start small (as TensorFlow's, DeepCTR's and FuxiCTR's do), not at PyTorch's unit
# variance: crossing layers multiply fields, and unit-variance products saturate the heads.
EMB_INIT_STD = 0.01


def mlp(width: int, hidden: tuple[int, ...], dropout: float = 0.0) -> nn.Sequential:
    """Linear + ReLU per hidden width; `mlp.out` is the last width (the input's when empty)."""
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    out = nn.Sequential(*layers)
    out.out = width
    return out


def tower(width: int, hidden: tuple[int, ...]) -> nn.Sequential:
    """One task's tower: an MLP down to a single logit."""
    body = mlp(width, hidden)
    return nn.Sequential(body, nn.Linear(body.out, 1))


class FieldEmbedding(nn.Module):
    """One embedding table per categorical field; the sequence's items and categories look
    up the target's own item and category tables, so history and candidate share a space."""

    def __init__(self, vocab: list[int], emb: int, init_std: float = EMB_INIT_STD):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(v, emb) for v in vocab)
        for t in self.tables:
            nn.init.normal_(t.weight, std=init_std)
        self.dim = emb

    def forward(self, cat: torch.Tensor) -> list[torch.Tensor]:
        """[B, F] codes -> F tensors [B, E]."""
        return [t(cat[:, i]) for i, t in enumerate(self.tables)]

    def target(self, fields: list[torch.Tensor]) -> torch.Tensor:
        """The candidate as the sequence sees it: item + category embedding [B, E]."""
        return fields[ITEM_COL] + fields[CATEGORY_COL]

    def sequence(self, seq_items: torch.Tensor, seq_cats: torch.Tensor) -> torch.Tensor:
        """[B, L] -> [B, L, E], item + category embedding per step (padding is code 0)."""
        return self.tables[ITEM_COL](seq_items) + self.tables[CATEGORY_COL](seq_cats)


class TargetAttention(nn.Module):
    """DIN: the sequence pooled with weights from a small MLP over (target, step) pairs, so the
    part of the history that resembles the candidate speaks loudest. A learned position
    embedding (0 = most recent) lets it tell the interest of the moment from old taste."""

    def __init__(self, emb: int, seq_len: int, hidden: int = 32):
        super().__init__()
        self.position = nn.Parameter(torch.zeros(1, seq_len, emb))
        self.score = nn.Sequential(nn.Linear(4 * emb, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """query [B, E], keys [B, L, E], mask [B, L] (True = a real step) -> [B, E]."""
        keys = keys + self.position
        q = query.unsqueeze(1).expand_as(keys)
        score = self.score(torch.cat([q, keys, q - keys, q * keys], dim=-1)).squeeze(-1)
        weights = torch.softmax(score.masked_fill(~mask, -1e4), dim=1) * mask.float()
        return (weights.unsqueeze(-1) * keys).sum(1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real steps [B, L, E] -> [B, E]; an empty history gives zeros."""
    m = mask.unsqueeze(-1).float()
    return (values * m).sum(1) / m.sum(1).clamp(min=1.0)


class SequencePooling(nn.Module):
    """The behaviour sequence as one vector: "attention" (DIN, against the target) or "mean"."""

    def __init__(self, emb: int, seq_len: int, kind: str = "attention"):
        super().__init__()
        if kind not in ("attention", "mean"):
            raise ValueError(f"sequence pooling {kind!r}: expected 'attention' or 'mean'")
        self.attention = TargetAttention(emb, seq_len) if kind == "attention" else None

    def forward(self, target: torch.Tensor, steps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.attention is None:
            return masked_mean(steps, mask)
        return self.attention(target, steps, mask)


class CrossNetwork(nn.Module):
    """DCN-v2's cross layers: x_{l+1} = x0 * (W x_l + b) + x_l, explicit feature crossing of
    growing degree. `low_rank` r factors W = U V^T (d x r each): fewer weights and FLOPs,
    which the paper shows costs little quality when r is ~d/4."""

    def __init__(self, width: int, layers: int, low_rank: int | None = None):
        super().__init__()
        if low_rank:
            self.maps = nn.ModuleList(nn.Sequential(nn.Linear(width, low_rank, bias=False), nn.Linear(low_rank, width))
                                      for _ in range(layers))
        else:
            self.maps = nn.ModuleList(nn.Linear(width, width) for _ in range(layers))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for w in self.maps:
            x = x0 * w(x) + x
        return x


class CrossSequenceBottom(nn.Module):
    """The shared bottom of the industrial combination: field embeddings, the numeric
    features and the pooled behaviour sequence, crossed by a (low-rank) cross network.
    `forward` -> [B, out]; multi-task tops (MMoE, PLE) sit on it."""

    def __init__(self, vocab: list[int], n_num: int, seq_len: int, emb: int = 16, cross_layers: int = 2,
                 low_rank: int | None = 32, sequence: str = "attention"):
        super().__init__()
        self.fields = FieldEmbedding(vocab, emb)
        self.pool = SequencePooling(emb, seq_len, sequence)
        self.out = len(vocab) * emb + n_num + emb
        self.cross = CrossNetwork(self.out, cross_layers, low_rank)

    def inputs(self, cat, num, seq_items, seq_cats) -> torch.Tensor:
        """x0: every field's embedding, the numeric features and the pooled sequence."""
        fields = self.fields(cat)
        seq = self.pool(self.fields.target(fields), self.fields.sequence(seq_items, seq_cats), seq_items != 0)
        return torch.cat(fields + [num, seq], dim=1)

    def forward(self, cat, num, seq_items, seq_cats) -> torch.Tensor:
        return self.cross(self.inputs(cat, num, seq_items, seq_cats))
