"""Maximal Marginal Relevance (Carbonell & Goldstein, 1998).

Greedy: each step picks the item maximising  lam * relevance - (1 - lam) * max similarity
to what is already picked. lam = 1 is pure relevance order; lower lam trades relevance for
diversity. Relevance is min-max scaled to [0, 1] so lam means the same for any score scale;
similarity is the cosine of item embeddings.
"""
from __future__ import annotations

import numpy as np


def mmr_select(relevance: np.ndarray, vectors: np.ndarray, count: int, lam: float) -> np.ndarray:
    """Indices of the chosen items, in pick order (at most `count`)."""
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    n = relevance.size
    count = min(count, n)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    spread = float(relevance.max() - relevance.min())
    rel = (relevance - relevance.min()) / spread if spread > 0 else np.ones(n)
    max_sim = np.zeros(n)
    chosen = np.zeros(n, dtype=bool)
    picks = np.empty(count, dtype=np.int64)
    for step in range(count):
        gain = lam * rel - (1.0 - lam) * max_sim
        gain[chosen] = -np.inf
        j = int(np.argmax(gain))  # argmax takes the first of equals: ties keep rank order
        picks[step] = j
        chosen[j] = True
        if step + 1 < count:
            max_sim = np.maximum(max_sim, vectors @ vectors[j])
    return picks
