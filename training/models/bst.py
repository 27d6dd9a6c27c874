"""BST, Behavior Sequence Transformer (Chen et al. 2019, Alibaba): a Transformer encoder over
the user's recent items with the candidate appended as one more token, so every step attends
to every other and to the target; the seed's settings are the defaults (embedding 32, 4
attention heads, feed-forward 64, one layer).

The encoder's outputs (the target token and the mean of the history tokens) join the other
fields' embeddings and the numeric features in an MLP with one sigmoid per head. Padding steps
are masked; the target token never is, so a user without history still gets a score.
"""
from __future__ import annotations

import torch
from torch import nn

from training.models.blocks import FieldEmbedding, masked_mean, mlp


class BST(nn.Module):
    def __init__(self, vocab: list[int], n_num: int, n_heads: int, seq_len: int, emb: int = 32,
                 attn_heads: int = 4, ff: int = 64, layers: int = 1, dropout: float = 0.1,
                 hidden: tuple[int, ...] = (128, 64)):
        super().__init__()
        self.fields = FieldEmbedding(vocab, emb)
        self.position = nn.Parameter(torch.zeros(1, seq_len + 1, emb))  # 0 = the target
        layer = nn.TransformerEncoderLayer(emb, attn_heads, ff, dropout, batch_first=True)
        # nested tensors are a fast path for inference on padded batches; off, so the graph
        # the ONNX exporter traces is the plain one
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.top = mlp(len(vocab) * emb + n_num + 2 * emb, hidden)
        self.heads = nn.Linear(self.top.out, n_heads)

    def forward(self, cat: torch.Tensor, num: torch.Tensor, seq_items: torch.Tensor,
                seq_cats: torch.Tensor) -> torch.Tensor:
        fields = self.fields(cat)
        target = self.fields.target(fields).unsqueeze(1)                        # [B, 1, E]
        tokens = torch.cat([target, self.fields.sequence(seq_items, seq_cats)], dim=1) + self.position
        real = torch.cat([torch.ones_like(seq_items[:, :1], dtype=torch.bool), seq_items != 0], dim=1)
        out = self.encoder(tokens, src_key_padding_mask=~real)                 # [B, L+1, E]
        pooled = [out[:, 0], masked_mean(out[:, 1:], real[:, 1:])]
        return torch.sigmoid(self.heads(self.top(torch.cat(fields + [num] + pooled, dim=1))))
